"""/v1/uploads and /v1/verify: receive clips, verify them (sync or as jobs)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from kinoseal.api.http import uploading
from kinoseal.api.http.deps import Caller, VerifyCaller, get_metrics, get_runner, get_service
from kinoseal.api.http.jobs.runner import Runner
from kinoseal.api.http.observability import Metrics
from kinoseal.api.http.problems import ApiProblem, from_kinoseal_error, problem_response
from kinoseal.api.http.routers.common import AUTH_ERRORS, check_callback, errors
from kinoseal.api.http.schemas import (BatchItem, BatchOut, JobAccepted, JobOut, Keyframes, Problem, UploadOut, VerifyReport,
                         VerifyRequest)
from kinoseal.api.http.services import Service
from kinoseal.api.http.store.db import UploadRecord
from kinoseal.errors import KinosealError

router = APIRouter(prefix="/v1", tags=["verify"])
_UPLOAD_PATH = re.compile(r"^(?:/[^?#]*)?/v1/uploads/([0-9a-f]{32})/?$")

_VERIFY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary", "description": "the clip"},
                "upload_id": {"type": "string"}, "url": {"type": "string"}, "callback_url": {"type": "string"},
            }}},
            "application/json": {"schema": VerifyRequest.model_json_schema()},
        },
    }
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"}}}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "callback_url": {"type": "string"}}}}},
    }
}


def _own(service: Service, caller: Caller, upload_id: str) -> UploadRecord:
    rec = service.uploads.get(upload_id)
    if rec is None or rec.tenant != caller.tenant:
        raise ApiProblem(404, "no such upload (uploads expire; upload the file again)")
    return rec


def _upload_id_from_url(url: str, request: Request) -> str:
    """Only URLs of this server's own upload store are accepted: no outbound fetches, ever."""
    parts = urlsplit(url)
    m = _UPLOAD_PATH.match(parts.path or "")
    own_host = request.headers.get("host", "")
    if parts.scheme and parts.scheme not in ("http", "https"):
        m = None
    if parts.netloc and parts.netloc != own_host:
        m = None
    if not m or parts.query or parts.fragment:
        raise ApiProblem(422, "url must point at this server's own upload store (…/v1/uploads/{upload_id}); "
                              "this server never fetches other URLs: upload the file with POST /v1/uploads")
    return m.group(1)


async def _probe(service: Service, rec: UploadRecord):
    try:
        return await run_in_threadpool(service.probe, service.uploads.path(rec.id))
    except KinosealError as exc:
        if rec.ephemeral:
            service.uploads.remove(rec.id)
        raise from_kinoseal_error(exc, service.upload_names(rec.id, rec.filename)) from None


def _accepted(job_id: str) -> JSONResponse:
    body = JobAccepted(job_id=job_id, status="queued", links={"self": f"/v1/jobs/{job_id}"})
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})


@router.post("/uploads", status_code=201, response_model=UploadOut, openapi_extra=_UPLOAD_BODY,
             responses={**AUTH_ERRORS, **errors(413, 415, 422)}, summary="Upload a clip to this server")
async def create_upload(request: Request, caller: Caller = VerifyCaller, service: Service = Depends(get_service),
                        metrics: Metrics = Depends(get_metrics)) -> UploadOut:
    """Store a clip (kept for a while) so that /v1/verify, keyframes and /v1/edit can refer to it."""
    got = await uploading.receive(request, service.uploads, limit=service.settings.max_upload_bytes,
                                  tenant=caller.tenant, ephemeral=False, metrics=metrics)
    if not got.files:
        raise ApiProblem(422, "no file in the request (multipart field 'file')")
    rec = got.files[0]
    try:
        info = await run_in_threadpool(service.probe, service.uploads.path(rec.id))
    except KinosealError as exc:
        service.uploads.remove(rec.id)
        raise from_kinoseal_error(exc, service.upload_names(rec.id, rec.filename)) from None
    media = info.to_dict()
    media.pop("path", None)
    from kinoseal.api.http.schemas import _iso

    return UploadOut(upload_id=rec.id, filename=rec.filename, size=rec.size, url=f"/v1/uploads/{rec.id}",
                     expires_at=_iso(rec.expires_at), media=media)


@router.get("/uploads/{upload_id}/keyframes", response_model=Keyframes, responses={**AUTH_ERRORS, **errors(404, 422)},
            summary="JPEG thumbnails spread over an uploaded clip")
