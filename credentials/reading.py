"""Read and validate a clip's C2PA manifest against a trust store, offline.

The result is plain evidence (what the manifest says and what failed); turning
evidence into a verdict is the verifier's job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from credentials.bmff import has_c2pa_box
from credentials.manifests import KINOSEAL_ASSERTION, SOFT_BINDING_LABEL
from credentials.trust import TrustStore

# Failure codes that mean "the signer is not (or no longer) trusted" rather than
# "the bytes or the signature do not match". Everything else that fails is integrity.
TRUST_FAILURES = frozenset(
    {
        "signingCredential.untrusted",
        "signingCredential.expired",
        "signingCredential.revoked",
        "signingCredential.ocsp.revoked",
        "signingCredential.ocsp.unknown",
        "timeStamp.untrusted",
        "timeStamp.outsideValidity",
    }
)


# Our own code (not a C2PA status) for a manifest whose asset cannot be parsed.
UNVERIFIABLE = "kinoseal.manifest.unverifiable"


@dataclass
class IngredientInfo:
    title: str | None
    relationship: str | None
    manifest_label: str | None
    digital_source_type: str | None
    signer: dict[str, str | None] | None
    failure_codes: list[str]
    ingredients: list["IngredientInfo"] = field(default_factory=list)


@dataclass
class C2paEvidence:
    present: bool
    validation_state: str | None = None  # "Trusted" | "Valid" | "Invalid"
    signer: dict[str, str | None] | None = None  # {"common_name", "issuer", "alg", "time"}
    digital_source_type: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[IngredientInfo] = field(default_factory=list)
    failure_codes: list[str] = field(default_factory=list)
    claim_generator: str | None = None
    title: str | None = None
    manifest_label: str | None = None
    soft_binding: dict[str, Any] | None = None
    kinoseal: dict[str, Any] | None = None
    error: str | None = None  # why the manifest could not be read, if it could not

    @property
    def integrity_failures(self) -> list[str]:
        return [c for c in self.failure_codes if c not in TRUST_FAILURES]

    @property
    def ingredient_codes(self) -> list[str]:
        """Every failure code recorded anywhere in the ingredient history."""
        out: list[str] = []

        def walk(items: list[IngredientInfo]) -> None:
            for ing in items:
                out.extend(ing.failure_codes)
                walk(ing.ingredients)

        walk(self.ingredients)
        return out

    @property
    def ingredient_failures(self) -> list[str]:
        """Integrity failures in the ingredient history (trust problems excluded)."""
        return [c for c in self.ingredient_codes if c not in TRUST_FAILURES]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_type_and_actions(manifest: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    actions: list[dict[str, Any]] = []
    source: str | None = None
    for a in manifest.get("assertions", []):
        if str(a.get("label", "")).startswith("c2pa.actions"):
            for act in a.get("data", {}).get("actions", []):
                slim = {k: act[k] for k in ("action", "digitalSourceType", "when", "description") if k in act}
                agent = act.get("softwareAgent")
                if isinstance(agent, dict):
                    slim["softwareAgent"] = {k: agent.get(k) for k in ("name", "version")}
                elif agent:
                    slim["softwareAgent"] = str(agent)
                if isinstance(act.get("parameters"), dict):
                    slim["parameters"] = {
                        k: v for k, v in act["parameters"].items() if k not in ("ingredients", "ingredient")
                    }
                actions.append(slim)
                if source is None and act.get("digitalSourceType"):
                    source = act["digitalSourceType"]
    return source, actions


def _assertion(manifest: dict[str, Any], label: str) -> dict[str, Any] | None:
    for a in manifest.get("assertions", []):
        if a.get("label") == label:
            data = a.get("data")
            return data if isinstance(data, dict) else None
    return None


def _signer(manifest: dict[str, Any]) -> dict[str, str | None] | None:
    sig = manifest.get("signature_info")
    if not isinstance(sig, dict):
        return None
    return {
        "common_name": sig.get("common_name"),
        "issuer": sig.get("issuer"),
        "alg": sig.get("alg"),
        "time": sig.get("time"),
    }


def _codes(results: dict[str, Any] | None) -> list[str]:
    if not isinstance(results, dict):
        return []
    return [str(r.get("code")) for r in results.get("failure", []) if r.get("code")]


def _ingredients(store: dict[str, Any], manifest: dict[str, Any], depth: int = 0) -> list[IngredientInfo]:
    out: list[IngredientInfo] = []
    if depth > 16:  # guard against hostile cyclic ingredient graphs
        return out
    for ing in manifest.get("ingredients", []) or []:
        label = ing.get("active_manifest")
        child = store.get("manifests", {}).get(label) if label else None
        recorded = ing.get("validation_results")
        if isinstance(recorded, dict) and "activeManifest" in recorded:
            recorded = recorded["activeManifest"]
        codes = _codes(recorded)
        # Older-style ingredients keep a flat list of statuses.
        for status in ing.get("validation_status", []) or []:
            code = status.get("code")
            if code and code not in codes and not code.endswith((".match", ".validated", ".trusted", ".insideValidity")):
                codes.append(code)
        source = None
        if isinstance(child, dict):
            source, _ = _source_type_and_actions(child)
        out.append(
            IngredientInfo(
                title=ing.get("title"),
                relationship=ing.get("relationship"),
                manifest_label=label,
                digital_source_type=source,
                signer=_signer(child) if isinstance(child, dict) else None,
                failure_codes=codes,
                ingredients=_ingredients(store, child, depth + 1) if isinstance(child, dict) else [],
            )
        )
    return out


def read_c2pa(path: Path, trust: TrustStore) -> C2paEvidence:
    """Read the active manifest of ``path``; never raises for bad files."""
    try:
        with open(path, "rb") as fh:
            with c2pa.Reader(fh, context=trust.context()) as reader:
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
                store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return C2paEvidence(present=False)
    except c2pa.C2paError as exc:
        text = str(exc)
        if "not supported" in text.lower() or "unsupported" in text.lower():
            return C2paEvidence(present=False, error=f"container not supported for C2PA: {text}")
        if has_c2pa_box(Path(path)):
            # A manifest is there but the asset around it no longer parses: the
            # bytes were altered after signing, so the claim cannot be checked.
            return C2paEvidence(
                present=True,
                validation_state="Invalid",
                failure_codes=[UNVERIFIABLE],
                error=f"the signed file no longer parses: {text[:200]}",
            )
        return C2paEvidence(present=False, error=f"unreadable: {text[:300]}")
    except OSError as exc:
        return C2paEvidence(present=False, error=f"cannot open: {exc.strerror or exc}")

    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label, {}) if label else {}
    source, actions = _source_type_and_actions(manifest)
    active = results.get("activeManifest") if isinstance(results, dict) else None
    failures = _codes(active)
    # Ingredient deltas record failures of ingredients discovered while validating.
    for delta in (results.get("ingredientDeltas") or []) if isinstance(results, dict) else []:
        for code in _codes(delta.get("validationDeltas")):
            failures.append(f"ingredient:{code}")
    generator = None
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info:
        generator = " ".join(str(info[0].get(k, "")) for k in ("name", "version")).strip()
    return C2paEvidence(
        present=True,
        validation_state=str(state) if state is not None else None,
        signer=_signer(manifest),
        digital_source_type=source,
        actions=actions,
        ingredients=_ingredients(store, manifest),
        failure_codes=failures,
        claim_generator=generator,
        title=manifest.get("title"),
        manifest_label=label,
        soft_binding=_assertion(manifest, SOFT_BINDING_LABEL),
        kinoseal=_assertion(manifest, KINOSEAL_ASSERTION),
    )


def read_manifest_store(path: Path, trust: TrustStore) -> dict[str, Any] | None:
    """The full manifest store as JSON (for the provenance registry and reports)."""
    try:
        with open(path, "rb") as fh, c2pa.Reader(fh, context=trust.context()) as reader:
            return json.loads(reader.json())
    except (c2pa.C2paError, OSError):
        return None
