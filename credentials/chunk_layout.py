"""Chunk offsets that a hard binding leaves unbound must still describe the signed layout.

The ``c2pa.hash.bmff.v2`` exclusion list that the C2PA specification suggests, and that
c2pa-rs, Adobe Premiere and Microsoft's tools write, leaves the entries of ``stco`` and
``co64`` (the file offset of each chunk of samples) out of the hash, so that a manifest
can be inserted without re-hashing. The sample sizes (``stsz``), the chunking (``stsc``)
and the media bytes (``mdat``) stay bound. A changed chunk offset makes the decoder read
other signed bytes as the picture, and c2pa-rs reports nothing (found by the hostile
campaign: 17 mutations of such files decoded to other frames under a valid manifest).
Legacy v1 files (``c2pars_legacy``) have the same hole, and a duplicated box before
``mdat`` shifts every chunk under unchanged offsets. A fragmented file (``moof``) signed
with the same list leaves ``tfhd`` base offsets and ``trun`` data offsets unbound: its runs
of samples are checked the same way.

What the bound tables still pin down: each chunk's size. A muxer writes chunks that lie
inside ``mdat`` and never overlap, and when the chunks tile ``mdat`` (every muxer we
have seen does) a changed offset cannot avoid a neighbour. So an offset table that puts
a chunk outside ``mdat`` or on top of another is an alteration of signed content. This
check reads only ``moov`` and the top-level box headers; it is a pure function of them.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from kinoseal.mediaio.bmff import boxes, iter_file_boxes

CHUNK_OFFSETS_MISMATCH = "kinoseal.bmffHash.chunkOffsets.mismatch"
# moov is bound by the hash (except the offsets themselves), so its size is the signer's.
MAX_MOOV_BYTES = 64 * 1024 * 1024
_MAX_ENTRIES = 20_000_000


def bmff_hash(manifest: dict[str, Any]) -> tuple[str, list[dict]] | None:
    """(label, exclusions) of a manifest's ``c2pa.hash.bmff*`` hard binding, or None."""
    for a in manifest.get("assertions") or []:
        label = str(a.get("label", ""))
        if label.startswith("c2pa.hash.bmff"):
            excl = (a.get("data") or {}).get("exclusions") or []
            return label, [e for e in excl if isinstance(e, dict)]
    return None


def offsets_unbound(manifest: dict[str, Any]) -> bool:
    """True when the active manifest's hard binding may leave chunk offsets out of the hash:
    a ``c2pa.hash.bmff*`` assertion that excludes ``stco``/``co64``, or none reported (c2pa-python
    does not list a legacy v1 BMFF hash)."""
    if not any(str(a.get("label", "")).startswith("c2pa.hash.") for a in manifest.get("assertions") or []):
        return True
    hb = bmff_hash(manifest)
    return hb is not None and any(str(e.get("xpath", "")).rsplit("/", 1)[-1] in ("stco", "co64") for e in hb[1])


def _full_box(data: bytes, b) -> bytes:
    return data[b.payload_start + 4:b.end]  # skip version and flags


def _child(data: bytes, parent, typ: bytes):
    for b in boxes(data, parent.payload_start, parent.end, max_boxes=4096):
        if b.type == typ:
            return b
    return None


def _u32(payload: bytes, n: int, start: int) -> np.ndarray:
    if n > _MAX_ENTRIES or start + 4 * n > len(payload):
        raise ValueError("table longer than its box")
    return np.frombuffer(payload, ">u4", n, start).astype(np.int64)


