"""Views: a few small pictures of a registered clip, for the comparison the hashes cannot make.

The hashes (``fingerprint.core``) describe the whole frame on a fixed grid, so a crop to 0.71 of each
side, a turn by 10 degrees or a perspective warp moves every grid cell and they stop matching
(``bench/results/fingerprint.md``: crop 0.71 0/48 clips, rotation 5 24/48). A clip edited like that
still carries its watermark, and the mark's payload names the one registered clip it was made for.
With one clip to compare with (not the whole registry) the verifier can afford a search:
``match_views`` places each query picture into the registered views at every scale from 0.45 to 1.3
(the query's content, in the view's pixels), every turn from -12 to 12 degrees and every position,
and scores it by the normalised cross-correlation of band-passed pictures (edges, not brightness or
colour levels), over the query's own pixels only (the verifier masks out the fill a turn or a warp
leaves, and also tries the frames with a perspective warp outlined by its fill undone:
``verify.content``). One scale, turn and position must hold for every compared pair: a crop or a
turn does not move during a clip, and an unrelated picture that lines up with one view by chance
does not line up with the next. Not searched: a mirrored crop, a turn beyond 12 degrees, and a crop
together with a cut in time (the pairs are taken at equal media times, or at the hashes' offset).

A view is the fingerprint's picture (luma plus half the red-minus-blue chroma) shrunk to 64 pixels on
its short side (64 x 114 for 16:9, one byte a pixel), one every half second, at most 16 a clip (a
longer clip keeps one every second, then two, ...): 7.3 kB a 16:9 view, 117 kB at most a clip. (At 48
pixels an unrelated clip cropped to half its size lined up with another clip's views at 0.72, where
edited copies kept 0.60-0.74: too few pixels for a correlation to mean much; at 64 the same pair read
0.55.) The registry
keeps them in a column of their own, read only by the lookup of one record, never by a search.

Like the hashes, views are neither secret nor proof: the verifier relies on them only beside a mark
of the record's own key (``verify.rules``, rule 2). The threshold (``MATCH_NCC``) is set on real clips
that nobody registered, in ``bench/results/fingerprint_views.md``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.fft import irfft2, next_fast_len, rfft2

VIEW_SHORT = 64
VIEW_GAP_S = 0.5
MAX_VIEWS = 16
# The search: the query's content at these sizes in the view's pixels (a crop to 0.45 of each side
# .. a picture shrunk to 0.77, as a perspective warp that is not undone leaves it), turned by these angles (degrees).
SCALES = tuple(float(s) for s in np.exp(np.linspace(np.log(0.45), np.log(1.3), 26)))
ANGLES = tuple(float(a) for a in np.arange(-12.0, 12.5, 3.0))
# Pairs of (registered view, query picture at the same time) compared: at least MIN_PAIRS, at most
# MAX_PAIRS spread over the clip; the first SEARCH_PAIRS of them are searched (``match_views``), the
# rest score only the TOP_HYPOTHESES best scales and turns.
MIN_PAIRS = 3
MAX_PAIRS = 6
SEARCH_PAIRS = 2
TOP_HYPOTHESES = 3
# The query's pixels that must fall inside the view at a position: this share of those the scale and
# turn keep, and at least MIN_OVERLAP_PX (a sixth of a 64 x 64 view: a correlation over a few dozen
# pixels, where a still background masks most of the picture out, reaches any value by chance).
MIN_OVERLAP = 0.6
MIN_OVERLAP_PX = 700
# The band-passed picture is divided by its own RMS around each pixel (a Gaussian of LOCAL_SIGMA view
# pixels), floored at the LOCAL_FLOOR_Q quantile of that RMS over the picture (at least LOCAL_FLOOR_MIN
# levels), clipped at LOCAL_CLIP and scaled by LOCAL_GAIN. Without it one strong straight edge decided an
# unrelated pair: a pyramid's side turned and shrunk onto a mountain's skyline scored 0.59 against the
# threshold of 0.6. In a one-off screen (24 clips under four edits, 2026-12-07) the highest of 384 unrelated
# pairs fell from 0.59 to 0.39 while each edit's weakest copy lost 0.03-0.07; in the full run
# (bench/results/fingerprint_views.md) that pair scores at most 0.395, the highest unrelated pair 0.470.
LOCAL_SIGMA = 4.0
LOCAL_FLOOR_Q = 0.2
LOCAL_FLOOR_MIN = 0.5
LOCAL_CLIP = 3.0
LOCAL_GAIN = 8.0
# Both sides must vary over the overlap (standard deviation of the normalised band, in LOCAL_GAIN units): a
# flat stretch has no edges to agree on.
MIN_STD = 1.0
# Mean correlation over the pairs at one scale, turn and position that makes a match
# (bench/results/fingerprint_views.md: what unrelated real clips reach, and what edited copies keep).
MATCH_NCC = 0.6
# A query picture and a view are paired when their media times differ by at most this (seconds).
TIME_SLACK_S = 0.3
# A query shorter than the registered clip may be an excerpt of it (a cut, with a crop that breaks the
# hashes that would place it): at most this many offsets are screened (``cut_offsets``), the best
# CUT_TRIES searched in full.
MAX_CUT_OFFSETS = 24
CUT_TRIES = 2
_MAGIC = b"KSVW\x01"


def encode(picture: np.ndarray) -> np.ndarray:
    """``fingerprint.core.picture`` (about -128..383) as bytes: two grey levels a step."""
    return np.clip(np.rint((picture + 128.0) * 0.5), 0, 255).astype(np.uint8)


def shrink(plane: np.ndarray, short: int = VIEW_SHORT) -> np.ndarray:
    """A plane averaged down to ``short`` pixels on its short side (float32); smaller planes stay."""
    h, w = plane.shape
    s = min(1.0, short / min(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(plane.astype(np.float32)).resize(size, Image.BOX), dtype=np.float32)


def band(view: np.ndarray) -> np.ndarray:
    """What the comparison reads: edges and texture of a few view pixels, without brightness levels,
    each in proportion to the contrast around it (``LOCAL_*``)."""
    v = view.astype(np.float32)
    b = ndimage.gaussian_filter(v, 0.7) - ndimage.gaussian_filter(v, 3.0)
    loc = np.sqrt(ndimage.gaussian_filter(b * b, LOCAL_SIGMA))
    floor = max(float(np.quantile(loc, LOCAL_FLOOR_Q)), LOCAL_FLOOR_MIN)
    out = b * (LOCAL_GAIN / np.maximum(loc, floor))
    return np.clip(out, -LOCAL_CLIP * LOCAL_GAIN, LOCAL_CLIP * LOCAL_GAIN, out=out)


@dataclass(frozen=True)
class Views:
    """A registered clip's views: media times (seconds) and pictures ([n, h, w] uint8, ``encode``)."""

    times: tuple[float, ...]
    pictures: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def to_bytes(self) -> bytes:
        n = len(self.times)
        h, w = self.pictures.shape[1:] if n else (0, 0)
        return (_MAGIC + struct.pack("<III", n, h, w)
                + np.asarray([round(t * 1000) for t in self.times], dtype="<i4").tobytes()
                + np.ascontiguousarray(self.pictures, dtype=np.uint8).tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> "Views":
        """Raises ValueError for anything that is not views this version can compare."""
        data = bytes(data or b"")
        head = len(_MAGIC) + 12
        if len(data) < head or not data.startswith(_MAGIC):
            raise ValueError("not kinoseal views")
        n, h, w = struct.unpack_from("<III", data, len(_MAGIC))
        if n > 4 * MAX_VIEWS or h > 4 * VIEW_SHORT or w > 64 * VIEW_SHORT or len(data) != head + n * (4 + h * w):
            raise ValueError(f"views of {n} pictures of {w}x{h} cannot be {len(data)} bytes")
        times = np.frombuffer(data, dtype="<i4", count=n, offset=head) / 1000.0
        pics = np.frombuffer(data, dtype=np.uint8, count=n * h * w, offset=head + 4 * n).reshape(n, h, w)
        return cls(times=tuple(times.tolist()), pictures=pics.copy())


class ViewsBuilder:
    """Keeps one view every ``gap_s`` of the pictures it is given (``add(picture, t)``, the fingerprint's
    picture of each frame); past ``max_views`` every other one is dropped and the gap doubled, so a clip
    of any length keeps views spread over all of it."""

    def __init__(self, *, gap_s: float = VIEW_GAP_S, max_views: int = MAX_VIEWS) -> None:
        self.gap_s = float(gap_s)
        self.max_views = int(max_views)
        self._times: list[float] = []
        self._views: list[np.ndarray] = []
        self._next = float("-inf")

    def add(self, picture: np.ndarray, t: float) -> None:
        if t < self._next:
            return
        v = encode(shrink(picture))
        if self._views and v.shape != self._views[0].shape:
            return  # a clip changing size mid-stream: its first size only
        self._times.append(float(t))
        self._views.append(v)
        self._next = float(t) + self.gap_s
        if len(self._views) > self.max_views:
            self._times, self._views = self._times[::2], self._views[::2]
            self.gap_s *= 2.0
            self._next = self._times[-1] + self.gap_s

    def build(self) -> Views:
        pics = np.stack(self._views) if self._views else np.zeros((0, 0, 0), np.uint8)
        return Views(times=tuple(self._times), pictures=pics)


@dataclass(frozen=True)
class ViewMatch:
    """How a query compares with a record's views: ``matched`` when ``pairs`` >= ``MIN_PAIRS`` and the
    mean correlation ``score`` at one ``scale`` (the query's picture against the registered frame, linear
    size: 0.71 for a crop to 0.71 of each side, 1.0 for a turn on the same canvas), turn
    (``angle_deg``) and position reaches ``MATCH_NCC``; ``rectified``: a perspective warp was undone first;
    ``offset_s``: registered time minus query time of the pairs compared (a cut excerpt's place);
    ``orientation``: a mirror and quarter turns undone first (the caller's, from the watermark's
    geometry: ``watermark.v2.orient``'s index, ``orientation // 2`` quarter turns then mirrored where odd)."""

    matched: bool
    score: float | None
    pairs: int
    scale: float | None = None
    angle_deg: float | None = None
    rectified: bool = False
    orientation: int = 0
    offset_s: float = 0.0

    @property
    def mirrored(self) -> bool:
        return bool(self.orientation % 2)

    @property
    def quarter_turns(self) -> int:
        return self.orientation // 2

    def to_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "score": None if self.score is None else round(self.score, 3),
                "pairs": self.pairs, "scale": None if self.scale is None else round(self.scale, 3),
                "angle_deg": self.angle_deg, "rectified": self.rectified, "mirrored": self.mirrored,
                "quarter_turns": self.quarter_turns, "offset_s": round(self.offset_s, 3)}


