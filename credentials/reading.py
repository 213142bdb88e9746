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

from kinoseal.credentials.chunk_layout import CHUNK_OFFSETS_MISMATCH, layout_problem, offsets_unbound
from kinoseal.mediaio.bmff import has_c2pa_box
from kinoseal.credentials.manifests import CAPTURE_SOURCE_TYPES, IPTC, KINOSEAL_ASSERTION, SOFT_BINDING_LABEL
from kinoseal.credentials.status_codes import Category, category
from kinoseal.credentials.trust import TrustConfig

# Our own code (not a C2PA status) for a manifest whose asset cannot be parsed.
UNVERIFIABLE = "kinoseal.manifest.unverifiable"

# IPTC digital source types that disclose AI content, and how much of the asset they
# cover. "full": the content was made by the model (trainedAlgorithmicMedia) or purely
# by an algorithm (algorithmicMedia). "partial": the content mixes recorded or
# human-made material with AI/synthetic elements (compositeWithTrainedAlgorithmicMedia,
# compositeSynthetic). algorithmicallyEnhanced (noise reduction, upscaling of recorded
# content) is not an AI-content disclosure and is not listed.
AI_EXTENT = {
    IPTC + "trainedAlgorithmicMedia": "full",
    IPTC + "algorithmicMedia": "full",
    IPTC + "compositeWithTrainedAlgorithmicMedia": "partial",
    IPTC + "compositeSynthetic": "partial",
}
MAX_INGREDIENT_DEPTH = 16  # guard against hostile deep or cyclic ingredient graphs


@dataclass
class IngredientInfo:
    title: str | None
    relationship: str | None
    manifest_label: str | None
    digital_source_type: str | None
    signer: dict[str, str | None] | None
    failure_codes: list[str]
    ingredients: list["IngredientInfo"] = field(default_factory=list)
    # True when the ingredient's manifest is in the store, so the reader validated it
    # again now (its trust under *this* trust configuration is in the ingredient deltas).
    revalidated: bool = False


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
    # The media type the active manifest was made for ("video/mp4", "audio/mpeg", "image/jpeg").
    format: str | None = None
    # Every AI source type declared in the active manifest or any ingredient manifest:
    # {"source_type", "extent": "full"|"partial", "where": "active manifest"|"ingredient",
    #  "title", "manifest_label", "action"}. See ``AI_EXTENT`` and ``ai_disclosure``.
    ai_disclosure: list[dict[str, Any]] = field(default_factory=list)
    # Where a capture claim comes from when the active manifest has no source type of its
    # own but only passes on a parent (opened -> watermarked, transcoded, published):
    # {"source_type", "title", "manifest_label", "signer"}; None otherwise.
    origin: dict[str, Any] | None = None
    # What kinoseal found wrong in the bytes the hard binding leaves unbound (chunk offsets).
    binding_problem: str | None = None

    def codes_in(self, *cats: Category) -> list[str]:
        """Active-manifest failure codes (with ``ingredient:`` deltas) of the given categories."""
        return [c for c in self.failure_codes if category(c) in cats]

    @property
    def integrity_failures(self) -> list[str]:
        """Failures that mean the signed bytes were changed (``tampered``)."""
        return self.codes_in(Category.INTEGRITY)

    @property
    def trust_failures(self) -> list[str]:
        return self.codes_in(Category.TRUST)

    @property
    def unclassified(self) -> list[str]:
        """Failure codes the status table does not know, here and in the ingredient history."""
        return [c for c in self.failure_codes + self.ingredient_codes if category(c) is Category.UNKNOWN]

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
    def history_codes(self) -> list[str]:
        """The ingredient history's recorded failure codes that still speak today.

        An ingredient's recorded results are frozen when it was added, under the trust list
        of whoever added it. Integrity findings stay true (the bytes were wrong then), but
        for an ingredient whose manifest the reader validated again, trust and identity
        are judged by this reader's configuration (``ingredient:`` deltas), not the old list.
        """
        out: list[str] = []

        def walk(items: list[IngredientInfo]) -> None:
            for ing in items:
                out.extend(c for c in ing.failure_codes
                           if not (ing.revalidated and category(c) in (Category.TRUST, Category.IDENTITY)))
                walk(ing.ingredients)

        walk(self.ingredients)
        return out

    @property
    def ingredient_failures(self) -> list[str]:
        """Integrity failures in the ingredient history (trust problems excluded)."""
        return [c for c in self.ingredient_codes if category(c) is Category.INTEGRITY]

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
    if depth > MAX_INGREDIENT_DEPTH:
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
                revalidated=isinstance(child, dict),
            )
        )
    return out


