"""Settings of the HTTP service: one frozen object, built from the environment once.

The library's own ``Settings`` (home, trust, limits) sits inside it, so the service,
the CLI and the workers see the same keys, trust anchors and limits.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from kinoseal.config import Limits, Settings
from kinoseal.errors import InputError

_TRUE = {"1", "true", "yes", "on"}


def _env_bool(name: str, default: bool) -> bool:
    v = os.environ.get(name)
    return default if v is None or v == "" else v.strip().lower() in _TRUE


def _env_num(name: str, default: float, cast=float):
    v = os.environ.get(name)
    return default if not v else cast(v)


def _check_network_settings(proxies: tuple[str, ...], metrics_bind: str | None) -> None:
    """Refuse a malformed proxy list or metrics address at start, not at the first request."""
    for p in proxies:
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            raise InputError(f"KINOSEAL_TRUSTED_PROXIES: {p!r} is not an IP address or network") from None
    if metrics_bind:
        host, _, port = metrics_bind.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"KINOSEAL_METRICS_BIND must be host:port (e.g. 127.0.0.1:9100), not {metrics_bind!r}")


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the service tunes. Environment names are in ``from_env``."""

    core: Settings = field(default_factory=Settings.from_env)
    # Job/key/tenant store. None: SQLite at <home>/service.sqlite3.
    database_url: str | None = None
    # None: in-process worker pool. "redis://...": RQ queue (workers: `kinoseal worker`).
    queue_url: str | None = None
    queue_name: str = "kinoseal"
    pool_size: int = 2  # in-process verification threads
    # Uploads: refused (413) while streaming once over this many bytes.
    max_upload_bytes: int = 512 * 1024**2
    max_duration_s: float = 600.0
    # Clips up to these answer synchronously; larger ones get 202 + a job id.
    sync_max_bytes: int = 64 * 1024**2
    sync_max_duration_s: float = 60.0
    sync_timeout_s: float = 120.0  # a sync request that waits longer becomes 202
    upload_ttl_s: float = 3600.0  # uploads made with /v1/uploads are kept this long
    batch_max_files: int = 16
    # Per API key (a key can override), and per client IP in public-verify mode.
    rate_limit_per_minute: int = 120
    public_rate_limit_per_minute: int = 30
    # Browser mode: /, /v1/uploads, /v1/verify and /v1/jobs without a key, as tenant "public".
    # Off unless asked for (--public-verify, KINOSEAL_PUBLIC_VERIFY=1): a server on loopback behind
    # a reverse proxy is reachable from the world.
    public_verify: bool = False
    # Peers (IPs or CIDR networks) whose X-Forwarded-For is believed: the rate limit of keyless
    # callers then counts the forwarded client address. Empty: the peer address counts.
    trusted_proxies: tuple[str, ...] = ()
    # Token buckets in Redis (shared by every API process) at this URL; None: in process memory.
    # Defaults to the queue's Redis (KINOSEAL_RATE_LIMIT_URL=memory keeps them per process).
    ratelimit_redis_url: str | None = None
    # /metrics: with a key, only "Authorization: Bearer <key>" reads it; with a bind address
    # ("127.0.0.1:9100") it is served there only, not on the API port.
    metrics_key: str | None = None
    metrics_bind: str | None = None
    # Webhooks: attempts (1 + retries), first backoff (doubles), timeout per attempt.
    webhook_attempts: int = 4
    webhook_backoff_s: float = 0.5
    webhook_timeout_s: float = 5.0
    # Hosts a callback_url may name (empty: any http/https host).
    callback_allow_hosts: tuple[str, ...] = ()
    # Jobs: lease renewed by the running worker; an expired lease means the worker died.
    job_lease_s: float = 30.0
    job_max_attempts: int = 3
    reaper_interval_s: float = 5.0
    # Debug only: sleep this long inside each job after claiming it (tests kill workers mid-job).
    debug_job_delay_s: float = 0.0
    thumbnails: int = 6
    # Verify each clip in a resource-limited child process (verify.sandbox): safer for hostile
    # uploads, slower (one interpreter start per clip). Tenants in "replace" trust mode are not
    # supported in this mode (the child always trusts the installation roots too).
    isolate: bool = False
    # After SIGTERM a running job may finish within this many seconds, then it is handed back
    # (api/http/jobs/shutdown.py). Under the 30 s Kubernetes default, so the hand-back beats SIGKILL.
    shutdown_grace_s: float = 20.0
    # Generator model for /v1/generate and /v1/edit (None: the shipped default model).
    generator_model_dir: Path | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> "ServiceSettings":
        e = os.environ
        kw: dict[str, object] = {
            "core": Settings.from_env(),
            "database_url": e.get("KINOSEAL_DATABASE_URL") or None,
            "queue_url": e.get("KINOSEAL_QUEUE_URL") or None,
            "queue_name": e.get("KINOSEAL_QUEUE_NAME", "kinoseal"),
            "pool_size": _env_num("KINOSEAL_POOL_SIZE", 2, int),
            "max_upload_bytes": _env_num("KINOSEAL_MAX_UPLOAD_BYTES", 512 * 1024**2, int),
            "max_duration_s": _env_num("KINOSEAL_MAX_DURATION_S", 600.0),
            "sync_max_bytes": _env_num("KINOSEAL_SYNC_MAX_BYTES", 64 * 1024**2, int),
            "sync_max_duration_s": _env_num("KINOSEAL_SYNC_MAX_DURATION_S", 60.0),
            "sync_timeout_s": _env_num("KINOSEAL_SYNC_TIMEOUT_S", 120.0),
            "rate_limit_per_minute": _env_num("KINOSEAL_RATE_LIMIT", 120, int),
            "public_rate_limit_per_minute": _env_num("KINOSEAL_PUBLIC_RATE_LIMIT", 30, int),
            "public_verify": _env_bool("KINOSEAL_PUBLIC_VERIFY", False),
            "isolate": _env_bool("KINOSEAL_VERIFY_ISOLATE", False),
            "job_lease_s": _env_num("KINOSEAL_JOB_LEASE_S", 30.0),
            "reaper_interval_s": _env_num("KINOSEAL_REAPER_INTERVAL_S", 5.0),
            "debug_job_delay_s": _env_num("KINOSEAL_DEBUG_JOB_DELAY_S", 0.0),
            "webhook_backoff_s": _env_num("KINOSEAL_WEBHOOK_BACKOFF_S", 0.5),
            "shutdown_grace_s": _env_num("KINOSEAL_SHUTDOWN_GRACE_S", 20.0),
            "generator_model_dir": Path(e["KINOSEAL_GENERATOR_MODEL"]) if e.get("KINOSEAL_GENERATOR_MODEL") else None,
            "callback_allow_hosts": tuple(h for h in e.get("KINOSEAL_CALLBACK_HOSTS", "").split(",") if h),
        }
        rl = e.get("KINOSEAL_RATE_LIMIT_URL") or kw["queue_url"]
        kw["ratelimit_redis_url"] = rl if rl and str(rl).startswith(("redis://", "rediss://", "unix://")) else None
        kw["trusted_proxies"] = tuple(p.strip() for p in e.get("KINOSEAL_TRUSTED_PROXIES", "").split(",") if p.strip())
        kw["metrics_key"] = e.get("KINOSEAL_METRICS_KEY") or None
        kw["metrics_bind"] = e.get("KINOSEAL_METRICS_BIND") or None
        kw.update(overrides)
        _check_network_settings(kw["trusted_proxies"], kw["metrics_bind"])  # type: ignore[arg-type]
        return cls(**kw)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> "ServiceSettings":
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def home(self) -> Path:
        return self.core.home

    @property
    def uploads_dir(self) -> Path:
        return self.core.home / "uploads"

    @property
    def results_dir(self) -> Path:
        return self.core.home / "results"

    @property
    def db_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.core.home / 'service.sqlite3'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def limits(self) -> Limits:
        """The library limits, tightened by the service's own upload/duration limits."""
        lim = self.core.limits
        return replace(
            lim,
            max_file_bytes=min(lim.max_file_bytes, self.max_upload_bytes),
            max_duration_s=min(lim.max_duration_s, self.max_duration_s),
        )

    @property
    def verify_settings(self) -> Settings:
        return self.core.with_(limits=self.limits)