def _chunks(data: bytes, stbl) -> tuple[np.ndarray, np.ndarray] | None:
    """(offsets, sizes) of one track's chunks, or None when the bound tables do not describe
    them (then there is nothing an offset could be checked against)."""
    stco, co64 = _child(data, stbl, b"stco"), _child(data, stbl, b"co64")
    stsc, stsz, stz2 = _child(data, stbl, b"stsc"), _child(data, stbl, b"stsz"), _child(data, stbl, b"stz2")
    table = stco or co64
    if table is None or stsc is None or (stsz is None and stz2 is None):
        return None
    p = _full_box(data, table)
    n = struct.unpack(">I", p[:4])[0] if len(p) >= 4 else 0
    if n == 0:
        return None
    if co64 is not None and stco is None:
        if n > _MAX_ENTRIES or 4 + 8 * n > len(p):
            return None
        offsets = np.frombuffer(p, ">u8", n, 4).astype(np.int64)
    else:
        offsets = _u32(p, n, 4)
    # samples per chunk from the stsc runs
    s = _full_box(data, stsc)
    runs = struct.unpack(">I", s[:4])[0]
    tab = _u32(s, 3 * runs, 4).reshape(-1, 3) if runs else np.zeros((0, 3), np.int64)
    if runs == 0 or tab[0, 0] != 1 or np.any(np.diff(tab[:, 0]) <= 0):
        return None
    firsts = np.clip(tab[:, 0], 1, n + 1)
    lengths = np.diff(np.append(firsts, n + 1))
    per_chunk = np.repeat(tab[:, 1], lengths)
    if per_chunk.size != n:
        return None
    # sample sizes
    if stsz is not None:
        z = _full_box(data, stsz)
        const, count = struct.unpack(">II", z[:8])
        if const:  # one size for every sample: no per-sample array (the count is not backed by any table)
            return (offsets, per_chunk * const) if int(per_chunk.sum()) == count else None
        sizes = _u32(z, count, 8)
    else:
        z = _full_box(data, stz2)
        field, count = z[3], struct.unpack(">I", z[4:8])[0]
        if count > _MAX_ENTRIES:
            return None
        raw = np.frombuffer(z, np.uint8, count * field // 8 if field in (8, 16) else (count + 1) // 2, 8)
        if field == 16:
            sizes = raw.view(">u2").astype(np.int64)
        elif field == 8:
            sizes = raw.astype(np.int64)
        else:
            sizes = np.stack([raw >> 4, raw & 15], 1).reshape(-1)[:count].astype(np.int64)
    if int(per_chunk.sum()) != sizes.size:
        return None
    through = np.concatenate([[0], np.cumsum(sizes)])  # bytes of the first k samples
    return offsets, np.diff(through[np.concatenate([[0], np.cumsum(per_chunk)])])


_TFHD_FIELDS = ((0x01, 8, "base"), (0x02, 4, None), (0x08, 4, None), (0x10, 4, "size"), (0x20, 4, None))


def _trex_sizes(data: bytes, moov) -> dict[int, int]:
    """track_ID -> default sample size from ``moov/mvex/trex``."""
    mvex = _child(data, moov, b"mvex")
    out = {}
    for b in boxes(data, mvex.payload_start, mvex.end, max_boxes=4096) if mvex is not None else []:
        if b.type == b"trex" and b.size >= 32:
            track, _, _, size = struct.unpack(">IIII", data[b.payload_start + 4:b.payload_start + 20])
            out[track] = size
    return out


def _fragment_runs(moof_bytes: bytes, moof_start: int, trex: dict[int, int]) -> list[tuple[int, int, int]]:
    """(track, file offset, bytes) of every run of samples that one ``moof`` points at."""
    runs = []
    root = boxes(moof_bytes, 0, len(moof_bytes))
    if not root:
        return runs
    prev_end = moof_start
    for traf in (b for b in boxes(moof_bytes, root[0].payload_start, root[0].end, max_boxes=4096) if b.type == b"traf"):
        tfhd = _child(moof_bytes, traf, b"tfhd")
        if tfhd is None or tfhd.size < 16:
            continue
        flags = int.from_bytes(moof_bytes[tfhd.payload_start + 1:tfhd.payload_start + 4], "big")
        track = struct.unpack(">I", moof_bytes[tfhd.payload_start + 4:tfhd.payload_start + 8])[0]
        pos, base, default_size = tfhd.payload_start + 8, None, trex.get(track, 0)
        for bit, width, name in _TFHD_FIELDS:
            if flags & bit:
                value = int.from_bytes(moof_bytes[pos:pos + width], "big")
                if name == "base":
                    base = value
                elif name == "size":
                    default_size = value
                pos += width
        if base is None:
            base = moof_start if flags & 0x020000 else prev_end
        cursor = base
        for trun in (b for b in boxes(moof_bytes, traf.payload_start, traf.end, max_boxes=4096) if b.type == b"trun"):
            t = moof_bytes[trun.payload_start:trun.end]
            tflags = int.from_bytes(t[1:4], "big")
            count = struct.unpack(">I", t[4:8])[0]
            at = 8
            if tflags & 0x01:
                cursor = base + struct.unpack(">i", t[at:at + 4])[0]
                at += 4
            if tflags & 0x04:
                at += 4
            per = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tflags & bit]
            if count > _MAX_ENTRIES or at + 4 * len(per) * count > len(t):
                raise ValueError("trun longer than its box")
            if tflags & 0x200:
                table = np.frombuffer(t, ">u4", count * len(per), at).reshape(count, len(per))
                total = int(table[:, per.index(0x200)].astype(np.int64).sum())
            else:
                total = default_size * count
            runs.append((track, cursor, total))
            cursor += total
        prev_end = cursor
    return runs