def _template(q: np.ndarray, mask: np.ndarray, scale: float, angle: float, shape: tuple[int, int]):
    """The band-passed query ``q`` and its ``mask`` scaled and turned about their centre, drawn at the
    top-left of a zero canvas of ``shape`` (the pixels outside the query get mask 0)."""
    hq, wq = q.shape
    th = np.deg2rad(angle)
    c, s = np.cos(th), np.sin(th)
    hc = int(np.ceil((abs(c) * hq + abs(s) * wq) * scale)) + 2
    wc = int(np.ceil((abs(c) * wq + abs(s) * hq) * scale)) + 2
    a = np.array([[c, s], [-s, c]]) / scale  # output (row, col) -> input
    off = np.array([hq / 2.0, wq / 2.0]) - a @ np.array([hc / 2.0, wc / 2.0])
    t = np.zeros(shape, np.float32)
    m = np.zeros(shape, np.float32)
    t[:hc, :wc] = ndimage.affine_transform(q, a, offset=off, output_shape=(hc, wc), order=1, cval=0.0)
    mm = ndimage.affine_transform(mask.astype(np.float32), a, offset=off, output_shape=(hc, wc), order=1, cval=0.0)
    m[:hc, :wc] = ndimage.binary_erosion(mm > 0.99, iterations=1)
    t *= m
    return t, m


