"""Self-synchronising tiled luma watermark ("kinoseal-wm-v2").

What v1 lacks is geometry: its pattern lives on a G x G grid stretched over
the whole frame, so any crop, flip or rotation misaligns every cell (v1:
crop 0.9, hflip, rotate all at chance). v2 keeps v1's proven parts (keyed
SHAKE-256 sequences, activity mask and per-frame RMS gain, quad8 host
predictor, pilot-cell Rademacher p-value, CRC-24 + K=7 rate-1/3 code with
soft Viterbi) and changes the geometry:

* **Periodic keyed tile.** One N x N tile of keyed +-1 cells (N = 32; 576
  pilot cells, 448 payload cells carrying the 282 coded bits) is repeated
  over the whole frame, anchored at the frame centre. Cell size =
  max(short side / 96, long side / 160, 2 px), so the tile is at most a
  third of the short side: any crop down to ~0.5 of each side still holds
  more than one full period, and the same key works at any size and
  aspect (the long-side term only enlarges cells on frames wider than
  5:3, e.g. 2.35:1, where downscale + compression otherwise kills them). Cells are
  rendered by periodic bilinear interpolation (mid/low frequencies: 7.5 px
  cells at 720p, 2-2.8 px at QCIF..272p).
* **Folded-tile extraction.** Frames are area-resampled to a working
  resolution (short side <= 256), host-removed (quad8 with taps 3 px away,
  i.e. from the neighbouring cells) and locally normalised, and summed over
  frames (the mark is static in frame coordinates, and so is every attack's
  geometry). All tiles of the summed residual are folded into one N x N
  array (bilinear splat, the adjoint of the rendering). Crops only remove
  tile copies; the tile's unknown offset is a cyclic shift, so every shift
  is scored at once by FFT correlation; hflip and 90-degree rotations are
  the 8 dihedral orientations of the folded tile. Cost: ~3.5 ms per 720p
  frame plus ~0.2 s per clip (detected) or ~0.7 s (not detected: the
  scale sweep below runs), independent of how many frames are sampled.
* **Key-independent synchronisation (self-reference).** Scale, rotation,
  aspect change and shear come from the tile lattice itself: the
  autocorrelation of the summed residual (raw, and after spectral
  flattening, which wins on CGI/flat content) has peaks at the lattice
  vectors. Candidate bases: square completions of the strongest peaks,
  best non-collinear pairs, each raw and least-squares refined on the
  peaks at small lattice multiples, plus the frame-size rule itself.
  Because the candidates are computed from the content alone (no key),
  conditionally on them the pilot signs are still fair coins: the p-value
  needs no correction for *how* they were found, only a Bonferroni factor
  for *how many* hypotheses are scored.
* **Fixed scale sweep.** Blind lattice estimates can miss when the mark is
  weak (re-share chain on bikes: 5 of 10 keys), so when nothing is detected
  a fixed sweep of square, axis-aligned lattices (0.35x..3x the frame-size
  rule in 1.2 % steps, ~180 scales) is scored too. These folds are
  separable (two sparse 1-D splats), ~0.5 s per clip, paid only by clips
  the first stage does not detect.
* **p-value.** For every hypothesis (geometry x orientation x cyclic shift
  x key), t = sum(chip * F) / ||F|| over the pilot cells of the aligned
  folded tile F is a unit-norm weighted Rademacher sum under H0 (keyed
  chips are independent fair coins, independent of F), so
  ``watermark.stats.rademacher_log10_pvalue`` bounds it for any content.
  Weighted Bonferroni (weights sum to 1): the "no geometric edit"
  hypothesis (frame-size rule, identity orientation, zero shift) gets 1/2
  of the budget per key; the self-synchronised lattices x 8 x 1024 shifts
  share 1/4; the scale sweep x 8 x 1024 shares 1/4. Unedited and
  re-encoded clips pay log10(2), geometric edits ~5.5-6, the sweep ~7.
  Scoring the sweep lazily (only when stage one fails) gives the same
  decision as always scoring it; the reported p is then conservative.
* **Small frames.** Where the working plane is not downscaled (short side
  < 256) and a candidate lattice has cells under 1.4 px (e.g. a QCIF clip
  halved), a step-1 predictor residual (also accumulated) is folded instead.

Why this design (measured on bikes 640x272, carphone 176x144, Big Buck Bunny
720p and a generated 256x256 clip; see bench/results/watermark_v2.md):

* Geometry: crop 0.55/0.71, rotate 5/10, hflip, perspective 0.1,
  letterbox and pillarbox go from chance (v1, log10 p ~0) to detected on
  all four clips (log10 p -13..-81); the re-share chain (crop 0.9, resize
  0.75, CRF 30, brightness 1.2) is detected on bikes and 720p (-12, -25).
* Codecs: carphone H.264 CRF 28 goes from -3.0 (v1, missed) to -10.1;
  CRF 40 is detected on bikes (-6.8) and 720p (-23.7) but not on
  carphone or the generated clip. 33-40 of 40 attacks detected per clip
  vs 23-30 for v1 (bench/results/watermark_v2.md).
* Cell size was chosen by measuring the detection t after H.264:
  short/128 lost 2-3x on the generated clip at CRF 28 vs short/96
  (t 6.1 vs 15.1); short/64 wins on downscale+CRF but loses crop 0.55 on
  square/small frames (tile = half the short side, fewer than 1.2
  periods left) and costs carphone (crop 0.55 -2.6, rotate 10 0.0, CRF 28
  -7.5 vs -12.9, -18.7, -10.1). 2 px is the best floor for QCIF (CRF 28:
  t 7.0 at 2 px vs 4.0 at 2.5 px and 3.8 at 3 px). The long/160 term
  (bikes 2.35:1: 4 px instead of 2.8 px cells) took bikes downscale 50% +
  CRF 28 from log10 p 0.0 to -18.7, H.265 CRF 40 from -6.1 to -9.9 and
  perspective 0.3 from -10.3 to -23.0, at the cost of H.264 CRF 40
  (-10.1 -> -6.8) and the re-share chain (-18.3 -> -12.1); 16:9 and
  narrower frames are unchanged or nearly (720p: 8 px instead of 7.5 px).
* Host predictor: quad8 at 2-3 px steps beat Gaussian/DoG high-passes by
  1.3-1.8x in t after CRF 28/40; local normalisation and clip at 3 sigma.
* Known limits: static-camera content after strong compression (the host
  interference is static, so evidence stops growing with the number of
  frames; on carphone the per-frame t at CRF 28 is ~2.5 and the clip t
  only ~7); flat generated content, where the activity mask leaves little
  energy (PSNR 50 dB: CRF 40, H.265 CRF 30, JPEG 40 missed, as for v1);
  downscale followed by compression on small frames (carphone/gen at 50%
  then CRF 28: cells of ~1 px die; v1 misses too); perspective 0.3 (one
  global lattice no longer fits; detected only on bikes). The payload
  needs ~3x the SNR of detection and is often not recovered on QCIF.

Every number is a field of ``TiledParams``; the registry freezes one
instance as v2 (``make_v2``). Changing any field means a new version name.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import ClassVar, Sequence

import numpy as np
from PIL import Image
from scipy import ndimage, sparse

from kinoseal.watermark.ecc import CRC24_OPENPGP, ConvCode, Crc, bits_to_int, decode_checked
from kinoseal.watermark.keys import WatermarkKey
from kinoseal.watermark.parallel import map_ordered
from kinoseal.watermark.result import P_VALUE_THRESHOLD, WatermarkResult
from kinoseal.watermark.stats import rademacher_log10_pvalue
from kinoseal.watermark.core import (LayoutCache, MaskedPatternEmbedder, WatermarkMethod, check_luma, coded_bits, key_list,
                                     keyed_signs, xof)

__all__ = ["TiledParams", "TiledMethod", "TiledEmbedder", "TiledExtractor", "TileLayout", "frame_weights",
           "nearest_orientation", "orient", "orientation_source", "rotation_sweep", "tile_layout"]


# TiledParams fields that only the embedder reads (``watermark.core.MaskedPatternEmbedder``): versions
# that differ in them alone extract identically.
EMBED_ONLY = frozenset({"amplitude", "min_rms", "mask_window", "mask_floor", "mask_lo", "mask_hi"})


@dataclass(frozen=True)
class TiledParams:
    """Everything that defines a tiled watermark version."""

    domain: bytes = b"kinoseal-wm-v2"
    tile: int = 32  # cells per tile side
    cells_per_short: float = 96.0  # cell size = short side / this ...
    min_cell_px: float = 2.0  # ... but never below this many pixels
    cells_per_long: float = 160.0  # ... nor below long side / this (wide frames; 0 = off)
    n_pilots: int = 576  # pilot cells per tile (the rest carries the payload)
    payload_bits: int = 64
    crc: Crc = CRC24_OPENPGP
    code: ConvCode = field(default_factory=ConvCode)
    # embedding (same semantics as v1)
    amplitude: float = 1.9
    min_rms: float = 0.5
    mask_window: int = 5
    mask_floor: float = 2.0
    mask_lo: float = 0.25
    mask_hi: float = 2.5
    # extraction
    work_short: int = 256  # working resolution (short side), frames are area-downscaled to it
    pred_step: int = 3  # host predictor tap distance (working px)
    # Where the frame-size rule's cell is at least this many working px, the host prediction is the
    # mean of the quadratic surface and the median of the same 8 taps (0: the surface alone)
    median_blend_cell: float = 2.5
    # Frames weighed by how their codec coded them (``frame_weights``): a B-frame counts this much, an
    # I-frame sqrt(P-frames / I-frames) times a P-frame. 0 weighs every frame alike.
    b_frame_weight: float = 0.5
    norm_window: int = 9
    clip_sigma: float = 3.0
    sync_peaks: int = 10
    max_candidates: int = 2
    square_candidates: int = 3
    spec_whiten: int = 17
    # fixed scale sweep (relative to the frame-size rule), relative step
    sweep_lo: float = 0.35
    sweep_hi: float = 3.0
    sweep_step: float = 0.012
    # ... and, where the working frame's short side is at most ``rot_sweep_side`` px, the frame-size
    # rule's lattice rotated by every ``rot_sweep_step`` degrees up to ``rot_sweep_deg`` either way. On
    # so small a frame a handful of tiles leave the autocorrelation too weak to find a rotated lattice
    # (carphone, 176x144, rotated 10 degrees: p ~ 1 blind, 10^-15 to 10^-18 at the rotated lattice).
    rot_sweep_deg: float = 15.0
    rot_sweep_step: float = 1.0
    rot_sweep_side: int = 200

    @property
    def info_bits(self) -> int:
        return self.payload_bits + self.crc.width

    @property
    def coded_bits(self) -> int:
        return self.code.coded_length(self.info_bits)

    @property
    def n_cells(self) -> int:
        return self.tile * self.tile

    def cell_px(self, h: int, w: int) -> float:
        c = max(min(h, w) / self.cells_per_short, self.min_cell_px)
        if self.cells_per_long > 0:
            c = max(c, max(h, w) / self.cells_per_long)
        return c


@dataclass(frozen=True)
class TileLayout:
    key_id: str
    chips: np.ndarray  # (N, N) +-1 keyed chip per cell
    pilot_mask: np.ndarray  # (N, N) bool
    bit_of_cell: np.ndarray  # (N, N) int, coded-bit index for payload cells, -1 for pilots
    whitening: np.ndarray  # (coded_bits,)

    @classmethod
    def build(cls, key: WatermarkKey, p: TiledParams) -> "TileLayout":
        n = p.n_cells
        order = np.frombuffer(xof(key.secret, p.domain, b"perm", 8 * n), dtype=">u8")
        perm = np.argsort(order, kind="stable")
        if n - p.n_pilots < p.coded_bits:
            raise ValueError("tile too small for the payload")
        bit = np.full(n, -1, dtype=np.int64)
        pay = perm[p.n_pilots :]
        bit[pay] = np.arange(pay.size) % p.coded_bits
        pm = np.zeros(n, dtype=bool)
        pm[perm[: p.n_pilots]] = True
        return cls(
            key_id=key.key_id,
            chips=keyed_signs(key.secret, p.domain, b"chips", n).reshape(p.tile, p.tile),
            pilot_mask=pm.reshape(p.tile, p.tile),
            bit_of_cell=bit.reshape(p.tile, p.tile),
            whitening=keyed_signs(key.secret, p.domain, b"whiten", p.coded_bits),
        )


_LAYOUTS = LayoutCache()


def tile_layout(key: WatermarkKey, p: TiledParams) -> TileLayout:
    return _LAYOUTS.get(key, p, TileLayout.build)


def payload_soft(lay: TileLayout, Fa: np.ndarray, n_coded: int) -> np.ndarray:
    """Per coded bit, the sum over its payload cells of the aligned tile ``Fa`` x chip, times the bit's
    whitening sign: the soft input of the decode, and (against each candidate's +-1 codeword) the
    listed test's numerator (``TiledExtractor.payload_t``)."""
    pm = ~lay.pilot_mask
    return np.bincount(lay.bit_of_cell[pm], (Fa * lay.chips)[pm], minlength=n_coded) * lay.whitening


def tile_signs(lay: TileLayout, coded: np.ndarray) -> np.ndarray:
    """The +-1 of every tile cell for the coded bits ``coded``: the keyed chip, times the whitened
    coded bit on payload cells. The embedder draws this tile; the registry's test of a known clip
    (``TiledExtractor.registered_test``) correlates with all of it, not the pilots alone."""
    sym = (2.0 * coded - 1.0) * lay.whitening
    vals = np.where(lay.pilot_mask, 1.0, sym[np.maximum(lay.bit_of_cell, 0)])
    return (lay.chips * vals).astype(np.float32)


def _axis_interp(n_px: int, cell: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periodic linear-interpolation taps for one axis, tiles anchored at the frame centre."""
    x = np.arange(n_px, dtype=np.float64) + 0.5 - n_px / 2.0
    u = x / cell - 0.5
    fl = np.floor(u)
    f = (u - fl).astype(np.float32)
    i0 = np.mod(fl.astype(np.int64), n)
    return i0, (i0 + 1) % n, f


def render_tile(tile: np.ndarray, h: int, w: int, cell: float) -> np.ndarray:
    n = tile.shape[0]
    y0, y1, fy = _axis_interp(h, cell, n)
    x0, x1, fx = _axis_interp(w, cell, n)
    rows = tile[y0] * (1.0 - fy)[:, None] + tile[y1] * fy[:, None]
    return (rows[:, x0] * (1.0 - fx)[None, :] + rows[:, x1] * fx[None, :]).astype(np.float32)


class TiledEmbedder(MaskedPatternEmbedder):
    """v2: the keyed tile repeated over the frame; every frame carries the same pattern."""

    def _symbols(self, key: WatermarkKey, coded: np.ndarray) -> None:
        self._tile = tile_signs(tile_layout(key, self.params), coded)

    def _render(self, h: int, w: int) -> np.ndarray:
        return render_tile(self._tile, h, w, self.params.cell_px(h, w))


# ----------------------------------------------------------------------------
# Extraction


def _whiten(g: np.ndarray, p: TiledParams, step: int | None = None, g8: np.ndarray | None = None) -> np.ndarray:
    """Host-removed, locally normalised residual of a working-resolution plane.

    Host predictor: v1's "quad8" (a 3x3 quadratic-surface predictor that never
    uses the centre pixel) dilated to taps ``step`` pixels away, so that with
    ~2-3 px cells the prediction comes from neighbouring cells: the keyed
    cell value is unpredictable and survives, smooth host content goes. Where the
    cells are big enough (``median_blend_cell``: every frame downscaled to the working
    size), the prediction is the mean of that surface and the median of its 8 taps: the
    median follows an edge from one side, where the surface overshoots; the mean of the
    two beat either alone where it was screened, and the surface on clips and attacks
    the screen had not seen (``bench/results/wm_predictor*.md``; on the spliced public
    generators' shots of ``wm_segments.md`` it is even). Then division by the
    local RMS (busy texture does not dominate) and clipping. None of it depends on the
    key, so the test's p-value holds whatever the predictor. ``g8``: the same plane as uint8, when
    the caller has it (the median's comparisons then move a quarter of the bytes: 0.4 ms instead
    of 2.2 ms for a 256x455 plane; the same values).
    """
    d = p.pred_step if step is None else step
    t = host_taps(g, d)
    r = quad8(t)
    if step is None and p.median_blend_cell > 0 and p.cell_px(*g.shape) >= p.median_blend_cell:
        r += median8(t if g8 is None else host_taps(g8, d))
        r *= 0.5
    np.subtract(g, r, out=r)
    return normalise(r, p)


def quad8(t: Sequence[np.ndarray]) -> np.ndarray:
    """v1's "quad8" host prediction from ``host_taps``: the quadratic surface through the 8 taps at the
    centre pixel, which it never reads (a new array)."""
    return (t[0] + t[1] + t[2] + t[3]) * 0.5 - (t[4] + t[5] + t[6] + t[7]) * 0.25


def host_taps(g: np.ndarray, d: int) -> list[np.ndarray]:
    """The 8 pixels ``d`` away from each pixel of ``g`` (4 along the axes, then 4 diagonal),
    reflected at the borders: what the host is predicted from."""
    gp = np.pad(g, d, mode="reflect")
    h, w = g.shape
    return [gp[d + dy: d + dy + h, d + dx: d + dx + w]
            for dy, dx in ((-d, 0), (d, 0), (0, -d), (0, d), (-d, -d), (-d, d), (d, -d), (d, d))]


def normalise(r: np.ndarray, p: TiledParams) -> np.ndarray:
    """A host-removed residual divided by its local RMS (busy texture does not dominate), then
    clipped; in place."""
    loc = np.sqrt(np.maximum(ndimage.uniform_filter(r * r, p.norm_window, mode="reflect"), 0.0))
    floor = 0.1 * float(np.sqrt(np.mean(r * r))) + 1e-3
    r /= np.maximum(loc, floor)
    np.clip(r, -p.clip_sigma, p.clip_sigma, out=r)
    return r


# Batcher's 19-comparator sorting network for 8 inputs.
_NET8 = ((0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7), (0, 1), (2, 3), (4, 5), (6, 7),
         (2, 4), (3, 5), (1, 4), (3, 6), (1, 2), (3, 4), (5, 6))


def median8(planes: Sequence[np.ndarray]) -> np.ndarray:
    """Elementwise median of 8 equal-shaped planes (the mean of the 4th and 5th smallest), float32:
    the same values as ``np.median`` over a stack, ten times faster (2 ms for a 256x455 float32
    plane; uint8 planes, compared as uint8, 0.4 ms)."""
    if len(planes) != 8:
        raise ValueError(f"median8 needs 8 planes, got {len(planes)}")
    v = [np.array(a) for a in planes]
    for i, j in _NET8:
        lo = np.minimum(v[i], v[j])
        np.maximum(v[i], v[j], out=v[j])
        v[i] = lo
    out = v[3].astype(np.float32)
    out += v[4]
    out *= np.float32(0.5)
    return out


def dihedral(f: np.ndarray) -> list[np.ndarray]:
    """The 8 orientations of ``f``: ``orient(f, i)`` for i in 0..7."""
    return [orient(f, i) for i in range(8)]


def orient(f: np.ndarray, i: int) -> np.ndarray:
    """Orientation ``i`` (0..7) of a 2-D array: ``i // 2`` quarter turns (``np.rot90``), then mirrored
    left-right where ``i`` is odd (a view, no copy)."""
    r = np.rot90(f, i // 2)
    return r[:, ::-1] if i % 2 else r


def orientation_source(i: int) -> np.ndarray:
    """``orient(f, i)`` as a map of coordinates: its cell at (x, y) (column right, row down, about the
    centre) holds ``f``'s cell at ``orientation_source(i) @ (x, y)``, a 2x2 matrix of 0 and +-1."""
    c = np.arange(3) - 1.0
    X, Y = np.meshgrid(c, c)  # X[row, col] = column coordinate, Y = row coordinate
    Xs, Ys = orient(X, i), orient(Y, i)
    return np.array([[Xs[1, 2], Xs[2, 1]], [Ys[1, 2], Ys[2, 1]]])  # columns: where (1, 0) and (0, 1) come from


def nearest_orientation(A: np.ndarray) -> int:
    """The orientation (``orient``'s index) nearest a 2x2 linear map ``A`` of coordinates (the mirror and
    quarter turns in it; any scale and smaller turn are left over)."""
    return int(np.argmax([float(np.sum(orientation_source(i) * A)) for i in range(8)]))


def fold_matrix(shape: tuple[int, int], basis: np.ndarray, n: int) -> sparse.csr_matrix:
    """(n*n, H*W) sparse matrix folding a residual image into an n x n tile.

    Pixel centres (relative to the image centre) map to tile coordinates
    n * basis^-1 (x, y); each pixel is splatted bilinearly onto the 4 nearest
    cell centres (the adjoint of the embedder's bilinear rendering).
    basis: 2x2, columns are the tile period vectors (x, y) in pixels.
    """
    h, w = shape
    idx, wts = _fold_taps(shape, basis, n)
    cols = np.tile(np.arange(h * w, dtype=np.int64), 4)
    rows = np.concatenate(idx)
    vals = np.concatenate(wts)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n * n, h * w))


