"""A picture warped onto a quadrilateral, and warped back: the outline of its fill gives the homography.

A perspective edit (a corner pin, a tilted screen recorded with its surround filled) maps the picture's
rectangle onto a quadrilateral and fills the rest of the frame. The tiled search of ``watermark.v2`` tries
affine lattices only: under a projective map the tile's period changes across the frame, the
autocorrelation's peaks smear, and nothing is found even where the mark is intact (Big Buck Bunny under
perspective 0.2-0.3: p ~ 1 blind, 10^-64 once the attack's own inverse undid it,
``bench/results/wm_search_oracle.md``). The fill's outline is the warped rectangle's, so its four edges
give the map back: ``picture_quad`` fits them, ``homography`` solves the map from the frame's corners to
the quadrilateral's, and ``rectify`` resamples a plane through it. Everything here reads the content
alone, never a key, so a test run on the rectified frames stays exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from kinoseal.watermark.parallel import map_ordered

# Grey levels a fill may vary by in time and space and still outline the picture (``outline_fill``): a
# warp is re-encoded after it, and the codec's noise in the fill is a level or two.
OUTLINE_FILL_TOL = 4
# The quadrilateral must explain the outline: no more than this share of the picture's pixels (those
# not taken as fill) lie outside it by more than this many pixels (a codec rings along the edge over a
# block or so: 8 px and more on a flat 256 px clip at CRF 30).
OUTLINE_TOLERANCE_PX = 8.0
QUAD_MAX_OUTSIDE = 0.02
# Each edge is looked for this far either side of the fill's outline ...
EDGE_SEARCH_PX = 6.0
# ... and must be found, on one straight line (within this many pixels), along this share of the side:
# dark picture next to a dark fill leaves no step to find.
EDGE_INLIER_PX = 1.0
EDGE_MIN_SHARE = 0.3
# The smallest fill, as a share of the frame (``outline_fill``, ``v3.fill_mask``): a letterbox bar or the
# corner a 3 degree turn leaves is larger.
FILL_MIN_SHARE = 0.002
# The picture must still cover this share of the frame.
QUAD_MIN_AREA = 0.2
# A quadrilateral whose projective part is smaller than this (how much the scale changes per frame
# width, about) is a parallelogram for the search: the affine lattices already cover it.
MIN_PROJECTIVE = 0.01


def _simplify(poly: np.ndarray, k: int) -> np.ndarray:
    """The polygon reduced to ``k`` vertices by dropping, one at a time, the vertex whose triangle with
    its neighbours has the least area (Visvalingam-Whyatt)."""
    pts = list(poly)
    while len(pts) > k:
        n = len(pts)
        areas = []
        for i in range(n):
            a, b, c = pts[i - 1], pts[i], pts[(i + 1) % n]
            areas.append(abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])))
        del pts[int(np.argmin(areas))]
    return np.array(pts)


def _line(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Total least-squares line through ``points``: unit normal n and offset c with n . x = c."""
    m = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - m, full_matrices=False)
    nrm = vt[-1]
    return nrm, float(nrm @ m)


def _meet(l1: tuple[np.ndarray, float], l2: tuple[np.ndarray, float]) -> np.ndarray | None:
    A = np.stack([l1[0], l2[0]])
    if abs(np.linalg.det(A)) < 1e-6:
        return None
    return np.linalg.solve(A, np.array([l1[1], l2[1]]))


