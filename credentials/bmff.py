"""A tolerant scan of ISO-BMFF boxes, to tell "this file carries a C2PA box that
the library cannot validate" apart from "no manifest at all", and an init segment
of fragmented MP4 apart from a complete file."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def iter_boxes(fh: IO[bytes], start: int, end: int, max_boxes: int = 10_000) -> Iterator[tuple[bytes, int, int, bytes]]:
    """(type, offset, size, first 16 payload bytes) of the boxes between ``start`` and ``end``.
    Stops quietly at the first box that does not fit: altered files must not raise here."""
    pos = start
    for _ in range(max_boxes):
        if pos + 8 > end:
            return
        fh.seek(pos)
        head = fh.read(24)
        if len(head) < 8:
            return
        size, typ = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) >= 16:
            size, header = struct.unpack(">Q", head[8:16])[0], 16
        elif size == 0:
            size = end - pos
        yield typ, pos, size, head[header : header + 16]
        if size < 8:
            return
        pos += size


def has_c2pa_box(path: Path, max_boxes: int = 10_000) -> bool:
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            return any(typ == b"uuid" and usertype == C2PA_UUID for typ, _, _, usertype in iter_boxes(fh, 0, end, max_boxes))
    except OSError:
        return False


def top_level_types(path: Path, max_boxes: int = 10_000) -> list[bytes]:
    """Top-level box types, plus ``moov/<child>`` for the children of ``moov``."""
    out: list[bytes] = []
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            for typ, pos, size, _ in list(iter_boxes(fh, 0, end, max_boxes)):
                out.append(typ)
                if typ == b"moov":
                    out.extend(b"moov/" + t for t, *_ in iter_boxes(fh, pos + 8, min(pos + size, end), max_boxes))
    except OSError:
        pass
    return out
