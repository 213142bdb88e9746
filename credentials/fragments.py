"""Fragmented MP4 (DASH/CMAF): validate an init segment together with its media fragments.

A fragmented asset's manifest lives in the init segment; its ``c2pa.hash.bmff``
assertion holds a Merkle tree whose leaves are the fragments (each fragment also
carries its own proof in a C2PA ``uuid`` box). Read alone, the init segment cannot
have its content binding checked: c2pa-rs reports ``assertion.bmffHash.mismatch``
("inithash must not be present for non-fragmented media"). That is not tampering,
it is an incomplete asset, and the evidence says so with ``FRAGMENTS_MISSING``.

With fragments, each one is validated against the init segment with
``c2pa.Reader.with_fragment`` (which replaces the reader's results per call), and
the hash failures of every fragment are collected. Known limit of the C2PA
model as c2pa-rs implements it: each fragment is checked on its own, so a
fragment that was dropped, or two valid fragments swapped, is not detected.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import c2pa

from kinoseal.mediaio.bmff import top_level_types
from kinoseal.credentials.reading import C2paEvidence, read_c2pa
from kinoseal.credentials.trust import TrustStore
from kinoseal.errors import InputError, OutputError

# kinoseal's own code (not a C2PA status): the manifest is an init segment's and no
# fragment was given, so the content binding was not checked. Not an integrity failure.
FRAGMENTS_MISSING = "kinoseal.fragments.missing"
BMFF_HASH_PREFIX = "assertion.bmffHash."
MAX_FRAGMENTS = 10_000
# The init segment is read once per fragment; a real one is a few KB.
MAX_INIT_BYTES = 16 * 1024**2


@dataclass
class FragmentCheck:
    """One fragment's result against the init segment's Merkle tree."""

    file: str
    ok: bool
    failures: list[dict[str, str]] = field(default_factory=list)  # {"code", "explanation"}


@dataclass
class FragmentedC2paEvidence(C2paEvidence):
    """``C2paEvidence`` of a fragmented asset, plus what each fragment gave."""

    fragments: list[FragmentCheck] = field(default_factory=list)
    complete: bool = False  # True when at least one fragment was validated with the init segment

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_init_segment(path: Path) -> bool:
    """A fragmented-MP4 init segment: ``moov`` with ``mvex`` and no media of its own."""
    types = top_level_types(Path(path))
    return b"moov/mvex" in types and b"moof" not in types and b"mdat" not in types


def is_media_fragment(path: Path) -> bool:
    types = top_level_types(Path(path))
    return b"moof" in types and b"moov" not in types


def _check_inputs(init: Path, fragments: Sequence[Path]) -> None:
    for p in (init, *fragments):
        if not Path(p).is_file():
            raise InputError(f"{Path(p).name}: no such file")
    if not fragments:
        return
    if len(fragments) > MAX_FRAGMENTS:
        raise InputError(f"too many fragments ({len(fragments)}); at most {MAX_FRAGMENTS} per call")
    if Path(init).stat().st_size > MAX_INIT_BYTES:
        raise InputError(f"{Path(init).name} is too large for an init segment")
    if not is_init_segment(init):
        raise InputError(
            f"{Path(init).name} is not a fragmented-MP4 init segment (no moov/mvex, or it holds media itself)",
            hint="give the init segment first, then its .m4s fragments",
        )
    for f in fragments:
        if not is_media_fragment(f):
            raise InputError(f"{Path(f).name} is not a media fragment (no moof box, or it has a moov)")


def _failures(reader: c2pa.Reader) -> tuple[str | None, list[dict[str, str]]]:
    results = reader.get_validation_results() or {}
    active = results.get("activeManifest") if isinstance(results, dict) else None
    failures = []
    for r in (active or {}).get("failure", []) or []:
        if r.get("code"):
            failures.append({"code": str(r["code"]), "explanation": str(r.get("explanation", ""))[:300]})
    state = reader.get_validation_state()
    return (str(state) if state is not None else None), failures


def _validate_fragments(init: Path, fragments: Sequence[Path], trust: TrustStore) -> tuple[list[FragmentCheck], list[str]]:
    """Each fragment against the init segment; returns the checks and the validation states seen."""
    init_bytes = Path(init).read_bytes()
    ctx = trust.context()
    checks: list[FragmentCheck] = []
    states: list[str] = []
    reader: c2pa.Reader | None = None
    try:
        for frag in fragments:
            if reader is None:
                reader = c2pa.Reader("video/mp4", io.BytesIO(init_bytes), context=ctx)
            try:
                with open(frag, "rb") as fh:
                    reader.with_fragment("video/mp4", io.BytesIO(init_bytes), fh)
                state, failures = _failures(reader)
            except c2pa.C2paError as exc:
                # The native call may have consumed the reader: record this fragment, start afresh.
                reader.close()
                reader = None
                state = "Invalid"
                failures = [{"code": "assertion.bmffHash.mismatch",
                             "explanation": f"the fragment could not be validated: {str(exc)[:200]}"}]
            bmff = [f for f in failures if f["code"].startswith(BMFF_HASH_PREFIX)]
            checks.append(FragmentCheck(Path(frag).name, not bmff, failures))
            states.append(state or "Invalid")
    finally:
        if reader is not None:
            reader.close()
    return checks, states


def _init_alone_is_incomplete(init: Path, trust: TrustStore) -> bool:
    """c2pa-rs's answer for an init segment read alone names the missing fragments."""
    try:
        with open(init, "rb") as fh, c2pa.Reader("video/mp4", fh, context=trust.context()) as reader:
            _, failures = _failures(reader)
    except (c2pa.C2paError, OSError):
        return False
    return any(
        f["code"] == "assertion.bmffHash.mismatch" and "non-fragmented" in f["explanation"] for f in failures
    )


