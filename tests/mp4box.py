"""Just enough ISO-BMFF handling for tamper tests: list top-level boxes, find
the C2PA box, move it to another file (fixing chunk offsets), flip bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta"}


@dataclass
class Box:
    type: bytes
    start: int
    size: int
    header: int

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def payload_start(self) -> int:
        return self.start + self.header


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        out.append(Box(typ, pos, size, header))
        pos += size
    return out


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
        if b.type in _CONTAINERS:
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
