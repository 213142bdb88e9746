"""Spread-spectrum luma watermark on a fixed working grid ("kinoseal-wm-v1").

Design, and why:

* **Fixed working grid.** Every frame is mapped to a G x G grid by area
  averaging (aspect ratio ignored). The keyed pattern lives on that grid and is
  bilinearly upsampled to the frame, so one key and one detector work from
  QCIF to 1080p and survive rescaling: a resized frame still maps onto the
  same grid cells.
* **Bits own disjoint keyed cell sets with keyed +-1 chips** (direct-sequence
  spread spectrum). Each bit's correlation is a sum over many cells, so host
  content averages out, and disjoint supports keep bits from interfering.
* **Same pattern in every frame.** The extractor just sums per-bit
  correlations over frames: dropped frames, frame-rate changes and reordering
  are harmless, and the evidence grows with the clip length.
* **Perceptual mask.** The residual is scaled by local activity of the host
  (mean absolute deviation from a 3x3 mean, box-smoothed, on the 2x2-averaged
  plane), so flat regions (sky, walls, gradients) get little and texture
  hides more; a per-frame gain then sets the residual RMS (~42.5 dB PSNR-Y),
  capped so that nearly flat frames are not boosted.
* **Pilots for detection.** m pilot bits with keyed values give an analytic,
  content-independent p-value (see ``watermark.stats``). The test runs over
  the pilot *cells* (each cell's sign pilot*chip is an independent keyed
  coin), not the pilot bits, so it is not capped at sqrt(m). The remaining
  cells carry the payload: 64-bit id + CRC-24, rate-1/3 K=7 convolutional
  code (LTE generators 133/171/165, terminated), keyed whitening, soft
  Viterbi. A payload is reported only when detected *and* the CRC matches.
* **Detection preprocessing.** On the grid, host content is removed by
  subtracting the 8-neighbour mean (a cheap linear predictor of the cell from
  its neighbours; the i.i.d. chip pattern is unpredictable and survives), and
  the residual is divided by its local RMS so cells with busy content (high
  host noise) do not dominate the sum.

Every number that defines the scheme is a field of ``SpreadSpectrumParams``;
the registry freezes one instance as v1. Keyed sequences are drawn from
SHAKE-256 (not numpy's RNG, whose method outputs are not version-stable), so
the layout is defined by this file alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
from scipy import ndimage, sparse

from kinoseal.watermark.ecc import CRC24_OPENPGP, ConvCode, Crc, bits_to_int, decode_checked
from kinoseal.watermark.core import (
    LayoutCache,
    MaskedPatternEmbedder,
    WatermarkMethod,
    check_luma,
    key_list,
    keyed_signs,
    xof,
)
from kinoseal.watermark.keys import WatermarkKey
from kinoseal.watermark.result import P_VALUE_THRESHOLD, WatermarkResult
from kinoseal.watermark.stats import bonferroni_log10, rademacher_log10_pvalue

__all__ = [
    "SpreadSpectrumParams",
    "SpreadSpectrumMethod",
    "LumaEmbedder",
    "LumaExtractor",
    "KeyLayout",
]


@dataclass(frozen=True)
class SpreadSpectrumParams:
    """Everything that defines a grid spread-spectrum watermark version."""

    domain: bytes = b"kinoseal-wm-v1"
    grid: int = 96
    n_pilots: int = 64
    payload_bits: int = 64
    crc: Crc = CRC24_OPENPGP
    code: ConvCode = field(default_factory=ConvCode)
    # Embedding: target RMS of the residual per frame (grey levels) at strength 1,
    # reached by a per-frame gain that is capped at amplitude / min_rms.
    amplitude: float = 1.85
    min_rms: float = 0.5
    # Activity mask on the 2x2-averaged plane: act = box(|y2 - box3(y2)|, mask_window);
    # mask = clip(act / max(mean(act), floor), lo, hi).
    mask_window: int = 5
    mask_floor: float = 2.0
    mask_lo: float = 0.25
    mask_hi: float = 2.5
    # Detection: host predictor on the grid ("quad8": 3x3 quadratic-surface
    # predictor, "mean8": 8-neighbour mean) and residual normalisation window
    # on the grid (0 = global normalisation only).
    predictor: str = "quad8"
    norm_window: int = 5
    clip_sigma: float = 4.0

    @property
    def info_bits(self) -> int:
        return self.payload_bits + self.crc.width

    @property
    def coded_bits(self) -> int:
        return self.code.coded_length(self.info_bits)

    @property
    def total_bits(self) -> int:
        return self.n_pilots + self.coded_bits

    @property
    def cells_per_bit(self) -> int:
        return (self.grid * self.grid) // self.total_bits


# ----------------------------------------------------------------------------
# Keyed layout


@dataclass(frozen=True)
class KeyLayout:
    """Per-key sequences: which cells each bit owns, chips, pilots, whitening.

    The pilot values use their own XOF label, so they are independent of the
    chips and of the layout — the property the p-value relies on.
    """

    key_id: str
    bit_cells: np.ndarray  # (total_bits, cells_per_bit) int64 flat grid indices
    chips: np.ndarray  # (total_bits, cells_per_bit) float32 +-1
    pilots: np.ndarray  # (n_pilots,) float32 +-1
    whitening: np.ndarray  # (coded_bits,) float32 +-1

    @classmethod
    def build(cls, key: WatermarkKey, p: SpreadSpectrumParams) -> "KeyLayout":
        n_cells = p.grid * p.grid
        order = np.frombuffer(xof(key.secret, p.domain, b"perm", 8 * n_cells), dtype=">u8")
        perm = np.argsort(order, kind="stable")
        cpb = p.cells_per_bit
        if cpb < 1:
            raise ValueError("grid too small for the number of bits")
        bit_cells = perm[: p.total_bits * cpb].reshape(p.total_bits, cpb).astype(np.int64)
        chip_grid = keyed_signs(key.secret, p.domain, b"chips", n_cells)
        return cls(
            key_id=key.key_id,
            bit_cells=bit_cells,
            chips=chip_grid[bit_cells],
            pilots=keyed_signs(key.secret, p.domain, b"pilots", p.n_pilots),
            whitening=keyed_signs(key.secret, p.domain, b"whiten", p.coded_bits),
        )


_LAYOUTS = LayoutCache()


def _layout(key: WatermarkKey, p: SpreadSpectrumParams) -> KeyLayout:
    return _LAYOUTS.get(key, p, KeyLayout.build)


# ----------------------------------------------------------------------------
# Resampling between frame and grid


def _area_matrix(g: int, n: int) -> np.ndarray:
    """(g, n) row-stochastic matrix averaging n pixels into g cells by overlap.

    Works in both directions (n < g just spreads each pixel over the cells it
    overlaps), so tiny, downscaled frames map onto the same grid.
    """
    edges = np.arange(g + 1, dtype=np.float64) * (n / g)
    px = np.arange(n, dtype=np.float64)
    ov = np.minimum(edges[1:, None], px[None, :] + 1.0) - np.maximum(edges[:-1, None], px[None, :])
    ov = np.clip(ov, 0.0, None)
    ov /= ov.sum(axis=1, keepdims=True)
    return ov.astype(np.float32)


def _bilinear_axis(g: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = (np.arange(n, dtype=np.float64) + 0.5) * (g / n) - 0.5
    u = np.clip(u, 0.0, g - 1.0)
    i0 = np.minimum(np.floor(u).astype(np.int64), g - 2)
    f = (u - i0).astype(np.float32)
    return i0, i0 + 1, f


def upsample_bilinear(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Grid -> frame size, elementwise (deterministic, no BLAS summation order)."""
    g = grid.shape[0]
    y0, y1, fy = _bilinear_axis(g, h)
    x0, x1, fx = _bilinear_axis(g, w)
    rows = grid[y0] * (1.0 - fy)[:, None] + grid[y1] * fy[:, None]  # (h, g)
    out = rows[:, x0] * (1.0 - fx)[None, :] + rows[:, x1] * fx[None, :]
    return out.astype(np.float32)