def _children(store: dict[str, Any], manifest: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(ingredient entry, its manifest) for every ingredient that carries a manifest in the store."""
    out = []
    for ing in manifest.get("ingredients", []) or []:
        child = store.get("manifests", {}).get(ing.get("active_manifest") or "")
        if isinstance(ing, dict) and isinstance(child, dict):
            out.append((ing, child))
    return out


def _declared_type(action: dict[str, Any]) -> tuple[str | None, str]:
    """An action's IPTC source type: the standard field, else a vendor parameter that
    carries one (Adobe Firefly writes ``parameters["com.adobe.digitalSourceType"]`` on
    ``c2pa.opened`` for third-party models)."""
    if action.get("digitalSourceType"):
        return str(action["digitalSourceType"]), "digitalSourceType"
    for key, value in (action.get("parameters") or {}).items():
        if str(key).lower().endswith("digitalsourcetype") and isinstance(value, str) and value.startswith(IPTC):
            return value, f"parameters.{key}"
    return None, ""


def _has_parent(manifest: dict[str, Any]) -> bool:
    return any(isinstance(i, dict) and i.get("relationship") == "parentOf" for i in manifest.get("ingredients") or [])


def ai_disclosure(store: dict[str, Any], label: str | None) -> list[dict[str, Any]]:
    """Every AI source type declared in the active manifest and, recursively, in its
    ingredients' manifests, each with its extent for the asset being read.

    An entry is "full" when the asset itself was made by the model: a full-AI type
    (``AI_EXTENT``) on the active manifest's ``c2pa.created`` action, or on any of its
    actions when it has no parent; or a full-AI parent reached only through manifests
    that pass it on without content of their own (no source type: opened, trimmed,
    watermarked, re-published). Everything else is "partial": a composite type, an
    AI edit of a parent, or an AI ingredient placed into other material (componentOf).
    """
    manifests = store.get("manifests", {}) if isinstance(store, dict) else {}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def walk(lbl: str, title: str | None, where: str, through_parents: bool, depth: int) -> None:
        manifest = manifests.get(lbl)
        if not isinstance(manifest, dict) or lbl in seen or depth > MAX_INGREDIENT_DEPTH:
            return
        seen.add(lbl)
        _, actions = _source_type_and_actions(manifest)
        own_types = [a for a in actions if _declared_type(a)[0]]
        for act in own_types:
            uri, declared_in = _declared_type(act)
            extent = AI_EXTENT.get(uri)
            if extent is None:
                continue
            # created: the asset is what the model made; opened: the parent it opened is.
            whole = act.get("action") in ("c2pa.created", "c2pa.opened") or not _has_parent(manifest)
            entry = {
                "source_type": uri,
                "extent": "full" if extent == "full" and whole and through_parents else "partial",
                "where": where,
                "title": title if where == "ingredient" else manifest.get("title"),
                "manifest_label": lbl,
                "action": act.get("action"),
            }
            if declared_in != "digitalSourceType":
                entry["declared_in"] = declared_in
            out.append(entry)
        for ing, _child in _children(store, manifest):
            # A parent's content stays the asset's content only while no manifest on the
            # way adds content of its own (a source type of any kind).
            passes = through_parents and not own_types and ing.get("relationship") == "parentOf"
            walk(ing["active_manifest"], ing.get("title"), "ingredient", passes, depth + 1)

    if label:
        walk(label, None, "active manifest", True, 0)
    return out


def capture_origin(store: dict[str, Any], label: str | None) -> dict[str, Any] | None:
    """The capture claim of the parent chain when the active manifest only passes on a
    parent (no source type of its own): the first parentOf manifest down the chain that
    declares a source type, if that type is a capture type."""
    manifests = store.get("manifests", {}) if isinstance(store, dict) else {}
    manifest = manifests.get(label or "")
    if not isinstance(manifest, dict) or _source_type_and_actions(manifest)[0]:
        return None  # no manifest, or the active manifest speaks for itself
    for _ in range(MAX_INGREDIENT_DEPTH):
        parents = [(i, c) for i, c in _children(store, manifest) if i.get("relationship") == "parentOf"]
        if len(parents) != 1:
            return None
        ing, manifest = parents[0]
        source, _actions = _source_type_and_actions(manifest)
        if source:
            if source not in CAPTURE_SOURCE_TYPES:
                return None
            return {"source_type": source, "title": ing.get("title"), "manifest_label": ing.get("active_manifest"),
                    "signer": _signer(manifest)}
    return None


def _state(results: dict[str, Any]) -> str:
    """c2pa-rs's rule: Invalid on any failure (active or ingredient delta), Trusted when the
    active manifest's signer is trusted, else Valid."""
    groups = [results.get("activeManifest") or {}] + [
        d.get("validationDeltas") or {} for d in results.get("ingredientDeltas") or []]
    if any(g.get("failure") for g in groups):
        return "Invalid"
    success = (results.get("activeManifest") or {}).get("success") or []
    return "Trusted" if any(s.get("code") == "signingCredential.trusted" for s in success) else "Valid"


def _with_identity_pass(path: Path, trust: TrustConfig, results: dict[str, Any], state: Any) -> tuple[dict, Any]:
    """CAWG identity results judged against the CAWG anchors alone.

    c2pa-rs 0.91.3 pools every ``trust.anchors`` entry whatever its ``trust_kind``
    (measured: a clip whose claim signer chains only to a ``cawg`` entry reads Trusted).
    So the claim signer is judged without the CAWG anchors (``trust.context()``), and
    the identity assertions in a second read with only them; the ``cawg.*`` statuses of
    the second read replace those of the first.
    """
    active = results.get("activeManifest") or {}
    if not any(str(s.get("code", "")).startswith("cawg.") for k in ("success", "informational", "failure")
               for s in active.get(k) or []):
        return results, state
    try:
        with open(path, "rb") as fh, c2pa.Reader(fh, context=trust.identity_context()) as reader:
            second = (reader.get_validation_results() or {}).get("activeManifest") or {}
    except (c2pa.C2paError, OSError):
        return results, state
    merged = dict(active)
    for kind in ("success", "informational", "failure"):
        keep = [s for s in active.get(kind) or [] if not str(s.get("code", "")).startswith("cawg.")]
        merged[kind] = keep + [s for s in second.get(kind) or [] if str(s.get("code", "")).startswith("cawg.")]
    out = {**results, "activeManifest": merged}
    return out, _state(out)


def read_c2pa(path: Path, trust: TrustConfig) -> C2paEvidence:
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
        if "must fetch remote manifests" in text:
            # Content Credentials stored in the cloud: they exist, they are just not here.
            # kinoseal never fetches at run time, so this is "unavailable", not "absent".
            url = text.rsplit(" ", 1)[-1][:300]
            return C2paEvidence(present=True, failure_codes=["manifest.inaccessible"],
                                error=f"the manifest is stored remotely ({url}) and kinoseal does not fetch it")
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

    if trust.cawg_anchors and isinstance(results, dict):
        results, state = _with_identity_pass(path, trust, results, state)
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label, {}) if label else {}
    source, actions = _source_type_and_actions(manifest)
    active = results.get("activeManifest") if isinstance(results, dict) else None
    failures = _codes(active)
    # Ingredient deltas record failures of ingredients discovered while validating.
    for delta in (results.get("ingredientDeltas") or []) if isinstance(results, dict) else []:
        for code in _codes(delta.get("validationDeltas")):
            failures.append(f"ingredient:{code}")
    problem = None
    if offsets_unbound(manifest):
        problem = layout_problem(Path(path))
        if problem:
            failures.append(CHUNK_OFFSETS_MISMATCH)
            state = "Invalid"
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
        format=manifest.get("format"),
        ai_disclosure=ai_disclosure(store, label),
        origin=capture_origin(store, label),
        binding_problem=problem,
    )


def read_manifest_store(path: Path, trust: TrustConfig) -> dict[str, Any] | None:
    """The full manifest store as JSON (for the provenance registry and reports)."""
    try:
        with open(path, "rb") as fh, c2pa.Reader(fh, context=trust.context()) as reader:
            return json.loads(reader.json())
    except (c2pa.C2paError, OSError):
        return None
