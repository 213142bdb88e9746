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

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
from scipy import ndimage, sparse

from watermark.ecc import CRC24_OPENPGP, ConvCode, Crc, bits_to_int, int_to_bits
from watermark.keys import WatermarkKey
from watermark.result import P_VALUE_THRESHOLD, WatermarkResult
from watermark.stats import bonferroni_log10, rademacher_log10_pvalue

__all__ = [
    "SpreadSpectrumParams",
    "SpreadSpectrumMethod",
    "LumaEmbedder",
    "LumaExtractor",
    "KeyLayout",
    "MaskedPatternEmbedder",
    "WatermarkMethod",
]

MIN_SIDE = 8


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


def _xof(secret: bytes, domain: bytes, label: bytes, n_bytes: int) -> bytes:
    # Domain-separated keyed XOF. SHAKE-256 has no length-extension issue, so
    # prefix-keying is sound; the label separates independent sequences.
    h = hashlib.shake_256()
    h.update(len(domain).to_bytes(2, "big") + domain)
    h.update(len(label).to_bytes(2, "big") + label)
    h.update(secret)
    return h.digest(n_bytes)


def _signs(secret: bytes, domain: bytes, label: bytes, n: int) -> np.ndarray:
    raw = np.frombuffer(_xof(secret, domain, label, (n + 7) // 8), dtype=np.uint8)
    bits = np.unpackbits(raw)[:n].astype(np.float32)
    return 2.0 * bits - 1.0


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
        order = np.frombuffer(_xof(key.secret, p.domain, b"perm", 8 * n_cells), dtype=">u8")
        perm = np.argsort(order, kind="stable")
        cpb = p.cells_per_bit
        if cpb < 1:
            raise ValueError("grid too small for the number of bits")
        bit_cells = perm[: p.total_bits * cpb].reshape(p.total_bits, cpb).astype(np.int64)
        chip_grid = _signs(key.secret, p.domain, b"chips", n_cells)
        return cls(
            key_id=key.key_id,
            bit_cells=bit_cells,
            chips=chip_grid[bit_cells],
            pilots=_signs(key.secret, p.domain, b"pilots", p.n_pilots),
            whitening=_signs(key.secret, p.domain, b"whiten", p.coded_bits),
        )


class LayoutCache:
    """A small thread-safe LRU of per-(key, params) layouts, shared by the method versions.

    Building happens outside the lock: two threads may build the same layout
    once each, which is cheaper than serialising every build.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: "OrderedDict[tuple, object]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: WatermarkKey, params: object, build):
        ck = (key.secret, params)
        with self._lock:
            hit = self._items.get(ck)
            if hit is not None:
                self._items.move_to_end(ck)
                return hit
        made = build(key, params)
        with self._lock:
            self._items[ck] = made
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return made


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


def _check_luma(y: np.ndarray) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise TypeError("luma plane must be a numpy array")
    if y.ndim != 2:
        raise ValueError(f"luma plane must be 2-D (H, W), got shape {y.shape}")
    if y.dtype != np.uint8:
        raise ValueError(f"luma plane must be uint8, got {y.dtype}")
    if y.shape[0] < MIN_SIDE or y.shape[1] < MIN_SIDE:
        raise ValueError(f"luma plane too small: {y.shape}")
    return y


# ----------------------------------------------------------------------------
# Embedder


class MaskedPatternEmbedder:
    """Adds a keyed, activity-masked pattern for one (key, payload, strength) to Y planes.

    Subclasses say how the keyed symbols are laid out (``_symbols``) and drawn at a
    frame size (``_render``); the rest is shared by every method. The full-resolution
    pattern is built once per frame shape and cached. Per frame, the activity mask is
    computed on the 2x2-averaged plane (a quarter of the pixels; the mask is smooth
    anyway) and applied to the pattern in one fused multiply-add-clip pass
    (~3-10 ms for 720p on one core).
    """

    def __init__(self, method, key: WatermarkKey, payload_id: int, strength: float = 1.0):
        p = method.params
        if not isinstance(payload_id, (int, np.integer)) or isinstance(payload_id, bool):
            raise TypeError("payload_id must be an int")
        payload_id = int(payload_id)
        if not (0 <= payload_id < (1 << p.payload_bits)):
            raise ValueError(f"payload_id must be in [0, 2**{p.payload_bits})")
        if not (math.isfinite(strength) and strength > 0):
            raise ValueError("strength must be a positive finite number")
        self.method, self.params = method, p
        self.key_id, self.payload_id, self.strength = key.key_id, payload_id, float(strength)
        coded = p.code.encode(p.crc.append(int_to_bits(payload_id, p.payload_bits))).astype(np.float32)
        self._symbols(key, coded)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def _symbols(self, key: WatermarkKey, coded: np.ndarray) -> None:
        """Lay out the coded payload bits (0/1) for ``key``; called once by ``__init__``."""
        raise NotImplementedError

    def _render(self, h: int, w: int) -> np.ndarray:
        """Unmasked, unit-gain float32 pattern of an h x w frame."""
        raise NotImplementedError

    def _pattern(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(pattern as (H/2, 2, W) row pairs, per-2x2-block sum of squares), edge-padded to even."""
        with self._lock:
            hit = self._cache.get(shape)
        if hit is None:
            h, w = shape
            pat = self._render(h, w)
            if (h | w) & 1:
                pat = np.pad(pat, ((0, h & 1), (0, w & 1)), mode="edge")
            he, we = pat.shape
            blk = pat.reshape(he // 2, 2, we // 2, 2)
            sq = np.einsum("iajb,iajb->ij", blk, blk).astype(np.float32)
            hit = (np.ascontiguousarray(pat.reshape(he // 2, 2, we)), sq)
            with self._lock:
                if len(self._cache) > 8:
                    self._cache.clear()
                self._cache[shape] = hit
        return hit

    def pattern(self, shape: tuple[int, int]) -> np.ndarray:
        """Unmasked, unit-gain full-resolution pattern for a frame shape (diagnostics)."""
        h, w = shape
        pat, _ = self._pattern((h, w))
        return pat.reshape(h + (h & 1), w + (w & 1))[:h, :w]

    def embed_luma(self, y: np.ndarray) -> np.ndarray:
        y = _check_luma(y)
        h, w = y.shape
        ye = y
        if (h | w) & 1:  # odd sizes: replicate the edge to even, crop at the end
            ye = np.pad(y, ((0, h & 1), (0, w & 1)), mode="edge")
        p = self.params
        pat, sq = self._pattern((h, w))
        mask = activity_mask_half(ye, p)
        # Per-frame gain to a target RMS: busy and flat footage then cost the
        # same PSNR, and the cap keeps nearly flat frames from being boosted.
        rms = math.sqrt(float(np.vdot(mask * mask, sq)) / ye.size)
        gain = p.amplitude * self.strength / max(rms, p.min_rms)
        mask *= np.float32(gain)
        m = np.empty(pat.shape, dtype=np.float32)
        np.multiply(pat, np.repeat(mask, 2, axis=1)[:, None, :], out=m)
        m = m.reshape(ye.shape)
        np.add(m, ye, out=m)
        m += np.float32(0.5)  # floor(x + 0.5) after the clip: round half up, deterministic
        np.clip(m, 0.0, 255.0, out=m)
        out = m.astype(np.uint8)
        if out.shape != y.shape:
            out = np.ascontiguousarray(out[:h, :w])
        return out


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


def _half(y: np.ndarray) -> np.ndarray:
    """2x2 block mean of an even-sized plane, float32."""
    a = y[0::2].astype(np.float32)
    a += y[1::2]
    return (a[:, 0::2] + a[:, 1::2]) * np.float32(0.25)


def _box(x: np.ndarray, k: int) -> np.ndarray:
    """k x k moving average with edge replication (separable shifted sums).

    Faster than scipy.ndimage.uniform_filter for the small odd windows used
    here, and exactly deterministic (fixed summation order).
    """
    r = k // 2
    xp = np.pad(x, r, mode="edge")
    h, w = x.shape
    rows = xp[0:h].copy()
    for i in range(1, k):
        rows += xp[i : i + h]
    out = rows[:, 0:w].copy()
    for j in range(1, k):
        out += rows[:, j : j + w]
    out *= np.float32(1.0 / (k * k))
    return out


def activity_mask_half(y: np.ndarray, p: SpreadSpectrumParams) -> np.ndarray:
    """Local-activity gain on the 2x2-block grid of an even-sized plane.

    Activity = box-smoothed |y - 3x3 mean| at half resolution, divided by the
    frame's mean activity (with an absolute floor), clipped to [lo, hi]: ~1
    on average texture, low on flat areas (sky, walls, gradients) where a
    smooth pattern would show as mottling, and capped where texture is busy.
    """
    y2 = _half(y)
    dev = y2 - _box(y2, 3)
    np.abs(dev, out=dev)
    act = _box(dev, p.mask_window)
    ref = max(float(act.mean()), p.mask_floor)
    act *= np.float32(1.0 / ref)
    np.clip(act, p.mask_lo, p.mask_hi, out=act)
    return act


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


def key_list(keys: Sequence[WatermarkKey] | WatermarkKey) -> list[WatermarkKey]:
    """An extractor's keys as a non-empty list (one key may be passed bare)."""
    keys = [keys] if isinstance(keys, WatermarkKey) else list(keys)
    if not keys:
        raise ValueError("at least one key is required")
    return keys


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

    def update(self, y: np.ndarray) -> None:
        y = _check_luma(y)
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
            info = p.code.decode(soft)
            if p.crc.check(info):
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
class WatermarkMethod:
    """A versioned embedder/extractor pair; the registry freezes instances. Subclasses add
    ``params`` and name their embedder and extractor classes."""

    name: str
    version: int
    embedder_cls: ClassVar[type]
    extractor_cls: ClassVar[type]

    @property
    def payload_bits(self) -> int:
        return self.params.payload_bits  # type: ignore[attr-defined]

    def embedder(self, key: WatermarkKey, payload_id: int, strength: float = 1.0):
        return self.embedder_cls(self, key, payload_id, strength)

    def extractor(self, keys: Sequence[WatermarkKey] | WatermarkKey):
        return self.extractor_cls(self, keys)


@dataclass(frozen=True)
class SpreadSpectrumMethod(WatermarkMethod):
    params: SpreadSpectrumParams = field(default_factory=SpreadSpectrumParams)
    embedder_cls: ClassVar[type] = LumaEmbedder
    extractor_cls: ClassVar[type] = LumaExtractor