def _extend(base: C2paEvidence, **extra: Any) -> FragmentedC2paEvidence:
    values = {f.name: getattr(base, f.name) for f in fields(base)}
    values.update(extra)
    return FragmentedC2paEvidence(**values)


def read_c2pa_fragments(init: Path, fragments: Sequence[Path], trust: TrustStore) -> FragmentedC2paEvidence:
    """Evidence for an init segment plus its fragments (possibly none).

    The manifest facts (signer, actions, ingredients, trust codes) come from
    ``read_c2pa`` on the init segment; its content-binding codes
    (``assertion.bmffHash.*``) are replaced by what the fragments gave. With no
    fragments, an init segment's codes say ``FRAGMENTS_MISSING`` instead of a
    hash mismatch. Raises ``InputError`` for files that are not an init segment
    and fragments; never for altered content.
    """
    init, fragments = Path(init), [Path(f) for f in fragments]
    _check_inputs(init, fragments)
    base = read_c2pa(init, trust)
    if not base.present or not base.validation_state:
        return _extend(base)
    kept = [c for c in base.failure_codes if not c.startswith(BMFF_HASH_PREFIX)]
    if not fragments:
        if not (is_init_segment(init) and _init_alone_is_incomplete(init, trust)):
            return _extend(base)
        # Never "Trusted": the content was not checked. "Invalid" only if something else failed.
        other = [c for c in kept if c in base.integrity_failures and not c.startswith("ingredient:")]
        return _extend(base, failure_codes=[*kept, FRAGMENTS_MISSING], validation_state="Invalid" if other else "Valid")
    checks, states = _validate_fragments(init, fragments, trust)
    codes = list(kept)
    for check in checks:
        for f in check.failures:
            if f["code"].startswith(BMFF_HASH_PREFIX) and f["code"] not in codes:
                codes.append(f["code"])
    # Each with_fragment call validates the whole claim again with that fragment: the worst state stands.
    worst = max(states, key=["Trusted", "Valid", "Invalid"].index)
    return _extend(base, failure_codes=codes, validation_state=worst, fragments=checks, complete=True)


@contextlib.contextmanager
def joined_media(init: Path, fragments: Sequence[Path], directory: Path | None = None) -> Iterator[Path]:
    """The init segment and its fragments concatenated into one temporary MP4 that
    PyAV/FFmpeg decode like any fragmented file; deleted afterwards. It goes to the
    system's temporary folder by default: the segments' own folder may be read-only."""
    fd, name = tempfile.mkstemp(prefix=".kinoseal-", suffix=".joined.mp4", dir=directory)
    tmp = Path(name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                for part in (init, *fragments):
                    with open(part, "rb") as fh:
                        shutil.copyfileobj(fh, out, 1024 * 1024)
        except OSError as exc:
            raise OutputError(f"cannot join the segments into a temporary file: {exc.strerror or exc}") from None
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