async def keyframes(upload_id: str, n: int = Query(6, ge=1, le=24), caller: Caller = VerifyCaller,
                    service: Service = Depends(get_service)) -> Keyframes:
    rec = _own(service, caller, upload_id)
    try:
        frames = await run_in_threadpool(service.keyframes, service.uploads.path(rec.id), n)
    except KinosealError as exc:
        raise from_kinoseal_error(exc, service.upload_names(rec.id, rec.filename)) from None
    return Keyframes(upload_id=rec.id, frames=frames)


@router.delete("/uploads/{upload_id}", status_code=204, responses={**AUTH_ERRORS, **errors(404)})
async def delete_upload(upload_id: str, caller: Caller = VerifyCaller,
                        service: Service = Depends(get_service)) -> Response:
    rec = _own(service, caller, upload_id)
    service.uploads.remove(rec.id)
    return Response(status_code=204)


@router.post(
    "/verify", openapi_extra=_VERIFY_BODY, summary="Verify a clip",
    responses={200: {"model": VerifyReport, "description": "The report (same JSON as `kinoseal verify --json`)"},
               202: {"model": JobAccepted, "description": "Queued: poll /v1/jobs/{id}"},
               **AUTH_ERRORS, **errors(404, 413, 415, 422)},
)
async def verify(
    request: Request,
    run_async: bool = Query(False, alias="async", description="always answer 202 with a job id"),
    caller: Caller = VerifyCaller,
    service: Service = Depends(get_service),
    runner: Runner = Depends(get_runner),
    metrics: Metrics = Depends(get_metrics),
):
    """Upload a clip (multipart field `file`) or name one in this server's upload store
    (`upload_id`, or its `url`). Small clips get the report at once; large ones (or
    `?async=true`) get `202` and a job id."""
    s = service.settings
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, str] = {}
    rec: UploadRecord | None = None
    if ctype == "multipart/form-data":
        got = await uploading.receive(request, service.uploads, limit=s.max_upload_bytes, tenant=caller.tenant,
                                      ephemeral=True, metrics=metrics)
        fields = got.fields
        rec = got.files[0] if got.files else None
    elif ctype in ("application/json", "application/x-www-form-urlencoded", ""):
        if ctype == "application/json":
            try:
                body = VerifyRequest.model_validate_json(await request.body())
            except ValueError as exc:
                raise ApiProblem(422, f"invalid JSON body: {str(exc).splitlines()[0][:200]}") from None
        else:
            form = await request.form()
            try:
                body = VerifyRequest(**{k: str(v) for k, v in form.items() if k in VerifyRequest.model_fields})
            except ValueError as exc:
                raise ApiProblem(422, f"invalid form: {str(exc).splitlines()[0][:200]}") from None
        fields = {k: v for k, v in body.model_dump().items() if v is not None}
    else:
        raise ApiProblem(415, "send multipart/form-data with a 'file', or JSON {\"upload_id\": ...}")
    callback = check_callback(fields.get("callback_url"), s, caller.key is not None)
    if rec is None:
        uid = fields.get("upload_id") or (_upload_id_from_url(fields["url"], request) if fields.get("url") else None)
        if not uid:
            raise ApiProblem(422, "send a file (multipart field 'file'), an upload_id or the url of an upload")
        rec = _own(service, caller, uid)
    info = await _probe(service, rec)
    return await _verify_job(request, rec, {}, callback, run_async or info.duration_s > s.sync_max_duration_s,
                             caller, service, runner, metrics)


async def _verify_job(request: Request, rec: UploadRecord, params: dict, callback: str | None, run_async: bool,
                      caller: Caller, service: Service, runner: Runner, metrics: Metrics):
    """Queue a verify job for ``rec``; answer with the report when it is small and done in time, else 202."""
    s = service.settings
    job = service.store.create_job(
        tenant=caller.tenant, kind="verify", params=params, api_key_id=caller.key.id if caller.key else None,
        upload_id=rec.id, filename=rec.filename, callback_url=callback, backend=runner.backend,
        max_attempts=s.job_max_attempts,
    )
    runner.submit(job)
    if run_async or rec.size > s.sync_max_bytes:
        return _accepted(job.id)
    done = await runner.wait_async(job.id, s.sync_timeout_s)
    if done is None or not done.finished:
        return _accepted(job.id)
    headers = {"X-Kinoseal-Job-Id": job.id}
    if not rec.ephemeral:
        headers["X-Kinoseal-Upload-Id"] = rec.id
    if done.status == "failed":
        err = done.error or {}
        return problem_response(int(err.get("status", 400)), err.get("title", "Verification failed"),
                                err.get("detail"), instance=request.url.path, headers=headers, job_id=job.id,
                                **({"kind": err["kind"]} if "kind" in err else {}))
    metrics.verdicts.labels(done.result.get("verdict", "?")).inc()
    return JSONResponse(done.result, headers=headers)