def picture_quad(fill: np.ndarray, mean: np.ndarray) -> np.ndarray | None:
    """The corners (top-left, top-right, bottom-right, bottom-left; (x, y) in array coordinates, pixel
    centres on integers) of the quadrilateral that the picture fills, where ``fill`` (bool, the frame's
    fill, ``outline_fill``) is the outside of one; None where it is not (a fill of another shape, too
    little picture left). ``mean``: the frames' mean plane, whose step from fill to picture places each
    edge.

    The fill's outline gives each edge to a few pixels only: a codec's ringing along the edge is not
    one value in time, so the fill found stops short of it. Each edge is then placed where the mean
    plane steps, across the edge, at every pixel along it, and a line is fitted to those places."""
    h, w = fill.shape
    labels, n = ndimage.label(~fill)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    pic = labels == int(np.argmax(sizes))
    if pic.sum() < QUAD_MIN_AREA * h * w:
        return None
    border = pic & ~ndimage.binary_erosion(pic, border_value=0)
    ys, xs = np.nonzero(border)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    if len(pts) < 8:
        return None
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return None
    quad0 = _simplify(pts[hull.vertices], 4)
    centre = quad0.mean(axis=0)
    grad_y, grad_x = np.gradient(ndimage.gaussian_filter(mean.astype(np.float32), 0.7))
    lines = []
    for i in range(4):
        a, b = quad0[i], quad0[(i + 1) % 4]
        d = b - a
        L = float(np.hypot(*d))
        if L < 8:
            return None
        t = d / L
        nrm = np.array([t[1], -t[0]])
        if nrm @ (centre - a) > 0:
            nrm = -nrm  # outward: into the fill
        on_border = _on_frame_border(a, b, w, h)
        if on_border is not None:  # the picture reaches the frame's border here: that is its edge
            lines.append((nrm, float(nrm @ on_border)))
            continue
        line = _edge_line(a, t, nrm, L, mean, grad_x, grad_y)
        if line is None:
            return None
        lines.append(line)
    corners = []
    for i in range(4):
        p = _meet(lines[i - 1], lines[i])
        if p is None:
            return None
        corners.append(p)
    q = np.array(corners)
    if (q[:, 0] < -0.25 * w).any() or (q[:, 0] > 1.25 * w).any() or (q[:, 1] < -0.25 * h).any() or (q[:, 1] > 1.25 * h).any():
        return None
    # the outline explained: next to no picture outside the quadrilateral (the fill inside it may be
    # larger: dark picture that does not move reads as fill)
    yy, xx = np.nonzero(pic)
    out = np.max([n_[0] * xx + n_[1] * yy - c_ for n_, c_ in lines], axis=0) > OUTLINE_TOLERANCE_PX
    if out.mean() > QUAD_MAX_OUTSIDE:
        return None
    return _order(q, w, h)


def _on_frame_border(a: np.ndarray, b: np.ndarray, w: int, h: int) -> np.ndarray | None:
    """A point of the frame's edge (array coordinates, pixel edges) where the side a-b runs along it."""
    for axis, lo, hi in ((0, 0.0, w - 1.0), (1, 0.0, h - 1.0)):
        if abs(a[axis] - lo) < 1.0 and abs(b[axis] - lo) < 1.0:
            p = a.copy()
            p[axis] = -0.5
            return p
        if abs(a[axis] - hi) < 1.0 and abs(b[axis] - hi) < 1.0:
            p = a.copy()
            p[axis] = hi + 0.5
            return p
    return None


