"""Declarative C2PA manifests for the two things kinoseal signs.

Plain dicts in, plain dicts out (the c2pa-python ``Builder`` validates them),
so the manifest that a clip carries can be read in one place.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_TRAINED = IPTC + "compositeWithTrainedAlgorithmicMedia"
DIGITAL_CAPTURE = IPTC + "digitalCapture"

# Source types that say "made (at least partly) by an algorithm/AI model".
AI_SOURCE_TYPES = frozenset(
    IPTC + t
    for t in (
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "algorithmicMedia",
        "compositeSynthetic",
    )
)
# Source types that say "recorded by a camera".
CAPTURE_SOURCE_TYPES = frozenset(
    IPTC + t for t in ("digitalCapture", "multiFrameComputationalCapture", "negativeFilm", "positiveFilm")
)

KINOSEAL_ASSERTION = "io.kinoseal.watermark"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
# C2PA 2.2 18.14.5: the action that says "an invisible watermark was inserted to
# create a soft binding"; c2pa-rs requires a soft-binding assertion beside it.
WATERMARKED_ACTION = "c2pa.watermarked"
SOFT_BINDING_ALG_PREFIX = "io.kinoseal."


def soft_binding_alg(method: str) -> str:
    """The ``alg`` of kinoseal's soft binding for a watermark method, e.g.
    ``io.kinoseal.kinoseal-wm-v2``. Not on the C2PA soft-binding algorithm list:
    a verifier that restricts algorithms (c2pa-rs settings
    ``soft_binding.soft_binding_algorithms``) must list it, see ``soft_binding_settings``."""
    return SOFT_BINDING_ALG_PREFIX + method


def soft_binding_settings(methods: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The c2pa-rs settings fragment that allows kinoseal's soft-binding algorithms."""
    return {"soft_binding": {"soft_binding_algorithms": [soft_binding_alg(m) for m in methods]}}


def _cbor_safe(value: Any, key: str = "") -> Any:
    """c2pa-rs turns a JSON array of numbers in action parameters into a CBOR byte
    string (``[32, 32]`` was stored as ``"ICA="``, ``[32, 300]`` lost a byte, floats
    vanished). Sizes become ``{"width", "height"}``; other numeric lists JSON text."""
    if isinstance(value, dict):
        return {k: _cbor_safe(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            if len(value) == 2 and key.endswith("_size"):
                return {"width": value[0], "height": value[1]}
            return json.dumps(list(value))
        return [_cbor_safe(v) for v in value]
    return value


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def payload_value(payload_id: int) -> str:
    """Soft-binding value: the 64-bit payload id, big-endian, base64 (C2PA wants base64)."""
    return base64.b64encode(payload_id.to_bytes(8, "big")).decode()


def generated_manifest(
    *,
    title: str,
    software: dict[str, str],
    generator: dict[str, Any],
    watermark: dict[str, Any],
    source_type: str = TRAINED,
    duration_ms: int | None = None,
    parent_label: str | None = None,
    edit_description: str | None = None,
) -> dict[str, Any]:
    """Manifest of a generated (or AI-edited) clip.

    ``generator``: name/version of the model plus free parameters (seed, steps,
    prompt hash...), recorded as action parameters. ``watermark``: method,
    version, key_id and payload_id of the embedded mark; it becomes both the
    standard ``c2pa.soft-binding`` assertion (so any C2PA tool can find the
    durable binding) and kinoseal's own assertion with the scheme details.
    """
    when = _now_iso()
    agent = {"name": str(generator.get("name", "unknown")), "version": str(generator.get("version", "unknown"))}
    params = _cbor_safe({k: v for k, v in generator.items() if k not in ("name", "version")})
    if parent_label is None:
        actions: list[dict[str, Any]] = [
            {
                "action": "c2pa.created",
                "digitalSourceType": source_type,
                "softwareAgent": agent,
                "when": when,
                "parameters": params,
            }
        ]
    else:
        actions = [
            {"action": "c2pa.opened", "when": when, "parameters": {"ingredientIds": [parent_label]}},
            {
                "action": "c2pa.edited",
                "digitalSourceType": source_type,
                "softwareAgent": agent,
                "when": when,
                "description": edit_description or "edited by an AI model",
                "parameters": params,
            },
        ]
    alg = soft_binding_alg(str(watermark["method"]))
    actions.append(
        {
            "action": WATERMARKED_ACTION,
            "softwareAgent": {"name": "kinoseal", "version": str(software.get("version", "unknown"))},
            "when": when,
            "description": f"invisible watermark {watermark['method']} embedded in every frame; "
            f"its payload is the value of the {alg} soft binding",
        }
    )
    scope: dict[str, Any] = {}
    if duration_ms:
        scope = {"timespan": {"start": 0, "end": int(duration_ms)}}
    return {
        "claim_generator_info": [software],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {
                "label": SOFT_BINDING_LABEL,
                "data": {
                    "alg": alg,
                    "blocks": [{"scope": scope, "value": payload_value(int(watermark["payload_id"]))}],
                },
            },
            {
                "label": KINOSEAL_ASSERTION,
                "kind": "Json",
                "data": {
                    "scheme": watermark["method"],
                    "version": watermark["version"],
                    "key_id": watermark["key_id"],
                    "payload_id": f"{int(watermark['payload_id']):016x}",
                    "payload_bits": watermark.get("payload_bits", 64),
                },
            },
        ],
    }


def capture_manifest(*, title: str, software: dict[str, str], device: str | None = None) -> dict[str, Any]:
    """Manifest of an authentic recording: ``c2pa.created`` with ``digitalCapture``."""
    action: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": DIGITAL_CAPTURE,
        "when": _now_iso(),
        "softwareAgent": software,
    }
    if device:
        action["parameters"] = {"device": device}
    return {
        "claim_generator_info": [software],
        "title": title,
        "format": "video/mp4",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }
