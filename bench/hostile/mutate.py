"""Deterministic mutations of real files, for the hostile-input campaign.

Each mutation is a pure function of (the base file's bytes, a seed): input ``N`` of a
campaign can be made again from its id alone, so a finding is reproduced with
``python -m bench.hostile.campaign --only ID`` and no mutated file is ever kept in the repo.

Operators: box-aware (flip bytes inside one box at any depth, corrupt a box's size field,
drop, duplicate or swap boxes), and libFuzzer-like byte operators (flips, interesting
integers, insert, erase, copy a chunk, truncate, splice with another base). A mutation
stacks 1-3 operators; ``changed`` lists the byte ranges of the base that were altered
(for the analysis of mutated signed files that still validate).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from kinoseal.mediaio.bmff import walk

INTERESTING32 = (0, 1, 7, 8, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0)


@dataclass
class Mutation:
    data: bytes
    ops: list[str] = field(default_factory=list)
    # (start, end) ranges of the *base* that differ in place (same length, same offsets):
    # only set while every operator so far kept the length and the offsets.
    changed: list[tuple[int, int]] | None = field(default_factory=list)


def _box_list(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """(type, offset, size, depth) of the boxes; iterative and bounded (a base may nest 1000 deep)."""
    # plain_sizes: the recorded campaign findings replay only with the walk that made them
    return [(b.type, b.start, b.size, depth) for b, depth in walk(data, plain_sizes=True)]


def _flip_in_box(m: Mutation, rnd: random.Random, boxes) -> None:
    typ, pos, size, _ = rnd.choice(boxes)
    n = rnd.choice([1, 1, 2, 4, 16])
    off = pos + rnd.randrange(0, size)
    buf = bytearray(m.data)
    end = min(off + n, len(buf))
    for i in range(off, end):
        buf[i] ^= rnd.randrange(1, 256)
    m.data = bytes(buf)
    m.ops.append(f"flip:{typ.decode('latin-1')}@{off}+{end - off}")
    if m.changed is not None:
        m.changed.append((off, end))


def _box_size(m: Mutation, rnd: random.Random, boxes) -> None:
    typ, pos, size, _ = rnd.choice(boxes)
    new = rnd.choice([0, 1, 4, 7, 8, size - 1, size + 1, size * 2, 0x7FFFFFFF, 0xFFFFFFFF])
    new &= 0xFFFFFFFF
    buf = bytearray(m.data)
    buf[pos:pos + 4] = struct.pack(">I", new)
    m.data = bytes(buf)
    m.ops.append(f"size:{typ.decode('latin-1')}@{pos}={new}")
    if m.changed is not None:
        m.changed.append((pos, pos + 4))


def _box_drop_dup_swap(m: Mutation, rnd: random.Random, boxes) -> None:
    d = m.data
    top = [b for b in boxes if b[3] == 0]
    kind = rnd.choice(["drop", "dup", "swap"]) if len(top) > 1 else "dup"
    typ, pos, size, _ = rnd.choice(boxes)
    if kind == "drop":
        m.data = d[:pos] + d[pos + size:]
    elif kind == "dup":
        m.data = d[:pos + size] + d[pos:pos + size] + d[pos + size:]
    else:
        a, b = sorted(rnd.sample(top, 2), key=lambda x: x[1])
        m.data = (d[:a[1]] + d[b[1]:b[1] + b[2]] + d[a[1] + a[2]:b[1]] + d[a[1]:a[1] + a[2]]
                  + d[b[1] + b[2]:])
        typ = a[0] + b"/" + b[0]
    m.ops.append(f"{kind}:{typ.decode('latin-1')}")
    m.changed = None


def _flip_anywhere(m: Mutation, rnd: random.Random, _boxes) -> None:
    buf = bytearray(m.data)
    spots = []
    for _ in range(rnd.choice([1, 2, 8, 32])):
        off = rnd.randrange(len(buf))
        buf[off] ^= 1 << rnd.randrange(8)
        spots.append(off)
    m.data = bytes(buf)
    m.ops.append(f"bitflips:{len(spots)}")
    if m.changed is not None:
        m.changed += [(o, o + 1) for o in spots]


def _interesting(m: Mutation, rnd: random.Random, _boxes) -> None:
    buf = bytearray(m.data)
    off = rnd.randrange(max(1, len(buf) - 4))
    buf[off:off + 4] = struct.pack(rnd.choice([">I", "<I"]), rnd.choice(INTERESTING32))
    m.data = bytes(buf[:len(m.data)])
    m.ops.append(f"int32@{off}")
    if m.changed is not None:
        m.changed.append((off, off + 4))


def _insert_erase_copy(m: Mutation, rnd: random.Random, _boxes) -> None:
    d = m.data
    off = rnd.randrange(len(d) + 1)
    kind = rnd.choice(["insert", "erase", "copy"])
    n = rnd.choice([1, 4, 64, 4096])
    if kind == "insert":
        m.data = d[:off] + rnd.randbytes(n) + d[off:]
    elif kind == "erase":
        m.data = d[:off] + d[off + n:]
    else:
        src = rnd.randrange(len(d))
        m.data = d[:off] + d[src:src + n] + d[off:]
    m.ops.append(f"{kind}:{n}@{off}")
    m.changed = None


def _truncate(m: Mutation, rnd: random.Random, _boxes) -> None:
    cut = rnd.randrange(1, max(2, len(m.data)))
    m.data = m.data[:cut]
    m.ops.append(f"truncate@{cut}")
    m.changed = None


BOX_OPS = (_flip_in_box, _flip_in_box, _flip_in_box, _box_size, _box_drop_dup_swap)
BYTE_OPS = (_flip_anywhere, _interesting, _insert_erase_copy, _truncate)


def mutate(base: bytes, seed: int, other: bytes | None = None) -> Mutation:
    """One mutation of ``base``; ``other`` (another base) may be spliced in."""
    rnd = random.Random(seed)
    m = Mutation(base)
    boxes = _box_list(base)
    if other is not None and rnd.random() < 0.05:
        cut = rnd.randrange(1, len(base))
        m.data = base[:cut] + other[rnd.randrange(len(other)):]
        m.ops.append(f"splice@{cut}")
        m.changed = None
        return m
    for _ in range(rnd.choice([1, 1, 1, 2, 3])):
        ops = BOX_OPS if (boxes and rnd.random() < 0.6) else BYTE_OPS
        op = rnd.choice(ops)
        # offsets of the base hold while every operator so far kept them
        boxes_now = boxes if m.changed is not None else _box_list(m.data)
        if op in BOX_OPS and not boxes_now:
            op = _flip_anywhere
        if not m.data:
            break
        op(m, rnd, boxes_now)
    return m
