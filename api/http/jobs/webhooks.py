"""Signed webhooks: ``X-Kinoseal-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.

The secret belongs to the API key that submitted the job (shown once, at key creation).
Delivery is retried with exponential backoff, a bounded number of times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import httpx

log = logging.getLogger("kinoseal.webhooks")
SIGNATURE_HEADER = "X-Kinoseal-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: float = 300.0) -> bool:
    """For receivers: check the header against the raw body (and reject stale timestamps)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def deliver(
    url: str, secret: str, payload: dict[str, Any], *, attempts: int = 4, backoff_s: float = 0.5,
    timeout_s: float = 5.0, request_id: str | None = None,
) -> dict[str, Any]:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    delivery = uuid.uuid4().hex
    last: str | None = None
    for i in range(max(1, attempts)):
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "kinoseal-webhooks/1",
            "X-Kinoseal-Event": str(payload.get("event", "job.finished")),
            "X-Kinoseal-Delivery": delivery,
            SIGNATURE_HEADER: sign(secret, body),
        }
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
                r = client.post(url, content=body, headers=headers)
            if 200 <= r.status_code < 300:
                log.info("webhook delivered to %s (attempt %d)", url, i + 1)
                return {"delivered": True, "attempts": i + 1, "status_code": r.status_code, "delivery": delivery}
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {str(exc)[:200]}"
        log.warning("webhook to %s failed (attempt %d/%d): %s", url, i + 1, attempts, last)
        if i + 1 < attempts:
            time.sleep(min(backoff_s * (2**i), 60.0))
    return {"delivered": False, "attempts": attempts, "error": last, "delivery": delivery}