def _fold_taps(shape: tuple[int, int], basis: np.ndarray, n: int):
    h, w = shape
    inv = np.linalg.inv(basis) * n
    ys = np.arange(h, dtype=np.float64) + 0.5 - h / 2.0
    xs = np.arange(w, dtype=np.float64) + 0.5 - w / 2.0
    # In place where it changes no rounding: a fold per candidate geometry, ~17 per unmarked clip.
    u = inv[0, 0] * xs[None, :] + inv[0, 1] * ys[:, None]
    u -= 0.5
    v = inv[1, 0] * xs[None, :] + inv[1, 1] * ys[:, None]
    v -= 0.5
    fu, fv = np.floor(u), np.floor(v)
    u -= fu
    v -= fv
    au, av_ = u.ravel(), v.ravel()
    iu = np.mod(fu.astype(np.int64), n).ravel()
    iv = np.mod(fv.astype(np.int64), n).ravel()
    iu1, iv1 = iu + 1, iv + 1
    iu1[iu1 == n] = 0
    iv1[iv1 == n] = 0
    iv *= n
    iv1 *= n
    bu, bv = 1 - au, 1 - av_
    idx = (iv + iu, iv + iu1, iv1 + iu, iv1 + iu1)
    wts = (bu * bv, au * bv, bu * av_, au * av_)
    return idx, wts


