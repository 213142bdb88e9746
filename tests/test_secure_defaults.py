"""Secure defaults of `kinoseal serve` (issue 24), over real HTTP with real servers.

- keyless public verify is off unless asked for, and serve says which mode it runs in;
- X-Forwarded-For decides the rate-limit bucket only when the peer is a trusted proxy;
- rate limits hold across two API processes that share a Redis;
- /metrics behind a key, or on its own bind address only.
"""

from __future__ import annotations

import os
import shutil
import signal

import httpx
import pytest

from kinoseal.api.http.deps import client_address
from testkit.service import Server, create_key, free_port, start_redis


def _whoami(c: httpx.Client, xff: str | None = None) -> int:
    return c.get("/v1/whoami", headers={"X-Forwarded-For": xff} if xff else {}).status_code


def test_client_address_rules():
    trusted = ("127.0.0.1", "10.0.0.0/8")
    assert client_address("127.0.0.1", "203.0.113.9", ()) == "127.0.0.1"  # no trusted proxy: peer
    assert client_address("198.51.100.7", "203.0.113.9", trusted) == "198.51.100.7"  # peer not trusted
    assert client_address("127.0.0.1", "203.0.113.9", trusted) == "203.0.113.9"
    # the client wrote the leftmost entry itself; the rightmost untrusted hop is the one the proxy saw
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.1.2.3", trusted) == "203.0.113.9"
    assert client_address("127.0.0.1", "not-an-ip", trusted) == "not-an-ip"
    assert client_address(None, None, trusted) == "unknown"


def test_malformed_network_settings_are_refused_at_start(monkeypatch, tmp_path):
    from kinoseal.api.http.config import ServiceSettings
    from kinoseal.errors import InputError

    monkeypatch.setenv("KINOSEAL_HOME", str(tmp_path))
    monkeypatch.delenv("KINOSEAL_PUBLIC_VERIFY", raising=False)
    monkeypatch.setenv("KINOSEAL_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local")
    with pytest.raises(InputError, match="proxy.local"):
        ServiceSettings.from_env()
    monkeypatch.setenv("KINOSEAL_TRUSTED_PROXIES", "10.0.0.0/8, ::1")
    monkeypatch.setenv("KINOSEAL_METRICS_BIND", "9100")
    with pytest.raises(InputError, match="host:port"):
        ServiceSettings.from_env()
    monkeypatch.setenv("KINOSEAL_METRICS_BIND", "127.0.0.1:9100")
    s = ServiceSettings.from_env()
    assert s.trusted_proxies == ("10.0.0.0/8", "::1") and s.public_verify is False


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_secure_defaults_over_http(home, run_cli, tmp_path):
    """Two API processes on one Redis.

    A starts with no flags: keyless verify is off and it says so; a key limited to 4/min gets 4
    answers from A and B together, not 4 from each; its /metrics needs the metrics key.
    B starts with --public-verify and 127.0.0.1 as its trusted proxy: each forwarded client has its
    own bucket (2/min), so one client's flood does not lock out the next, and a forged entry on
    the left of X-Forwarded-For buys nothing; a peer that is not the trusted proxy (127.0.0.2)
    gets one bucket whatever it forwards (uvicorn's own proxy headers, which trust any loopback
    peer, are off); its /metrics is only on its own bind address.
    """
    redis, url = start_redis(tmp_path)
    env = {"KINOSEAL_QUEUE_URL": url, "KINOSEAL_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.sqlite3'}",
           "KINOSEAL_PUBLIC_RATE_LIMIT": "2"}
    mport = free_port()
    a = Server(home, tmp_path / "a.log", env={**env, "KINOSEAL_METRICS_KEY": "m3trics-k3y"})
    b = Server(home, tmp_path / "b.log", args=("--public-verify",),
               env={**env, "KINOSEAL_TRUSTED_PROXIES": "127.0.0.1", "KINOSEAL_METRICS_BIND": f"127.0.0.1:{mport}"})
    try:
        assert "keyless public verify: off" in a.log() and "trusted proxies: none" in a.log(), a.log()
        assert "rate limits: shared in Redis" in a.log()
        assert "keyless public verify: ON" in b.log() and "trusted proxies: 127.0.0.1" in b.log(), b.log()
        with a.client() as c:
            assert c.get("/healthz").json()["public_verify"] is False
            r = c.get("/v1/whoami")
            assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
            with open(__file__, "rb") as fh:
                assert c.post("/v1/verify", files={"file": ("x.mp4", fh, "video/mp4")}).status_code == 401
            assert c.get("/metrics").status_code == 401
            assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get("/metrics", headers={"Authorization": "Bearer m3trics-k3y"}).status_code == 200

        key = create_key(run_cli, "shared-limit", "verify", "--rate", "4", env=env)
        with a.client(key) as ca, b.client(key) as cb:
            assert [_whoami(c) for c in (ca, cb, ca, cb, ca, cb)] == [200, 200, 200, 200, 429, 429]

        with b.client() as c:
            assert [_whoami(c, "203.0.113.1") for _ in range(3)] == [200, 200, 429]
            assert [_whoami(c, "203.0.113.2") for _ in range(2)] == [200, 200]
            assert _whoami(c, "6.6.6.6, 203.0.113.1") == 429
            assert c.get("/metrics").status_code == 404
        untrusted = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=b.url, transport=untrusted, timeout=30, trust_env=False) as c:
            assert [_whoami(c, f"198.51.100.{i}") for i in range(3)] == [200, 200, 429]
        m = httpx.get(f"http://127.0.0.1:{mport}/metrics", timeout=10, trust_env=False)
        assert m.status_code == 200 and "kinoseal_rate_limited_total 4.0" in m.text, m.text[-2000:]
        # graceful shutdown of an idle server (issue 25): SIGTERM, exit status 0, promptly
        for srv in (a, b):
            os.kill(srv.proc.pid, signal.SIGTERM)
            assert srv.proc.wait(15) == 0, srv.log()[-2000:]
    finally:
        a.stop()
        b.stop()
        os.killpg(redis.pid, signal.SIGTERM)
        redis.wait(10)
