"""FastAPI dependencies: the service objects, the caller (API key or public), scopes, rate limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from fastapi import Depends, Request

from kinoseal.api.http.config import ServiceSettings
from kinoseal.api.http.jobs.runner import Runner
from kinoseal.api.http.observability import Metrics
from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.ratelimit import RateLimiter
from kinoseal.api.http.services import Service
from kinoseal.api.http.store.db import PUBLIC_TENANT, ApiKey


@dataclass(frozen=True)
class Caller:
    tenant: str
    key: ApiKey | None
    scopes: tuple[str, ...]
    client_ip: str

    @property
    def public(self) -> bool:
        return self.key is None


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.service.settings


def get_runner(request: Request) -> Runner:
    return request.app.state.runner


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The caller's address for rate limits and logs. ``X-Forwarded-For`` counts only when the
    peer is a trusted proxy; then the rightmost address that is not a trusted proxy is the client
    (addresses further left were written by the client itself and may be forged)."""
    peer = peer or "unknown"
    if not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _trusted(addr: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in _networks(trusted))


def _client_ip(request: Request) -> str:
    settings: ServiceSettings = request.app.state.service.settings
    return client_address(request.client.host if request.client else None, request.headers.get("x-forwarded-for"),
                          settings.trusted_proxies)


def _caller(request: Request, *, public_ok: bool) -> Caller:
    service: Service = request.app.state.service
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        key = service.store.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if key is None:
            raise ApiProblem(401, "the API key is missing, malformed, unknown or revoked",
                             headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Caller(key.tenant, key, key.scopes, _client_ip(request))
    if public_ok and service.settings.public_verify:
        return Caller(PUBLIC_TENANT, None, ("verify",), _client_ip(request))
    raise ApiProblem(401, "send an API key: Authorization: Bearer <key> (create one with `kinoseal api-key create`)",
                     headers={"WWW-Authenticate": "Bearer"})


def require(scope: str, *, public_ok: bool = False):
    """A dependency: authenticate, check ``scope`` (403), take a rate-limit token (429)."""

    def dependency(request: Request) -> Caller:
        caller = _caller(request, public_ok=public_ok)
        if scope not in caller.scopes:
            raise ApiProblem(403, f"this API key lacks the {scope!r} scope (it has: {', '.join(caller.scopes)})")
        settings: ServiceSettings = request.app.state.service.settings
        limiter: RateLimiter = request.app.state.limiter
        if caller.key is not None:
            bucket, per_min = f"key:{caller.key.id}", caller.key.rate_per_min or settings.rate_limit_per_minute
        else:
            bucket, per_min = f"ip:{caller.client_ip}", settings.public_rate_limit_per_minute
        wait = limiter.hit(bucket, per_min)
        if wait > 0:
            request.app.state.metrics.rate_limited.inc()
            raise ApiProblem(429, f"rate limit of {per_min} requests per minute exceeded; retry later",
                             headers={"Retry-After": limiter.retry_after(wait)})
        return caller

    return Depends(dependency)


VerifyCaller = require("verify", public_ok=True)
GenerateCaller = require("generate")
SignCaller = require("sign")
