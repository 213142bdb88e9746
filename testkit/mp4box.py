"""Just enough ISO-BMFF handling for tamper tests: list top-level boxes, find
the C2PA box, move it to another file (fixing chunk offsets), flip bytes."""

from __future__ import annotations

import struct

from kinoseal.mediaio import bmff
from kinoseal.mediaio.bmff import C2PA_UUID, Box

def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    return bmff.boxes(data, start, end)


def find(data: bytes, typ: bytes) -> Box:
    for b in boxes(data):
        if b.type == typ:
            return b
    raise KeyError(typ)


def c2pa_box(data: bytes) -> Box:
    for b in boxes(data):
        if b.type == b"uuid" and data[b.payload_start : b.payload_start + 16] == C2PA_UUID:
            return b
    raise KeyError("no C2PA uuid box")


def _shift_chunk_offsets(buf: bytearray, start: int, end: int, delta: int) -> None:
    for b in boxes(bytes(buf[start:end])):
        s, e = start + b.start, start + b.end
        if b.type in bmff.CONTAINERS:
            _shift_chunk_offsets(buf, s + b.header, e, delta)
        elif b.type in (b"stco", b"co64"):
            count = struct.unpack(">I", buf[s + 12 : s + 16])[0]
            width = 4 if b.type == b"stco" else 8
            fmt = ">I" if width == 4 else ">Q"
            for i in range(count):
                p = s + 16 + i * width
                (val,) = struct.unpack(fmt, buf[p : p + width])
                buf[p : p + width] = struct.pack(fmt, val + delta)


def insert_after_ftyp(target: bytes, box_bytes: bytes) -> bytes:
    """Insert a top-level box right after ``ftyp`` and fix the chunk offsets so the media still plays."""
    ftyp = find(target, b"ftyp")
    buf = bytearray(target[: ftyp.end] + box_bytes + target[ftyp.end :])
    moov = find(bytes(buf), b"moov")
    _shift_chunk_offsets(buf, moov.payload_start, moov.end, len(box_bytes))
    return bytes(buf)


def transplant_manifest(signed: bytes, unsigned: bytes) -> bytes:
    box = c2pa_box(signed)
    return insert_after_ftyp(unsigned, signed[box.start : box.end])


def flip(data: bytes, offset: int, n: int = 1) -> bytes:
    buf = bytearray(data)
    for i in range(offset, offset + n):
        buf[i] ^= 0xFF
    return bytes(buf)
