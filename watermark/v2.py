"""Self-synchronising tiled luma watermark ("kinoseal-wm-v2").

(design notes: see the module docstring at the end of development)
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from watermark.ecc import CRC24_OPENPGP, ConvCode, Crc, bits_to_int, int_to_bits
from watermark.keys import WatermarkKey
from watermark.result import P_VALUE_THRESHOLD, WatermarkResult
from watermark.stats import bonferroni_log10, rademacher_log10_pvalue
from watermark.v1 import _check_luma, _signs, _xof, activity_mask_half

__all__ = ["TiledParams", "TiledMethod", "TiledEmbedder", "TiledExtractor", "TileLayout"]


@dataclass(frozen=True)
class TiledParams:
    """Everything that defines a tiled watermark version."""

    domain: bytes = b"kinoseal-wm-v2"
    tile: int = 32  # cells per tile side
    cells_per_short: float = 128.0  # cell size = short side / this ...
    min_cell_px: float = 2.0  # ... but never below this many pixels
    n_pilots: int = 448  # pilot cells per tile (the rest carries the payload)
    payload_bits: int = 64
    crc: Crc = CRC24_OPENPGP
    code: ConvCode = field(default_factory=ConvCode)
    # embedding (same semantics as v1)
    amplitude: float = 1.85
    min_rms: float = 0.5
    mask_window: int = 5
    mask_floor: float = 2.0
    mask_lo: float = 0.25
    mask_hi: float = 2.5
    # extraction
    work_short: int = 256  # working resolution (short side), frames are area-downscaled to it
    predictor: str = "gauss"
    hp_sigma: float = 1.0  # host predictor: gaussian blur sigma (working px)
    pred_step: int = 1
    norm_window: int = 9
    clip_sigma: float = 3.0
    sync_peaks: int = 10
    max_candidates: int = 3

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
        return max(min(h, w) / self.cells_per_short, self.min_cell_px)


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
        order = np.frombuffer(_xof(key.secret, p.domain, b"perm", 8 * n), dtype=">u8")
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
            chips=_signs(key.secret, p.domain, b"chips", n).reshape(p.tile, p.tile),
            pilot_mask=pm.reshape(p.tile, p.tile),
            bit_of_cell=bit.reshape(p.tile, p.tile),
            whitening=_signs(key.secret, p.domain, b"whiten", p.coded_bits),
        )


_LAYOUT_CACHE: "OrderedDict[tuple, TileLayout]" = OrderedDict()
_LAYOUT_LOCK = threading.Lock()


def _layout(key: WatermarkKey, p: TiledParams) -> TileLayout:
    ck = (key.secret, p)
    with _LAYOUT_LOCK:
        hit = _LAYOUT_CACHE.get(ck)
        if hit is not None:
            _LAYOUT_CACHE.move_to_end(ck)
            return hit
    lay = TileLayout.build(key, p)
    with _LAYOUT_LOCK:
        _LAYOUT_CACHE[ck] = lay
        while len(_LAYOUT_CACHE) > 64:
            _LAYOUT_CACHE.popitem(last=False)
    return lay


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


class TiledEmbedder:
    def __init__(self, method: "TiledMethod", key: WatermarkKey, payload_id: int, strength: float = 1.0):
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
        lay = _layout(key, p)
        coded = p.code.encode(p.crc.append(int_to_bits(payload_id, p.payload_bits))).astype(np.float32)
        sym = (2.0 * coded - 1.0) * lay.whitening
        vals = np.where(lay.pilot_mask, 1.0, sym[np.maximum(lay.bit_of_cell, 0)])
        self._tile = (lay.chips * vals).astype(np.float32)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def _pattern(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            hit = self._cache.get(shape)
        if hit is None:
            h, w = shape
            pat = render_tile(self._tile, h, w, self.params.cell_px(h, w))
            if (h | w) & 1:
                pat = np.pad(pat, ((0, h & 1), (0, w & 1)), mode="edge")
            pat = pat.reshape((h + 1) // 2, 2, (w + 1) // 2, 2)
            sq = np.einsum("iajb,iajb->ij", pat, pat).astype(np.float32)
            hit = (pat, sq)
            with self._lock:
                if len(self._cache) > 8:
                    self._cache.clear()
                self._cache[shape] = hit
        return hit

    def pattern(self, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        pat, _ = self._pattern((h, w))
        return pat.reshape(h + (h & 1), w + (w & 1))[:h, :w]

    def embed_luma(self, y: np.ndarray) -> np.ndarray:
        y = _check_luma(y)
        h, w = y.shape
        ye = y
        if (h | w) & 1:
            ye = np.pad(y, ((0, h & 1), (0, w & 1)), mode="edge")
        p = self.params
        pat, sq = self._pattern((h, w))
        mask = activity_mask_half(ye, p)
        rms = math.sqrt(float(np.vdot(mask * mask, sq)) / ye.size)
        gain = p.amplitude * self.strength / max(rms, p.min_rms)
        mask *= np.float32(gain)
        m = pat * mask[:, None, :, None]
        m = m.reshape(ye.shape)
        m += ye
        m += np.float32(0.5)
        np.clip(m, 0.0, 255.0, out=m)
        out = m.astype(np.uint8)
        if out.shape != y.shape:
            out = np.ascontiguousarray(out[:h, :w])
        return out


# ----------------------------------------------------------------------------
# Extraction


def _whiten(g: np.ndarray, p: TiledParams) -> np.ndarray:
    if p.predictor == "gauss":
        r = g - ndimage.gaussian_filter(g, p.hp_sigma, mode="reflect", truncate=3.0)
    else:
        d = p.pred_step
        k = np.zeros((2 * d + 1, 2 * d + 1), np.float32)
        if p.predictor == "quad8":
            k[0, 0] = k[0, -1] = k[-1, 0] = k[-1, -1] = -0.25
            k[0, d] = k[-1, d] = k[d, 0] = k[d, -1] = 0.5
        else:  # mean8
            k[0, 0] = k[0, -1] = k[-1, 0] = k[-1, -1] = k[0, d] = k[-1, d] = k[d, 0] = k[d, -1] = 0.125
        r = g - ndimage.correlate(g, k, mode="reflect")
    loc = np.sqrt(np.maximum(ndimage.uniform_filter(r * r, p.norm_window, mode="reflect"), 0.0))
    floor = 0.1 * float(np.sqrt(np.mean(r * r))) + 1e-3
    r /= np.maximum(loc, floor)
    np.clip(r, -p.clip_sigma, p.clip_sigma, out=r)
    return r


def _dihedral(f: np.ndarray) -> list[np.ndarray]:
    out = []
    for k in range(4):
        r = np.rot90(f, k)
        out.append(r)
        out.append(r[:, ::-1])
    return out


def fold(r: np.ndarray, basis: np.ndarray, n: int) -> np.ndarray:
    """Fold a residual image into an n x n tile: pixel centre -> tile coords, bilinear splat.

    basis: 2x2, columns are the tile period vectors (x, y) in pixels.
    """
    h, w = r.shape
    inv = np.linalg.inv(basis) * n
    ys = np.arange(h, dtype=np.float64) + 0.5 - h / 2.0
    xs = np.arange(w, dtype=np.float64) + 0.5 - w / 2.0
    # u (x-like tile coord), v (y-like)
    u = inv[0, 0] * xs[None, :] + inv[0, 1] * ys[:, None] - 0.5
    v = inv[1, 0] * xs[None, :] + inv[1, 1] * ys[:, None] - 0.5
    fu, fv = np.floor(u), np.floor(v)
    au, av_ = (u - fu).ravel(), (v - fv).ravel()
    iu = np.mod(fu.astype(np.int64), n).ravel()
    iv = np.mod(fv.astype(np.int64), n).ravel()
    iu1, iv1 = (iu + 1) % n, (iv + 1) % n
    rr = r.ravel().astype(np.float64)
    out = np.bincount(iv * n + iu, rr * (1 - au) * (1 - av_), minlength=n * n)
    out += np.bincount(iv * n + iu1, rr * au * (1 - av_), minlength=n * n)
    out += np.bincount(iv1 * n + iu, rr * (1 - au) * av_, minlength=n * n)
    out += np.bincount(iv1 * n + iu1, rr * au * av_, minlength=n * n)
    return out.reshape(n, n)


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
    A = np.fft.irfft2(F * np.conj(F), s=(H, W))
    ov = np.fft.irfft2(np.abs(np.fft.rfft2(np.ones_like(R), s=(H, W))) ** 2, s=(H, W))
    A = A / np.maximum(ov, 1.0) * np.sqrt(np.maximum(ov, 1.0))  # ~ z-score-ish normalisation
    A = np.fft.fftshift(A)
    cy, cx = H // 2, W // 2
    yy, xx = np.mgrid[0:H, 0:W]
    dy, dx = yy - cy, xx - cx
    rad = np.hypot(dx, dy)
    valid = (rad >= min_period) & (rad <= max_period) & ((dy > 0) | ((dy == 0) & (dx > 0)))
    valid &= (np.abs(dy) < h * 0.8) & (np.abs(dx) < w * 0.8)
    Am = np.where(valid, A, -np.inf)
    mx = ndimage.maximum_filter(Am, size=5, mode="constant", cval=-np.inf)
    pk = np.argwhere((Am == mx) & valid)
    if pk.size == 0:
        return []
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
    cands = []
    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            a, b = peaks[i][0], peaks[j][0]
            la, lb = np.linalg.norm(a), np.linalg.norm(b)
            cosang = abs(float(a @ b)) / (la * lb)
            if cosang > 0.5 or not (0.7 < la / lb < 1.43):
                continue
            cands.append((peaks[i][1] + peaks[j][1], a, b))
    cands.sort(key=lambda c: -c[0])
    out = []
    for _, a, b in cands:
        B = _reduce(np.stack([a, b], axis=1))
        if any(np.allclose(B, o, atol=1.0) for o in out):
            continue
        out.append(B)
        if len(out) >= p.max_candidates:
            break
    return out


def _reduce(B: np.ndarray) -> np.ndarray:
    a, b = B[:, 0].copy(), B[:, 1].copy()
    for _ in range(10):
        if a @ a > b @ b:
            a, b = b, a
        mu = round(float(a @ b) / float(a @ a))
        if mu == 0:
            break
        b = b - mu * a
    return np.stack([a, b], axis=1)


@dataclass
class _Acc:
    R: np.ndarray
    frames: list
    n: int = 0


class TiledExtractor:
    def __init__(self, method: "TiledMethod", keys: Sequence[WatermarkKey] | WatermarkKey):
        if isinstance(keys, WatermarkKey):
            keys = [keys]
        keys = list(keys)
        if not keys:
            raise ValueError("at least one key is required")
        self.method, self.params = method, method.params
        self.layouts = [_layout(k, self.params) for k in keys]
        self._acc: dict[tuple[int, int], _Acc] = {}
        self.frames = 0
        self.debug: dict = {}

    def _work(self, y: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = y.shape
        s = min(1.0, self.params.work_short / min(h, w))
        if s < 1.0:
            hw, ww = max(8, int(round(h * s))), max(8, int(round(w * s)))
            g = np.asarray(Image.fromarray(y).resize((ww, hw), Image.BOX), dtype=np.float32)
        else:
            g = y.astype(np.float32)
        return g, s

    def update(self, y: np.ndarray) -> None:
        y = _check_luma(y)
        g, s = self._work(y)
        r = _whiten(g, self.params)
        a = self._acc.get(y.shape)
        if a is None:
            a = self._acc[y.shape] = _Acc(np.zeros(r.shape, np.float64), [])
        a.R += r
        a.frames.append(r.astype(np.float16))
        a.n += 1
        self.frames += 1

    def _geometries(self, shape: tuple[int, int], R: np.ndarray) -> list[np.ndarray]:
        p = self.params
        h, w = shape
        s = R.shape[0] / h
        c = p.cell_px(h, w) * s
        T = c * p.tile
        geoms = [np.array([[T, 0.0], [0.0, T]])]
        minp = p.tile * 0.9
        maxp = 0.75 * max(R.shape)
        for B in lattice_candidates(R, p, minp, maxp):
            if not any(np.allclose(B, G, atol=0.5) for G in geoms):
                geoms.append(B)
        return geoms

    def result(self) -> WatermarkResult:
        p = self.params
        name = self.method.name
        if self.frames == 0:
            return WatermarkResult(name, False, 1.0, 0.0, None, None, 0, None, [])
        shape, acc = max(self._acc.items(), key=lambda kv: kv[1].n)
        geoms = self._geometries(shape, acc.R)
        n = p.tile
        best = None
        for gi, B in enumerate(geoms):
            Ft = fold(acc.R, B, n)
            for di, Fd in enumerate(_dihedral(Ft)):
                Fd = np.ascontiguousarray(Fd)
                FF = np.fft.fft2(Fd)
                FF2 = np.fft.fft2(Fd * Fd)
                for li, lay in enumerate(self.layouts):
                    W = np.where(lay.pilot_mask, lay.chips, 0.0)
                    M = lay.pilot_mask.astype(np.float64)
                    num = np.real(np.fft.ifft2(np.conj(np.fft.fft2(W)) * FF))
                    den = np.real(np.fft.ifft2(np.conj(np.fft.fft2(M)) * FF2))
                    t = num / np.sqrt(np.maximum(den, 1e-12))
                    t[~np.isfinite(t)] = 0.0
                    k = int(np.argmax(t))
                    if best is None or t.flat[k] > best[0]:
                        best = (float(t.flat[k]), gi, di, k, li)
        tmax, gi, di, k, li = best
        n_hyp = len(geoms) * 8 * n * n * len(self.layouts)
        lp = bonferroni_log10(rademacher_log10_pvalue(tmax), n_hyp)
        detected = lp < math.log10(P_VALUE_THRESHOLD)
        lay = self.layouts[li]
        sy, sx = divmod(k, n)

        def aligned(R):
            Fd = _dihedral(fold(R, geoms[gi], n))[di]
            return np.roll(Fd, (-sy, -sx), axis=(0, 1))

        Fa = aligned(acc.R)
        pil = Fa[lay.pilot_mask]
        bit_acc = float(np.mean(np.sign(pil) == lay.chips[lay.pilot_mask]))
        payload = None
        if detected:
            pm = ~lay.pilot_mask
            soft = np.bincount(lay.bit_of_cell[pm], (Fa * lay.chips)[pm], minlength=p.coded_bits)
            soft = soft * lay.whitening
            info = p.code.decode(soft)
            if p.crc.check(info):
                payload = bits_to_int(info[: p.payload_bits])
            self.debug["soft"] = soft
        scores = []
        Wp = lay.chips[lay.pilot_mask]
        for fr in acc.frames:
            f = aligned(fr.astype(np.float32))[lay.pilot_mask]
            s2 = float(f @ f)
            scores.append(float(f @ Wp) / math.sqrt(s2) if s2 > 0 else 0.0)
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
class TiledMethod:
    name: str
    version: int
    params: TiledParams = field(default_factory=TiledParams)

    @property
    def payload_bits(self) -> int:
        return self.params.payload_bits

    def embedder(self, key: WatermarkKey, payload_id: int, strength: float = 1.0) -> TiledEmbedder:
        return TiledEmbedder(self, key, payload_id, strength)

    def extractor(self, keys: Sequence[WatermarkKey] | WatermarkKey) -> TiledExtractor:
        return TiledExtractor(self, keys)


def make_v2() -> TiledMethod:
    return TiledMethod(name="kinoseal-wm-v2", version=2, params=TiledParams())
