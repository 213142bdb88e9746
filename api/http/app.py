"""The FastAPI application factory (``create_app``), used by ``kinoseal serve`` and the tests."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from kinoseal.api.http import docs, problems
from kinoseal.api.http.config import ServiceSettings
from kinoseal.api.http.jobs.runner import make_runner
from kinoseal.api.http.observability import Metrics, RequestContextMiddleware, install_log_record_factory, start_metrics_server
from kinoseal.api.http.jobs.shutdown import STATE
from kinoseal.api.http.ratelimit import make_limiter
from kinoseal.api.http.routers import generate, health, jobs, manifests, resolution, sign, verify, web
from kinoseal.api.http.routers.web import WEB_DIR
from kinoseal.api.http.services import Service
from kinoseal import __version__

log = logging.getLogger("kinoseal.http")

DESCRIPTION = """
Verify where a video came from (AI-generated, authentic capture, tampered, unknown) with the
same report as `kinoseal verify --json`; generate and sign labeled clips.

Authenticate with `Authorization: Bearer <key>` (`kinoseal api-key create`). Errors are
`application/problem+json`; every response carries `X-Request-ID`.
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings.from_env()
    install_log_record_factory()
    service = Service(settings)
    runner = make_runner(service)
    metrics = Metrics(service, runner)
    runner.on_finish = lambda job: job and metrics.jobs_finished.labels(job.kind, job.status).inc()

    # A job handed back at shutdown goes back to the store as queued (the next start runs it).
    STATE.grace_s, STATE.release = settings.shutdown_grace_s, service.store.release

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.isolate:  # the sandbox's fork server loads torch and the classifier while the server starts
            from kinoseal.verify.sandbox import warm_up

            warm_up()
        runner.start()
        metrics_server = start_metrics_server(settings.metrics_bind, metrics) if settings.metrics_bind else None
        log.info("kinoseal service %s: home %s, queue %s, public verify %s, rate limits in %s", __version__,
                 settings.home, runner.backend, settings.public_verify, app.state.limiter.backend)
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
            runner.stop()
            service.close()

    app = FastAPI(title="kinoseal", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, openapi_url="/openapi.json", redoc_url=None)  # api.docs serves both offline
    app.state.service = service
    app.state.runner = runner
    app.state.metrics = metrics
    app.state.limiter = make_limiter(settings.ratelimit_redis_url)
    problems.install(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    for r in (verify.router, jobs.router, generate.router, sign.router, manifests.router, resolution.router,
              health.router, web.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    docs.install(app, docs_url="/docs", redoc_url="/redoc")
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory api.app:app_from_env`` (several worker processes)."""
    return create_app(ServiceSettings.from_env())
