"""A perceptual video fingerprint: one 63-bit hash per sampled frame, and the match of two.

C2PA's durable Content Credentials pair a watermark with a fingerprint: the watermark says *which*
record a clip belongs to, the fingerprint says whether these pixels are that record's pixels. The
labeler stores the fingerprint of every clip it writes in the provenance registry; the verifier
computes the same hashes from the frames it decodes anyway and compares.

The hash of a frame (a DCT hash): the picture (luma plus half the red-minus-blue chroma: a shape
drawn in another colour of the same brightness counts) averaged onto a 32x32 grid, its 8x8 lowest DCT
frequencies without the DC term, one bit per coefficient: above or below their median. Averaging
onto a fixed grid ignores the frame size, the median ignores brightness and contrast, and the low
frequencies survive compression, blur and noise; a horizontal flip only negates the odd
horizontal frequencies, so a flipped copy is matched too. Flat borders (letterbox and pillarbox
bars) are cut off before the grid is laid, so a padded re-share is matched. Cropping and
rotation change what lands in each grid cell and are matched only when slight.

A fingerprint is not a secret and not a proof: anyone can compute it, and frames can be pushed
towards another clip's hashes with visible low-frequency changes. The verifier therefore never
calls a clip AI-generated on a fingerprint alone (``verify.rules``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.fft import dctn

from kinoseal.fingerprint.views import ViewsBuilder, encode

ALG = "io.kinoseal.vfp-v1"
_MAGIC = b"KSFP\x01"  # the registry's binary form, version 1
GRID = 32
MIN_SIDE = 2 * GRID  # the chroma planes (half size) must fill the grid
LOW = 8
BITS = LOW * LOW - 1
# A frame this flat (grey levels of standard deviation on the 32x32 grid) has no stable hash:
# black, white and fade frames would all "match" one another.
MIN_STD = 2.0
# A row or column whose grey levels span less than this is a bar (letterbox, pillarbox), not picture.
BAR_RANGE = 10.0
# A query frame matches a reference frame at this many differing bits or fewer (of 63).
# bench/fingerprint.py: re-encodes and resizes of the same frame stay under it, unrelated frames
# (other clips, other moments of the same clip) rarely reach it.
MATCH_BITS = 10
# How far apart in time two frames may be and still be compared (seconds), beyond the reference's
# own sampling gap: a re-timed or frame-dropped copy shows a neighbouring frame.
TIME_SLACK_S = 0.08
# A clip matches a reference when, from its first to its last frame that matches, at least this
# share of its hashed frames match, and at least MIN_FRAMES of them (about a second of the sample).
MIN_SHARE = 0.6
MIN_FRAMES = 8
_ODD_X = np.tile(np.arange(LOW) % 2 == 1, LOW)[1:]  # odd horizontal frequencies, flattened without DC
_WEIGHTS = (1 << np.arange(BITS, dtype=np.uint64)).astype(np.uint64)


def picture(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The plane a frame is hashed from: luma plus half the red-minus-blue chroma, at (a sample of)
    the chroma planes' resolution. Luma alone misses what generators often draw: shapes that differ
    from their background in colour, not brightness (kino-tiny's red ball on blue has a luma
    contrast of 2 grey levels and a chroma contrast of 56). A large frame is sampled every few
    pixels: a grid cell of a 720p frame still averages about 20 samples."""
    hc, wc = u.shape[:2]
    if hc < GRID or wc < GRID:
        raise ValueError(f"a {wc * 2}x{hc * 2} frame is too small for a fingerprint "
                         f"(at least {MIN_SIDE}x{MIN_SIDE})")
    step = max(1, min(hc, wc) // (GRID * 2))
    uu, vv = u[::step, ::step], v[::step, ::step]
    yy = y[::2 * step, ::2 * step]
    h, w = min(yy.shape[0], uu.shape[0]), min(yy.shape[1], uu.shape[1])
    out = vv[:h, :w].astype(np.float32)
    out -= uu[:h, :w]
    out *= 0.5
    out += yy[:h, :w]
    return out


def grid_means(plane: np.ndarray) -> np.ndarray:
    """A picture (``picture``) averaged onto a 32x32 grid (cells of equal share of the frame),
    after its flat borders are cut off."""
    sub = _trim_bars(np.asarray(plane, dtype=np.float32))
    if min(sub.shape) < GRID:
        raise ValueError(f"a {sub.shape[1]}x{sub.shape[0]} picture is too small for a {GRID}x{GRID} grid")
    rows = np.linspace(0, sub.shape[0], GRID + 1).astype(np.int64)[:-1]
    cols = np.linspace(0, sub.shape[1], GRID + 1).astype(np.int64)[:-1]
    sums = np.add.reduceat(np.add.reduceat(sub, rows, axis=0), cols, axis=1)
    counts = np.diff(np.append(rows, sub.shape[0]))[:, None] * np.diff(np.append(cols, sub.shape[1]))[None, :]
    return sums / counts


def _trim_bars(sub: np.ndarray) -> np.ndarray:
    """Without flat rows (columns) at its edges: the bars a letterbox or pillarbox adds, at most
    a third of the picture on each side. A frame that is flat throughout is left whole."""
    def keep(profile_lo: np.ndarray, profile_hi: np.ndarray) -> tuple[int, int]:
        flat = (profile_hi - profile_lo) < BAR_RANGE
        n = len(flat)
        limit = n // 3
        a = 0
        while a < limit and flat[a]:
            a += 1
        b = n
        while n - b < limit and flat[b - 1]:
            b -= 1
        return a, b
    r0, r1 = keep(sub.min(axis=1), sub.max(axis=1))
    c0, c1 = keep(sub.min(axis=0), sub.max(axis=0))
    out = sub[r0:r1, c0:c1]
    return out if min(out.shape) >= GRID else sub


def _pack(bits: np.ndarray) -> int:
    return int((bits.astype(np.uint64) * _WEIGHTS).sum())


def frame_hashes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[int, int] | None:
    """(hash, hash of the mirrored frame) of one 4:2:0 frame, or None for a frame too flat to hash."""
    return picture_hashes(picture(y, u, v))


def picture_hashes(pic: np.ndarray) -> tuple[int, int] | None:
    """``frame_hashes`` of a frame's ``picture``."""
    g = grid_means(pic)
    if float(g.std()) < MIN_STD:
        return None
    c = dctn(g - g.mean(), type=2, norm="ortho")[:LOW, :LOW].ravel()[1:]
    mirrored = np.where(_ODD_X, -c, c)
    return _pack(c > np.median(c)), _pack(mirrored > np.median(mirrored))


@dataclass(frozen=True)
class Fingerprint:
    """Hashes of a clip's frames at their media times (seconds), in time order. ``mirrored``: the
    hashes of the flipped frames (a query keeps them to match a flipped copy; None for a reference)."""

    times: tuple[float, ...]
    hashes: tuple[int, ...]
    mirrored: tuple[int, ...] | None = None
    frames_seen: int = 0

    def __len__(self) -> int:
        return len(self.hashes)

    def to_bytes(self) -> bytes:
        """The registry's form: a small header, then the times (int32 milliseconds) and the hashes
        (uint64), little-endian: a 10 s clip at 25 fps takes 3 kB, and a verifier reads ten thousand
        of them without parsing text."""
        n = len(self.hashes)
        return (_MAGIC + struct.pack("<II", self.frames_seen, n)
                + np.asarray([round(t * 1000) for t in self.times], dtype="<i4").tobytes()
                + np.asarray(self.hashes, dtype="<u8").tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> "Fingerprint":
        """Raises ValueError for anything that is not a fingerprint this version can compare."""
        data = bytes(data or b"")
        head = len(_MAGIC) + 8
        if len(data) < head or not data.startswith(_MAGIC):
            raise ValueError(f"not a {ALG} fingerprint")
        seen, n = struct.unpack_from("<II", data, len(_MAGIC))
        if len(data) != head + 12 * n:
            raise ValueError(f"a {ALG} fingerprint of {n} frames must be {head + 12 * n} bytes, not {len(data)}")
        times = np.frombuffer(data, dtype="<i4", count=n, offset=head) / 1000.0
        hashes = np.frombuffer(data, dtype="<u8", count=n, offset=head + 4 * n)
        return cls(times=tuple(times.tolist()), hashes=tuple(hashes.tolist()), frames_seen=int(seen))


class FingerprintBuilder:
    """Hashes frames as they come: ``add(y, u, v, t)`` for each frame, then ``build()``.
    ``min_gap_s``: frames closer than this to the last hashed one are skipped (the labeler hashes
    every frame; a query keeps whatever frames it is given). ``views``: also hand each hashed frame's
    picture to it (the labeler: ``fingerprint.views``). ``keep_pictures``: keep each hashed frame's
    picture (``views.encode``d, the first frame size only) in ``pictures``, with its time (a query
    that may be compared with a record's views)."""

    def __init__(self, *, min_gap_s: float = 0.0, keep_mirrored: bool = False, max_frames: int = 20_000,
                 views: ViewsBuilder | None = None, keep_pictures: bool = False) -> None:
        self.min_gap_s = float(min_gap_s)
        self.keep_mirrored = keep_mirrored
        self.max_frames = int(max_frames)
        self.views = views
        self.keep_pictures = keep_pictures
        self.pictures: list[tuple[float, np.ndarray]] = []
        self._times: list[float] = []
        self._hashes: list[int] = []
        self._mirrored: list[int] = []
        self._last = float("-inf")
        self.frames_seen = 0

    def wants(self, t: float) -> bool:
        return len(self._hashes) < self.max_frames and t >= self._last + self.min_gap_s

    def add(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, t: float) -> None:
        self.frames_seen += 1
        if not self.wants(t) or min(u.shape[:2]) < GRID:  # a frame under 64 px has no hash
            return
        self._last = t
        pic = picture(y, u, v)
        if self.views is not None:
            self.views.add(pic, t)
        if self.keep_pictures:
            kept = encode(pic)
            if not self.pictures or kept.shape == self.pictures[0][1].shape:
                self.pictures.append((float(t), kept))
        got = picture_hashes(pic)
        if got is None:
            return
        self._times.append(float(t))
        self._hashes.append(got[0])
        self._mirrored.append(got[1])

    def build(self) -> Fingerprint:
        return Fingerprint(times=tuple(self._times), hashes=tuple(self._hashes),
                           mirrored=tuple(self._mirrored) if self.keep_mirrored else None,
                           frames_seen=self.frames_seen)


@dataclass(frozen=True)
class FingerprintMatch:
    """How a query clip compares with a reference fingerprint.

    ``matched``: of the query's frames from its first to its last matching one (``compared``: a shot
    spliced into other footage is judged on its own stretch), at least ``MIN_SHARE`` and
    ``MIN_FRAMES`` agree with the reference at one time offset; ``frames``: how many agree;
    ``offset_s``: reference time minus query time; ``span_s``: that stretch of the query (start,
    end, seconds); ``median_bits``: the median distance over it; ``mirrored``: matched flipped."""

    matched: bool
    frames: int
    compared: int
    median_bits: float | None
    offset_s: float | None
    span_s: tuple[float, float] | None = None
    mirrored: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "frames": self.frames, "compared": self.compared,
                "median_bits": self.median_bits, "offset_s": self.offset_s,
                "span_s": list(self.span_s) if self.span_s else None, "mirrored": self.mirrored}


def _distances(a: Sequence[int], b: Sequence[int]) -> np.ndarray:
    """Bit differences of every pair: ``[len(a), len(b)]``."""
    x = np.asarray(a, dtype=np.uint64)[:, None] ^ np.asarray(b, dtype=np.uint64)[None, :]
    return np.bitwise_count(x).astype(np.int16)


def _match_one(ref: Fingerprint, q_times: np.ndarray, q_hashes: Sequence[int]) -> tuple:
    tr = np.asarray(ref.times, dtype=np.float64)
    d = _distances(q_hashes, ref.hashes)  # [nq, nr]
    gap = float(np.median(np.diff(tr))) if len(tr) > 1 else 0.1
    tol = gap / 2 + TIME_SLACK_S
    # The offset: the one most query frames agree on (each votes for the offsets of its close hashes).
    qi, rj = np.nonzero(d <= MATCH_BITS)
    if qi.size == 0:
        return 0, 0, None, None, None
    offsets = tr[rj] - q_times[qi]
    bins = np.round(offsets / tol).astype(np.int64)
    best_frames, best_bin = -1, 0
    for b in np.unique(bins):
        frames = len(np.unique(qi[np.abs(bins - b) <= 1]))
        if frames > best_frames:
            best_frames, best_bin = frames, b
    near = np.abs(bins - best_bin) <= 1
    offset = float(np.median(offsets[near]))
    # Every query frame that lands inside the reference's span at this offset is compared with the
    # reference frames within ``tol`` of where it lands.
    at = q_times + offset
    inside = (at >= tr[0] - tol) & (at <= tr[-1] + tol)
    best = np.full(len(q_times), BITS + 1, dtype=np.int16)
    for i in np.nonzero(inside)[0]:
        lo, hi = np.searchsorted(tr, at[i] - tol), np.searchsorted(tr, at[i] + tol, side="right")
        if hi > lo:
            best[i] = d[i, lo:hi].min()
    ok = inside & (best <= MATCH_BITS)
    if not ok.any():
        return 0, int(inside.sum()), float(np.median(best[inside])) if inside.any() else None, offset, None
    # Judged over the stretch of the query that matched: footage spliced around a registered shot
    # may share its time span without sharing its pixels.
    span = (float(q_times[ok].min()), float(q_times[ok].max()))
    in_span = inside & (q_times >= span[0]) & (q_times <= span[1])
    return int(ok.sum()), int(in_span.sum()), float(np.median(best[in_span])), offset, span


def alike(reference: Fingerprint, query: Fingerprint, mirrored: bool = False) -> np.ndarray:
    """Per query frame: is its hash (its mirror's, with ``mirrored``) within ``MATCH_BITS`` of any of the
    reference's, at any time? Where a query sits in longer footage, the frames around it are not."""
    hashes = query.mirrored if mirrored and query.mirrored else query.hashes
    if len(reference) == 0 or not len(hashes):
        return np.zeros(len(hashes), dtype=bool)
    return _distances(hashes, reference.hashes).min(axis=1) <= MATCH_BITS


def match(reference: Fingerprint, query: Fingerprint) -> FingerprintMatch:
    """Does ``query`` (a clip being verified) show the frames of ``reference`` (a registered clip)?
    The query may be a cut of the reference, sit inside longer footage, be re-encoded, resized,
    recoloured or flipped; its media times may start anywhere."""
    if len(reference) == 0 or len(query) == 0:  # a registered clip or a query without hashable frames
        return FingerprintMatch(False, 0, 0, None, None)
    qt = np.asarray(query.times, dtype=np.float64)
    tries = [(False, query.hashes)] + ([(True, query.mirrored)] if query.mirrored else [])
    best = None
    for mirrored, hashes in tries:
        frames, compared, median, offset, span = _match_one(reference, qt, hashes)
        if best is None or frames > best[1]:
            best = (mirrored, frames, compared, median, offset, span)
    mirrored, frames, compared, median, offset, span = best
    matched = frames >= MIN_FRAMES and compared > 0 and frames >= MIN_SHARE * compared
    return FingerprintMatch(matched, frames, compared, median, None if offset is None else round(offset, 3),
                            span, mirrored)


__all__ = ["ALG", "BITS", "MATCH_BITS", "Fingerprint", "FingerprintBuilder", "FingerprintMatch", "alike",
           "frame_hashes", "grid_means", "match", "picture", "picture_hashes"]
