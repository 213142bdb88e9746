"""Which bytes of a signed MP4 its C2PA hard binding (c2pa.hash.bmff) leaves out.

Read with c2pa-python: the exclusions of the active manifest's ``c2pa.hash.bmff*``
assertion ({xpath, data, subset}), matched against the file's box tree (the walker of
``bench.hostile.corpus``), give byte ranges. A mutated signed file that still validates
is explained when every byte it changed lies in such a range, its manifest reads the
same, and its decoded frames are identical (``explain``). Anything else is a finding.

    python -m bench.hostile.exclusions ORIGINAL.mp4 [MUTATED.mp4 ...]
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

from kinoseal.credentials.chunk_layout import bmff_hash
from kinoseal.mediaio.bmff import CONTAINERS, boxes as _walk_boxes

_CONTAINERS = CONTAINERS | {b"meta", b"mfra"}


def hard_binding(path: Path) -> tuple[str, list[dict]] | None:
    import c2pa

    try:
        store = json.loads(c2pa.Reader(str(path)).json())
    except Exception:  # noqa: BLE001 - no manifest, or none readable: nothing bound
        return None
    return bmff_hash(store.get("manifests", {}).get(store.get("active_manifest") or "", {}))


def _tree(data: bytes, start: int, end: int, prefix: str, out: list[tuple[str, int, int]], depth: int = 0) -> None:
    for b in _walk_boxes(data, start, end):
        typ, pos, size = b.type, b.start, b.size
        name = typ.decode("latin-1")
        path = f"{prefix}/{name}"
        out.append((path, pos, size))
        # meta is a full box: its children start after 4 bytes of version/flags
        if typ in _CONTAINERS and depth < 24:
            _tree(data, pos + 8 + (4 if typ == b"meta" else 0), pos + size, path, out, depth + 1)


def boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(xpath without indices, offset, size) of every box."""
    out: list[tuple[str, int, int]] = []
    _tree(data, 0, len(data), "", out)
    return out


def excluded_ranges(data: bytes, exclusions: list[dict]) -> list[tuple[int, int, str]]:
    ranges = []
    tree = boxes(data)
    for ex in exclusions:
        want = "/".join(part.split("[")[0] for part in ex["xpath"].split("/"))
        for path, pos, size in tree:
            if path != want:
                continue
            ok = True
            for cond in ex.get("data") or []:
                value = base64.b64decode(cond["value"]) if isinstance(cond["value"], str) else bytes(cond["value"])
                at = pos + cond["offset"]
                ok &= data[at:at + len(value)] == value
            if not ok:
                continue
            if ex.get("subset"):
                for sub in ex["subset"]:
                    end = pos + size if not sub.get("length") else pos + sub["offset"] + sub["length"]
                    ranges.append((pos + sub["offset"], end, path))
            else:
                ranges.append((pos, pos + size, path))
    return ranges


def _merged(ranges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Adjacent or overlapping excluded ranges as one (a change may span /uuid and the /free after it)."""
    out: list[tuple[int, int, str]] = []
    for s, e, name in sorted(ranges):
        if out and s <= out[-1][1]:
            ps, pe, pn = out[-1]
            out[-1] = (ps, max(pe, e), pn if name == pn else f"{pn}+{name}")
        else:
            out.append((s, e, name))
    return out


def box_at(data: bytes, offset: int) -> str:
    """The innermost box path holding ``offset``."""
    best = "(outside any box)"
    for path, pos, size in boxes(data):
        if pos <= offset < pos + size:
            best = path
    return best


def frames_digest(path: Path) -> tuple[int, str] | None:
    """(frames, sha256 of every decoded frame's planes), or None when it does not decode."""
    import av

    h = hashlib.sha256()
    n = 0
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            for frame in c.decode(video=0):
                for plane in frame.planes:
                    h.update(bytes(plane))
                n += 1
    except Exception:  # noqa: BLE001
        return None
    return n, h.hexdigest()


def manifest_json(path: Path) -> str | None:
    import c2pa

    try:
        return c2pa.Reader(str(path)).json()
    except Exception:  # noqa: BLE001
        return None


def diff_ranges(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """Ranges where two same-length files differ."""
    out: list[tuple[int, int]] = []
    i, n = 0, min(len(a), len(b))
    while i < n:
        if a[i] != b[i]:
            j = i
            while j < n and a[j] != b[j]:
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def explain(original: Path, mutated: Path, changed: list[tuple[int, int]] | None = None) -> dict:
    """Why a mutated copy of ``original`` may still validate: where its changed bytes lie
    against the hard binding's exclusions, and whether the manifest and pixels are the same."""
    a, b = original.read_bytes(), mutated.read_bytes()
    if changed is None:
        if len(a) != len(b):
            fa, fb = frames_digest(original), frames_digest(mutated)
            return {"in_place": False, "explained": False, "why": "length changed",
                    "frames_identical": fa is not None and fa == fb,
                    "manifest_identical": manifest_json(original) == manifest_json(mutated)}
        changed = diff_ranges(a, b)
    hb = hard_binding(original)
    label, exclusions = hb if hb else (None, [])
    ranges = excluded_ranges(a, exclusions)
    merged = _merged(ranges)
    spots = []
    for s, e in changed:
        # the exclusion where the change starts; the change may run on into an adjacent one
        start = [r for r in ranges if r[0] <= s < r[1]]
        inside = [r for r in merged if r[0] <= s and e <= r[1]]
        spots.append({"offset": s, "length": e - s, "box": box_at(a, s),
                      "excluded_by": start[0][2] if inside and start else None,
                      "excluded_range": [inside[0][0], inside[0][1]] if inside else None})
    all_excluded = bool(spots) and all(sp["excluded_by"] for sp in spots)
    same_manifest = manifest_json(original) == manifest_json(mutated)
    fa, fb = frames_digest(original), frames_digest(mutated)
    same_frames = fa is not None and fa == fb
    return {"in_place": True, "hash_assertion": label, "exclusions": [e["xpath"] for e in exclusions],
            "changed": spots, "all_in_excluded_ranges": all_excluded, "manifest_identical": same_manifest,
            "frames_identical": same_frames, "frames": fa[0] if fa else None,
            "explained": all_excluded and same_frames}


def main() -> None:
    original = Path(sys.argv[1])
    hb = hard_binding(original)
    print(json.dumps({"file": original.name, "hash_assertion": hb[0] if hb else None,
                      "excluded_ranges": excluded_ranges(original.read_bytes(), hb[1]) if hb else []}))
    for m in sys.argv[2:]:
        print(json.dumps({"file": Path(m).name, **explain(original, Path(m))}))


if __name__ == "__main__":
    main()