# ----------------------------------------------------------------------------
# Embedder


class LumaEmbedder(MaskedPatternEmbedder):
    """v1: keyed chips on the fixed G x G grid, bilinearly upsampled to the frame."""

    def _symbols(self, key: WatermarkKey, coded: np.ndarray) -> None:
        p = self.params
        lay = _layout(key, p)
        symbols = np.concatenate([lay.pilots, (2.0 * coded - 1.0) * lay.whitening])
        grid = np.zeros(p.grid * p.grid, dtype=np.float32)
        grid[lay.bit_cells] = lay.chips * symbols[:, None]
        self._grid = grid.reshape(p.grid, p.grid)

    def _render(self, h: int, w: int) -> np.ndarray:
        return upsample_bilinear(self._grid, h, w)


# ----------------------------------------------------------------------------
# Extractor


_QUAD8 = np.array([[-1.0, 2.0, -1.0], [2.0, 0.0, 2.0], [-1.0, 2.0, -1.0]], dtype=np.float32) / 4.0


def _predict(g: np.ndarray, kind: str) -> np.ndarray:
    """Predict each grid cell from its 8 neighbours (never from itself).

    The centre tap is 0 so the i.i.d. chip of the cell cannot be predicted
    and survives in the residual, while smooth host content (planes and
    saddle-like quadratics for "quad8") is removed. "quad8" measured
    1.4-1.7x the payload SNR of the plain mean on real clips.
    """
    if kind == "quad8":
        return ndimage.correlate(g, _QUAD8, mode="reflect")
    if kind == "mean8":
        return (ndimage.uniform_filter(g, 3, mode="reflect") * 9.0 - g) / 8.0
    raise ValueError(f"unknown predictor {kind!r}")


