"""/healthz, /metrics (Prometheus), /v1/whoami, /v1/config."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kinoseal.api.http.deps import Caller, VerifyCaller, get_metrics, get_runner, get_service
from kinoseal.api.http.jobs.runner import Runner
from kinoseal.api.http.observability import Metrics
from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.routers.common import AUTH_ERRORS, errors
from kinoseal.api.http.schemas import Health, WhoAmI
from kinoseal.api.http.services import Service
from kinoseal import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health, "description": "Degraded"}})
def healthz(service: Service = Depends(get_service), runner: Runner = Depends(get_runner)):
    try:
        db = service.store.ping()
    except Exception:  # noqa: BLE001
        db = False
    q = runner.healthy()
    body = Health(status="ok" if db and q else "degraded", version=__version__, database=db, queue=runner.backend,
                  queue_ok=q, public_verify=service.settings.public_verify)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}, **errors(401, 404)})
def metrics(request: Request, m: Metrics = Depends(get_metrics), service: Service = Depends(get_service)):
    """Prometheus metrics. With KINOSEAL_METRICS_KEY only `Authorization: Bearer <that key>`
    reads them; with KINOSEAL_METRICS_BIND they are served on that address, not here."""
    s = service.settings
    if s.metrics_bind:
        raise ApiProblem(404, "metrics are served on their own address on this server")
    if s.metrics_key:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), s.metrics_key.encode()):
            raise ApiProblem(401, "the metrics need the metrics key: Authorization: Bearer <KINOSEAL_METRICS_KEY>",
                             headers={"WWW-Authenticate": "Bearer"})
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/whoami", response_model=WhoAmI, responses=AUTH_ERRORS, tags=["auth"])
def whoami(caller: Caller = VerifyCaller) -> WhoAmI:
    return WhoAmI(tenant=caller.tenant, key_id=caller.key.id if caller.key else None, scopes=list(caller.scopes),
                  public=caller.public)


@router.get("/v1/config", tags=["web"], summary="What the web page needs to know")
def config(request: Request, service: Service = Depends(get_service)) -> dict:
    s = service.settings
    return {"public_verify": s.public_verify, "max_upload_bytes": s.max_upload_bytes,
            "max_duration_s": s.limits.max_duration_s, "version": __version__}
