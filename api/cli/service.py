"""CLI commands of the HTTP service: ``serve``, ``worker``, ``api-key``, ``tenant``.

``api/cli/main.py`` calls ``register(app)``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from kinoseal.errors import CredentialError, InputError

out = Console(soft_wrap=True)


def _store():
    from kinoseal.api.http.config import ServiceSettings
    from kinoseal.api.http.store.db import Store

    s = ServiceSettings.from_env()
    s.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Store(s.db_url)


def mode_lines(s, host: str) -> list[str]:
    """What ``serve`` says about its security settings, so an operator sees them at start."""
    lines = []
    if s.public_verify:
        lines.append(f"keyless public verify: ON (anyone who reaches {host} may verify, "
                     f"{s.public_rate_limit_per_minute}/min per client address; --no-public-verify turns it off)")
    else:
        lines.append("keyless public verify: off (every request needs an API key; --public-verify for a local demo)")
    proxies = ", ".join(s.trusted_proxies) if s.trusted_proxies else "none (X-Forwarded-For is ignored)"
    lines.append(f"trusted proxies: {proxies}")
    if s.metrics_bind:
        lines.append(f"metrics: on http://{s.metrics_bind}/metrics only")
    else:
        lines.append("metrics: /metrics " + ("needs KINOSEAL_METRICS_KEY" if s.metrics_key else "is open"))
    lines.append(f"rate limits: {'shared in Redis' if s.ratelimit_redis_url else 'per process'}; "
                 f"shutdown grace period {s.shutdown_grace_s:g} s")
    return lines


def _serve_one(config, grace_s: float) -> None:
    """One server process with the shutdown of api/http/jobs/shutdown.py: the first SIGTERM/SIGINT
    stops accepting and lets requests and jobs finish within the grace period, a second one hands
    the running jobs back at once; the process exits 0 either way."""
    import signal
    import sys

    import uvicorn

    from kinoseal.api.http.jobs.shutdown import STATE

    STATE.grace_s = grace_s

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            if not STATE.request(signal.Signals(sig).name):
                self.force_exit = True
                STATE.hand_back(interrupt=True)
            super().handle_exit(sig, frame)

    # uvicorn raises the signals it caught again once it is done, with the handlers it found:
    # these no-ops make that an exit 0 instead of a death by SIGTERM.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    GracefulServer(config).run()
    if STATE.busy():
        # A job thread stuck in native code past the hand-back: it has been handed back in the
        # store already; do not wait for it (thread pools join their threads at exit).
        logging.getLogger("kinoseal.shutdown").warning("exiting with %d job thread(s) still unwinding",
                                                       len(STATE.attempts()))
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="API keys of the HTTP service (stored hashed; shown once).", no_args_is_help=True)
    tenants = typer.Typer(help="Tenants of the HTTP service and their trust lists.", no_args_is_help=True)
    app.add_typer(keys, name="api-key")
    app.add_typer(tenants, name="tenant")

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        workers: Annotated[int, typer.Option(help="Server processes (uvicorn workers).")] = 1,
        pool_size: Annotated[Optional[int], typer.Option(help="Verification threads per process.")] = None,
        public_verify: Annotated[Optional[bool], typer.Option(
            "--public-verify/--no-public-verify",
            help="Let anyone verify without a key (the web page; rate limited per client address). "
                 "Default: off (KINOSEAL_PUBLIC_VERIFY).")] = None,
        grace: Annotated[Optional[float], typer.Option(
            help="Seconds running requests and jobs may take after SIGTERM before jobs are handed back "
                 "(default: KINOSEAL_SHUTDOWN_GRACE_S or 20).")] = None,
        log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
    ) -> None:
        """Run the HTTP API and the web page (OpenAPI at /docs). Every request needs an API key
        unless --public-verify is given."""
        import uvicorn

        from kinoseal.api.http.config import ServiceSettings
        from kinoseal.api.http.observability import configure_logging

        if public_verify is not None:
            os.environ["KINOSEAL_PUBLIC_VERIFY"] = "1" if public_verify else "0"
        if pool_size:
            os.environ["KINOSEAL_POOL_SIZE"] = str(pool_size)
        if grace is not None:
            os.environ["KINOSEAL_SHUTDOWN_GRACE_S"] = str(grace)
        s = ServiceSettings.from_env()
        configure_logging(log_level.upper())
        out.print(f"kinoseal service on http://{host}:{port} (docs /docs, web page /)", highlight=False)
        for line in mode_lines(s, host):
            out.print(line, highlight=False)
        # No proxy headers in uvicorn: api/deps.py reads X-Forwarded-For itself, and only from the
        # proxies named in KINOSEAL_TRUSTED_PROXIES (uvicorn would trust any loopback peer).
        kw = dict(factory=True, host=host, port=port, workers=workers, log_level=log_level, access_log=False,
                  log_config=None, proxy_headers=False, timeout_graceful_shutdown=max(1, int(s.shutdown_grace_s)))
        if workers > 1:
            # Each process stops on its own SIGTERM (the supervisor forwards it) with the grace period
            # of its lifespan shutdown; the second-signal hand-back is the single-process server's.
            uvicorn.run("kinoseal.api.http.app:app_from_env", **kw)
            return
        _serve_one(uvicorn.Config("kinoseal.api.http.app:app_from_env", **kw), s.shutdown_grace_s)

    @app.command()
    def worker(
        queue_url: Annotated[Optional[str], typer.Option(help="redis://... (default: KINOSEAL_QUEUE_URL).")] = None,
        burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
        grace: Annotated[Optional[float], typer.Option(
            help="Seconds a running job may take to finish after SIGTERM before it is handed back "
                 "(default: KINOSEAL_SHUTDOWN_GRACE_S or 20).")] = None,
        threads: Annotated[Optional[int], typer.Option(
            help="CPU threads of one job (video decoder and classifier). Default 1: start one worker per "
                 "core; 0 lets each job use every core (default: KINOSEAL_DECODE_THREADS or 1).")] = None,
    ) -> None:
        """Run jobs from the Redis queue (RQ). Start as many as you like, on any host that
        shares KINOSEAL_HOME (keys, uploads) and KINOSEAL_DATABASE_URL with the server."""
        from kinoseal.api.http.config import ServiceSettings
        from kinoseal.api.http.jobs.runner import RQRunner, run_worker
        from kinoseal.api.http.jobs.shutdown import STATE
        from kinoseal.api.http.jobs.tasks import _worker_service
        from kinoseal.api.http.observability import configure_logging

        url = queue_url or os.environ.get("KINOSEAL_QUEUE_URL")
        if not url:
            raise InputError("set KINOSEAL_QUEUE_URL=redis://host:6379/0 or pass --queue-url")
        os.environ["KINOSEAL_QUEUE_URL"] = url
        # Workers scale by processes: threads inside one job would only contend with the other
        # workers for the same cores (bench/results/load_verify.md).
        if threads is None:
            try:
                threads = int(os.environ.get("KINOSEAL_DECODE_THREADS") or 1)
            except ValueError:
                raise InputError("KINOSEAL_DECODE_THREADS must be a whole number") from None
        if threads < 0:
            raise InputError("--threads must be 0 (as many as the libraries like) or more")
        os.environ["KINOSEAL_DECODE_THREADS"] = str(threads)
        if threads:
            import torch

            torch.set_num_threads(threads)
        configure_logging("INFO")
        service = _worker_service()
        # Each worker also re-queues jobs whose worker died (safe to run many of these).
        reaper = RQRunner(service)
        reaper.start()
        s = ServiceSettings.from_env()
        if s.isolate:  # the sandbox's fork server loads the verifier while the worker connects
            from kinoseal.verify.sandbox import warm_up

            warm_up()
        STATE.grace_s = grace if grace is not None else s.shutdown_grace_s
        run_worker(url, s.queue_name, burst=burst, announce=lambda text: out.print(text, highlight=False),
                   requeue=reaper.enqueue, release=service.store.release)

    @keys.command("create")
    def key_create(
        tenant: Annotated[str, typer.Option(help="Tenant the key belongs to.")],
        scopes: Annotated[str, typer.Option(help="Comma-separated: verify, generate, sign, fetch:manifests.")] = "verify",
        name: Annotated[Optional[str], typer.Option(help="A label for the key.")] = None,
        rate: Annotated[Optional[int], typer.Option(help="Requests per minute (default: the server's).")] = None,
    ) -> None:
        """Create a key; prints it once (the last word of the last line). Stored hashed."""
        store = _store()
        wanted = [x.strip() for x in scopes.split(",") if x.strip()]
        try:
            full, rec = store.create_key(tenant, wanted, name=name, rate_per_min=rate)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        out.print(f"tenant {rec.tenant}, key id {rec.id}, scopes {','.join(rec.scopes)}", highlight=False)
        out.print(f"webhook signing secret (HMAC-SHA256): {rec.webhook_secret}", highlight=False)
        out.print("the key is shown once; store it now. API key:", highlight=False)
        print(full)

    @keys.command("list")
    def key_list(tenant: Annotated[Optional[str], typer.Option(help="Only this tenant.")] = None) -> None:
        """Keys (ids, tenants, scopes; never the secrets)."""
        t = Table("id", "tenant", "scopes", "name", "rate/min", "revoked")
        for k in _store().keys(tenant):
            t.add_row(k.id, k.tenant, ",".join(k.scopes), k.name or "", str(k.rate_per_min or "default"),
                      "yes" if k.revoked_at else "")
        out.print(t)

    @keys.command("revoke")
    def key_revoke(key_id: Annotated[str, typer.Argument(help="Key id (ks_<id>_..., or just the id).")]) -> None:
        """Revoke a key (takes effect at once)."""
        kid = key_id.split("_")[1] if key_id.startswith("ks_") else key_id
        if not _store().revoke_key(kid):
            raise InputError(f"no active key {kid}")
        out.print(f"revoked {kid}")

    @tenants.command("trust")
    def tenant_trust(
        tenant: Annotated[str, typer.Option(help="Tenant name.")],
        pem: Annotated[Optional[Path], typer.Argument(help="PEM bundle of the roots this tenant trusts.")] = None,
        allowed: Annotated[Optional[list[Path]], typer.Option(
            help="End-entity certificates trusted as they are (PEM, or a list of base64 SHA-256 hashes).")] = None,
        trust_config: Annotated[Optional[list[Path]], typer.Option(
            help="EKU configuration: one OID per line (a c2pa *_store.cfg).")] = None,
        cawg_trust: Annotated[Optional[list[Path]], typer.Option(help="Roots for CAWG identity assertions (PEM).")] = None,
        trust_settings: Annotated[Optional[Path], typer.Option(
            help="A c2pa-rs settings snapshot (JSON/TOML) of an official trust list.")] = None,
        replace: Annotated[bool, typer.Option(help="Trust only these roots (not the installation's).")] = False,
    ) -> None:
        """Set a tenant's trust configuration (used for every verification by its keys)."""
        from kinoseal.credentials.trust import TrustConfig

        if pem is None and not (allowed or trust_settings):
            raise InputError("give a PEM bundle of roots, --allowed certificates or --trust-settings",
                             hint="kinoseal tenant trust --tenant NAME roots.pem [--trust-config store.cfg]")
        cfg = TrustConfig.from_paths([pem] if pem else [], allowed=allowed or [], trust_config=trust_config or [],
                                     cawg_anchors=cawg_trust or [])
        if trust_settings is not None:
            cfg = cfg + TrustConfig.from_settings_file(trust_settings)
        counts = cfg.summary()
        if not (counts["anchors"] or counts["allowed"]):
            raise CredentialError("the trust configuration holds no root and no allowed certificate")
        _store().set_tenant_trust(tenant, cfg.to_text(), "replace" if replace else "add")
        parts = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        out.print(f"tenant {tenant} trusts {parts}{' only' if replace else ' plus the installation roots'}",
                  highlight=False)

    @tenants.command("list")
    def tenant_list() -> None:
        """Tenants and what each trusts."""
        from kinoseal.credentials.trust import TrustConfig

        t = Table("tenant", "own trust", "mode")
        for x in _store().tenants():
            counts = TrustConfig.from_text(x.trust_pem).summary() if x.trust_pem else {}
            t.add_row(x.name, ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "-", x.trust_mode)
        out.print(t)
