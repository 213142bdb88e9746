"""Request ids, access logs and Prometheus metrics.

Every response carries ``X-Request-ID`` (the client's, when it sent a sane one), every
log line written while serving a request carries it too, and an unexpected exception
becomes a 500 problem document with that id instead of a bare traceback page.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kinoseal_request_id", default=None)
_RID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
log = logging.getLogger("kinoseal.http")

_factory_installed = False


def install_log_record_factory() -> None:
    """Give every log record a ``request_id`` attribute (``-`` outside a request)."""
    global _factory_installed
    if _factory_installed:
        return
    old = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = old(*args, **kwargs)
        record.request_id = request_id_var.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def configure_logging(level: str = "INFO") -> None:
    install_log_record_factory()
    root = logging.getLogger()
    if not any(getattr(h, "_kinoseal", False) for h in root.handlers):
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [rid=%(request_id)s] %(message)s"))
        h._kinoseal = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level)


class Metrics:
    def __init__(self, service=None, runner=None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        self.requests = Counter("kinoseal_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("kinoseal_http_request_duration_seconds", "HTTP request latency", ["route"],
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120), registry=r)
        self.verdicts = Counter("kinoseal_verdicts", "Verification verdicts returned", ["verdict"], registry=r)
        self.upload_bytes = Counter("kinoseal_upload_bytes", "Bytes received in uploads", registry=r)
        self.rejected_uploads = Counter("kinoseal_uploads_rejected", "Uploads refused", ["reason"], registry=r)
        self.rate_limited = Counter("kinoseal_rate_limited", "Requests refused by the rate limiter", registry=r)
        self.jobs_finished = Counter("kinoseal_jobs_finished", "Jobs finished in this process", ["kind", "status"],
                                     registry=r)
        self.inflight = Gauge("kinoseal_http_inflight_requests", "Requests being served", registry=r)
        self._service = service
        self._runner = runner
        if service is not None:
            r.register(_StoreCollector(service, runner))


def start_metrics_server(bind: str, metrics: Metrics):
    """Serve /metrics of this process on its own address (``host:port``), e.g. a private
    interface that only the Prometheus scraper reaches. Returns the server (``.shutdown()``)."""
    from prometheus_client import start_wsgi_server

    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"KINOSEAL_METRICS_BIND must be host:port, not {bind!r}")
    httpd, _thread = start_wsgi_server(int(port), addr=host.strip("[]"), registry=metrics.registry)
    log.info("metrics on http://%s/metrics", bind)
    return httpd


class _StoreCollector:
    def __init__(self, service, runner) -> None:
        self.service, self.runner = service, runner

    def collect(self):
        g = GaugeMetricFamily("kinoseal_jobs", "Jobs in the store by status", labels=["status"])
        try:
            counts = self.service.store.count_by_status()
        except Exception:  # noqa: BLE001
            counts = {}
        for s in ("queued", "running", "done", "failed"):
            g.add_metric([s], counts.get(s, 0))
        yield g
        u = GaugeMetricFamily("kinoseal_upload_files", "Files in the upload folder")
        try:
            u.add_metric([], self.service.uploads.file_count())
        except OSError:
            u.add_metric([], 0)
        yield u
        if self.runner is not None:
            q = GaugeMetricFamily("kinoseal_jobs_requeued", "Abandoned job attempts re-queued by this process")
            q.add_metric([], self.runner.requeued)
            yield q


class RequestContextMiddleware:
    """Pure ASGI: request id, access log, metrics, and a problem document for crashes."""

    def __init__(self, app, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for k, v in scope.get("headers", []):
            if k == b"x-request-id":
                cand = v.decode("latin-1")
                rid = cand if _RID.match(cand) else None
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        state = {"status": None}
        t0 = time.perf_counter()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        if self.metrics:
            self.metrics.inflight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:  # noqa: BLE001 - a bug: log it with the request id, answer a problem document
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if state["status"] is None:
                state["status"] = 500
                body = json.dumps({"type": "about:blank", "title": "Internal server error", "status": 500,
                                   "detail": "an unexpected error occurred; quote the request id when reporting it",
                                   "request_id": rid}).encode()
                await send({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", rid.encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            dt = time.perf_counter() - t0
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            status = state["status"] or 0
            if self.metrics:
                self.metrics.inflight.dec()
                self.metrics.requests.labels(scope.get("method", "?"), route_path, str(status)).inc()
                self.metrics.latency.labels(route_path).observe(dt)
            log.info("%s %s -> %s in %.1f ms", scope.get("method"), scope.get("path"), status, dt * 1000)
            request_id_var.reset(token)
