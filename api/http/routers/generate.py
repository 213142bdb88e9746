"""/v1/generate and /v1/edit: async jobs that produce labeled clips (watermark + C2PA)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from kinoseal.api.http.deps import Caller, GenerateCaller, get_runner, get_service
from kinoseal.api.http.jobs import generation
from kinoseal.api.http.jobs.runner import Runner
from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.routers.common import AUTH_ERRORS, check_callback, errors
from kinoseal.api.http.schemas import EditRequest, GenerateRequest, JobAccepted
from kinoseal.api.http.services import Service

router = APIRouter(prefix="/v1", tags=["generate"])
_RESP = {202: {"model": JobAccepted, "description": "Queued; download at /v1/jobs/{id}/result when done"},
         **AUTH_ERRORS, **errors(404, 422, 501)}


def _require_generator(service: Service) -> None:
    if not generation.importable():
        raise ApiProblem(501, "the text-to-video generator is not installed on this server")
    if not generation.available(service.settings.generator_model_dir):
        raise ApiProblem(501, "the text-to-video generator has no model installed on this server")


def _accepted(job_id: str) -> JSONResponse:
    body = JobAccepted(job_id=job_id, status="queued",
                       links={"self": f"/v1/jobs/{job_id}", "result": f"/v1/jobs/{job_id}/result"})
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})


@router.post("/generate", status_code=202, responses=_RESP, summary="Generate a labeled clip from a prompt")
def generate(req: GenerateRequest, caller: Caller = GenerateCaller, service: Service = Depends(get_service),
             runner: Runner = Depends(get_runner)):
    _require_generator(service)
    callback = check_callback(req.callback_url, service.settings, caller.key is not None)
    job = service.store.create_job(
        tenant=caller.tenant, kind="generate", api_key_id=caller.key.id if caller.key else None,
        params=req.model_dump(exclude={"callback_url"}), filename=None, callback_url=callback,
        backend=runner.backend, max_attempts=service.settings.job_max_attempts)
    runner.submit(job)
    return _accepted(job.id)


@router.post("/edit", status_code=202, responses=_RESP, summary="Edit an uploaded clip with a prompt (labeled)")
def edit(req: EditRequest, caller: Caller = GenerateCaller, service: Service = Depends(get_service),
         runner: Runner = Depends(get_runner)):
    _require_generator(service)
    rec = service.uploads.get(req.upload_id)
    if rec is None or rec.tenant != caller.tenant:
        raise ApiProblem(404, "no such upload")
    callback = check_callback(req.callback_url, service.settings, caller.key is not None)
    job = service.store.create_job(
        tenant=caller.tenant, kind="edit", api_key_id=caller.key.id if caller.key else None,
        params=req.model_dump(exclude={"callback_url", "upload_id"}), upload_id=rec.id, filename=rec.filename,
        callback_url=callback, backend=runner.backend, max_attempts=service.settings.job_max_attempts)
    runner.submit(job)
    return _accepted(job.id)
