"""Shared bits of the routers: documented error answers and request helpers."""

from __future__ import annotations

from urllib.parse import urlsplit

from kinoseal.api.http.config import ServiceSettings
from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.schemas import Problem

PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}


def errors(*codes: int) -> dict:
    return {c: {**PROBLEM, "description": _DESC.get(c, "Error")} for c in codes}


_DESC = {400: "Bad request", 401: "Missing or invalid API key", 403: "The key lacks the scope",
         404: "Not found", 409: "Not ready", 413: "Over a size or duration limit", 415: "Unsupported media type",
         422: "Invalid input (not a readable video, bad parameters)", 429: "Rate limited (see Retry-After)",
         501: "Not available on this server"}

AUTH_ERRORS = errors(401, 403, 429)


def check_callback(url: str | None, settings: ServiceSettings, has_key: bool) -> str | None:
    if not url:
        return None
    if not has_key:
        raise ApiProblem(422, "callback_url needs an API key (its webhook secret signs the callbacks)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiProblem(422, "callback_url must be an http:// or https:// URL")
    if settings.callback_allow_hosts and parts.hostname not in settings.callback_allow_hosts:
        raise ApiProblem(422, f"callback_url host {parts.hostname!r} is not allowed on this server")
    return url
