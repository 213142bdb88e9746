"""/v1/sign-capture: sign an authentic recording with the server-held newsroom/camera key."""

from __future__ import annotations

import contextlib
import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from kinoseal.api.http import uploading
from kinoseal.api.http.deps import Caller, SignCaller, get_metrics, get_service
from kinoseal.api.http.observability import Metrics
from kinoseal.api.http.problems import ApiProblem, from_kinoseal_error
from kinoseal.api.http.routers.common import AUTH_ERRORS, errors
from kinoseal.api.http.services import Service
from kinoseal.errors import KinosealError

router = APIRouter(prefix="/v1", tags=["sign"])
_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "device": {"type": "string", "maxLength": 200}}}}}}}


@router.post("/sign-capture", response_class=FileResponse, openapi_extra=_BODY,
             responses={200: {"content": {"video/mp4": {}}, "description": "The signed clip (pixels unchanged)"},
                        **AUTH_ERRORS, **errors(413, 415, 422)},
             summary="Sign a camera recording as a capture (digitalCapture)")
async def sign_capture(request: Request, caller: Caller = SignCaller, service: Service = Depends(get_service),
                       metrics: Metrics = Depends(get_metrics)):
    got = await uploading.receive(request, service.uploads, limit=service.settings.max_upload_bytes,
                                  tenant=caller.tenant, ephemeral=True, metrics=metrics)
    if not got.files:
        raise ApiProblem(422, "no file in the request (multipart field 'file')")
    rec = got.files[0]
    device = (got.fields.get("device") or "").strip()[:200] or None
    src = service.uploads.path(rec.id)
    dst = service.settings.results_dir / f"sign-{uuid.uuid4().hex}.mp4"
    try:
        signer = await run_in_threadpool(service.sign_capture, src, dst, device=device)
    except KinosealError as exc:
        with contextlib.suppress(OSError):
            dst.unlink()
        raise from_kinoseal_error(exc, {**service.upload_names(rec.id, rec.filename), str(dst): "output"}) from None
    finally:
        service.uploads.remove(rec.id)
    stem = rec.filename.rsplit(".", 1)[0] or "capture"

    def cleanup() -> None:
        with contextlib.suppress(OSError):
            dst.unlink()

    return FileResponse(dst, media_type="video/mp4", filename=f"{stem}.signed.mp4",
                        headers={"X-Kinoseal-Signer": signer.encode("ascii", "replace").decode()},
                        background=BackgroundTask(cleanup))