_FRAGMENTED_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": "the init segment and its media fragments (.m4s), fragments in playback order"},
            "callback_url": {"type": "string"}}}}},
    }
}
MAX_FRAGMENTS_PER_REQUEST = 256


@router.post(
    "/verify/fragmented", openapi_extra=_FRAGMENTED_BODY, summary="Verify a fragmented MP4 (DASH/CMAF)",
    responses={200: {"model": VerifyReport, "description": "The report (as `kinoseal verify INIT --fragment F`)"},
               202: {"model": JobAccepted, "description": "Queued: poll /v1/jobs/{id}"},
               **AUTH_ERRORS, **errors(413, 415, 422)},
)
async def verify_fragmented(
    request: Request,
    run_async: bool = Query(False, alias="async", description="always answer 202 with a job id"),
    caller: Caller = VerifyCaller,
    service: Service = Depends(get_service),
    runner: Runner = Depends(get_runner),
    metrics: Metrics = Depends(get_metrics),
):
    """An init segment with its media fragments (multipart fields `files`; the init segment is found by
    its structure, the fragments keep their order). Its C2PA manifest is validated fragment by fragment;
    the watermark and classifier look at the joined media."""
    from kinoseal.credentials.fragments import is_init_segment, is_media_fragment

    s = service.settings
    got = await uploading.receive(request, service.uploads, limit=s.max_upload_bytes, tenant=caller.tenant,
                                  ephemeral=True, file_fields=("files",), max_files=MAX_FRAGMENTS_PER_REQUEST + 1,
                                  metrics=metrics)
    paths = {r.id: service.uploads.path(r.id) for r in got.files}
    inits = [r for r in got.files if await run_in_threadpool(is_init_segment, paths[r.id])]
    fragments = [r for r in got.files if r not in inits]
    bad = [r.filename for r in fragments if not await run_in_threadpool(is_media_fragment, paths[r.id])]
    if len(inits) != 1 or not fragments or bad:
        for r in got.files:
            service.uploads.remove(r.id)
        detail = (f"not media fragments: {', '.join(bad)}" if bad and len(inits) == 1 else
                  "send one init segment (moov with mvex) and at least one media fragment (moof), as files")
        raise ApiProblem(422, detail)
    callback = check_callback(got.fields.get("callback_url"), s, caller.key is not None)
    return await _verify_job(request, inits[0], {"fragments": [r.id for r in fragments]}, callback,
                             run_async or sum(r.size for r in got.files) > s.sync_max_bytes,
                             caller, service, runner, metrics)


@router.post("/verify/batch", status_code=202, response_model=BatchOut, openapi_extra=_BATCH_BODY,
             responses={**AUTH_ERRORS, **errors(413, 415, 422)}, summary="Verify several clips as jobs")
async def verify_batch(request: Request, caller: Caller = VerifyCaller, service: Service = Depends(get_service),
                       runner: Runner = Depends(get_runner), metrics: Metrics = Depends(get_metrics)):
    """Several files (multipart fields `files`); each becomes a job. Files that are not
    readable videos are listed with their problem and get no job."""
    s = service.settings
    got = await uploading.receive(request, service.uploads, limit=s.max_upload_bytes, tenant=caller.tenant,
                                  ephemeral=True, file_fields=("files", "file"), max_files=s.batch_max_files,
                                  metrics=metrics)
    if not got.files:
        raise ApiProblem(422, "no files in the request (multipart fields 'files')")
    try:
        callback = check_callback(got.fields.get("callback_url"), s, caller.key is not None)
    except ApiProblem:
        for rec in got.files:
            service.uploads.remove(rec.id)
        raise
    items: list[BatchItem] = []
    for rec in got.files:
        try:
            await _probe(service, rec)
        except ApiProblem as p:
            items.append(BatchItem(filename=rec.filename, status="rejected",
                                   error=Problem(title=p.title, status=p.status, detail=p.detail)))
            continue
        job = service.store.create_job(
            tenant=caller.tenant, kind="verify", params={}, api_key_id=caller.key.id if caller.key else None,
            upload_id=rec.id, filename=rec.filename, callback_url=callback, backend=runner.backend,
            max_attempts=s.job_max_attempts)
        runner.submit(job)
        items.append(BatchItem(filename=rec.filename, job_id=job.id, status="queued"))
    return JSONResponse(BatchOut(jobs=items).model_dump(), status_code=202)


__all__ = ["router", "JobOut"]