def _edge_line(a: np.ndarray, t: np.ndarray, nrm: np.ndarray, L: float, mean: np.ndarray, gx: np.ndarray,
               gy: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The line of the step across a side of the coarse quadrilateral (from ``a`` along ``t``, outward
    normal ``nrm``): at every pixel along it the strongest gradient across it within
    ``EDGE_SEARCH_PX``, placed where ``mean`` crosses halfway across that step, then a line through
    them, refitted without those off it; None where too few places step (no straight edge)."""
    s = np.arange(0.1 * L, 0.9 * L, 1.0)
    off = np.arange(-EDGE_SEARCH_PX, EDGE_SEARCH_PX + 0.5, 0.5)
    px = a[0] + s[:, None] * t[0] + off[None] * nrm[0]
    py = a[1] + s[:, None] * t[1] + off[None] * nrm[1]
    g = (ndimage.map_coordinates(gx, [py, px], order=1, mode="nearest") * nrm[0]
         + ndimage.map_coordinates(gy, [py, px], order=1, mode="nearest") * nrm[1])
    # one polarity along the whole side (the fill is darker, or lighter, than the picture next to it):
    # edges of the picture's own with the other polarity are never taken
    sign = 1.0 if g.max(axis=1).sum() >= (-g).max(axis=1).sum() else -1.0
    mag = np.maximum(g * sign, 0.0)
    k = np.argmax(mag, axis=1)
    k = np.clip(k, 1, len(off) - 2)
    rows = np.arange(len(s))
    am, a0, ap = mag[rows, k - 1], mag[rows, k], mag[rows, k + 1]
    den = am - 2 * a0 + ap
    frac = np.where(den < 0, np.clip(0.5 * (am - ap) / np.where(den < 0, den, -1.0), -0.5, 0.5), 0.0)
    pos = off[k] + frac * (off[1] - off[0])
    # where the profile itself crosses halfway from the picture's level to the fill's, 2 px either side
    # of that peak: a slope of the picture's own next to the edge moves the gradient's peak, not this
    prof = ndimage.map_coordinates(mean, [py, px], order=1, mode="nearest")
    step = int(round(2.0 / (off[1] - off[0])))
    for r in range(len(s)):
        lo_i, hi_i = max(k[r] - step, 0), min(k[r] + step, len(off) - 1)
        seg = prof[r, lo_i:hi_i + 1] - 0.5 * (prof[r, lo_i] + prof[r, hi_i])
        cross = np.nonzero(seg[:-1] * seg[1:] <= 0)[0]
        if len(cross):
            j = cross[np.argmin(np.abs(cross + lo_i - k[r]))]
            d = seg[j] - seg[j + 1]
            pos[r] = off[lo_i + j] + (seg[j] / d if d != 0 else 0.5) * (off[1] - off[0])
    wgt = a0
    strong = wgt > 0.25 * np.median(wgt[wgt > 0]) if np.any(wgt > 0) else np.zeros(len(s), bool)
    pts = np.stack([a[0] + s * t[0] + pos * nrm[0], a[1] + s * t[1] + pos * nrm[1]], axis=1)
    # a line through them, refitted without the places off it (an edge of the picture's own), closer
    # each time; each place counts alike (a bright stretch of picture must not tilt the line)
    keep = strong
    for tol in (3.0 * EDGE_INLIER_PX, 2.0 * EDGE_INLIER_PX, EDGE_INLIER_PX, EDGE_INLIER_PX):
        if keep.sum() < max(6, EDGE_MIN_SHARE * len(s)):
            return None
        n_, c_ = _line(pts[keep])
        keep = strong & (np.abs(pts @ n_ - c_) <= tol)
    if keep.sum() < max(6, EDGE_MIN_SHARE * len(s)):
        return None
    n_, c_ = _line(pts[keep])
    if n_ @ nrm < 0:
        n_, c_ = -n_, -c_
    return n_, c_


def _order(q: np.ndarray, w: int, h: int) -> np.ndarray | None:
    """The corners as top-left, top-right, bottom-right, bottom-left: each the nearest to its frame
    corner, one each (a picture turned by less than 45 degrees)."""
    out = np.empty((4, 2))
    used = set()
    for i, f in enumerate(frame_corners(w, h)):
        j = int(np.argmin([np.inf if k in used else np.hypot(*(q[k] - f)) for k in range(4)]))
        used.add(j)
        out[i] = q[j]
    return out


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 map (h22 = 1) taking the four points ``src`` to ``dst`` ((4, 2) each, (x, y))."""
    A, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        A.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        A.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = np.linalg.solve(np.array(A, float), np.array(b, float))
    return np.append(h, 1.0).reshape(3, 3)


def frame_corners(w: int, h: int) -> np.ndarray:
    """The frame's own corners in array coordinates (pixel edges), in ``picture_quad``'s order."""
    return np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])


def projective_part(H: np.ndarray, w: int, h: int) -> float:
    """How far ``H`` (frame -> picture) is from affine: the largest change of its denominator across
    the frame (0 for an affine map, 0.2 where one side is drawn 20% smaller than the other, about)."""
    d = np.array([H[2] @ np.array([x, y, 1.0]) for x, y in frame_corners(w, h)])
    return float(d.max() / d.min() - 1.0)


