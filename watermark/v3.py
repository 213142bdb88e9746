"""Content-bound tiled luma watermark ("kinoseal-wm-v3").

Why: v1/v2 put the same keyed pattern in every frame of every clip. Anyone
holding one labeled clip can estimate it (average the high-pass residual over
frames), paint it onto a real recording and make that read ``ai_generated``
(issue 21: p = 1e-22). Averaging many labeled clips (collusion) works too.

v3 is v2 plus a second, **content-bound** layer, sharing v2's tile geometry:

* **Sync layer** (power share ``1 - bound_share``): exactly v2's machinery
  under its own key domain: a keyed N x N tile of +-1 cells (pilots and the
  64-bit payload), repeated over the frame. It finds the geometry (scale,
  rotation, flips, crop offset; ``watermark.v2``) and carries the payload.
  It is content-independent, hence copyable: on its own it proves only that
  *a* kinoseal pattern is present, not that it was put on *this* content.
* **Bound layer** (power share ``bound_share``): every cell *instance* (one
  cell of one tile copy) carries ``chip_b(tile cell) * s(instance)``, where
  ``s = sign(<k_cell, x>)`` and ``x`` is the host frame's coarse luma sampled
  on a 5 x 5 grid of points 2 cells apart around the instance (Gaussian
  low-pass, sigma 1 cell, so the mark itself and compression barely move it),
  with its best-fit plane removed (no common brightness or gradient
  component between unrelated scenes). ``k_cell`` is a keyed +-1 vector per
  tile cell; ``chip_b`` are keyed fair coins independent of everything else.
  The sign changes with the content, frame by frame.

Test. The extractor runs v2's search on the sync layer (its p-value is v2's,
Bonferroni over every hypothesis) and takes the best geometry. At that one
geometry it recomputes ``x`` and ``f = <k, x>`` from the *received* frames,
weights each instance by ``sign(f) * clip(|f| / dead - 1, 0, 1)`` (cells whose
coarse contrast is under ``dead`` grey levels, flat areas, do not count), and folds residual x weight onto
the tile: ``F_b``. ``t_b = sum chip_b F_b / ||F_b||``.

* Unmarked content: ``chip_b`` are fair coins independent of ``F_b`` (the
  geometry was chosen from the sync chips, the weights from the content and
  the projection key), so ``t_b`` is a weighted Rademacher sum and
  ``watermark.stats`` bounds its tail for any content: one hypothesis, no
  Bonferroni factor.
* Copied or averaged marks: a pattern lifted from clip A carries
  ``chip_b * s_A``; on host H the test multiplies it by ``s_H``. Per tile cell
  the projection vectors are independent, so the products ``s_A s_H`` are
  independent signs whose mean is ``(2/pi) asin(cos angle(x_A, x_H))``, about 0
  for unrelated (detrended) scenes: the bound statistic of a forgery behaves
  like that of unmarked content at any gain (measured: tests/test_watermark_v3.py,
  bench/results/wm_forgery.md). Averaging N clips averages ``chip_b * s_j``
  over independent ``s_j``: the bound layer tends to 0 while the sync layer
  adds up, which again reads "present, not bound".

Result. ``detected`` is true when either layer is significant; ``bound``
says which: True (the bound layer is significant: the mark belongs to this
content), False (only the sync layer is: a kinoseal pattern is present but
not bound to this content, e.g. copied). ``binding_log10_p`` is the bound
test's own p-value.

Quadratic shading. Unrelated scenes share it too (vignetting, centre framing), and the plane
removal above leaves it in: a collusion of 5 clips bound on one host at log10 p = -5.84. The test
therefore removes the quadric as well (``test_detrend_order``, extractor only, so marks already
made keep verifying, with less margin under attacks), and ``kinoseal-wm-v4`` (``watermark.v4``)
removes it in the embedder too.

Known limits (README, "Security"): the keyed feature is a linear halfspace
per tile cell (d = 25). A forger holding labeled clips at one geometry fits
``chip_b * k_cell`` by regression of the estimated mark on the features and
then paints correct bound signs on any host: measured, 10 clips at 320x240
made 5 of 6 unrelated real clips bind (``bench.wm_learned_forgery``). So the
verifier no longer takes a v3/v4 binding as proof (``Settings.proof_bindings``),
and ``kinoseal-wm-v5`` (``watermark.v5``) binds with a product of two halfspaces.
A host whose coarse content matches the source (a re-shoot of the same scene,
the same clip re-encoded) keeps the binding by design. Flat content gives few
reliable cells.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
from PIL import Image
from scipy import ndimage, sparse

from kinoseal.watermark.keys import WatermarkKey
from kinoseal.watermark.parallel import map_ordered
from kinoseal.watermark.rectify import FILL_MIN_SHARE, edge_regions, picture_homography, rectify, value_range
from kinoseal.watermark.result import P_VALUE_THRESHOLD, WatermarkResult
from kinoseal.watermark.segments import marked_runs
from kinoseal.watermark.stats import rademacher_log10_pvalue
from kinoseal.watermark.core import LayoutCache, check_luma, key_list, keyed_signs
from kinoseal.watermark.v2 import TiledEmbedder, TiledExtractor, TiledMethod, TiledParams, dihedral

__all__ = ["BoundParams", "BoundLayout", "BoundEmbedder", "BoundExtractor", "BoundMethod", "make_v3"]


@dataclass(frozen=True)
class BoundParams(TiledParams):
    """v2's fields (sync layer) plus the content-bound layer's."""

    domain: bytes = b"kinoseal-wm-v3"
    bound_share: float = 0.5  # share of the pattern power in the bound layer
    feat_sigma: float = 4.0  # low-pass sigma, in cells
    feat_step: float = 4.0  # spacing of the feature samples, in cells
    feat_radius: int = 2  # samples at -r..r steps on each axis: (2r+1)^2 of them
    # test weight per instance: 0 while |f| < dead (grey levels of coarse contrast along the unit
    # projection), then a ramp to +-1 at 2 x dead. Absolute, not relative to the frame: on a flat
    # host the only coarse contrast may be what a pasted estimate carries over from its source clip
    # (measured: a copy onto mid-grey bound at log10 p = -24 with a relative scale). 0.5: the issue's
    # estimate painted on mid-grey or on the flat kino-tiny clip stays unbound up to gain 8 (log10 p
    # -2.3; 0.25 bound at -18), while the flat generator output keeps binding (kino-tiny at CRF 18:
    # log10 p -30; 1.5: most cells of such clips fall in the dead zone).
    dead: float = 0.5
    bound_frames: int = 48  # at most this many sampled frames enter the bound test
    detrend_order: int = 1  # polynomial shading removed from the feature samples (1: plane, 2: quadric)
    # The test's own detrend (extractor only: marks already made keep verifying). Quadratic shading
    # (vignetting, centre-weighted framing) is common to unrelated scenes, so with the embedder's
    # plane removal alone a copied or averaged mark kept part of its binding on some hosts.
    test_detrend_order: int = 2
    # The bound value is chip_b * the product of this many keyed halfspace signs. One (v3, v4): the
    # sign is a linear threshold of public features, and a forger holding ~10 marked clips learns it
    # by regression (bench.wm_learned_forgery). Two (v5): the product is an even function of x, so
    # it has no linear part for such a regression to find.
    halfspaces: int = 1
    # The test weighs each instance by its weight less the mean weight of its tile cell (over the
    # cell's instances and the tested frames), so that a pattern constant on a tile cell adds nothing.
    # Why: a product of signs is even in x, so its mean over a cell's instances follows the host's
    # second-order structure (edges and their orientation), which unrelated scenes share: at 320x240
    # the per-cell means of two unrelated frames correlate at 0.50. Uncentred, a copy, a collusion or a
    # forger's learned pilots carry that mean to any host (measured: a copy bound at 10^-5.4, and a
    # forger at chance on the signs was accepted on 5 of 6 hosts at gain 4). A single halfspace is odd
    # in x: its mean follows the content's polarity, which unrelated scenes do not share.
    centre: bool = False
    # Where the second halfspace reads its features: its sample grid is displaced by this many cells
    # (x, y) from the instance. Apart, the two signs depend on different content, so their product
    # does not follow the local second-order structure that unrelated scenes share.
    pair_offset: tuple[float, float] = (0.0, 0.0)
    # Embedder only (the test does not change, so marks made before and after verify alike): where an
    # instance's smallest |f| is under ``hold``, the frame takes the previous frame's bound value
    # instead of its own. The test gives such an instance no weight when ``hold`` <= ``dead``, so its
    # value is free; choosing it free of the content stops it flickering as the scene moves (v5 flipped
    # 16% of the bound values of a 256 px moving-object clip from frame to frame). A mark that changes
    # from frame to frame is what an encoder codes worst: on that clip at H.264 CRF 28 the sync layer
    # read 10^-4.4 with flicker and 10^-25 with the hold (median of 6 keys, a one-off run; v5's payload
    # bench, ``wm_payload_v5.md``, finds that clip's mark for 30 of 30 keys at CRF 28, 6 before).
    # Not the whole dead zone: an instance just under it may clear it after an attack, and then its
    # held value votes. Half of it bound as many attacked clips as the whole (34 and 37 of 72 at 2 s
    # and 10 s, ``bench/results/wm_duration.md``, which compares 0, 0.125 and 0.25 in one run), and in
    # another run its 10 s bindings were a little stronger.
    hold: float = 0.0
    # Test only: where a geometric edit left a fill (the black outside a shrunk, turned or warped
    # picture), the test's coarse luma is read with the picture carried into the fill (``fill_index``),
    # as the embedder's low-pass read past the frame's edge. Without it the fill's edge sets the
    # features of every instance near it, and on a flat picture, whose own usable instances are few,
    # they drown the rest: kino-tiny shrunk to 0.88 about its centre bound at 10^-9 with the fill and
    # 10^-116 with it carried over (untouched: 10^-146). Content only, never the key: the test stays exact.
    fill_border: bool = False
    # Test only: where the fill outlines a picture warped onto a quadrilateral (a perspective edit, a
    # corner pin), the test also runs on the frames warped back through the homography that outline
    # gives (``watermark.rectify``), each of the two tests at half the budget. The sync layer's search
    # tries affine lattices only; under such a map the tile's period changes across the frame and it
    # finds nothing though the mark is intact (Big Buck Bunny under perspective 0.3: p ~ 1, 10^-56 and
    # 10^-60 rectified, bench/results/wm_search_oracle.md). Content only, never the key: the test stays exact.
    rectify: bool = False


@dataclass(frozen=True)
class BoundLayout:
    chips: np.ndarray  # (N*N,) +-1 bound-layer chip per tile cell
    proj: np.ndarray  # (m, N*N, d) detrended keyed projections per tile cell (the embedder's), m = halfspaces
    offsets: np.ndarray  # (d, 2) sample offsets (x, y) in cells
    displacement: np.ndarray  # (m, 2) where each halfspace's sample grid is centred, cells from the instance
    test_proj: np.ndarray  # (m, N*N, d) the extractor's: proj less its quadratic-shading part (= proj from v4)

    @classmethod
    def build(cls, key: WatermarkKey, p: BoundParams) -> "BoundLayout":
        n2 = p.n_cells
        r = p.feat_radius
        a = np.arange(-r, r + 1, dtype=np.float64)
        ox, oy = np.meshgrid(a, a)
        offsets = np.stack([ox.ravel(), oy.ravel()], axis=1) * p.feat_step
        d = offsets.shape[0]
        labels = [b"bound-proj"] + [b"bound-proj-%d" % (j + 1) for j in range(1, p.halfspaces)]
        k = np.stack([keyed_signs(key.secret, p.domain, lab, n2 * d).astype(np.float64).reshape(n2, d)
                      for lab in labels])
        # Blind the projection to three things, or a copied mark keeps a bias:
        # * the constant and linear-ramp components: unrelated scenes share brightness
        #   and gradients (sky above, ground below);
        # * the instance's own mark as the low-pass spreads it over the samples (a
        #   bilinear cell blurred by sigma ~1.08 cells): otherwise a pasted mark moves
        #   the host's feature towards chip * k_cell . spread, the same for every clip
        #   of a key, a key-dependent bias measured at log10 p = -15 on a copy.
        s2 = 2.0 * (p.feat_sigma ** 2 + 1.0 / 6.0)
        spread = np.array([math.exp(-(float(x) * float(x) + float(y) * float(y)) / s2) for x, y in offsets])
        ox, oy = offsets[:, 0] / p.feat_step, offsets[:, 1] / p.feat_step
        basis = [np.ones(d), ox, oy, spread]
        quad = [ox * ox, oy * oy, ox * oy]
        if p.detrend_order >= 2:  # centre-weighted framing and vignetting: quadratic shading is common too
            basis += quad
        k = _remove(k, _orthonormal(basis))
        k /= np.sqrt(_dot_last(k, k))[..., None]
        kt = k
        if p.test_detrend_order >= 2 > p.detrend_order:
            # Not renormalised: f keeps the embedder's scale, which the absolute dead zone assumes.
            kt = _remove(k, _orthonormal(basis + quad))
        return cls(chips=keyed_signs(key.secret, p.domain, b"bound-chips", n2).astype(np.float64),
                   proj=k.astype(np.float32), offsets=offsets, test_proj=kt.astype(np.float32),
                   displacement=np.array([(0.0, 0.0)] + [p.pair_offset] * (p.halfspaces - 1)))


# The keyed projections decide the sign of every bound value, so they must come out bit for bit the same
# on every machine: BLAS and LAPACK kernels (and numpy's vectorised exp) round differently on different
# CPUs (v4's pinned embedding changed with OPENBLAS_CORETYPE: one instance of 16,000 at |f| = 2e-5
# flipped). These use IEEE elementwise operations in a fixed order, and libm's exp.


def _dot_last(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over the last axis of ``a * b``, added in index order."""
    out = a[..., 0] * b[..., 0]
    for t in range(1, a.shape[-1]):
        out = out + a[..., t] * b[..., t]
    return out