@functools.lru_cache(maxsize=2048)
def _splat_1d(n_px: int, period: float, n: int) -> sparse.csr_matrix:
    """(n, n_px) sparse 1-D bilinear splat of pixel centres onto n periodic cells.

    Folding onto an axis-aligned square lattice is separable: Ay @ R @ Ax.T. Cached (callers
    only multiply by it): every unmarked clip of a frame size sweeps the same ~180 scales
    (~10 KB each at 720p).
    """
    x = np.arange(n_px, dtype=np.float64) + 0.5 - n_px / 2.0
    u = x * (n / period) - 0.5
    fu = np.floor(u)
    a = u - fu
    i0 = np.mod(fu.astype(np.int64), n)
    cols = np.arange(n_px)
    return sparse.csr_matrix(
        (np.concatenate([1.0 - a, a]), (np.concatenate([i0, (i0 + 1) % n]), np.concatenate([cols, cols]))),
        shape=(n, n_px),
    )


def fold(r: np.ndarray, basis: np.ndarray, n: int) -> np.ndarray:
    """Fold a residual image into an n x n tile (same mapping as fold_matrix, no matrix built)."""
    idx, wts = _fold_taps(r.shape, basis, n)
    rr = r.ravel().astype(np.float64)
    out = np.zeros(n * n)
    for i, wt in zip(idx, wts):
        out += np.bincount(i, rr * wt, minlength=n * n)
    return out.reshape(n, n)


