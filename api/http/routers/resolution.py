"""The C2PA Soft Binding Resolution API (its OpenAPI description: AdobeDocs/cai-soft-binding-api,
``c2pa-original-soft-binding.json``), beside kinoseal's own /v1/manifests/by-watermark.

- ``GET|POST /matches/byBinding``: a soft-binding value (kinoseal: the watermark payload id,
  8 bytes big-endian, base64) -> the ids of the manifests recorded for it;
- ``POST /matches/byContent``: a clip -> kinoseal extracts its watermark (the verifier, as a
  verify job) -> the same matches;
- ``GET /manifests/{manifestId}``: the manifest store recorded at labeling time, ``application/c2pa``;
- ``GET /services/supportedAlgorithms``: the ``alg`` names this service resolves.

A manifest id is the active manifest's label (``urn:c2pa:…``). The scope is the one the
description names, ``fetch:manifests`` (``kinoseal api-key create --scopes fetch:manifests``);
the list of algorithms needs no key. Errors are problem documents like the rest of the API.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from kinoseal.api.http import uploading
from kinoseal.api.http.deps import Caller, get_metrics, get_runner, get_service, require
from kinoseal.api.http.jobs.runner import Runner
from kinoseal.api.http.observability import Metrics
from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.routers.common import AUTH_ERRORS, errors
from kinoseal.api.http.services import Service
from kinoseal.errors import KinosealError

router = APIRouter(tags=["soft-binding resolution"])
FetchCaller = require("fetch:manifests")
_MANIFEST_ID = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[\x21-\x7e]{1,200}$")


class SoftBindingMatch(BaseModel):
    manifestId: str = Field(description="Identifier of a matched C2PA Manifest (its label, urn:c2pa:…)")
    endpoint: str | None = Field(None, description="Absent: fetch it from this service's /manifests")
    similarityScore: int | None = Field(None, ge=0, le=100, description="0 weakest .. 100 strongest match")


class SoftBindingQueryResult(BaseModel):
    matches: list[SoftBindingMatch]


class SoftBindingQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    alg: str = Field(description="soft binding algorithm, e.g. io.kinoseal.kinoseal-wm-v2")
    value: str = Field(description="base64 soft-binding value (kinoseal: the 64-bit payload id, big-endian)")


class AlgEntry(BaseModel):
    alg: str


class SoftBindingAlgList(BaseModel):
    watermarks: list[AlgEntry]
    fingerprints: list[AlgEntry]


def _algorithms() -> dict[str, str]:
    """alg name -> watermark method, for every registered method (old clips stay resolvable)."""
    from kinoseal.credentials.manifests import soft_binding_alg  # imported here: the watermark brings scipy
    from kinoseal.watermark import list_methods

    return {soft_binding_alg(m): m for m in list_methods()}


def _registry(service: Service):
    from kinoseal.credentials.provenance import default_registry

    home = service.settings.home
    return default_registry(home) if (home / "provenance.sqlite3").exists() else None


def _check_alg(alg: str | None) -> str:
    algs = _algorithms()
    if not alg:
        raise ApiProblem(400, "alg is required")
    if alg not in algs:
        raise ApiProblem(400, f"unsupported soft-binding algorithm {alg!r}; this service resolves "
                              f"{', '.join(sorted(algs))} (GET /services/supportedAlgorithms)")
    return algs[alg]


def _payload_id(value: str | None) -> str:
    if not value:
        raise ApiProblem(400, "value is required (base64)")
    # A "+" sent unescaped in a query string arrives as a space; URL-safe base64 is accepted too.
    text = value.strip("\t\r\n").replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 8:
        raise ApiProblem(400, "value must be the base64 of kinoseal's 8-byte watermark payload id")
    return raw.hex()


def _matches(service: Service, method: str, payload_id: str, score: int, max_results: int) -> list[SoftBindingMatch]:
    registry = _registry(service)
    rec = registry.lookup(payload_id) if registry is not None else None
    if rec is None or rec.method != method or not rec.manifest_label:
        return []
    return [SoftBindingMatch(manifestId=rec.manifest_label, similarityScore=score)][:max_results]


def _result(matches: list[SoftBindingMatch]) -> Response:
    body = SoftBindingQueryResult(matches=matches).model_dump_json(exclude_none=True)
    return Response(body, media_type="application/json")


_RESULT = {200: {"model": SoftBindingQueryResult, "description": "Successful operation"}}
MaxResults = Query(10, ge=1, le=100, description="The maximum number of manifest identifiers to return")


@router.get("/matches/byBinding", response_model=SoftBindingQueryResult, operation_id="queryByBinding",
            responses={**_RESULT, **AUTH_ERRORS, **errors(400)},
            summary="Returns C2PA Manifest identifiers corresponding to a soft binding")
def query_by_binding(alg: str | None = Query(None, description="soft-binding algorithm name"),
                     value: str | None = Query(None, description="base64 soft-binding value"),
                     maxResults: int = MaxResults, caller: Caller = FetchCaller,  # noqa: N803 - the spec's name
                     service: Service = Depends(get_service)) -> Response:
    method = _check_alg(alg)
    return _result(_matches(service, method, _payload_id(value), 100, maxResults))


@router.post("/matches/byBinding", response_model=SoftBindingQueryResult, operation_id="queryByLargeBinding",
             responses={**_RESULT, **AUTH_ERRORS, **errors(400)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": SoftBindingQuery.model_json_schema()}}}},
             summary="Returns C2PA Manifest identifiers corresponding to a (large) soft binding value")
async def query_by_large_binding(request: Request, maxResults: int = MaxResults,  # noqa: N803
                                 caller: Caller = FetchCaller, service: Service = Depends(get_service)) -> Response:
    try:
        body = SoftBindingQuery.model_validate_json(await request.body())
    except ValueError:
        raise ApiProblem(400, 'send a JSON body {"alg": "...", "value": "<base64>"}') from None
    method = _check_alg(body.alg)
    return _result(_matches(service, method, _payload_id(body.value), 100, maxResults))


_CONTENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "Asset to match to manifests (a video; or multipart/form-data with field 'file').",
        "content": {"video/*": {"schema": {"type": "string", "format": "binary"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("/matches/byContent", response_model=SoftBindingQueryResult, operation_id="uploadFile",
             openapi_extra=_CONTENT_BODY, responses={**_RESULT, **AUTH_ERRORS, **errors(400, 413, 415, 503)},
             summary="Finds C2PA Manifest identifiers using a digital asset (kinoseal extracts the watermark)")
async def query_by_content(
    request: Request,
    alg: str | None = Query(None, description="only this soft-binding algorithm"),
    maxResults: int = MaxResults,  # noqa: N803
    hintAlg: str | None = Query(None, description="an extra soft binding to try"),  # noqa: N803
    hintValue: str | None = Query(None, description="its base64 value"),  # noqa: N803
    caller: Caller = FetchCaller,
    service: Service = Depends(get_service),
    runner: Runner = Depends(get_runner),
    metrics: Metrics = Depends(get_metrics),
) -> Response:
    """The clip is verified like POST /v1/verify (as a job of the caller's tenant); the payload of
    a detected watermark is looked up (``similarityScore``: the bit accuracy of the extracted
    payload, 0-100), or, where the mark's payload did not decode, the registered payload of its key
    that the mark carries (``provenance.payload_listed``); where no payload leads to a record, the registry is searched by the clip's
    content fingerprint (``alg`` io.kinoseal.vfp-v1; score: the share of sampled frames that
    matched). A clip with neither has no matches."""
    from kinoseal.fingerprint import ALG as FINGERPRINT_ALG

    s = service.settings
    wanted = None if alg == FINGERPRINT_ALG else (_check_alg(alg) if alg else None)
    matches: list[SoftBindingMatch] = []
    if hintAlg and hintValue and hintAlg in _algorithms():
        matches += _matches(service, _algorithms()[hintAlg], _payload_id(hintValue), 100, maxResults)
    got = await uploading.receive(request, service.uploads, limit=s.max_upload_bytes, tenant=caller.tenant,
                                  ephemeral=True, metrics=metrics)
    if not got.files:
        raise ApiProblem(400, "no asset in the request")
    rec = got.files[0]
    try:
        await run_in_threadpool(service.probe, service.uploads.path(rec.id))
    except KinosealError as exc:
        service.uploads.remove(rec.id)
        raise ApiProblem(415, f"not a video this service can read: {exc.kind}") from None
    job = service.store.create_job(
        tenant=caller.tenant, kind="verify", params={}, api_key_id=caller.key.id if caller.key else None,
        upload_id=rec.id, filename=rec.filename, backend=runner.backend, max_attempts=s.job_max_attempts)
    runner.submit(job)
    done = await runner.wait_async(job.id, s.sync_timeout_s)
    if done is None or not done.finished:
        raise ApiProblem(503, f"the clip is still being read; its watermark will be in /v1/jobs/{job.id}",
                         headers={"Retry-After": "10"}, job_id=job.id)
    if done.status == "failed":
        raise ApiProblem(415, (done.error or {}).get("detail") or "the clip could not be read")
    wm: dict[str, Any] = (done.result or {}).get("watermark") or {}
    method = wm.get("method")
    prov: dict[str, Any] = (done.result or {}).get("provenance") or {}
    content = prov.get("content_match") or {}
    if (alg in (None, FINGERPRINT_ALG) and prov.get("via") == "fingerprint" and content.get("matched")
            and prov.get("manifest_label")):
        # Found by the content fingerprint (no payload led to it): the score is the share of the
        # sampled frames that matched the registered clip's.
        score = int(round(100 * content["frames"] / max(1, content["compared"])))
        matches.append(SoftBindingMatch(manifestId=prov["manifest_label"], similarityScore=max(0, min(100, score))))
    # The decoded payload, or the one the blind decode could not read (a crop), named among the registered
    # payloads of the mark's key (provenance.payload_listed); either scores the pilots' bit accuracy.
    payload = wm.get("payload_id") or (prov.get("payload_id") if prov.get("payload_listed") else None)
    if alg != FINGERPRINT_ALG and wm.get("detected") and payload and method in _algorithms().values() and wanted in (None, method):
        acc = wm.get("bit_accuracy")
        score = int(round(100 * float(acc))) if isinstance(acc, (int, float)) else 100
        for m in _matches(service, method, str(payload).lower(), max(0, min(100, score)), maxResults):
            if m.manifestId not in {x.manifestId for x in matches}:
                matches.append(m)
    return _result(matches[:maxResults])


@router.get("/manifests/{manifestId}", operation_id="getManifestById",
            responses={200: {"description": "The C2PA Manifest Store", "content": {"application/c2pa": {}}},
                       **AUTH_ERRORS, **errors(400, 404)},
            summary="Returns a full C2PA Manifest Store or an active C2PA Manifest")
def get_manifest(manifestId: str, returnActiveManifest: bool = Query(False),  # noqa: N803
                 caller: Caller = FetchCaller, service: Service = Depends(get_service)) -> Response:
    from kinoseal.api.http.store.jumbf import JumbfError, active_manifest_store

    if not _MANIFEST_ID.match(manifestId):
        raise ApiProblem(400, "a manifest id is a URN such as urn:c2pa:<uuid>")
    registry = _registry(service)
    found = registry.lookup_label(manifestId) if registry is not None else None
    if found is None:
        raise ApiProblem(404, f"no manifest {manifestId} in this service's registry")
    _, data = found
    if not data:
        raise ApiProblem(404, f"manifest {manifestId} was recorded before this service kept manifest bytes; "
                              "its JSON is at /v1/manifests/by-watermark/{payload_id}")
    if returnActiveManifest:
        try:
            data = active_manifest_store(data)
        except JumbfError as exc:
            raise ApiProblem(404, f"the recorded manifest store cannot be split: {exc}") from None
    return Response(data, media_type="application/c2pa",
                    headers={"Content-Disposition": 'attachment; filename="manifest.c2pa"'})


@router.get("/services/supportedAlgorithms", response_model=SoftBindingAlgList, operation_id="getSupportedBindings",
            summary="Returns a list of the soft binding algorithms supported by the service")
def supported_algorithms() -> SoftBindingAlgList:
    from kinoseal.fingerprint import ALG as FINGERPRINT_ALG

    return SoftBindingAlgList(watermarks=[AlgEntry(alg=a) for a in sorted(_algorithms())],
                              fingerprints=[AlgEntry(alg=FINGERPRINT_ALG)])
