"""What every watermark method shares: keyed sequences, the layout cache, the luma checks,
the activity-masked embedder base, the mask itself and the method base class.

Frozen like the methods: a change here changes the pattern of every version, and marks
already in the wild stop verifying (tests/test_pinned_outputs.py pins them).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from kinoseal.watermark.ecc import int_to_bits
from kinoseal.watermark.keys import WatermarkKey

__all__ = ["MIN_SIDE", "LayoutCache", "MaskedPatternEmbedder", "WatermarkMethod", "activity_mask_half", "check_luma",
           "key_list", "keyed_signs", "xof"]

MIN_SIDE = 8


def xof(secret: bytes, domain: bytes, label: bytes, n_bytes: int) -> bytes:
    # Domain-separated keyed XOF. SHAKE-256 has no length-extension issue, so
    # prefix-keying is sound; the label separates independent sequences.
    h = hashlib.shake_256()
    h.update(len(domain).to_bytes(2, "big") + domain)
    h.update(len(label).to_bytes(2, "big") + label)
    h.update(secret)
    return h.digest(n_bytes)


def keyed_signs(secret: bytes, domain: bytes, label: bytes, n: int) -> np.ndarray:
    raw = np.frombuffer(xof(secret, domain, label, (n + 7) // 8), dtype=np.uint8)
    bits = np.unpackbits(raw)[:n].astype(np.float32)
    return 2.0 * bits - 1.0


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


def check_luma(y: np.ndarray) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise TypeError("luma plane must be a numpy array")
    if y.ndim != 2:
        raise ValueError(f"luma plane must be 2-D (H, W), got shape {y.shape}")
    if y.dtype != np.uint8:
        raise ValueError(f"luma plane must be uint8, got {y.dtype}")
    if y.shape[0] < MIN_SIDE or y.shape[1] < MIN_SIDE:
        raise ValueError(f"luma plane too small: {y.shape}")
    return y


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
        self._symbols(key, coded_bits(p, payload_id))
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
        y = check_luma(y)
        h, w = y.shape
        ye = y
        if (h | w) & 1:  # odd sizes: replicate the edge to even, crop at the end
            ye = np.pad(y, ((0, h & 1), (0, w & 1)), mode="edge")
        p = self.params
        pat, sq = self._pattern((h, w))
        mask = activity_mask_half(ye, p)
        # Per-frame gain to a target RMS: busy and flat footage then cost the
        # same PSNR, and the cap keeps nearly flat frames from being boosted.
        # Not np.vdot: BLAS kernels add in a CPU-dependent order, and a gain one ulp off moves
        # pixels that sit at a rounding boundary (a pinned embedding changed with OPENBLAS_CORETYPE).
        mm = mask * mask
        mm *= sq
        rms = math.sqrt(float(mm.sum(dtype=np.float64)) / ye.size)
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


def activity_mask_half(y: np.ndarray, p) -> np.ndarray:
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


def coded_bits(p, payload_id: int) -> np.ndarray:
    """The channel bits a payload is embedded as (CRC appended, convolutionally coded), float32 0/1."""
    return p.code.encode(p.crc.append(int_to_bits(int(payload_id), p.payload_bits))).astype(np.float32)


def key_list(keys: Sequence[WatermarkKey] | WatermarkKey) -> list[WatermarkKey]:
    """An extractor's keys as a non-empty list (one key may be passed bare)."""
    keys = [keys] if isinstance(keys, WatermarkKey) else list(keys)
    if not keys:
        raise ValueError("at least one key is required")
    return keys


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