def _max_canvas(shape: tuple[int, int]) -> tuple[int, int]:
    """The largest canvas ``_template`` draws a query of ``shape`` on, over every scale and turn."""
    hq, wq = shape
    c = max(abs(np.cos(np.deg2rad(a))) for a in ANGLES)
    s = max(abs(np.sin(np.deg2rad(a))) for a in ANGLES)
    big = max(SCALES)
    return int(np.ceil((c * hq + s * wq) * big)) + 2, int(np.ceil((c * wq + s * hq) * big)) + 2


class _Pair:
    """One registered view against one query picture: the view's transforms are computed once, then
    each scale and turn costs three forward and five inverse FFTs."""

    def __init__(self, view: np.ndarray, query: np.ndarray, mask: np.ndarray) -> None:
        self.r = band(view)
        self.q = band(query)
        self.mask = mask
        hr, wr = self.r.shape
        self.canvas = _max_canvas(self.q.shape)
        self.shape = (next_fast_len(hr + self.canvas[0]), next_fast_len(wr + self.canvas[1]))
        ones = np.ones_like(self.r)
        self.fr = rfft2(self.r, self.shape)
        self.frr = rfft2(self.r * self.r, self.shape)
        self.fm = rfft2(ones, self.shape)

    def ncc(self, scale: float, angle: float) -> np.ndarray:
        """The correlation at every position (``-1`` where too little of the query overlaps the view)."""
        t, m = _template(self.q, self.mask, scale, angle, self.canvas)
        area = float(m.sum())
        if area < MIN_OVERLAP_PX:
            return np.full(self.shape, -1.0, np.float32)
        ft, ftt, fmq = np.conj(rfft2(np.stack([t, t * t, m]), self.shape))
        n, sr, st, srr, stt, srt = irfft2(np.stack([self.fm * fmq, self.fr * fmq, self.fm * ft, self.frr * fmq,
                                                    self.fm * ftt, self.fr * ft]), self.shape)
        n = np.maximum(n, 1.0)
        num = srt - sr * st / n
        var_r, var_t = srr - sr * sr / n, stt - st * st / n  # times n
        floor = MIN_STD ** 2 * n
        out = np.clip(num / np.sqrt(np.maximum(var_r, floor) * np.maximum(var_t, floor)), -1.0, 1.0).astype(np.float32)
        out[(n < max(MIN_OVERLAP * area, MIN_OVERLAP_PX)) | (var_r < floor) | (var_t < floor)] = -1.0
        return out


