"""Fixtures for the HTTP service tests: a real uvicorn server on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KINOSEAL = Path(sys.executable).with_name("kinoseal")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``kinoseal serve`` in a subprocess (its own process group), logs to a file."""

    def __init__(self, home: Path, log: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        e = {**os.environ, "KINOSEAL_HOME": str(home), "COLUMNS": "200", **(env or {})}
        for k in ("KINOSEAL_QUEUE_URL", "KINOSEAL_DATABASE_URL", "KINOSEAL_PUBLIC_VERIFY", "KINOSEAL_TRUSTED_PROXIES",
                  "KINOSEAL_METRICS_KEY", "KINOSEAL_METRICS_BIND", "KINOSEAL_RATE_LIMIT_URL"):
            if k not in (env or {}):
                e.pop(k, None)
        self._log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(KINOSEAL), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            env=e, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def client(self, key: str | None = None, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kw.pop("timeout", 120), trust_env=False, **kw)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


def wait_for(predicate, timeout: float, what: str, step: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def create_key(run_cli, tenant: str, scopes: str, *extra: str, env: dict | None = None) -> str:
    proc = run_cli("api-key", "create", "--tenant", tenant, "--scopes", scopes, *extra, env=env, check=True)
    return proc.stdout.strip().splitlines()[-1].split()[-1]


def webhook_secret(run_cli_stdout: str) -> str:
    for line in run_cli_stdout.splitlines():
        if "webhook signing secret" in line:
            return line.split()[-1]
    raise AssertionError("no webhook secret printed")


def start_redis(tmp: Path, port: int | None = None, appendonly: bool = False) -> tuple[subprocess.Popen, str]:
    """A throwaway redis-server on a loopback port (a free one unless given). No persistence, or
    with ``appendonly`` the append-only file in ``tmp`` as deploy/docker-compose.yml runs it
    (fsync every second), so a restart on the same port and folder reloads the data."""
    port = port or free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes" if appendonly else "no", "--dir", str(tmp), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 20
    while True:
        try:
            if redis.Redis.from_url(url).ping():
                return proc, url
        except redis.exceptions.ConnectionError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.1)


def _pg_bin(name: str) -> str | None:
    import shutil

    for d in ("/usr/local/bin", "/usr/lib/postgresql/15/bin"):
        if os.path.exists(f"{d}/{name}"):
            return f"{d}/{name}"
    return shutil.which(name)


def start_postgres(tmp: Path | None = None) -> tuple[callable, str] | None:
    """A throwaway PostgreSQL cluster on a free loopback port; None if PostgreSQL is not installed.
    As root, the server runs as the ``postgres`` user (it refuses to run as root), in a
    folder of its own under /tmp (pytest's folders are private to root)."""
    import tempfile

    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="kinoseal-pg-"))
    data = tmp / "pgdata"
    data.mkdir(mode=0o700)
    import shutil

    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            return None
        shutil.chown(data, pw.pw_uid, pw.pw_gid)
        os.chmod(tmp, 0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "kinoseal", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                    f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off", "start"],
                   check=True, capture_output=True)

    def stop() -> None:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    return stop, f"postgresql://kinoseal@127.0.0.1:{port}/postgres"
