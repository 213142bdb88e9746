"""Request and response schemas of the HTTP API (apart from the storage records).

The verification report itself is the library's ``Report.to_dict()`` (the same JSON as
``kinoseal verify --json``); ``VerifyReport`` documents its main fields and lets the rest through.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kinoseal.api.http.store.db import Job


def _iso(t: float | None) -> str | None:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds") if t else None


class Problem(BaseModel):
    """RFC 9457 problem details; every error answer has this shape."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None


class VerifyReport(BaseModel):
    """The verification report (same JSON as ``kinoseal verify --json``)."""

    model_config = ConfigDict(extra="allow")
    file: str
    sha256: str
    verdict: Literal["ai_generated", "likely_ai_generated", "authentic", "untrusted_signature", "tampered", "unknown"]
    verdict_label: str
    confidence: float
    summary: str
    evidence: list[str]
    c2pa: dict[str, Any]
    watermark: dict[str, Any]
    classifier: dict[str, Any]
    media: dict[str, Any] = {}
    provenance: dict[str, Any] | None = None
    notes: list[str] = []


class VerifyRequest(BaseModel):
    """Verify a file already in this server's upload store (no other URL is fetched)."""

    model_config = ConfigDict(extra="forbid")
    upload_id: str | None = Field(None, description="id returned by POST /v1/uploads", max_length=64)
    url: str | None = Field(None, description="a URL of this server's own upload store: .../v1/uploads/{id}",
                            max_length=2048)
    callback_url: str | None = Field(None, description="webhook called (signed) when the job finishes",
                                     max_length=2048)


class UploadOut(BaseModel):
    upload_id: str
    filename: str
    size: int
    url: str
    expires_at: str | None
    media: dict[str, Any] | None = None


class Thumbnail(BaseModel):
    index: int
    time: float
    width: int
    height: int
    jpeg_base64: str


class Keyframes(BaseModel):
    upload_id: str
    frames: list[Thumbnail]


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    attempt: int
    filename: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    links: dict[str, str] = {}
    webhook: dict[str, Any] | None = None

    @classmethod
    def from_job(cls, job: Job) -> "JobOut":
        links = {"self": f"/v1/jobs/{job.id}"}
        if job.kind in ("generate", "edit") and job.status == "done":
            links["result"] = f"/v1/jobs/{job.id}/result"
        err = dict(job.error) if job.error else None
        if err is not None:
            err.setdefault("type", "about:blank")
        return cls(
            id=job.id, kind=job.kind, status=job.status, attempt=job.attempt, filename=job.filename,
            created_at=_iso(job.created_at), started_at=_iso(job.started_at), finished_at=_iso(job.finished_at),
            result=job.result if isinstance(job.result, dict) else None, error=err, links=links,
            webhook=job.webhook,
        )


class JobAccepted(BaseModel):
    job_id: str
    status: str
    links: dict[str, str]


class BatchItem(BaseModel):
    filename: str
    job_id: str | None = None
    status: str
    error: Problem | None = None


class BatchOut(BaseModel):
    jobs: list[BatchItem]


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(..., min_length=1, max_length=2000)
    seconds: float = Field(2.0, gt=0, le=30)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    steps: int | None = Field(None, ge=1, le=200)
    callback_url: str | None = Field(None, max_length=2048)


class EditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upload_id: str = Field(..., max_length=64)
    prompt: str = Field(..., min_length=1, max_length=2000)
    strength: float = Field(0.5, gt=0, le=1)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    steps: int | None = Field(None, ge=1, le=200)
    callback_url: str | None = Field(None, max_length=2048)


class ManifestRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    payload_id: str
    key_id: str
    method: str
    manifest_label: str | None
    file_sha256: str | None
    title: str | None
    created_at: str
    manifest: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: bool
    queue: str
    queue_ok: bool
    public_verify: bool


class WhoAmI(BaseModel):
    tenant: str
    key_id: str | None
    scopes: list[str]
    public: bool
