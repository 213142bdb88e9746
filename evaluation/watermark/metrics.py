"""Image quality of a marked clip against its original: PSNR, SSIM, and where a flat region is."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import ndimage

from kinoseal.evaluation.watermark.attacks import Planes


def spread_indices(n: int, k: int | None) -> list[int]:
    """Up to k indices spread evenly over range(n)."""
    if k is None or k >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, max(1, k)).round().astype(int).tolist()))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on one plane, Gaussian window sigma 1.5 (Wang et al. 2004 constants)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda x: ndimage.gaussian_filter(x, 1.5, truncate=3.5)  # noqa: E731
    ma, mb = f(a), f(b)
    va, vb, cov = f(a * a) - ma * ma, f(b * b) - mb * mb, f(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    m = 5 if min(s.shape) > 20 else 0
    return float(s[m : s.shape[0] - m, m : s.shape[1] - m].mean())


def imperceptibility(orig: Sequence[Planes], marked: Sequence[Planes], ssim_frames: int = 16) -> dict[str, float]:
    from kinoseal.mediaio.colour import i420_to_rgb

    ps = [psnr(o[0], m[0]) for o, m in zip(orig, marked)]
    idx = spread_indices(len(orig), ssim_frames)
    ss = [ssim(orig[i][0], marked[i][0]) for i in idx]
    prgb = [psnr(i420_to_rgb(*orig[i]), i420_to_rgb(*marked[i])) for i in idx]
    puv = [psnr(np.stack([orig[i][1], orig[i][2]]), np.stack([marked[i][1], marked[i][2]])) for i in idx]
    fin = lambda xs: [x for x in xs if math.isfinite(x)] or [99.0]  # noqa: E731
    return {
        "psnr_y": float(np.mean(fin(ps))),
        "psnr_y_min": float(np.min(fin(ps))),
        "ssim_y": float(np.mean(ss)),
        "psnr_rgb": float(np.mean(fin(prgb))),
        "psnr_uv": float(np.mean(fin(puv))),
        "max_abs_y": int(max(int(np.max(np.abs(o[0].astype(np.int16) - m[0]))) for o, m in zip(orig, marked))),
    }


def flat_region(y: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left of the flattest size x size block (lowest std, not clipped to black/white)."""
    h, w = y.shape
    size = min(size, h, w)
    best = None
    step = max(4, size // 4)
    yf = y.astype(np.float32)
    for t in range(0, h - size + 1, step):
        for l in range(0, w - size + 1, step):
            blk = yf[t : t + size, l : l + size]
            mu = float(blk.mean())
            if not 40.0 <= mu <= 215.0:
                continue
            sd = float(blk.std())
            if best is None or sd < best[0]:
                best = (sd, t, l)
    if best is None:
        return (h - size) // 2, (w - size) // 2
    return best[1], best[2]
