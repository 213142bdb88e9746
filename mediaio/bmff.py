"""ISO-BMFF (MP4) boxes: the one walker for the C2PA reader, the manifest store, the tamper
tests and the hostile-input harness.

Walks never trust a size: a box that does not fit its parent ends the walk (``strict``:
raises ``BoxError``), and every walk is bounded in boxes and depth, because these bytes
come from uploads.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
# Boxes whose payload is a sequence of boxes (``meta`` is a full box: 4 bytes of version and flags first).
CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta", b"mvex"})


class BoxError(ValueError):
    """A box header or size that does not fit (strict walks only)."""


@dataclass(frozen=True)
class Box:
    type: bytes
    start: int
    size: int
    header: int  # 8, or 16 with a 64-bit size

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def payload_start(self) -> int:
        return self.start + self.header


def _header(head: bytes, pos: int, end: int) -> tuple[int, int, bytes] | None:
    """(size, header length, type) of the box whose first bytes are ``head``, or None."""
    if len(head) < 8:
        return None
    size, typ = struct.unpack(">I4s", head[:8])
    header = 8
    if size == 1:
        if len(head) < 16:
            return None
        size, header = struct.unpack(">Q", head[8:16])[0], 16
    elif size == 0:
        size = end - pos  # "to the end of the file"
    return size, header, typ


def boxes(data: bytes, start: int = 0, end: int | None = None, *, strict: bool = False,
          max_boxes: int = 100_000, plain_sizes: bool = False) -> list[Box]:
    """The boxes between ``start`` and ``end`` of ``data``, in order. ``plain_sizes``: stop at
    the first box whose size field is 0 ("to the end") or 1 (64-bit), as a walker that knows
    only 32-bit sizes does (the hostile campaign recorded its mutations with one)."""
    end = len(data) if end is None else min(end, len(data))
    out: list[Box] = []
    pos = start
    while pos < end and len(out) < max_boxes:
        h = _header(data[pos:pos + 16], pos, end) if end - pos >= 8 else None
        if h is None:
            if strict:
                raise BoxError(f"truncated box header at {pos}")
            break
        size, header, typ = h
        if plain_sizes and data[pos:pos + 4] in (b"\0\0\0\0", b"\0\0\0\1"):
            break
        if size < header or pos + size > end:
            if strict:
                raise BoxError(f"box {typ!r} at {pos} has a bad size {size}")
            break
        out.append(Box(typ, pos, size, header))
        pos += size
    return out


def walk(data: bytes, *, max_depth: int = 24, max_boxes: int = 4000, plain_sizes: bool = False) -> list[tuple[Box, int]]:
    """(box, depth) of every box, into the ``CONTAINERS``; iterative and bounded (a hostile
    file may nest boxes thousands deep)."""
    out: list[tuple[Box, int]] = []
    todo = [(0, len(data), 0)]
    while todo and len(out) < max_boxes:
        start, end, depth = todo.pop()
        for b in boxes(data, start, end, plain_sizes=plain_sizes):
            out.append((b, depth))
            if b.type in CONTAINERS and depth < max_depth:
                todo.append((b.payload_start, b.end, depth + 1))
    return out


def iter_file_boxes(fh: IO[bytes], start: int, end: int, max_boxes: int = 10_000) -> Iterator[tuple[Box, bytes]]:
    """(box, first 16 payload bytes) of the boxes of an open file between ``start`` and ``end``.
    A last box that runs past ``end`` is still reported (a truncated upload keeps its C2PA
    box); the walk stops quietly after it: altered files must not raise here."""
    pos = start
    for _ in range(max_boxes):
        if pos + 8 > end:
            return
        fh.seek(pos)
        head = fh.read(32)
        h = _header(head, pos, end)
        if h is None:
            return
        size, header, typ = h
        yield Box(typ, pos, size, header), head[header:header + 16]
        if size < 8:
            return
        pos += size


def has_c2pa_box(path: Path, max_boxes: int = 10_000) -> bool:
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            return any(b.type == b"uuid" and usertype == C2PA_UUID for b, usertype in iter_file_boxes(fh, 0, end, max_boxes))
    except OSError:
        return False


def top_level_types(path: Path, max_boxes: int = 10_000) -> list[bytes]:
    """Top-level box types, plus ``moov/<child>`` for the children of ``moov``."""
    out: list[bytes] = []
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            for b, _ in list(iter_file_boxes(fh, 0, end, max_boxes)):
                out.append(b.type)
                if b.type == b"moov":
                    out.extend(b"moov/" + c.type for c, _ in iter_file_boxes(fh, b.start + 8, min(b.end, end), max_boxes))
    except OSError:
        pass
    return out


__all__ = ["C2PA_UUID", "CONTAINERS", "Box", "BoxError", "boxes", "has_c2pa_box", "iter_file_boxes", "top_level_types",
           "walk"]
