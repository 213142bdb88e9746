"""A tolerant scan of top-level ISO-BMFF boxes, to tell "this file carries a
C2PA box that the library cannot validate" apart from "no manifest at all"."""

from __future__ import annotations

import struct
from pathlib import Path

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def has_c2pa_box(path: Path, max_boxes: int = 10_000) -> bool:
    try:
        with open(path, "rb") as fh:
            size_total = fh.seek(0, 2)
            pos = 0
            for _ in range(max_boxes):
                if pos + 8 > size_total:
                    return False
                fh.seek(pos)
                head = fh.read(24)
                size, typ = struct.unpack(">I4s", head[:8])
                header = 8
                if size == 1 and len(head) >= 16:
                    size, header = struct.unpack(">Q", head[8:16])[0], 16
                elif size == 0:
                    size = size_total - pos
                if typ == b"uuid" and head[header : header + 16] == C2PA_UUID:
                    return True
                if size < 8:
                    return False
                pos += size
    except OSError:
        return False
    return False