def _cell_score(signed_cells: np.ndarray) -> float:
    """t = sum(s_j R_j) / ||R|| over pilot cells, with s_j = pilot * chip.

    Why cells and not bits: every pilot cell's sign s_j = c_i * chip_j is a
    fair coin drawn from the key, independent of the content and of every
    other cell's sign (chips are i.i.d. per cell), so conditionally on the
    accumulated residuals R_j the statistic is a weighted Rademacher sum with
    n_pilots * cells_per_bit terms. Summing cells into bits first would cap t
    at sqrt(n_pilots) (~8, p ~ 1e-15) however strong the mark is; the cell
    test keeps growing with the evidence.
    """
    x = signed_cells.ravel()
    s2 = float(np.dot(x, x))
    if not (s2 > 0.0) or not math.isfinite(s2):
        return 0.0
    return float(x.sum()) / math.sqrt(s2)


@dataclass
class _KeyState:
    layout: KeyLayout
    acc: np.ndarray  # per-bit correlation sums over frames (total_bits,)
    pilot_cells: np.ndarray  # per-cell signed sums over frames for pilot cells (n_pilots, cells_per_bit)
    frame_scores: list[float]


class LumaExtractor:
    """Accumulates per-bit correlations over frames for one or more keys."""

    def __init__(self, method: "SpreadSpectrumMethod", keys: Sequence[WatermarkKey] | WatermarkKey):
        keys = key_list(keys)
        self.method = method
        self.params = method.params
        p = self.params
        self._states = [
            _KeyState(
                _layout(k, p),
                np.zeros(p.total_bits, dtype=np.float64),
                np.zeros((p.n_pilots, p.cells_per_bit), dtype=np.float64),
                [],
            )
            for k in keys
        ]
        self._mats: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.frames = 0

    def _matrices(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        mats = self._mats.get(shape)
        if mats is None:
            g = self.params.grid
            # Sparse (each cell overlaps ~n/g + 2 pixels): no BLAS threads, which
            # measured 10-25x slower than one core when the machine is busy.
            mats = (sparse.csr_matrix(_area_matrix(g, shape[0])), sparse.csr_matrix(_area_matrix(g, shape[1])))
            if len(self._mats) > 8:
                self._mats.clear()
            self._mats[shape] = mats
        return mats

    def residual(self, y: np.ndarray) -> np.ndarray:
        """Grid residual of one frame: host removed, locally normalised."""
        p = self.params
        dh, dw = self._matrices(y.shape)
        a = dh @ y.astype(np.float32)  # (grid, W)
        g = np.ascontiguousarray((dw @ np.ascontiguousarray(a.T)).T, dtype=np.float32)
        r = g - _predict(g, p.predictor)
        if p.norm_window > 0:
            loc = np.sqrt(np.maximum(ndimage.uniform_filter(r * r, p.norm_window, mode="reflect"), 0.0))
            floor = 0.1 * float(np.sqrt(np.mean(r * r))) + 1e-6
            r = r / np.maximum(loc, floor)
        s = float(np.sqrt(np.mean(r * r)))
        if s > 0:
            r = r / s
            np.clip(r, -p.clip_sigma, p.clip_sigma, out=r)
        return r

    def update(self, y: np.ndarray, kind: str | None = None) -> None:
        """Add one frame (``kind``, its coding type, is not used: v1 weighs every frame alike)."""
        y = check_luma(y)
        r = self.residual(y).ravel()
        m = self.params.n_pilots
        for st in self._states:
            lay = st.layout
            prod = r[lay.bit_cells] * lay.chips
            st.acc += prod.sum(axis=1, dtype=np.float64)
            # Pilot cells, signed by the pilot value: the Rademacher terms of the test.
            pc = prod[:m] * lay.pilots[:, None]
            st.pilot_cells += pc
            st.frame_scores.append(_cell_score(pc))
        self.frames += 1

    def result(self) -> WatermarkResult:
        p = self.params
        m = p.n_pilots
        name = self.method.name
        if self.frames == 0:
            return WatermarkResult(name, False, 1.0, 0.0, None, None, 0, None, [])
        best = None
        for st in self._states:
            lp = rademacher_log10_pvalue(_cell_score(st.pilot_cells))
            if best is None or lp < best[0]:
                best = (lp, st)
        lp, st = best
        lp = bonferroni_log10(lp, len(self._states))
        detected = lp < math.log10(P_VALUE_THRESHOLD)
        pil = st.acc[:m]
        bit_acc = float(np.mean(np.sign(pil) == st.layout.pilots))
        payload = None
        if detected:
            soft = st.acc[m:] * st.layout.whitening
            info = decode_checked(p.code, p.crc, soft)
            if info is not None:
                payload = bits_to_int(info[: p.payload_bits])
        return WatermarkResult(
            method=name,
            detected=bool(detected),
            p_value=float(10.0**lp),
            log10_p_value=float(lp),
            payload_id=payload,
            bit_accuracy=bit_acc,
            frames_analyzed=self.frames,
            key_id=st.layout.key_id if detected else None,
            per_frame_scores=list(st.frame_scores),
        )

    def payload_soft(self, key_index: int = 0) -> np.ndarray:
        """Whitened soft values of the coded bits (diagnostics / benchmarks)."""
        st = self._states[key_index]
        return st.acc[self.params.n_pilots :] * st.layout.whitening


# ----------------------------------------------------------------------------
# Method


@dataclass(frozen=True)
class SpreadSpectrumMethod(WatermarkMethod):
    params: SpreadSpectrumParams = field(default_factory=SpreadSpectrumParams)
    embedder_cls: ClassVar[type] = LumaEmbedder
    extractor_cls: ClassVar[type] = LumaExtractor
