"""Forgery and removal attacks that need nothing but marked clips (issue 21).

What an attacker without the key does (the issue's recipe):
* **estimate** the mark from marked clips: the per-frame high-pass residual
  (frame minus a Gaussian blur, sigma 1.2) averaged over frames, minus a
  sigma-8 blur of that average (the host's static low frequencies);
* **collusion**: the same over many marked clips (each resized to one size),
  averaged: host content averages out, a shared pattern adds up;
* **copy**: add ``gain x estimate`` (resized to the host) to an unrelated real
  clip, optionally re-encoded (H.264 CRF 18), so that it reads as marked;
* **removal**: subtract ``gain x estimate`` from the marked clip itself.

Pure functions on I420 frame lists (``evaluation.watermark.attacks.Planes``); only luma
is touched. Chroma passes through.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from kinoseal.evaluation.watermark.attacks import Planes, _even, _h264_options, _resize_frame, codec_roundtrip

__all__ = ["estimate_mark", "collude", "paint", "copy_attack", "removal_attack", "fit_clip"]


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    if a.shape == (h, w):
        return a
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))


def estimate_mark(frames: Sequence[Planes]) -> np.ndarray:
    """The issue's estimate of a static mark from one clip (float32, the clip's size)."""
    acc = None
    for y, _, _ in frames:
        yf = y.astype(np.float32)
        r = yf - ndimage.gaussian_filter(yf, 1.2)
        acc = r if acc is None else acc + r
    avg = acc / len(frames)
    return (avg - ndimage.gaussian_filter(avg, 8.0)).astype(np.float32)


def collude(clips: Iterable[Sequence[Planes]], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Average of the per-clip estimates, each resized to ``shape`` (default: the first clip's; given a
    ``shape``, ``clips`` may be a generator, so that only the estimates are held, not the clips)."""
    h, w = shape or clips[0][0][0].shape
    return np.mean([_resize(estimate_mark(c), h, w) for c in clips], axis=0).astype(np.float32)


def paint(frames: Sequence[Planes], est: np.ndarray, gain: float) -> list[Planes]:
    """Every frame's luma plus ``gain x est`` (resized to the frame), rounded and clipped."""
    h, w = frames[0][0].shape
    e = _resize(est, h, w) * np.float32(gain)
    return [(np.clip(y.astype(np.float32) + e + 0.5, 0, 255).astype(np.uint8), u, v) for y, u, v in frames]


def copy_attack(host: Sequence[Planes], est: np.ndarray, gain: float, fps: float,
                crf: float | None = None) -> list[Planes]:
    """The estimate painted onto an unrelated host, then H.264 at ``crf`` (None: not re-encoded)."""
    out = paint(host, est, gain)
    if crf is not None:
        out, _ = codec_roundtrip(out, fps, "libx264", _h264_options(crf))
    return list(out)


def removal_attack(marked: Sequence[Planes], est: np.ndarray, gain: float) -> list[Planes]:
    """The estimate subtracted from the marked clip it came from (or from its colluders)."""
    return paint(marked, est, -gain)


def fit_clip(frames: Sequence[Planes], w: int, h: int) -> list[Planes]:
    """Centre crop to the aspect w:h, then resize to w x h (a host for a copy at a given size)."""
    H, W = frames[0][0].shape
    a = w / h
    cw, ch = (_even(H * a), H) if W / H > a else (W, _even(W / a))
    y0, x0 = ((H - ch) // 2) & ~1, ((W - cw) // 2) & ~1
    return [_resize_frame((y[y0:y0 + ch, x0:x0 + cw], u[y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2],
                           v[y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2]), w, h) for y, u, v in frames]