def rectify(planes: Sequence[np.ndarray], H: np.ndarray) -> list[np.ndarray]:
    """Each plane (one shape) resampled through ``H`` (output pixel -> input position), bilinear, as
    float32: the picture inside the quadrilateral spread back over the whole frame. The sample positions
    are computed once for all the planes."""
    h, w = planes[0].shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    den = H[2, 0] * xx + H[2, 1] * yy + H[2, 2]
    at = [(H[1, 0] * xx + H[1, 1] * yy + H[1, 2]) / den, (H[0, 0] * xx + H[0, 1] * yy + H[0, 2]) / den]
    return map_ordered(lambda pl: ndimage.map_coordinates(pl.astype(np.float32), at, order=1, mode="nearest"), planes)


def value_range(planes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's lowest and highest value over the planes (one shape, uint8)."""
    lo, hi = planes[0].copy(), planes[0].copy()
    for pl in planes[1:]:
        np.minimum(lo, pl, out=lo)
        np.maximum(hi, pl, out=hi)
    return lo, hi


def border(plane: np.ndarray) -> np.ndarray:
    """A plane's edge pixels, the first and last rows and columns (corners twice)."""
    return np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])


def edge_regions(labels: np.ndarray, least: float) -> list[int]:
    """The labels (of ``ndimage.label``) of regions that touch the frame's edge and hold at least
    ``least`` pixels."""
    ids = np.unique(border(labels))
    sizes = np.bincount(labels.ravel())
    return [int(i) for i in ids if i > 0 and sizes[i] >= least]


def outline_fill(planes: Sequence[np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(the fill that may outline a warped picture, and the planes' mean; (None, None) without one). Pixels that stay within
    ``OUTLINE_FILL_TOL`` of the fill's value in every plane, in regions that touch the frame's edge and
    cover ``FILL_MIN_SHARE`` of it; the fill's value is the commonest of the frame's border pixels that
    do not change. Not ``v3.fill_mask``, which wants one exact value: a warp is re-encoded after it, and
    the codec leaves a level or two of noise in the fill and rings along its edge."""
    # The border first (a few thousand pixels): most clips' moving picture reaches the frame's edge, and
    # then the whole planes' range (7 ms for 73 working planes of a 720p clip) is not needed.
    blo, bhi = value_range([border(pl) for pl in planes])
    if np.count_nonzero((bhi.astype(np.int16) - blo) <= OUTLINE_FILL_TOL) < 8:
        return None, None
    lo, hi = value_range(planes)
    still = (hi.astype(np.int16) - lo) <= OUTLINE_FILL_TOL
    edge = border(lo)[border(still)]
    least = FILL_MIN_SHARE * lo.size
    if len(edge) < 8 or np.count_nonzero(still) < least:
        return None, None
    mean = np.zeros(planes[0].shape, np.float32)
    for pl in planes:
        mean += pl
    mean /= len(planes)
    v = int(np.argmax(np.bincount(edge, minlength=256)))
    near = still & (lo >= v - OUTLINE_FILL_TOL) & (hi <= v + OUTLINE_FILL_TOL)
    labels, _ = ndimage.label(near)
    keep = edge_regions(labels, least)
    if not keep:
        return None, None
    return np.isin(labels, keep), mean


def picture_homography(planes: Sequence[np.ndarray]) -> np.ndarray | None:
    """The map from the frame to the picture's quadrilateral, where the planes' fill (``outline_fill``)
    outlines one and the map is projective (``MIN_PROJECTIVE``); None otherwise (no fill, a rectangle, a
    parallelogram, another shape)."""
    return outline_homography(*outline_fill(planes))


def outline_homography(fill: np.ndarray | None, mean: np.ndarray | None) -> np.ndarray | None:
    """``picture_homography`` from an outline already found (``outline_fill``'s fill and mean plane)."""
    if fill is None:
        return None
    q = picture_quad(fill, mean)
    if q is None:
        return None
    h, w = fill.shape
    H = homography(frame_corners(w, h), q)
    if not np.all(np.isfinite(H)) or projective_part(H, w, h) < MIN_PROJECTIVE:
        return None
    return H


__all__ = ["FILL_MIN_SHARE", "MIN_PROJECTIVE", "OUTLINE_FILL_TOL", "edge_regions", "frame_corners", "homography",
           "outline_fill", "outline_homography", "picture_homography", "picture_quad", "projective_part", "rectify", "value_range"]
