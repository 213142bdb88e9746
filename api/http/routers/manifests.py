"""/v1/manifests/by-watermark/{payload_id}: soft-binding resolution from the provenance registry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from kinoseal.api.http.deps import Caller, VerifyCaller, get_service
from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.routers.common import AUTH_ERRORS, errors
from kinoseal.api.http.schemas import ManifestRecord
from kinoseal.api.http.services import MANIFEST_BY_WATERMARK, Service

router = APIRouter(prefix="/v1/manifests", tags=["manifests"])


@router.get(MANIFEST_BY_WATERMARK.removeprefix(router.prefix), response_model=ManifestRecord, responses={**AUTH_ERRORS, **errors(404, 422)},
            summary="The original manifest recorded when this watermark payload was embedded")
def by_watermark(payload_id: str = Path(..., pattern="^[0-9a-fA-F]{16}$", description="64-bit payload id, hex"),
                 caller: Caller = VerifyCaller, service: Service = Depends(get_service)) -> ManifestRecord:
    """A clip whose metadata was stripped still carries its watermark; its payload id
    leads back to the Content Credentials the generator recorded at labeling time."""
    rec = service.manifest_by_watermark(payload_id.lower())
    if rec is None:
        raise ApiProblem(404, f"no manifest recorded for watermark payload {payload_id.lower()}")
    return ManifestRecord(**rec)
