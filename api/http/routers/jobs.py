"""/v1/jobs: status, report, and the result file of generate/edit jobs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from kinoseal.api.http.deps import Caller, VerifyCaller, get_service
from kinoseal.api.http.jobs.tasks import result_file
from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.routers.common import AUTH_ERRORS, errors
from kinoseal.api.http.schemas import JobOut
from kinoseal.api.http.services import Service
from kinoseal.api.http.store.db import Job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _own(service: Service, caller: Caller, job_id: str) -> Job:
    job = service.store.job(job_id) if len(job_id) <= 64 else None
    if job is None or job.tenant != caller.tenant:
        raise ApiProblem(404, "no such job")
    return job


@router.get("", response_model=list[JobOut], responses=AUTH_ERRORS, summary="Recent jobs of the caller's tenant")
def list_jobs(status: str | None = Query(None, pattern="^(queued|running|done|failed)$"),
              limit: int = Query(50, ge=1, le=500), caller: Caller = VerifyCaller,
              service: Service = Depends(get_service)) -> list[JobOut]:
    if caller.public:
        raise ApiProblem(403, "listing jobs needs an API key")
    jobs = service.store.jobs(tenant=caller.tenant, status=status, limit=10_000)[-limit:]
    return [JobOut.from_job(j) for j in jobs]


@router.get("/{job_id}", response_model=JobOut, responses={**AUTH_ERRORS, **errors(404)},
            summary="A job's status (queued/running/done/failed) and its report")
def get_job(job_id: str, caller: Caller = VerifyCaller, service: Service = Depends(get_service)) -> JobOut:
    return JobOut.from_job(_own(service, caller, job_id))


@router.get("/{job_id}/result", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": {}}, "description": "The labeled clip"}, **AUTH_ERRORS, **errors(404, 409)},
    summary="Download the clip a generate/edit job produced")
def job_result(job_id: str, caller: Caller = VerifyCaller, service: Service = Depends(get_service)):
    job = _own(service, caller, job_id)
    if job.kind not in ("generate", "edit"):
        raise ApiProblem(404, "this job has no result file (its report is in GET /v1/jobs/{id})")
    if job.status != "done":
        raise ApiProblem(409, f"the job is {job.status}; poll GET /v1/jobs/{job_id}")
    path = result_file(service, job)
    if path is None:
        raise ApiProblem(404, "the result file is gone")
    return FileResponse(path, media_type="video/mp4", filename=f"kinoseal-{job.kind}-{job.id[:8]}.mp4")