def prepare(planes: Sequence[np.ndarray], fill: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """The query's pictures (one shape; ``encode``d, or rectified from them) shrunk as the views were,
    and the mask of their own pixels: ``fill`` (bool, the still fill a turn or a warp leaves,
    ``watermark.rectify.outline_fill``) and a pixel or two beyond it are left out, as its edge is a
    step the registered picture never had."""
    mask = np.ones(planes[0].shape, np.float32)
    if fill is not None:
        mask[ndimage.binary_dilation(fill, iterations=2)] = 0.0
    return [shrink(p) for p in planes], shrink(mask)


# The search's first pass and the screen of cut offsets: every other scale and turn.
_COARSE = tuple((i, j) for i in range(0, len(SCALES), 2) for j in range(0, len(ANGLES), 2))


def match_views(reference: Views, times: Sequence[float], views: Sequence[np.ndarray], mask: np.ndarray, *,
                offset_s: float = 0.0, rectified: bool = False) -> ViewMatch:
    """Does the query (``prepare``d pictures at media ``times``) show the registered views, cropped,
    scaled, turned or warped? ``offset_s``: registered time minus query time."""
    if len(reference) == 0 or not len(views):
        return ViewMatch(False, None, 0, rectified=rectified, offset_s=offset_s)
    pairs = _pairs(reference.times, times, offset_s)
    if len(pairs) < MIN_PAIRS:
        return ViewMatch(False, None, len(pairs), rectified=rectified, offset_s=offset_s)
    pick = np.linspace(0, len(pairs) - 1, min(MAX_PAIRS, len(pairs))).round().astype(int)
    pairs = [pairs[k] for k in sorted(set(pick.tolist()))]
    built = [_Pair(reference.pictures[i], views[j], mask) for i, j in pairs]
    first = built[:SEARCH_PAIRS]
    sums: dict[tuple[int, int], np.ndarray] = {}

    def summed(h: tuple[int, int]) -> np.ndarray:
        if h not in sums:
            sums[h] = sum(p.ncc(SCALES[h[0]], ANGLES[h[1]]) for p in first)
        return sums[h]

    def best(hyps) -> list[tuple[int, int]]:
        return sorted(set(hyps), key=lambda h: float(summed(h).max()), reverse=True)[:TOP_HYPOTHESES]

    # every other scale and turn on the first pairs, then the neighbours of the best few, then those
    # best few on every pair (a third of the work of the whole grid; the peak is a few steps wide)
    ns, na = len(SCALES), len(ANGLES)
    coarse = best(_COARSE)
    fine = best((min(max(i + di, 0), ns - 1), min(max(j + dj, 0), na - 1))
                for i, j in coarse for di in (-1, 0, 1) for dj in (-1, 0, 1))
    top = None
    for h in fine:
        total = summed(h) + sum(p.ncc(SCALES[h[0]], ANGLES[h[1]]) for p in built[SEARCH_PAIRS:])
        score = float(total.max()) / len(built)
        if top is None or score > top[0]:
            top = (score, (SCALES[h[0]], ANGLES[h[1]]))
    score, (scale, angle) = top
    # the search's scale is in view pixels; a small frame's pictures are not shrunk as far as a large one's
    size = scale * float(np.sqrt(views[0].size / reference.pictures[0].size))
    return ViewMatch(bool(score >= MATCH_NCC), score, len(built), size, angle, rectified, offset_s=offset_s)


def _pairs(ref_times: Sequence[float], times: Sequence[float], offset_s: float) -> list[tuple[int, int]]:
    """(view, query picture) index pairs at the same media time, the query's shifted by ``offset_s``."""
    qt = np.asarray(times, dtype=np.float64) + offset_s
    pairs = []
    for i, t in enumerate(ref_times):
        j = int(np.argmin(np.abs(qt - t)))
        if abs(qt[j] - t) <= TIME_SLACK_S:
            pairs.append((i, j))
    return pairs


def cut_offsets(ref_times: Sequence[float], times: Sequence[float]) -> list[float]:
    """Where in the registered clip a shorter query may have been cut from: offsets (registered time minus
    query time) from one step to the difference of their spans, every ``VIEW_GAP_S`` (at most
    ``MAX_CUT_OFFSETS``, the step widened for a long clip); none where the query is not shorter by a step."""
    if len(ref_times) < 2 or len(times) < 2:
        return []
    spare = (ref_times[-1] - ref_times[0]) - (times[-1] - times[0])
    step = max(VIEW_GAP_S, spare / MAX_CUT_OFFSETS)
    return [float(ref_times[0] - times[0] + k * step) for k in range(1, int(spare / step + 1e-6) + 1)]


def screen_offsets(reference: Views, times: Sequence[float], views: Sequence[np.ndarray], mask: np.ndarray,
                   offsets: Sequence[float]) -> list[float]:
    """For each offset, the best correlation of one pair (the middle one at that offset) over the coarse
    grid of scales and turns, -1 where fewer than ``MIN_PAIRS`` pairs meet: a cheap ranking of where a cut
    excerpt sits (a sixth of a whole search each), before the whole search at the best few."""
    out = []
    for c in offsets:
        pairs = _pairs(reference.times, times, c)
        if len(pairs) < MIN_PAIRS:
            out.append(-1.0)
            continue
        i, j = pairs[len(pairs) // 2]
        p = _Pair(reference.pictures[i], views[j], mask)
        out.append(max(float(p.ncc(SCALES[a], ANGLES[b]).max()) for a, b in _COARSE))
    return out


__all__ = ["CUT_TRIES", "MATCH_NCC", "MIN_PAIRS", "VIEW_GAP_S", "VIEW_SHORT", "ViewMatch", "Views", "ViewsBuilder",
           "band", "cut_offsets", "encode", "match_views", "prepare", "screen_offsets", "shrink"]
