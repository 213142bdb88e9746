"""The active manifest alone out of a C2PA manifest store (``application/c2pa``).

A manifest store is one JUMBF superbox: its description box (``jumd``, label ``c2pa``)
followed by one superbox per manifest, the active manifest last (C2PA 2.x, 11.1.4). The
Soft Binding Resolution API's ``returnActiveManifest=true`` asks for a store that holds
only that one.
"""

from __future__ import annotations

import struct

from kinoseal.mediaio.bmff import BoxError, boxes


class JumbfError(ValueError):
    pass


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes between ``start`` and ``end``."""
    try:
        return [(b.type, b.start, b.size) for b in boxes(data, start, end, strict=True)]
    except BoxError as exc:
        raise JumbfError(str(exc)) from None


def active_manifest_store(store: bytes) -> bytes:
    """A manifest store holding only the last (active) manifest of ``store``."""
    top = _boxes(store, 0, len(store))
    if len(top) != 1 or top[0][0] != b"jumb":
        raise JumbfError("not a JUMBF manifest store")
    _, off, size = top[0]
    header = 16 if struct.unpack(">I", store[off:off + 4])[0] == 1 else 8
    children = _boxes(store, off + header, off + size)
    if len(children) < 2 or children[0][0] != b"jumd":
        raise JumbfError("the manifest store has no manifests")
    (_, d_off, d_size), (_, m_off, m_size) = children[0], children[-1]
    body = store[d_off:d_off + d_size] + store[m_off:m_off + m_size]
    return struct.pack(">I4s", 8 + len(body), b"jumb") + body