def _orthonormal(cols: list[np.ndarray]) -> list[np.ndarray]:
    """An orthonormal basis of the span of ``cols`` (modified Gram-Schmidt, full rank assumed)."""
    q: list[np.ndarray] = []
    for v in cols:
        v = np.asarray(v, dtype=np.float64)
        for u in q:
            v = v - _dot_last(v, u) * u
        q.append(v / math.sqrt(float(_dot_last(v, v))))
    return q


def _remove(k: np.ndarray, q: list[np.ndarray]) -> np.ndarray:
    """``k`` (rows on the last axis) less its components along the orthonormal ``q``."""
    for u in q:
        k = k - _dot_last(k, u)[..., None] * u
    return k


_BOUND = LayoutCache()


def bound_layout(key: WatermarkKey, p: BoundParams) -> BoundLayout:
    return _BOUND.get(key, p, BoundLayout.build)


def _lowpass(g: np.ndarray, sigma_px: float) -> np.ndarray:
    return ndimage.gaussian_filter(g.astype(np.float32), max(sigma_px, 0.5), mode="nearest", truncate=3.0)


def _coarse_lowpass(g: np.ndarray, sigma_px: float, q: int) -> np.ndarray:
    """``_lowpass`` of ``g`` on its q x q block means (array coords: x_q = (x + 0.5) / q - 0.5).

    The low-pass spans several cells (sigma 4 cells, tens of pixels): at full working resolution
    its 200-tap kernels cost 15 ms a frame, a third of an unmarked clip's watermark search. Block
    means first cost 0.2 ms; the block adds a variance of q^2/12 px^2 per axis, which the Gaussian
    gives back, so the total blur is the same.
    """
    if q <= 1:
        return _lowpass(g, sigma_px)
    h, w = g.shape
    g = g[: h // q * q, : w // q * q]
    b = g[0::q, 0::q].astype(np.float32)
    for dy in range(q):  # q*q strided adds: several times faster than a mean over two strided axes
        for dx in range(q):
            if dy or dx:
                b += g[dy::q, dx::q]
    b *= np.float32(1.0 / (q * q))
    return _lowpass(b, math.sqrt(max(sigma_px ** 2 - q * q / 12.0, 0.25)) / q)


class GridFeatures:
    """Keyed projections f of every instance of a grid, from the low-pass sampled once per instance.

    The feature samples lie on other instances' centres (offsets are whole cells, ``feat_step``),
    so one sample per instance of a padded grid and 25 shifted slices give every feature: 25x
    fewer interpolations than sampling each offset. grid: (nv, nu) instances; tile_idx: their
    tile cells; D: 2x2 integer matrix, columns = the tile's x / y step in grid steps (u, v).
    """

    def __init__(self, tile_idx: np.ndarray, D: np.ndarray, lay: BoundLayout, test: bool = False):
        self.shape = tile_idx.shape
        # (m, d, 2): (du, dv) per sample of each halfspace
        sh = np.rint((lay.offsets[None] + lay.displacement[:, None]) @ D.T).astype(np.int64)
        self.pad = int(np.abs(sh).max())
        self.shifts = sh
        proj = lay.test_proj if test else lay.proj
        # (m, d, nv, nu): each (halfspace, sample) plane contiguous, for the per-shift products
        self.proj = np.ascontiguousarray(np.moveaxis(proj[:, tile_idx], -1, 1))

    def grid(self, u0: int, v0: int) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) integer coordinates of the padded grid whose unpadded corner is (u0, v0)."""
        P = self.pad
        nv, nu = self.shape
        return np.meshgrid(np.arange(u0 - P, u0 + nu + P), np.arange(v0 - P, v0 + nv + P))

    def _shifted(self, lp: np.ndarray, xs: np.ndarray, ys: np.ndarray, shifts: np.ndarray):
        """lp sampled once at the padded grid's centres (lp array coords xs, ys), then one (nv, nu)
        slice per shift (du, dv) in ``shifts``."""
        g = ndimage.map_coordinates(lp, [ys.ravel(), xs.ravel()], order=1, mode="nearest").reshape(xs.shape)
        P = self.pad
        nv, nu = self.shape
        return (g[P + dv:P + dv + nv, P + du:P + du + nu] for du, dv in shifts)

    def samples(self, lp: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The feature samples of every instance, all halfspaces' grids: shape (nv, nu, m * d)."""
        return np.stack(list(self._shifted(lp, xs, ys, self.shifts.reshape(-1, 2))), axis=-1)

    def __call__(self, lp: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The keyed projections f of every instance, shape (m, nv, nu)."""
        m, d = self.shifts.shape[:2]
        f = np.zeros((m, *self.shape), dtype=np.float32)
        for i, s in enumerate(self._shifted(lp, xs, ys, self.shifts.reshape(-1, 2))):
            f[i // d] += s * self.proj[i // d, i % d]
        return f


class BoundEmbedder(TiledEmbedder):
    """v3: v2's tile (sync) plus the content-bound layer; the pattern is recomputed per frame."""

    def __init__(self, method, key: WatermarkKey, payload_id: int, strength: float = 1.0):
        self._bound = bound_layout(key, method.params)
        self._tl = threading.local()
        self._geo: dict = {}
        super().__init__(method, key, payload_id, strength)

    def embed_luma(self, y: np.ndarray) -> np.ndarray:
        self._tl.y = check_luma(y)
        try:
            return super().embed_luma(y)
        finally:
            self._tl.y = None

    def _geometry(self, h: int, w: int) -> dict:
        """Per frame size (cached): instance grid, feature sampler, render matrices, sync pattern."""
        hit = self._geo.get((h, w))
        if hit is not None:
            return hit
        p = self.params
        n = p.tile
        cell = p.cell_px(h, w)
        i0, i1 = math.floor(-w / 2 / cell - 1.5), math.ceil(w / 2 / cell + 0.5)
        j0, j1 = math.floor(-h / 2 / cell - 1.5), math.ceil(h / 2 / cell + 0.5)
        ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1))
        tidx = np.mod(jj, n) * n + np.mod(ii, n)
        # the low-pass (sigma 4 cells) runs on a plane box-downscaled to ~1 px per cell: 0.5 ms at 720p
        q = max(1, int(cell))
        gf = GridFeatures(tidx, np.eye(2), self._bound)
        gu, gv = gf.grid(i0, j0)
        xy = (((gu + 0.5) * cell + w / 2.0) / q - 0.5, ((gv + 0.5) * cell + h / 2.0) / q - 0.5)

        def interp(n_px: int, first: int, n_inst: int) -> sparse.csr_matrix:
            # bilinear taps from instance centres to pixels (the embedder's rendering, unwrapped)
            u = (np.arange(n_px, dtype=np.float64) + 0.5 - n_px / 2.0) / cell - 0.5
            fl = np.floor(u)
            i = (fl - first).astype(np.int64)
            f = u - fl
            rows = np.arange(n_px)
            return sparse.csr_matrix((np.concatenate([1.0 - f, f]), (np.concatenate([rows, rows]),
                                      np.concatenate([i, i + 1]))), shape=(n_px, n_inst), dtype=np.float32)

        sync_pat, sq = TiledEmbedder._pattern(self, (h, w))  # content-free part: v2's render, cached
        hit = {"cell": cell, "q": q, "gf": gf, "xy": xy, "tidx": tidx, "chips": self._bound.chips[tidx].astype(np.float32),
               "Ay": interp(h, j0, tidx.shape[0]), "Ax": interp(w, i0, tidx.shape[1]),
               "sync": sync_pat * np.float32(math.sqrt(1.0 - p.bound_share)), "sq": sq}
        self._geo = {(h, w): hit}
        return hit

    def coarse_luma(self, y: np.ndarray) -> np.ndarray:
        """The low-pass the features are sampled from (on ~1 px per cell)."""
        h, w = y.shape
        g = self._geometry(h, w)
        q = g["q"]
        yq = np.asarray(Image.fromarray(y).resize((w // q, h // q), Image.BOX), dtype=np.float32) if q > 1 else y
        return _lowpass(yq, self.params.feat_sigma * g["cell"] / q)

    def features(self, y: np.ndarray) -> np.ndarray:
        """f = <k_j, x> of every halfspace j and instance of frame ``y``, shape (m, rows, columns)."""
        g = self._geometry(*y.shape)
        return g["gf"](self.coarse_luma(y), *g["xy"])

    def bound_signs(self, y: np.ndarray) -> np.ndarray:
        """s = the product over halfspaces of sign(<k_j, x>), every instance of frame ``y`` (rows = y)."""
        return sign_product(self.features(y))

    def bound_values(self, y: np.ndarray) -> np.ndarray:
        """The signs this frame embeds: ``bound_signs``, except that instances the test will not read
        (smallest |f| under ``params.hold``) keep the previous frame's value. So an embedder marks
        one clip's frames in order, one clip at a time per thread; a new frame size starts afresh."""
        f = self.features(y)
        s = sign_product(f)
        if self.params.hold > 0:
            shape, prev = getattr(self._tl, "held", (None, None))
            if shape == y.shape:
                s = np.where(np.abs(f).min(axis=0) < self.params.hold, prev, s)
            self._tl.held = (y.shape, s)
        return s

    def _pattern(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        y = getattr(self._tl, "y", None)
        if y is None:  # diagnostics (``pattern``): the content-free sync layer only
            return super()._pattern(shape)
        h, w = shape
        g = self._geometry(h, w)
        vals = g["chips"] * self.bound_values(y) * np.float32(math.sqrt(self.params.bound_share))
        bound = np.asarray(g["Ay"] @ np.asarray(g["Ax"] @ vals.T).T, dtype=np.float32)
        if (h | w) & 1:
            bound = np.pad(bound, ((0, h & 1), (0, w & 1)), mode="edge")
        he, we = bound.shape
        pat = bound.reshape(he // 2, 2, we)  # a fresh array: the sync layer is added in place
        np.add(g["sync"], pat, out=pat)
        # The gain uses the sync pattern's per-block energy: the bound layer has the same
        # statistics (bilinear +-1 cells) and the two are uncorrelated, so the total is the same
        # on average; computing it per frame cost 11 ms at 720p.
        return pat, g["sq"]


# Pixels of the picture next to a fill, taken as fill too: the edit's interpolation blends them with it.
FILL_MARGIN = 2


def fill_mask(planes: Sequence[np.ndarray]) -> np.ndarray | None:
    """Where the planes hold a fill that a geometric edit left (the black outside a shrunk, turned or
    warped picture): regions of one value in every plane (each pixel's 3x3 neighbourhood too) that
    touch the frame's edge and cover ``FILL_MIN_SHARE`` of it (bool, the planes' shape), or None when
    there is none. A marked picture is one value over such a region only where nothing moves and the
    mark rounds away (specks, below the size), so a fill or unmarked flat footage is taken; either way
    the mask depends on the content alone, never on the key."""
    lo, hi = value_range(planes)
    least = FILL_MIN_SHARE * lo.size
    if np.count_nonzero(lo == hi) < least:  # a fill is constant in time: too few such pixels, no fill
        return None  # (most clips: the spatial pass below costs 10 ms for 68 frames at 720p)
    flat = ndimage.maximum_filter(hi, 3) == ndimage.minimum_filter(lo, 3)
    labels, _ = ndimage.label(flat)
    # Large: on a still, flat marked picture the mark itself can round to one value over a few pixels
    # in every frame (a 256 px red-ball clip had such specks at its edge)
    edge = edge_regions(labels, least)
    # and one value throughout: still footage that a codec repeats is constant in time and in patches,
    # but not one value over a region (a static dark corner of a CRF 28 clip was taken, and its
    # features no longer matched the embedder's)
    fill = np.zeros(labels.shape, dtype=bool)
    for e in edge:
        region = labels == e
        if hi[region].max() == lo[region].min():
            fill |= region
    return fill if fill.any() else None


def fill_index(planes: Sequence[np.ndarray], fill: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The (rows, columns) index that carries the nearest picture pixel into each pixel of the planes'
    fill (``fill_mask``, or ``fill`` when the caller has it), widened by ``FILL_MARGIN``
    (``plane[index]``); None when there is no fill."""
    fill = fill_mask(planes) if fill is None else fill
    if fill is None:
        return None
    fill = ndimage.binary_dilation(fill, iterations=FILL_MARGIN)
    if fill.all():
        return None
    rows, cols = ndimage.distance_transform_edt(fill, return_distances=False, return_indices=True)
    return rows, cols


def bound_weights(f: np.ndarray, dead: float) -> np.ndarray:
    """The bound test's signed weight of each instance: over the halfspaces (axis 0), the product of each
    sign weighted by how far it is from flipping (0 within ``dead`` of zero, 1 from twice that)."""
    return (np.sign(f) * np.clip((np.abs(f) - dead) / dead, 0.0, 1.0)).prod(axis=0)


def sign_product(f: np.ndarray) -> np.ndarray:
    """The product over halfspaces (axis 0) of sign(f), +-1 as float32 (0 counts as +1)."""
    return np.where(f >= 0, np.float32(1.0), np.float32(-1.0)).prod(axis=0)


def _tile_map(n: int, di: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(tile cell of each folded cell, 2x2 matrix: columns = tile x / y steps in folded-cell steps)."""
    sy, sx = divmod(shift, n)
    ia = np.roll(dihedral(np.arange(n * n).reshape(n, n))[di], (-sy, -sx), axis=(0, 1))
    tile_of = np.empty(n * n, dtype=np.int64)
    tile_of[ia.ravel()] = np.arange(n * n)

    def delta(a: int, b: int) -> np.ndarray:
        va, ua = divmod(int(a), n)
        vb, ub = divmod(int(b), n)
        return np.array([(ub - ua + 1) % n - 1, (vb - va + 1) % n - 1], dtype=np.float64)

    D = np.stack([delta(ia[0, 0], ia[0, 1]), delta(ia[0, 0], ia[1, 0])], axis=1)
    return tile_of, D


# The screen of the bound test when the sync layer found nothing: a third of its frames, and the
# full test only when they reach p <= 0.5. On 16 of 48 frames a mark at the full test's bar
# (10^-6.5, t = 5.5) is expected at t = 3.2, so the screen stops it with probability ~2%; on 138
# marked clips under the hard attacks it changed no verdict (README, "Verify speed"). It saves two
# thirds of v5's bound test on most unmarked clips, the largest single step of their scan.
SCREEN_SYNC_LOG10_P = -2.0
SCREEN_FRAMES_DIV = 3
SCREEN_STOP_LOG10_P = math.log10(0.5)


class BoundExtractor(TiledExtractor):
    """v2's extractor on the sync layer, then the bound test at the geometry it found."""

    def __init__(self, method, keys):
        keys = key_list(keys)
        super().__init__(method, keys)
        self.bound_layouts = [bound_layout(k, self.params) for k in keys]
        self._shared.keep_planes = True  # the bound test re-reads the coarse luma of each frame
        self._bound_cache: dict[tuple, tuple] = {}
        # True: run the bound test only when the sync layer found the mark. A caller for whom this
        # version's binding is not proof (the verifier, for v3/v4) sets it: there the binding changes
        # a sentence, not the verdict, and on unmarked clips (most of them) the test is wasted work.
        self.bind_only_when_present = False

    def _bound_geometry(self, li: int, gi: int, di: int, shift: int, H: int, W: int) -> tuple:
        """The sampling matrix, tile map and feature grid of one geometry, and the frames' votes at
        it: the same for the clip and for each marked stretch, so each is computed once."""
        B = self._an["geoms"][gi]
        key = (li, np.asarray(B).tobytes(), di, shift, H, W)  # the analysis may be redone as frames arrive
        cache = self._bound_cache
        if key in cache:
            return cache[key]
        p = self.params
        n = p.tile
        inv = np.linalg.inv(B) * n
        ys = np.arange(H, dtype=np.float64) + 0.5 - H / 2.0
        xs = np.arange(W, dtype=np.float64) + 0.5 - W / 2.0
        u = inv[0, 0] * xs[None, :] + inv[0, 1] * ys[:, None] - 0.5
        v = inv[1, 0] * xs[None, :] + inv[1, 1] * ys[:, None] - 0.5
        fu, fv = np.floor(u), np.floor(v)
        au, av_ = (u - fu).ravel(), (v - fv).ravel()
        umin, vmin = int(fu.min()), int(fv.min())
        nu, nv = int(fu.max()) - umin + 2, int(fv.max()) - vmin + 2
        iu, iv = (fu.astype(np.int64) - umin).ravel(), (fv.astype(np.int64) - vmin).ravel()
        rows = np.concatenate([iv * nu + iu, iv * nu + iu + 1, (iv + 1) * nu + iu, (iv + 1) * nu + iu + 1])
        vals = np.concatenate([(1 - au) * (1 - av_), au * (1 - av_), (1 - au) * av_, au * av_])
        cols = np.tile(np.arange(H * W, dtype=np.int64), 4)
        M = sparse.csr_matrix((vals, (rows, cols)), shape=(nu * nv, H * W))
        # instances: folded-cell coords (qu, qv) -> tile cell, centre in working px
        qu, qv = np.meshgrid(np.arange(nu) + umin, np.arange(nv) + vmin)
        tile_of, D = _tile_map(n, di, shift)
        tidx = tile_of[np.mod(qv, n) * n + np.mod(qu, n)]
        lay = self.bound_layouts[li]
        gf = GridFeatures(tidx, D, lay, test=True)
        gu, gv = gf.grid(umin, vmin)
        pos = B @ np.stack([gu.ravel() + 0.5, gv.ravel() + 0.5]) / n  # (x, y) relative to the centre
        xs = (pos[0] + W / 2.0 - 0.5).reshape(gu.shape)
        ys = (pos[1] + H / 2.0 - 0.5).reshape(gu.shape)
        cell = float(math.sqrt(abs(np.linalg.det(B)))) / n
        q = max(1, int(cell))  # the low-pass runs on q x q block means, ~1 per cell
        xs, ys = (xs + 0.5) / q - 0.5, (ys + 0.5) / q - 0.5
        cache[key] = (M, tidx, gf, xs, ys, cell, q, {})  # {}: each frame's (fold, weights), filled by bound_test
        return cache[key]

    def _fill(self, shape: tuple[int, int]) -> tuple[np.ndarray | None, tuple | None]:
        """(``fill_mask``, ``fill_index``) of the kept planes of one frame shape, computed once per sample."""
        fills, planes = self._shared.fills, self._shared.planes[shape]
        if (shape, len(planes)) not in fills:
            mask = fill_mask(planes)
            fills[shape, len(planes)] = (mask, None if mask is None else fill_index(planes, mask))
        return fills[shape, len(planes)]

    def _bound_frames(self, only: set[int] | None) -> list[int]:
        """The sampled frames the bound test reads: ``bound_frames`` spread over ``only`` (indices) or
        over every sampled frame, and every I-frame among them."""
        _, acc = self._main_acc()
        pool = sorted(only) if only else list(range(acc.n))
        n = min(len(pool), self.params.bound_frames)
        picked = {pool[i] for i in np.linspace(0, len(pool) - 1, n).round().astype(int)}
        # every I-frame too: after a heavy re-encode they carry most of the mark (v2.frame_weights)
        if self.params.b_frame_weight > 0:
            picked |= {i for i in pool if acc.kinds[i] == "I"}
        return sorted(picked)

    def bound_test(self, li: int, gi: int, di: int, shift: int, only: set[int] | None = None) -> tuple[float, float]:
        """(log10 p, t) of the bound layer at one geometry (key ``li``), over the sampled frames
        ``only`` (indices) when given."""
        p = self.params
        n = p.tile
        shape, acc = self._main_acc()
        an = self._an
        small = bool(an["small"][gi])
        frames = acc.frames1 if small else acc.frames
        planes = self._shared.planes[shape]
        idx = self._bound_frames(only)
        H, W = frames[0].shape
        M, tidx, gf, xs, ys, cell, q, votes = self._bound_geometry(li, gi, di, shift, H, W)
        lay = self.bound_layouts[li]
        acc_b = np.zeros(M.shape[0])
        acc_r, acc_w = np.zeros(M.shape[0]), np.zeros(M.shape[0])  # for the centred test
        def vote(i: int) -> tuple[np.ndarray, np.ndarray]:
            # the low-pass depends on the frame and the cell size only: versions that share the
            # frame analysis (v3 and v4) and land on geometries of one scale compute it once
            lk = (shape, i, q, round(p.feat_sigma * cell, 6), p.fill_border)
            lp = self._shared.lowpassed.get(lk)
            if lp is None:
                plane = planes[i]
                fill = self._fill(shape)[1] if p.fill_border else None
                if fill is not None:
                    plane = plane[fill]
                lp = self._shared.lowpassed[lk] = _coarse_lowpass(plane, p.feat_sigma * cell, q)
            f = gf(lp, xs, ys).reshape(lay.proj.shape[0], -1)
            wgt = bound_weights(f, p.dead)
            return M @ frames[i].ravel().astype(np.float64), wgt

        # a frame's vote at this geometry is the same in the clip test and in its stretch's test
        todo = [i for i in idx if (shape, small, i) not in votes]
        for i, v in zip(todo, map_ordered(vote, todo)):
            votes[(shape, small, i)] = v
        fw = acc.weights()  # each frame's weight by its coding type (v2.frame_weights): key-independent
        for i in idx:
            r, wgt = votes[(shape, small, i)]
            if fw[i] != 1.0:
                r = r * fw[i]
            acc_b += r * wgt
            if p.centre:
                acc_r += r
                acc_w += wgt
        t_of = tidx.ravel()
        Fb = np.bincount(t_of, acc_b, minlength=n * n)
        if p.centre:  # sum of r * (w - mean w of the cell) = sum r w - mean w * sum r
            mean_w = np.bincount(t_of, acc_w, minlength=n * n) / np.maximum(np.bincount(t_of, minlength=n * n) * len(idx), 1)
            Fb -= mean_w * np.bincount(t_of, acc_r, minlength=n * n)
        norm = float(np.sqrt(np.dot(Fb, Fb)))
        t = float(np.dot(lay.chips, Fb)) / norm if norm > 0 else 0.0
        return rademacher_log10_pvalue(t), t

    def registered_test(self, key_id: str, payload_id: int, mirrored: bool = False) -> float | None:
        """v2's test of one known mark joined by the bound layer's at the same geometry: two independent
        sets of keyed coins (sync and bound chips), so (t_sync + t_bound) / sqrt(2) is again a
        unit-norm weighted Rademacher sum under no mark; or, with the other half of the budget, v2's
        sync test over the scale sweep (a resized small clip)."""
        known = self._known_mark(key_id, payload_id, mirrored)
        if known is None:
            return None
        _, t_bound = self.bound_test(known[0], 0, 1 if mirrored else 0, 0)
        at_rule = rademacher_log10_pvalue((self._rule_t(known) + t_bound) / math.sqrt(2.0)) + math.log10(2.0)
        return min(at_rule, self._registered_sweep(known))

    def _homography(self) -> np.ndarray | None:
        """The frame -> picture homography that the fill's outline gives (``rectify``), or None."""
        if not self.params.rectify or self.frames == 0:
            return None
        shape, acc = self._main_acc()
        key = ("homography", shape, acc.n)
        if key not in self._bound_cache:
            self._bound_cache[key] = picture_homography(self._shared.planes[shape])
        return self._bound_cache[key]

    def _rectified(self, H: np.ndarray) -> "BoundExtractor":
        """A fresh extractor of this method and keys fed the sampled frames warped back through ``H``."""
        shape, acc = self._main_acc()
        warped = [np.clip(np.rint(g), 0, 255).astype(np.uint8) for g in rectify(self._shared.planes[shape], H)]
        child = self._fed(shape, warped, acc.kinds)
        child.bind_only_when_present = self.bind_only_when_present
        return child

    def result(self) -> WatermarkResult:
        """The test on the frames as they came, and, where the fill outlines a warped picture
        (``BoundParams.rectify``), on the frames warped back too: then each of the two at half the budget,
        and the stronger reported (such clips are rare: the second test costs a second analysis)."""
        r = self._result()
        H = self._homography()
        if H is None:
            return r
        half = math.log10(2.0)
        r = _halved(r, half)
        chosen, rectified = r, None
        child = self._rectified(H)
        r2 = _halved(child._result(), half)
        order = lambda x: (not x.bound, x.binding_log10_p if x.binding_log10_p is not None else 0.0, x.log10_p_value)
        if order(r2) < order(r):
            self.debug.update(child.debug)
            chosen, rectified = r2, H
        for k in ("sync_log10_p", "bound_log10_p"):  # the diagnostics at the same half budget
            if self.debug.get(k) is not None:
                self.debug[k] = min(0.0, self.debug[k] + half)
        self.debug["rectified"] = rectified
        return chosen

    def _result(self) -> WatermarkResult:
        r = super().result()
        if self.frames == 0:
            return replace(r, bound=False, binding_log10_p=0.0)
        thr = math.log10(P_VALUE_THRESHOLD)
        if self.bind_only_when_present and r.log10_p_value >= thr:
            self.debug.update(bound_log10_p=None, sync_log10_p=r.log10_p_value)
            return replace(r, bound=False, binding_log10_p=None)
        lp_s, gi, di, k, li, _ = self.debug["best"]
        # A clip marked only in parts (AI shots spliced into camera footage): the bound test runs
        # on the marked stretches alone, or the unmarked frames dilute it. Which frames those are
        # comes from the sync layer's per-frame scores, which the bound chips are independent of,
        # so the test stays exact on unmarked content; it is still one test.
        runs = marked_runs(r.per_frame_scores) if len(r.per_frame_scores) == self.frames else []
        only = {i for a, b in runs for i in range(a, b + 1)}
        partial = bool(only) and len(only) < len(r.per_frame_scores)
        screened = None
        if not partial and r.log10_p_value >= SCREEN_SYNC_LOG10_P:
            # The sync layer found nothing (most clips a platform sees): a third of the frames first,
            # and the full test only if they lean towards a mark. Exact either way: a clip is bound
            # only by the full test, and the screen's own p-value is that of a test on fewer frames.
            sub = set(self._bound_frames(None)[::SCREEN_FRAMES_DIV])
            screened = self.bound_test(li, gi, di, k, sub)
        self.debug["bound_screened"] = screened is not None and screened[0] > SCREEN_STOP_LOG10_P
        if self.debug["bound_screened"]:
            lp_b, t_b = screened
        else:
            lp_b, t_b = self.bound_test(li, gi, di, k, only if partial else None)
        # Which stretches to report: the per-frame sync scores of a static scene are one draw
        # repeated (the same content against the same pattern), so a 2.5-sigma coincidence can
        # look like a marked stretch. Each stretch must also carry the bound layer (its own
        # exact test, p < 1e-3 shared over the stretches): unmarked footage does not.
        bound = lp_b < thr
        kept = runs
        if partial and bound:  # unbound, no stretch is reported: their tests would be wasted (most unmarked clips)
            lim = math.log10(1e-3 / len(runs))
            kept = [(a, b) for a, b in runs if self.bound_test(li, gi, di, k, set(range(a, b + 1)))[0] < lim]
        self.debug.update(bound_frames_only=sorted(only) if partial else None, runs=runs)
        self.debug.update(bound_t=t_b, bound_log10_p=lp_b, sync_log10_p=r.log10_p_value)
        sync = r.log10_p_value < thr
        # The presence p-value is the stronger layer's: a bound layer that clears 1e-6 here may
        # not clear the caller's multiple-testing correction (the verifier tests every version),
        # and then a sync layer at 1e-27 must still say "present" (it once reported the bound
        # layer's 1e-6.3 alone, which the correction pushed under the threshold: a strong mark missed).
        lp = min(lp_b, r.log10_p_value)
        lay_key = self.layouts[li].key_id
        return replace(r, detected=bool(bound or sync), p_value=float(10.0**lp), log10_p_value=float(lp),
                       key_id=lay_key if (bound or sync) else None, bound=bool(bound), binding_log10_p=float(lp_b),
                       marked_runs=kept if bound else [])


def _halved(r: WatermarkResult, penalty: float) -> WatermarkResult:
    """``r`` as one of two tests sharing the budget: every log10 p plus ``penalty`` (log10 2), and the
    decisions taken again at the threshold."""
    thr = math.log10(P_VALUE_THRESHOLD)
    lp = min(0.0, r.log10_p_value + penalty)
    lp_b = None if r.binding_log10_p is None else min(0.0, r.binding_log10_p + penalty)
    bound = lp_b is not None and lp_b < thr
    detected = lp < thr
    return replace(r, detected=detected, p_value=float(10.0 ** lp), log10_p_value=lp, binding_log10_p=lp_b,
                   bound=bound, key_id=r.key_id if detected else None,
                   payload_id=r.payload_id if detected else None, marked_runs=r.marked_runs if bound else [])


@dataclass(frozen=True)
class BoundMethod(TiledMethod):
    params: BoundParams = field(default_factory=BoundParams)
    embedder_cls: ClassVar[type] = BoundEmbedder
    extractor_cls: ClassVar[type] = BoundExtractor


def make_v3() -> BoundMethod:
    return BoundMethod(name="kinoseal-wm-v3", version=3, params=BoundParams())