def _orientation_spectra(Ft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spectra of a folded tile and of its square in the 8 orientations, (8, n, n // 2 + 1) each:
    one batched transform (an unmarked clip's sweep needs ~200 tiles; 16 small calls each cost
    more in call overhead than in arithmetic)."""
    Fd = np.stack(dihedral(Ft)).astype(np.float32)
    # float32 halves the memory traffic of every later product and inverse transform (the statistic
    # is a ratio of sums over 1024 cells; float32 rounding moves it by ~1e-6 relative, far below any
    # decision), and numpy's FFT keeps single precision
    return np.fft.rfft2(Fd), np.fft.rfft2(Fd * Fd)


def pilot_scores(lay: TileLayout, FFs: np.ndarray, FF2s: np.ndarray, n: int) -> np.ndarray:
    """Normalised pilot correlation t of every tile in ``FFs`` (spectra of folded tiles, and of their
    squares: ``_orientation_spectra``) at every cyclic shift, (tiles, n, n).

    The denominator is a sum of squares, but single-precision transforms leave it an error of ~1e-7
    of the tile's energy. Floored at 1e-5 of that energy (a ceiling on |t| only where the pilots
    hold next to none of it), a rounding error can never read as a large t: with a floor of 1e-12
    alone, a tile with all its energy in three cells off the pilots scored t = 977.
    """
    cW, cM = _template_spectra(lay)
    num = np.fft.irfft2(cW[None] * FFs, s=(n, n))
    den = np.fft.irfft2(cM[None] * FF2s, s=(n, n))
    floor = np.maximum(FF2s[:, :1, :1].real * np.float32(1e-5), np.float32(1e-12))  # energy of each tile
    t = num / np.sqrt(np.maximum(den, floor))
    t[~np.isfinite(t)] = 0.0
    return t


def _correlations(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The normalised correlation of each tile of the stack ``F`` (k, n, n) with the +-1 tile ``W``
    (0 for a tile without energy)."""
    F = F.astype(np.float64)
    norms = np.sqrt(np.einsum("kij,kij->k", F, F))
    return np.einsum("kij,ij->k", F, W.astype(np.float64)) / np.where(norms > 0, norms, 1.0)


def _halves(n: int) -> list[slice]:
    """Two slices covering ``range(n)`` (one when it is too small to split)."""
    return [slice(0, n)] if n < 16 else [slice(0, n // 2), slice(n // 2, n)]


def _parabolic(a_m: float, a_0: float, a_p: float) -> float:
    d = a_m - 2 * a_0 + a_p
    if d >= 0:
        return 0.0
    return float(np.clip(0.5 * (a_m - a_p) / d, -0.5, 0.5))


def lattice_candidates(R: np.ndarray, p: TiledParams, min_period: float, max_period: float) -> list[np.ndarray]:
    """Key-independent tile-lattice estimates from the autocorrelation of the accumulated residual."""
    h, w = R.shape
    H, W = 2 * h, 2 * w
    F = np.fft.rfft2(R, s=(H, W))
    P0 = (F * np.conj(F)).real
    out: list[np.ndarray] = []
    whitenings = (0, p.spec_whiten) if p.spec_whiten > 0 else (0,)
    found = map_ordered(lambda wh: _autocorrelation_peaks(P0, wh, R.shape, p, min_period, max_period), whitenings)
    for A, peaks in found:
        if peaks:
            _lattices_from_peaks(A, peaks, R.shape, p, out)
    return out


@functools.lru_cache(maxsize=4)
def _lattice_grid(h: int, w: int, min_period: float, max_period: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame size (cached: every clip of a size has the same): the autocorrelation's
    normalisation by the number of overlapping pixels at each lag (~ a z-score), and the lags
    (fftshifted) that may be a tile period vector."""
    H, W = 2 * h, 2 * w
    ov = np.maximum(np.fft.irfft2(np.abs(np.fft.rfft2(np.ones((h, w)), s=(H, W))) ** 2, s=(H, W)), 1.0)
    norm = np.sqrt(ov) / ov
    cy, cx = H // 2, W // 2
    yy, xx = np.mgrid[0:H, 0:W]
    dy, dx = yy - cy, xx - cx
    rad = np.hypot(dx, dy)
    valid = (rad >= min_period) & (rad <= max_period) & ((dy > 0) | ((dy == 0) & (dx > 0)))
    valid &= (np.abs(dy) < h * 0.8) & (np.abs(dx) < w * 0.8)
    norm.flags.writeable = False
    valid.flags.writeable = False
    return norm, valid


def _autocorrelation_peaks(P: np.ndarray, wh: int, shape: tuple[int, int], p: TiledParams, min_period: float,
                           max_period: float) -> tuple[np.ndarray, list[tuple[np.ndarray, float]]]:
    """The normalised autocorrelation (fftshifted) of a residual with power spectrum ``P``, and its
    strongest local maxima at lags that may be a tile period vector (sub-pixel, strongest first)."""
    h, w = shape
    H, W = 2 * h, 2 * w
    if wh > 0:
        # spectral flattening: divide the power by its local mean, so the
        # watermark's lattice of spectral spikes stands out of smooth host spectra
        k = wh
        Ps = ndimage.uniform_filter(P, size=(k, k), mode=("wrap", "nearest"))
        P = P / (Ps + 1e-9 * float(Ps.mean()) + 1e-30)
    norm, valid = _lattice_grid(h, w, float(min_period), float(max_period))
    A = np.fft.fftshift(np.fft.irfft2(P, s=(H, W)) * norm)
    cy, cx = H // 2, W // 2
    Am = np.where(valid, A, -np.inf)
    mx = ndimage.maximum_filter(Am, size=5, mode="constant", cval=-np.inf)
    pk = np.argwhere((Am == mx) & valid)
    if pk.size == 0:
        return A, []
    vals = Am[pk[:, 0], pk[:, 1]]
    order = np.argsort(-vals)[: p.sync_peaks]
    peaks = []
    for i in order:
        y, x = pk[i]
        if 0 < y < H - 1 and 0 < x < W - 1:
            oy = _parabolic(A[y - 1, x], A[y, x], A[y + 1, x])
            ox = _parabolic(A[y, x - 1], A[y, x], A[y, x + 1])
        else:
            oy = ox = 0.0
        peaks.append((np.array([x - cx + ox, y - cy + oy]), float(A[y, x])))
    return A, peaks


def _lattices_from_peaks(A: np.ndarray, peaks: list[tuple[np.ndarray, float]], shape: tuple[int, int],
                         p: TiledParams, out: list[np.ndarray]) -> None:
    """Append to ``out`` the lattice bases that the autocorrelation peaks suggest (and refine)."""
    h, w = shape
    H, W = 2 * h, 2 * w
    cy, cx = H // 2, W // 2

    def peak_near(pt: np.ndarray) -> tuple[np.ndarray, float] | None:
        x, y = int(round(pt[0])) + cx, int(round(pt[1])) + cy
        if not (3 <= y < H - 3 and 3 <= x < W - 3) or abs(pt[1]) > h * 0.8 or abs(pt[0]) > w * 0.8:
            return None
        win = A[y - 2 : y + 3, x - 2 : x + 3]
        j = int(np.argmax(win))
        yy, xx = y - 2 + j // 5, x - 2 + j % 5
        oy = _parabolic(A[yy - 1, xx], A[yy, xx], A[yy + 1, xx])
        ox = _parabolic(A[yy, xx - 1], A[yy, xx], A[yy, xx + 1])
        return np.array([xx - cx + ox, yy - cy + oy]), float(A[yy, xx])

    def refine(B: np.ndarray) -> np.ndarray:
        # least-squares fit of the basis to the sub-pixel peaks at small lattice multiples
        for _ in range(2):
            rows, rhs, wts = [], [], []
            for m in range(-3, 4):
                for k in range(0, 4):
                    if k == 0 and m <= 0:
                        continue
                    pk_ = peak_near(B @ np.array([m, k], float))
                    if pk_ is None or pk_[1] <= 0:
                        continue
                    rows.append([m, k])
                    rhs.append(pk_[0])
                    wts.append(pk_[1])
            if len(rows) < 3:
                return B
            M = np.array(rows, float) * np.sqrt(np.array(wts))[:, None]
            Y = np.array(rhs) * np.sqrt(np.array(wts))[:, None]
            sol, *_ = np.linalg.lstsq(M, Y, rcond=None)
            B = sol.T
        return B

    def add(B: np.ndarray) -> None:
        # the raw estimate and its least-squares refinement are both kept
        if not np.all(np.isfinite(B)) or abs(np.linalg.det(B)) < 1.0:
            return
        B0 = _reduce(B)
        B1 = refine(B0)
        # keep the refinement only if it is a sane, small correction
        cands_ = [B0]
        if np.all(np.isfinite(B1)) and np.abs(B1 - B0).max() < 0.1 * np.abs(B0).max():
            cands_.append(_reduce(B1))
        for Bc in cands_:
            if abs(np.linalg.det(Bc)) < 1.0 or any(_close(Bc, o, 0.25) for o in out):
                continue
            out.append(Bc)

    # Square-lattice completion of the strongest peaks (rotation + uniform scale,
    # the common case), then the best general pairs (aspect changes, shear).
    for v, _ in peaks[: p.square_candidates]:
        add(np.stack([v, np.array([-v[1], v[0]])], axis=1))
    pairs = []
    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            a, b = peaks[i][0], peaks[j][0]
            la, lb = np.linalg.norm(a), np.linalg.norm(b)
            cosang = abs(float(a @ b)) / (la * lb)
            if cosang > 0.5 or not (0.7 < la / lb < 1.43):
                continue
            pairs.append((peaks[i][1] + peaks[j][1], a, b))
    pairs.sort(key=lambda c: -c[0])
    n0 = len(out)
    for _, a, b in pairs:
        if len(out) >= n0 + 2 * p.max_candidates:
            break
        add(np.stack([a, b], axis=1))


def rotation_sweep(p: TiledParams, shape: tuple[int, int], T0: float) -> list[np.ndarray]:
    """The rotated lattices of the fixed sweep for a working frame of ``shape`` (none above
    ``rot_sweep_side``): the frame-size rule's square lattice of period ``T0`` turned about the
    frame centre by every ``rot_sweep_step`` degrees up to ``rot_sweep_deg`` either way. Fixed by the
    frame size alone, never by the content or the key, so the test stays exact."""
    if p.rot_sweep_deg <= 0 or p.rot_sweep_step <= 0 or min(shape) > p.rot_sweep_side:
        return []
    k = int(math.floor(p.rot_sweep_deg / p.rot_sweep_step + 1e-9))
    out = []
    for deg in [s * i * p.rot_sweep_step for i in range(1, k + 1) for s in (1, -1)]:
        c, s_ = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        out.append(np.array([[c * T0, -s_ * T0], [s_ * T0, c * T0]]))
    return out


def _close(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    """``np.allclose(a, b, atol=atol)`` for finite 2x2 bases, without its per-call overhead (~20 us:
    an unmarked clip compares a few hundred pairs)."""
    return bool((np.abs(a - b) <= atol + 1e-5 * np.abs(b)).all())


def _reduce(B: np.ndarray) -> np.ndarray:
    a, b = B[:, 0].copy(), B[:, 1].copy()
    for _ in range(10):
        if a @ a > b @ b:
            a, b = b, a
        aa = float(a @ a)
        if not (aa > 1e-9) or not np.all(np.isfinite(b)):
            break
        mu = round(float(a @ b) / aa)
        if mu == 0:
            break
        b = b - mu * a
    return np.stack([a, b], axis=1)


def frame_weights(kinds: Sequence[str | None], b_weight: float) -> list[float]:
    """The weight of each sampled frame in the test, from its coding type ('I', 'P', 'B'; None:
    unknown, as for frames that were never encoded).

    A codec spends its bits unevenly: x264 and x265 code I-frames at a lower quantiser than P-frames,
    and B-frames at a higher one, so after a heavy re-encode the I-frames keep most of the mark and the
    B-frames least, and equal weights let the many weak frames drown the few strong ones (measured side
    by side on the same attacked frames, ``bench/results/wm_frame_types.md``: bound 28 / 36 of 63
    hard-attacked 2 s / 10 s clips against 26 / 34, none lost; H.264 CRF 30 median 10^-10.2 against
    10^-6.6). So an I-frame counts sqrt(n_P / n_I) times a P-frame (the I-frames
    together then weigh as much as sqrt(n_I n_P) P-frames: between their count and the P-frames'),
    and a B-frame ``b_weight``. The weights depend on the frames' types alone, never on the key, so the
    test's p-value stays exact (under no mark every statistic is still a weighted sum of fair coins).
    ``b_weight`` 0 turns the rule off; so does a sample with no I- or no P-frame (an intra-only codec,
    frames never encoded).
    """
    if b_weight <= 0:
        return [1.0] * len(kinds)
    n_i, n_p = sum(k == "I" for k in kinds), sum(k == "P" for k in kinds)
    w_i = math.sqrt(n_p / n_i) if n_i and n_p > n_i else 1.0
    return [w_i if k == "I" else b_weight if k == "B" else 1.0 for k in kinds]


@dataclass
class _Acc:
    """A frame shape's residuals: per frame (float16) and summed by coding type (float64), so that
    the weighted sums ``R`` and ``R1`` can be formed once the sample's mix of types is known."""

    frames: list
    frames1: list
    kinds: list = field(default_factory=list)
    sums: dict = field(default_factory=dict)  # coding type -> residual sum, predictor step pred_step
    sums1: dict = field(default_factory=dict)  # the same, predictor step 1 (for cells < 1.4 working px)
    b_weight: float = 0.0
    n: int = 0
    _cache: tuple | None = None

    def add(self, r: np.ndarray, r1: np.ndarray | None, kind: str | None) -> None:
        for sums, x, frames in ((self.sums, r, self.frames), (self.sums1, r1, self.frames1)):
            if x is None:
                continue
            if kind in sums:
                sums[kind] += x
            else:
                sums[kind] = x.astype(np.float64)
            frames.append(x.astype(np.float16))
        self.kinds.append(kind)
        self.n += 1

    def weights(self) -> list[float]:
        return frame_weights(self.kinds, self.b_weight)

    def _weighted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None or self._cache[0] != self.n:
            w = dict(zip(self.kinds, self.weights()))
            out = []
            for sums in (self.sums, self.sums1):
                total = np.zeros(next(iter(self.sums.values())).shape)
                for k, x in sums.items():
                    total += x if w[k] == 1.0 else x * w[k]
                out.append(total)
            self._cache = (self.n, out[0], out[1])
        return self._cache[1], self._cache[2]

    @property
    def R(self) -> np.ndarray:
        """Weighted residual sum (``frame_weights``), predictor step pred_step."""
        return self._weighted()[0]

    @property
    def R1(self) -> np.ndarray:
        """The same with predictor step 1 (zeros where no frame had one)."""
        return self._weighted()[1]


@dataclass
class _Shared:
    """What an extractor accumulates and derives from the frames alone, without a key: the
    residual sums, the per-frame residuals, the candidate geometries and folded tiles. Methods
    whose parameters differ only in their key domain (v2, v3 and v4) compute the same, so the
    verifier's scan lets them share one (``TiledExtractor.follow``)."""

    acc: dict = field(default_factory=dict)  # frame shape -> _Acc
    frames: int = 0
    an: dict | None = None
    keep_planes: bool = False  # also keep each frame's working-resolution luma (v3's bound test)
    planes: dict = field(default_factory=dict)  # frame shape -> [uint8 working-resolution planes]
    lowpassed: dict = field(default_factory=dict)  # (shape, frame, block, sigma, fill) -> low-passed plane (v3-v5)
    fills: dict = field(default_factory=dict)  # (shape, planes kept) -> v3 fill_mask and fill_index of the kept planes (v5)


def _template_spectra(lay: TileLayout) -> tuple[np.ndarray, np.ndarray]:
    hit = _SPEC_CACHE.get(id(lay))
    if hit is None or hit[0] is not lay:
        W = np.where(lay.pilot_mask, lay.chips, 0.0)
        M = lay.pilot_mask.astype(np.float64)
        hit = (lay, np.conj(np.fft.rfft2(W)).astype(np.complex64), np.conj(np.fft.rfft2(M)).astype(np.complex64))
        if len(_SPEC_CACHE) > 256:
            _SPEC_CACHE.clear()
        _SPEC_CACHE[id(lay)] = hit
    return hit[1], hit[2]


_SPEC_CACHE: dict[int, tuple] = {}


class TiledExtractor:
    """Accumulates host-removed residuals of sampled frames; ``result()`` synchronises and tests.

    ``update(y)`` costs ~3.5 ms per 720p frame (area downscale to the working
    resolution, quad8 residual, local normalisation) and keeps a float16 copy
    for per-frame scores. Frames may be dropped, reordered or sampled at any
    stride: nothing depends on frame indices. ``result()`` is a pure function
    of the accumulators and ``layouts`` (the key-independent part is cached
    until the next ``update``), so calling it repeatedly is cheap.
    """

    def __init__(self, method: "TiledMethod", keys: Sequence[WatermarkKey] | WatermarkKey):
        keys = key_list(keys)
        self.method, self.params, self.keys = method, method.params, keys
        self.layouts = [tile_layout(k, self.params) for k in keys]
        self._shared = _Shared()
        self._leader = True
        self.debug: dict = {}

    # The shared state, under the names the rest of the extractor uses.
    @property
    def _acc(self) -> dict[tuple[int, int], _Acc]:
        return self._shared.acc

    @property
    def frames(self) -> int:
        return self._shared.frames

    def _main_acc(self) -> tuple[tuple[int, int], "_Acc"]:
        """(frame shape, accumulator) of the shape most sampled frames had: the one tested."""
        return max(self._acc.items(), key=lambda kv: kv[1].n)

    @property
    def _an(self) -> dict | None:
        return self._shared.an

    @_an.setter
    def _an(self, value: dict | None) -> None:
        self._shared.an = value

    def analysis_key(self) -> tuple:
        """Extractors with equal keys accumulate and analyse frames identically. The key domain and
        the embedder's own fields (``EMBED_ONLY``) are left out: v5's flat-frame cap (``min_rms``)
        is not v3's and v4's, yet the three read frames alike, and an unmarked 720p clip whitened
        twice cost the verifier 0.2 CPU-seconds more."""
        return tuple(getattr(self.params, f.name) for f in fields(TiledParams)
                     if f.name != "domain" and f.name not in EMBED_ONLY)

    def follow(self, leader: "TiledExtractor") -> None:
        """Share ``leader``'s frame analysis: from now on only the leader is fed (``update`` here
        does nothing) and this extractor tests its own keys on what the leader accumulated."""
        if leader.analysis_key() != self.analysis_key() or self._shared.frames or leader._shared.frames:
            raise ValueError("an extractor can follow only a fresh one with the same analysis parameters")
        leader._shared.keep_planes |= self._shared.keep_planes
        self._shared = leader._shared
        self._leader = False

    def within(self, indices: Sequence[int]) -> "TiledExtractor | None":
        """A fresh extractor of this method and keys fed only the sampled frames ``indices`` (positions in
        the order they were seen), from their kept working planes: a test of one stretch of the clip (a
        shot spliced into other footage), which the unmarked frames around it would otherwise dilute.
        Which frames is the caller's choice; made without the key (the registry's fingerprint places the
        shot), it leaves the test's p-value exact. None where the planes were not kept (v2) or the frames
        were not all of one size."""
        if not self._shared.keep_planes or len(self._acc) != 1:
            return None
        shape, acc = self._main_acc()
        planes = self._shared.planes.get(shape, [])
        idx = sorted({int(i) for i in indices if 0 <= int(i) < len(planes)})
        if not idx or len(planes) != acc.n:
            return None
        return self._fed(shape, [planes[i] for i in idx], [acc.kinds[i] for i in idx])

    def _fed(self, shape: tuple[int, int], planes: Sequence[np.ndarray], kinds: Sequence[str | None]) -> "TiledExtractor":
        """A fresh extractor of this method and keys fed ``planes`` (uint8 working-resolution planes of frames of
        ``shape``) with their coding types: a second test on some of the frames, or on the frames changed."""
        child = type(self)(self.method, self.keys)
        s = self._work_scale(shape)
        for g, kind in zip(planes, kinds):
            child.add_working(shape, g, s, kind)
        return child

    def _work_scale(self, shape: tuple[int, int]) -> float:
        """The scale from a frame of ``shape`` to its working resolution (at most 1: never upscaled)."""
        return min(1.0, self.params.work_short / min(shape))

    def _work(self, y: np.ndarray) -> tuple[np.ndarray, float]:
        """The working-resolution plane (8-bit: whole grey levels, area-downscaled or as it is), and the scale."""
        h, w = y.shape
        s = self._work_scale(y.shape)
        if s < 1.0:
            hw, ww = max(8, int(round(h * s))), max(8, int(round(w * s)))
            return np.asarray(Image.fromarray(y).resize((ww, hw), Image.BOX)), s
        return y, s

    def update(self, y: np.ndarray, kind: str | None = None) -> None:
        """Add one frame; ``kind``: its coding type ('I', 'P', 'B') where the decoder says (``frame_weights``)."""
        if not self._leader:
            return
        y = check_luma(y)
        g8, s = self._work(y)
        # kept planes are kept as they are: not the caller's array
        self.add_working(y.shape, g8.copy() if g8 is y and self._shared.keep_planes else g8, s, kind)

    def add_working(self, shape: tuple[int, int], g8: np.ndarray, s: float, kind: str | None = None) -> None:
        """Add one frame of ``shape`` as its working-resolution plane ``g8`` (uint8, ``_work``'s, at scale
        ``s``): what ``update`` does after the downscale, for a caller that already holds such planes
        (the v3 test's rectified frames, ``watermark.rectify``)."""
        if self._shared.keep_planes:  # kept as 8-bit (the values are whole grey levels): no float16 conversion
            self._shared.planes.setdefault(shape, []).append(g8)
        g = g8.astype(np.float32)
        r = _whiten(g, self.params, g8=g8)
        # step-1 residual only where cells can be under ~1.4 working px:
        # frames not downscaled for work (short side < work_short)
        r1 = _whiten(g, self.params, 1) if s >= 1.0 else None
        a = self._acc.get(shape)
        if a is None:
            a = self._acc[shape] = _Acc([], [], b_weight=self.params.b_frame_weight)
        a.add(r, r1, kind)
        self._shared.frames += 1

    def _geometries(self, shape: tuple[int, int], R: np.ndarray) -> list[np.ndarray]:
        p = self.params
        h, w = shape
        s = R[0].shape[0] / h
        c = p.cell_px(h, w) * s
        T = c * p.tile
        geoms = [np.array([[T, 0.0], [0.0, T]])]
        minp = p.tile * 0.9
        maxp = 0.75 * max(R[0].shape)
        for RR in R:
            for B in lattice_candidates(RR, p, minp, maxp):
                if not any(_close(B, G, 0.5) for G in geoms):
                    geoms.append(B)
        return geoms

    def _analysis(self, shape: tuple[int, int], acc: _Acc) -> dict:
        """Key-independent part of the detection, cached until the next update():
        candidate geometries, folded tiles and their spectra for the 8 orientations."""
        ck = (shape, acc.n)
        if self._an is not None and self._an["ck"] == ck:
            return self._an
        p = self.params
        n = p.tile
        geoms = self._geometries(shape, (acc.R, acc.R1) if acc.frames1 else (acc.R,))
        # cells under ~1.4 working px (small, downscaled frames): use the step-1 predictor
        small = [bool(acc.frames1) and float(np.sqrt(abs(np.linalg.det(B)))) / n < 1.4 for B in geoms]
        def fold_one(gi: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
            Ft = fold(acc.R1 if small[gi] else acc.R, geoms[gi], n)
            return Ft, _orientation_spectra(Ft)

        folded = map_ordered(fold_one, range(len(geoms)))
        tiles = [f[0] for f in folded]
        spectra = {gi: f[1] for gi, f in enumerate(folded)}
        # "lattices": how many of "geoms" are the self-synchronised ones; the sweep appends after them
        self._an = {"ck": ck, "geoms": geoms, "lattices": len(geoms), "small": small, "tiles": tiles,
                    "spectra": spectra, "per_frame": {}}
        return self._an

    def _best_over(self, an: dict, gis, log_w: float, log_w_id: float | None) -> tuple:
        """Best (log10 p, gi, di, shift, key index, t) over geometries ``gis``, all orientations and shifts."""
        ck = ("stack", tuple(gis))
        if ck not in an:  # key-independent, reused across keys
            spectra = an["spectra"]
            keys_ = [(gi, di) for gi in gis for di in range(8)]
            an[ck] = (keys_, np.concatenate([spectra[gi][0] for gi in gis]),
                      np.concatenate([spectra[gi][1] for gi in gis]))
        keys_, FFs, FF2s = an[ck]
        best = None
        for li, lay in enumerate(self.layouts):
            flat = np.concatenate(map_ordered(lambda sl: pilot_scores(lay, FFs[sl], FF2s[sl], self.params.tile),
                                              _halves(len(FFs)))).reshape(len(keys_), -1)
            cand = []
            if log_w_id is not None:  # geometry 0 (the frame-size rule), orientation 0, shift 0
                cand.append((rademacher_log10_pvalue(float(flat[0, 0])) + log_w_id, 0, 0))
            qi = int(np.argmax(flat.max(axis=1)))
            kq = int(np.argmax(flat[qi]))
            cand.append((rademacher_log10_pvalue(float(flat[qi, kq])) + log_w, qi, kq))
            for lpc, qc, kc in cand:
                if best is None or lpc < best[0]:
                    gi_, di_ = keys_[qc]
                    best = (lpc, gi_, di_, kc, li, float(flat[qc, kc]))
        return best

    def _known_mark(self, key_id: str, payload_id: int, mirrored: bool) -> tuple | None:
        """(key index, the known mark's +-1 tile, flipped left-right where ``mirrored``, the analysis, the
        accumulator) for the registry's test of one registered clip; None when the key is not this
        extractor's or no frame was seen. Flipping the expected tile instead of the folded ones gives the
        same correlations (a frame's flip about its centre reverses the tile's columns)."""
        li = next((i for i, lay in enumerate(self.layouts) if lay.key_id == key_id), None)
        if li is None or self.frames == 0:
            return None
        shape, acc = self._main_acc()
        W = tile_signs(self.layouts[li], coded_bits(self.params, payload_id))
        return li, (W[:, ::-1] if mirrored else W), self._analysis(shape, acc), acc

    def registered_t(self, key_id: str, payload_id: int, mirrored: bool = False) -> float | None:
        """The normalised correlation t of one known mark (key, payload) with the folded tile at the
        frame-size rule and zero shift, flipped where ``mirrored``: one hypothesis, every cell a
        known sign (pilots and payload: 1.8x the pilots' share of the tile). None when the key is
        not this extractor's or no frame was seen.

        For a clip whose registered content fingerprint these pixels match (the verifier): that
        record names the key and payload, and the fingerprint says the picture is the registered
        one, unflipped or flipped, so one test replaces the blind search over geometries, shifts and
        payloads. Under no mark the chips are fair coins independent of the tile, so t is a
        weighted Rademacher sum (``watermark.stats``) whatever the content."""
        known = self._known_mark(key_id, payload_id, mirrored)
        return None if known is None else self._rule_t(known)

    def registered_test(self, key_id: str, payload_id: int, mirrored: bool = False) -> float | None:
        """log10 p of the known mark: ``registered_t`` at the frame-size geometry (half the budget), or
        at the best of the scale sweep's lattices (the other half, shared by its scales): the caller
        adds its own multiplicity."""
        known = self._known_mark(key_id, payload_id, mirrored)
        if known is None:
            return None
        return min(rademacher_log10_pvalue(self._rule_t(known)) + math.log10(2.0), self._registered_sweep(known))

    def payload_t(self, key_id: str, payloads: Sequence[int]) -> np.ndarray | None:
        """The normalised correlation t of each candidate payload's cells with the folded tile at the
        geometry the blind search chose (``result`` must have run; None where it chose another key's).

        For a mark found without its payload (the CRC-checked decode needs ~3x the SNR of detection):
        the registry's payloads of that key are a short list of codewords, and correlating each is a
        test, not a decode. The payload cells' chips are keyed coins apart from the pilots that chose
        the geometry, so under no mark each t is a weighted Rademacher sum (``watermark.stats``); the
        caller pays for the number of candidates. A mark with another payload correlates with a
        candidate only as far as their codewords agree (about half their bits)."""
        got = self.debug.get("aligned")
        if not got or got[0] != key_id or not len(payloads):
            return None
        lay = next(l for l in self.layouts if l.key_id == key_id)
        F = got[1][~lay.pilot_mask].astype(np.float64)
        norm = float(np.sqrt(np.dot(F, F)))
        if norm == 0.0:
            return np.zeros(len(payloads))
        sym = np.stack([2.0 * coded_bits(self.params, int(q)) - 1.0 for q in payloads])
        return sym @ payload_soft(lay, got[1], self.params.coded_bits) / norm

    def frame_map(self) -> np.ndarray | None:
        """Where the geometry the blind search chose (``result`` must have run) puts a marked frame's
        pixels in this clip's: the 2x2 linear map of pixel coordinates (column right, row down, about the
        centre), scaled to determinant +-1; None where no geometry was chosen. The tile was folded on
        basis B and matched in orientation i, so a marked pixel at p0 sits at B @ orientation_source(i)
        @ p0 up to the frame-size rule's scale: the mirror and quarter turns in it are exact for a
        detected mark (its pilots are keyed coins, matching in one orientation only); the scale and a
        smaller turn are the lattice's estimate."""
        best, geoms = self.debug.get("best"), self.debug.get("geoms")
        if best is None or geoms is None:
            return None
        A = np.asarray(geoms[best[1]], np.float64) @ orientation_source(best[2])
        d = abs(float(np.linalg.det(A)))
        return A / math.sqrt(d) if d > 0 else None

    @staticmethod
    def _rule_t(known: tuple) -> float:
        """``registered_t`` of a known mark (``_known_mark``): its correlation at the frame-size rule."""
        _, W, an, _ = known
        return float(_correlations(an["tiles"][0][None], W)[0])

    def _registered_sweep(self, known: tuple) -> float:
        """log10 p of a known mark (``_known_mark``) at the best of the sweep's lattices (zero shift, the
        fingerprint's orientation; on small frames the rule's lattice turned about the centre too), times 2
        x their number. A uniform resize keeps the frame's
        centre, where the tile is anchored, but moves its cells off the frame-size rule wherever that rule
        sits on its 2 px floor (a clip with a short side under 192 px before or after the resize): the
        scale is then unknown, the rest is not. The lattices come from the frame size alone, so under
        no mark each t is still a weighted Rademacher sum. Sync layer only: the bound layer's test at
        ~180 geometries would cost more than the whole search."""
        _, W, an, acc = known
        sweep = self._sweep(acc, an) if self.params.sweep_step > 0 else []
        if not sweep:
            return 0.0
        t = _correlations(np.stack([an["tiles"][gi] for gi in sweep]), W)
        return min(0.0, rademacher_log10_pvalue(float(t.max())) + math.log10(2.0 * len(sweep)))

    def _sweep(self, acc: _Acc, an: dict) -> list[int]:
        """Indices (in an["geoms"]) of the fixed sweep: the scales, folded separably (cheap), then on small
        frames the rotated rule lattices (``rotation_sweep``), folded in full."""
        if "sweep" in an:
            return an["sweep"]
        p = self.params
        n = p.tile
        T0 = float(an["geoms"][0][0, 0])
        k0 = math.floor(math.log(p.sweep_lo) / math.log1p(p.sweep_step))
        k1 = math.ceil(math.log(p.sweep_hi) / math.log1p(p.sweep_step))
        out = []
        h, w = acc.R.shape
        scales = [T for T in (T0 * (1.0 + p.sweep_step) ** k for k in range(k0, k1 + 1))
                  if n * 0.9 <= T <= 1.5 * max(h, w)]

        def small(T: float) -> bool:  # cells under ~1.4 working px: the step-1 residual
            return bool(acc.frames1) and T / n < 1.4

        def fold_scale(T: float) -> tuple:
            Ft = np.asarray((_splat_1d(w, T, n) @ np.asarray(_splat_1d(h, T, n) @ (acc.R1 if small(T) else acc.R)).T).T)
            return np.array([[T, 0.0], [0.0, T]]), small(T), Ft, _orientation_spectra(Ft)

        def fold_rotated(B: np.ndarray) -> tuple:
            Ft = fold(acc.R1 if small(T0) else acc.R, B, n)
            return B, small(T0), Ft, _orientation_spectra(Ft)

        folded = map_ordered(fold_scale, scales) + map_ordered(fold_rotated, rotation_sweep(p, (h, w), T0))
        for B, sm, Ft, spec in folded:
            gi = len(an["geoms"])
            an["geoms"].append(B)
            an["small"].append(sm)
            an["tiles"].append(Ft)
            an["spectra"][gi] = spec
            out.append(gi)
        an["sweep"] = out
        return out

    def result(self) -> WatermarkResult:
        p = self.params
        name = self.method.name
        if self.frames == 0:
            return WatermarkResult(name, False, 1.0, 0.0, None, None, 0, None, [])
        shape, acc = self._main_acc()
        an = self._analysis(shape, acc)
        n = p.tile
        L = len(self.layouts)
        # Weighted Bonferroni over three families of hypotheses (weights sum to 1):
        #  1/2  the "no geometric edit" hypothesis (frame-size rule, identity
        #       orientation, zero tile shift), per key;
        #  1/4  the self-synchronised lattices x 8 orientations x N^2 shifts;
        #  1/4  a fixed sweep of square, axis-aligned lattices (scales
        #       sweep_lo..sweep_hi of the frame-size rule; on small frames also the
        #       rule's lattice turned by up to rot_sweep_deg) x 8 x N^2, scored only
        #       when the first two do not detect (lazily: the decision is the
        #       same as scoring it always; the reported p is then conservative).
        # Only the lattices here, even when another version sharing this analysis already appended
        # the sweep: each version's p-value must not depend on which other versions ran before it.
        n_lat = an["lattices"]
        n1 = n_lat * 8 * n * n * L
        best = self._best_over(an, range(n_lat), math.log10(4.0 * n1), math.log10(2.0 * L))
        if best[0] >= math.log10(P_VALUE_THRESHOLD) and p.sweep_step > 0:
            sweep = self._sweep(acc, an)
            n2 = len(sweep) * 8 * n * n * L
            b2 = self._best_over(an, sweep, math.log10(4.0 * n2), None)
            if b2[0] < best[0]:
                best = b2
        geoms, small = an["geoms"], an["small"]
        n_hyp = (len(geoms)) * 8 * n * n * L
        lp, gi, di, k, li, tmax = best
        lp = min(0.0, lp)
        detected = lp < math.log10(P_VALUE_THRESHOLD)
        lay = self.layouts[li]
        sy, sx = divmod(k, n)
        Fa = np.roll(dihedral(an["tiles"][gi])[di], (-sy, -sx), axis=(0, 1))
        pil = Fa[lay.pilot_mask]
        bit_acc = float(np.mean(np.sign(pil) == lay.chips[lay.pilot_mask]))
        self.debug["aligned"] = (lay.key_id, Fa)  # the folded tile at the chosen geometry (``payload_t``)
        payload = None
        if detected:
            soft = payload_soft(lay, Fa, p.coded_bits)
            info = decode_checked(p.code, p.crc, soft)
            if info is not None:
                payload = bits_to_int(info[: p.payload_bits])
            self.debug["soft"] = soft
        # per-frame scores at the chosen alignment (diagnostics; the clip p-value does not use them)
        per = an["per_frame"].get(gi)
        if per is None:
            frames = acc.frames1 if small[gi] else acc.frames
            B = geoms[gi]
            if B[0, 1] == 0.0 and B[1, 0] == 0.0 and B[0, 0] == B[1, 1]:  # axis-aligned square: separable
                Ay, Ax = _splat_1d(acc.R.shape[0], B[0, 0], n), _splat_1d(acc.R.shape[1], B[0, 0], n)
                per = np.stack([np.asarray(Ax @ np.asarray(Ay @ f.astype(np.float64)).T).T for f in frames])
            else:
                # frame by frame: a (pixels x frames) float64 stack is ~64 MB at 69 frames of 455x256
                M = fold_matrix(acc.R.shape, B, n)
                per = np.stack([M @ f.ravel().astype(np.float64) for f in frames]).reshape(-1, n, n)
            an["per_frame"][gi] = per
        Fs = per
        r, flip = divmod(di, 2)
        Fs = np.rot90(Fs, r, axes=(1, 2))
        if flip:
            Fs = Fs[:, :, ::-1]
        Fs = np.roll(Fs, (-sy, -sx), axis=(1, 2))[:, lay.pilot_mask]
        s2 = np.einsum("ij,ij->i", Fs, Fs)
        sc = Fs @ lay.chips[lay.pilot_mask]
        scores = [float(a / math.sqrt(b)) if b > 0 else 0.0 for a, b in zip(sc, s2)]
        self.debug.update(geoms=geoms, best=best, tmax=tmax, n_hyp=n_hyp)
        return WatermarkResult(
            method=name,
            detected=bool(detected),
            p_value=float(10.0**lp),
            log10_p_value=float(lp),
            payload_id=payload,
            bit_accuracy=bit_acc,
            frames_analyzed=self.frames,
            key_id=lay.key_id if detected else None,
            per_frame_scores=scores,
        )


@dataclass(frozen=True)
class TiledMethod(WatermarkMethod):
    params: TiledParams = field(default_factory=TiledParams)
    embedder_cls: ClassVar[type] = TiledEmbedder
    extractor_cls: ClassVar[type] = TiledExtractor


def make_v2() -> TiledMethod:
    return TiledMethod(name="kinoseal-wm-v2", version=2, params=TiledParams())
