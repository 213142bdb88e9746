"""Search many registered fingerprints at once: which records could a query clip match?

A multi-index: each 63-bit frame hash is cut into six bands of 10-11 bits, and each band's values
are kept sorted with the hash they came from. Two hashes of one frame after re-encoding differ in
a few bits (median 0-2 under the suite's attacks, ``bench/results/fingerprint.md``), so most of a
copy's frames share at least one whole band with their registered frame (any two hashes within 5
bits do). Those pairs are then compared bit for bit, and a record that ``MIN_FRAMES`` query frames
come close to this way is matched in full (``fingerprint.match``). The search costs a binary
search per band and query frame, not a comparison with every registered hash; ``exhaustive=True``
compares with every hash (the reference the tests hold it to).

Records added later (``add``) wait in a small pending part that is compared hash by hash, and are
sorted in once that part grows past a tenth of the index: a registry that grows while a server
verifies is not re-sorted for every new clip.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kinoseal.fingerprint.core import BITS, MATCH_BITS, MIN_FRAMES, Fingerprint, FingerprintMatch, match

BANDS = 6
_EDGES = np.linspace(0, BITS, BANDS + 1).round().astype(int)  # 63 bits in six bands of 10-11
_CHUNK = 1 << 16
# Pending hashes compared one by one before they are sorted in (at least; or a tenth of the index).
_PENDING_MIN = 1 << 16


def _bands(hashes: np.ndarray) -> np.ndarray:
    """[BANDS, n] band values of uint64 hashes (uint16: numpy sorts those by radix)."""
    return np.stack([((hashes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)).astype(np.uint16)
                     for lo, hi in zip(_EDGES[:-1], _EDGES[1:])])


class FingerprintIndex:
    def __init__(self, entries: Iterable[tuple[str, Fingerprint]] = ()) -> None:
        self.ids: list[str] = []
        self._fps: list[Fingerprint] = []
        self._hashes = np.zeros(0, np.uint64)
        self._owners = np.zeros(0, np.int64)
        self._sorted_n = 0  # hashes[:sorted_n] are in the band index, the rest pending
        self._order = np.zeros((BANDS, 0), np.int64)
        self._sorted = np.zeros((BANDS, 0), np.uint16)
        self.add(entries, merge=True)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, entries: Iterable[tuple[str, Fingerprint]], *, merge: bool = False) -> None:
        hashes, owners = [self._hashes], [self._owners]
        for ident, fp in entries:
            if len(fp) == 0:
                continue
            owners.append(np.full(len(fp), len(self.ids), dtype=np.int64))
            hashes.append(np.asarray(fp.hashes, dtype=np.uint64))
            self.ids.append(ident)
            self._fps.append(fp)
        self._hashes, self._owners = np.concatenate(hashes), np.concatenate(owners)
        pending = len(self._hashes) - self._sorted_n
        if merge or pending > max(_PENDING_MIN, self._sorted_n // 10):
            bands = _bands(self._hashes)
            self._order = np.argsort(bands, axis=1, kind="stable")
            self._sorted = np.take_along_axis(bands, self._order, axis=1)
            self._sorted_n = len(self._hashes)

    def _query_hashes(self, query: Fingerprint) -> list[np.ndarray]:
        return [np.asarray(h, dtype=np.uint64) for h in (query.hashes, query.mirrored) if h]

    def _close(self, query: Fingerprint, lo: int, hi: int, hits: np.ndarray) -> None:
        """Mark in ``hits`` [records, query frames] every query frame within MATCH_BITS of a hash in
        ``hashes[lo:hi]``, comparing with each."""
        for q in self._query_hashes(query):
            for a in range(lo, hi, _CHUNK):
                b = min(hi, a + _CHUNK)
                qi, hj = np.nonzero(np.bitwise_count(q[:, None] ^ self._hashes[None, a:b]) <= MATCH_BITS)
                hits[self._owners[a + hj], qi] = True

    def _candidates(self, query: Fingerprint) -> list[int]:
        hits = np.zeros((len(self.ids), len(query)), dtype=bool)
        for q in self._query_hashes(query):
            qb = _bands(q)
            pairs_q, pairs_e = [], []
            for b in range(BANDS):
                lo = np.searchsorted(self._sorted[b], qb[b], side="left")
                hi = np.searchsorted(self._sorted[b], qb[b], side="right")
                for i in np.nonzero(hi > lo)[0]:
                    pairs_q.append(np.full(hi[i] - lo[i], i))
                    pairs_e.append(self._order[b, lo[i]:hi[i]])
            if not pairs_q:
                continue
            qi, ei = np.concatenate(pairs_q), np.concatenate(pairs_e)
            close = np.bitwise_count(q[qi] ^ self._hashes[ei]) <= MATCH_BITS  # a shared band is not yet a match
            hits[self._owners[ei[close]], qi[close]] = True
        self._close(query, self._sorted_n, len(self._hashes), hits)
        return [int(i) for i in np.nonzero(hits.sum(axis=1) >= MIN_FRAMES)[0]]

    def _all_candidates(self, query: Fingerprint) -> list[int]:
        hits = np.zeros((len(self.ids), len(query)), dtype=bool)
        self._close(query, 0, len(self._hashes), hits)
        return [int(i) for i in np.nonzero(hits.sum(axis=1) >= MIN_FRAMES)[0]]

    def search(self, query: Fingerprint, *, exhaustive: bool = False) -> list[tuple[str, FingerprintMatch]]:
        """The records ``query`` matches, best first (most matching frames)."""
        if len(query) == 0 or len(self.ids) == 0:
            return []
        chosen = self._all_candidates(query) if exhaustive else self._candidates(query)
        found = [(self.ids[i], match(self._fps[i], query)) for i in chosen]
        found = [(ident, m) for ident, m in found if m.matched]
        return sorted(found, key=lambda x: (-x[1].frames, x[1].median_bits or 0.0))


__all__ = ["BANDS", "FingerprintIndex"]