def layout_problem(path: Path) -> str | None:
    """What is wrong with the chunk layout of an MP4, in words, or None when it is consistent or
    cannot be checked. Never raises: these bytes come from uploads (a table that cannot be read is
    "cannot be checked"; the tables it reads are the signed ones, so that is not a way around it)."""
    try:
        return _layout_problem(path)
    except (ValueError, struct.error, IndexError, OverflowError, MemoryError):
        return None


def _track_id(data: bytes, trak, fallback: int) -> int:
    """The track_ID of ``trak`` (its ``tkhd``), the number that fragments use too; ``fallback``
    (the trak's position) when the header cannot be read."""
    tkhd = _child(data, trak, b"tkhd")
    if tkhd is None or tkhd.end - tkhd.payload_start < 24:
        return fallback
    version = data[tkhd.payload_start]
    at = tkhd.payload_start + 4 + (16 if version == 1 else 8)
    return struct.unpack(">I", data[at:at + 4])[0]  # at + 4 <= payload_start + 24 <= end


def _layout_problem(path: Path) -> str | None:
    """``layout_problem`` without its safety net: the chunks of ``moov``'s tracks and the runs of
    every top-level ``moof``; a track whose tables cannot be read is left out."""
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            top = list(iter_file_boxes(fh, 0, end))
            moov = next((b for b, _ in top if b.type == b"moov"), None)
            if moov is None or moov.size > MAX_MOOV_BYTES:
                return None
            fh.seek(moov.start)
            data = fh.read(min(moov.size, end - moov.start))
            moofs = []
            for b, _ in top:
                if b.type == b"moof" and b.size <= MAX_MOOV_BYTES:
                    fh.seek(b.start)
                    moofs.append((b.start, fh.read(min(b.size, end - b.start))))
    except OSError:
        return None
    mdats = [(b.payload_start, min(b.end, end)) for b, _ in top if b.type == b"mdat"]
    root = boxes(data, 0, len(data))
    if not root:
        return None
    spans: list[tuple[np.ndarray, np.ndarray, int]] = []
    for t, trak in enumerate(b for b in boxes(data, root[0].payload_start, root[0].end, max_boxes=4096) if b.type == b"trak"):
        track = _track_id(data, trak, t + 1)
        stbl = trak
        for typ in (b"mdia", b"minf", b"stbl"):
            stbl = _child(data, stbl, typ) if stbl is not None else None
        if stbl is None:
            continue
        try:
            got = _chunks(data, stbl)
        except (ValueError, struct.error, IndexError):
            got = None
        if got is not None:
            spans.append((*got, track))
    if moofs:
        trex = _trex_sizes(data, root[0])
        try:
            runs = [r for start, raw in moofs for r in _fragment_runs(raw, start, trex)]
        except (ValueError, struct.error, IndexError):
            runs = []
        for track in sorted({r[0] for r in runs}):
            mine = [r for r in runs if r[0] == track]
            spans.append((np.array([r[1] for r in mine], np.int64), np.array([r[2] for r in mine], np.int64), track))
    if not spans:
        return None
    starts = np.concatenate([s for s, _, _ in spans])
    sizes = np.concatenate([z for _, z, _ in spans])
    tracks = np.concatenate([np.full(s.size, t) for s, _, t in spans])
    keep = sizes > 0
    starts, sizes, tracks = starts[keep], sizes[keep], tracks[keep]
    stops = starts + sizes
    inside = np.zeros(starts.size, bool)
    for a, b in mdats:
        inside |= (starts >= a) & (stops <= b)
    if not inside.all():
        i = int(np.argmin(inside))
        return (f"track {tracks[i]}: a chunk of {sizes[i]} bytes at offset {starts[i]} lies outside the media data "
                f"({len(mdats)} mdat box{'es' if len(mdats) != 1 else ''})")
    order = np.argsort(starts, kind="stable")
    overlap = stops[order][:-1] > starts[order][1:]
    if overlap.any():
        i = int(np.argmax(overlap))
        a, b = order[i], order[i + 1]
        return (f"track {tracks[b]}: the chunk at offset {starts[b]} overlaps the chunk of track {tracks[a]} "
                f"at {starts[a]} ({sizes[a]} bytes)")
    return None


__all__ = ["CHUNK_OFFSETS_MISMATCH", "bmff_hash", "layout_problem", "offsets_unbound"]
