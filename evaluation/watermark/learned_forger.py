"""A learned forger against content-bound marks (issue 21: "learned forgers such as WmForger").

The copy and collusion attacks (``forgery.py``) paste a fixed pattern; a content-bound mark
(v3/v4) defeats them because every cell instance carries ``chip_b(cell) * sign(<k_cell, x>)``,
a keyed halfspace of the host's coarse luma ``x`` around it. This attacker learns that halfspace.

What the attacker has: the algorithm (it is open source: the tiling rule, the feature sampling,
the render), many clips marked with one key at one resolution, not the key. What it does:

* at every cell instance of every marked frame it computes ``x`` exactly as the embedder does
  (every sample grid the version reads: one for v3/v4, the instance's and the displaced one for v5)
  (``BoundEmbedder.coarse_luma`` and the feature grid; both are key-independent, so it runs them
  under a key of its own), and estimates the value the mark put there: the frame's high-pass
  residual summed under the instance's bilinear footprint (the adjoint of the render);
* per clip and tile cell it removes the mean over the clip's instances (the content-free sync
  layer, pilots and that clip's payload) and keeps the means (averaged over clips, the pilots);
* per tile cell it fits ``w_c`` by ridge regression of the residual values on the unit-normalised
  ``x`` (for a sign of a linear form, least squares recovers its direction);
* to forge, it computes ``x`` on the host, predicts ``sign(<w_c, x>)`` for every instance, and
  renders those signs plus the learned pilots with the embedder's bilinear render.

Pure functions and one small estimator with ``fit`` / ``forge`` on luma planes (uint8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage, sparse

from kinoseal.watermark.keys import WatermarkKey
from kinoseal.watermark.v2 import host_taps, normalise, quad8
from kinoseal.watermark.v3 import BoundMethod, sign_product

__all__ = ["LearnedForger", "PairForger", "clean_label_forger", "true_bound_values"]

ATTACKER_KEY = WatermarkKey(b"the attacker's own key".ljust(32, b"."))


@dataclass
class LearnedForger:
    method: BoundMethod
    ridge: float = 1.0  # added to each cell's normal matrix (unit-norm features: a few samples' worth)
    hp_sigma: float = 0.6  # high-pass: frame minus a Gaussian blur of this many cells
    # 1: regress on x (learns a halfspace). 2: on x's top ``components`` principal components and all
    # their pairwise products (learns a quadratic form: a product of two halfspaces is one).
    degree: int = 1
    components: int = 12
    # degree 2: principal components of each sample grid apart (v5 reads two: the products of the
    # instance's and the displaced grid's components are the bilinear terms its binding is made of)
    per_grid: bool = False
    basis_: np.ndarray | None = field(default=None, init=False)  # (d, components) for degree 2
    w_: np.ndarray | None = field(default=None, init=False)  # (N*N, d) learned direction per tile cell
    pilots_: np.ndarray | None = field(default=None, init=False)  # (N*N,) learned content-free value per tile cell
    n_instances_: int = field(default=0, init=False)
    _emb: object = field(default=None, init=False, repr=False)

    def _geometry(self, h: int, w: int) -> tuple:
        # one embedder under the attacker's key: it caches the geometry of each frame size
        if self._emb is None:
            self._emb = self.method.embedder(ATTACKER_KEY, 0)
        return self._emb, self._emb._geometry(h, w)

    def instances(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit-normalised features (n, d), estimated mark value (n,), tile cell (n,)) of a frame."""
        emb, g = self._geometry(*y.shape)
        S = g["gf"].samples(emb.coarse_luma(y), *g["xy"])  # (nv, nu, every grid's samples)
        X = S.reshape(-1, S.shape[-1]).astype(np.float64)
        X -= X.mean(axis=1, keepdims=True)  # the embedder's projections ignore the constant too
        X /= np.linalg.norm(X, axis=1, keepdims=True) + 1e-9
        return X, self._mark_estimate(y, g), g["tidx"].ravel()

    def _residual(self, yf: np.ndarray, g: dict) -> np.ndarray:
        """What is left of a frame once its host is taken out: here the frame minus a Gaussian blur."""
        return yf - ndimage.gaussian_filter(yf, self.hp_sigma * g["cell"])

    def _mark_estimate(self, y: np.ndarray, g: dict) -> np.ndarray:
        """The mark's estimated value at every instance of a frame (flat): the residual summed under each
        instance's bilinear footprint (the render's adjoint)."""
        hp = self._residual(y.astype(np.float32), g)
        return np.asarray(g["Ay"].T @ np.asarray(g["Ax"].T @ hp.T).T).ravel()

    def _phi(self, X: np.ndarray) -> np.ndarray:
        """The regression's inputs: x itself, or degree-2 monomials of its principal components."""
        if self.degree == 1:
            return X
        z = X @ self.basis_
        iu = np.triu_indices(z.shape[1])
        return np.concatenate([z, (z[:, :, None] * z[:, None, :])[:, iu[0], iu[1]]], axis=1)

    def fit(self, clips: Sequence[Sequence[np.ndarray]]) -> "LearnedForger":
        """``clips``: luma frames of marked clips, all of one size and one key."""
        n2 = self.method.params.n_cells
        d = None
        xtx = xte = None
        pil = np.zeros(n2)
        n = 0
        if self.degree == 2:
            X0 = np.concatenate([self.instances(y)[0] for frames in clips[:10] for y in frames[:2]])
            d_all = X0.shape[1]
            blocks = [(0, d_all)]
            if self.per_grid:
                d_grid = self._geometry(*clips[0][0].shape)[1]["gf"].shifts.shape[1]
                blocks = [(a, a + d_grid) for a in range(0, d_all, d_grid)]
            self.basis_ = np.zeros((d_all, self.components * len(blocks)))
            for b, (a, e) in enumerate(blocks):
                Xb = X0[:, a:e]
                _, _, vt = np.linalg.svd(Xb - Xb.mean(axis=0), full_matrices=False)
                self.basis_[a:e, b * self.components:(b + 1) * self.components] = vt[: self.components].T
        for frames in clips:
            data = [self.instances(y) for y in frames]
            t_all = np.concatenate([t for _, _, t in data])
            cnt = np.maximum(np.bincount(t_all, minlength=n2), 1)
            mean = np.bincount(t_all, np.concatenate([e for _, e, _ in data]), minlength=n2) / cnt
            pil += mean
            for X, e, t in data:
                for a in range(0, len(t), 2048):  # blocks: the outer products of 2048 instances at a time
                    F, tb, eb = self._phi(X[a:a + 2048]), t[a:a + 2048], (e - mean[t])[a:a + 2048]
                    if xtx is None:
                        d = F.shape[1]
                        xtx, xte = np.zeros((n2, d * d)), np.zeros((n2, d))
                    S = sparse.csr_matrix((np.ones(len(tb)), (tb, np.arange(len(tb)))), shape=(n2, len(tb)))
                    xtx += S @ (F[:, :, None] * F[:, None, :]).reshape(len(tb), -1)
                    xte += S @ (F * eb[:, None])
                n += len(t)
        A = xtx.reshape(n2, d, d) + self.ridge * np.eye(d)[None]
        self.w_ = np.linalg.solve(A, xte[:, :, None])[:, :, 0]
        self.pilots_ = pil / max(len(clips), 1)
        self.n_instances_ = n
        return self

    def signs(self, y: np.ndarray) -> np.ndarray:
        """The predicted bound value's sign, ``chip_b * s``, of every instance of a frame (flat)."""
        X, _, t = self.instances(y)
        return np.where(np.einsum("nd,nd->n", self._phi(X), self.w_[t]) >= 0, 1.0, -1.0)

    def pattern(self, y: np.ndarray) -> np.ndarray:
        """The forged mark for frame ``y`` at unit RMS: learned pilots and predicted signs, half the power each."""
        _, g = self._geometry(*y.shape)
        t = g["tidx"]
        pil = self.pilots_[t] / (np.sqrt(np.mean(self.pilots_ ** 2)) + 1e-12)
        vals = (pil.ravel() + self.signs(y)) / math.sqrt(2.0)
        pat = np.asarray(g["Ay"] @ np.asarray(g["Ax"] @ vals.reshape(t.shape).T).T)
        return (pat / (np.sqrt(np.mean(pat ** 2)) + 1e-12)).astype(np.float32)

    def forge(self, frames: Sequence[np.ndarray], rms: float) -> list[np.ndarray]:
        """Host luma frames with the forged mark at ``rms`` grey levels, rounded and clipped."""
        return [np.clip(y.astype(np.float32) + rms * self.pattern(y) + 0.5, 0, 255).astype(np.uint8) for y in frames]


def true_bound_values(embedder, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a forger tries to predict, from the real key's ``embedder``: ``chip_b * s`` of every
    instance of frame ``y`` (flat, the order of ``LearnedForger.signs``), and which instances the
    bound test counts (every sign clear of the dead zone)."""
    f = embedder.features(y)  # once for both: the signs and which of them the test counts
    live = (np.abs(f) > embedder.params.dead).all(axis=0)
    return (embedder._geometry(*y.shape)["chips"] * sign_product(f)).ravel(), live.ravel()


@dataclass
class PairForger(LearnedForger):
    """A forger built for v5's bound value ``chip * sign(<k1, x_P>) * sign(<k2, x_Q>)``: it learns the two
    halfspaces of every tile cell instead of a general quadratic form.

    The degree-2 forger regresses on products of principal components and ignores what the binding is
    made of. For features of a roughly Gaussian spread, ``E[e * x_P x_Q^T]`` (the residual's cross-moment
    with the two grids) is proportional to ``S_P k1 k2^T S_Q`` (``S``: each grid's covariance): rank one.
    This forger (1) accumulates that 25x25 moment and both grids' covariances for every tile cell, (2)
    takes the moment's leading singular pair, whitened by the covariances, as a first guess of ``k1`` and
    ``k2``, then (3) refines them by alternating least squares: with ``k2`` fixed, ``e * sign(<k2, x_Q>)``
    is a noisy ``sign(<k1, x_P>)``, whose direction a ridge regression recovers, and the other way round
    (one pass over the clips for each). 50 unknowns per cell where the quadratic forger has 144
    or more. The clips are streamed: one pass per round, so thousands of frames fit in memory as luma.
    """

    rounds: int = 6
    # How the mark's value at an instance is estimated: "highpass" (the frame minus a Gaussian blur, as
    # ``LearnedForger``) or "whitened" (kinoseal's own published host predictor, the 8-tap quadratic
    # surface 2 px away, then division by the local RMS: about 0.26 correlation with the true bound
    # values at 320x240 against 0.10, so each clip teaches several times more)
    estimate: str = "highpass"
    k1_: np.ndarray | None = field(default=None, init=False)  # (N*N, d) per tile cell, instance grid
    k2_: np.ndarray | None = field(default=None, init=False)  # (N*N, d) per tile cell, displaced grid

    def grids(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_P (n, d), x_Q (n, d), estimated mark value (n,), tile cell (n,)) of a frame; each grid's
        samples centred and unit-normalised apart (the sign of a projection ignores the scale)."""
        emb, g = self._geometry(*y.shape)
        S = g["gf"].samples(emb.coarse_luma(y), *g["xy"])
        d = g["gf"].shifts.shape[1]
        X = S.reshape(-1, S.shape[-1]).astype(np.float32)
        out = []
        for a in (0, d):
            Xg = X[:, a:a + d] - X[:, a:a + d].mean(axis=1, keepdims=True)
            Xg /= np.linalg.norm(Xg, axis=1, keepdims=True) + 1e-9
            out.append(Xg)
        return out[0], out[1], self._mark_estimate(y, g), g["tidx"].ravel()

    def _residual(self, yf: np.ndarray, g: dict) -> np.ndarray:
        if self.estimate == "whitened":
            return normalise(yf - quad8(host_taps(yf, 2)), self.method.params)
        return super()._residual(yf, g)

    @staticmethod
    def _per_cell(t: np.ndarray, F: np.ndarray, n2: int) -> np.ndarray:
        """Sum over each tile cell's instances of the rows of ``F`` (n, k) -> (n2, k)."""
        S = sparse.csr_matrix((np.ones(len(t), np.float32), (t, np.arange(len(t)))), shape=(n2, len(t)))
        return np.asarray(S @ F, dtype=np.float64)

    def _clip_data(self, frames: Sequence[np.ndarray], n2: int):
        """Every frame's grids with the clip's per-cell mean taken out of the residual estimate (the
        content-free sync layer, the pilots and that clip's payload), and that mean."""
        data = [self.grids(y) for y in frames]
        t = np.concatenate([x[3] for x in data])
        mean = np.bincount(t, np.concatenate([x[2] for x in data]), minlength=n2) / np.maximum(np.bincount(t, minlength=n2), 1)
        return [(XP, XQ, e - mean[tt].astype(np.float32), tt) for XP, XQ, e, tt in data], mean

    def fit(self, clips: Sequence[Sequence[np.ndarray]]) -> "PairForger":
        n2 = self.method.params.n_cells
        pil = np.zeros(n2)
        d = self._geometry(*clips[0][0].shape)[1]["gf"].shifts.shape[1]  # samples per grid
        M, gP, gQ = np.zeros((n2, d * d)), np.zeros((n2, d * d)), np.zeros((n2, d * d))
        n = 0
        for frames in clips:  # (1) moments and covariances
            data, mean = self._clip_data(frames, n2)
            pil += mean
            for XP, XQ, e, t in data:
                M += self._per_cell(t, ((XP * e[:, None])[:, :, None] * XQ[:, None, :]).reshape(len(t), -1), n2)
                gP += self._per_cell(t, (XP[:, :, None] * XP[:, None, :]).reshape(len(t), -1), n2)
                gQ += self._per_cell(t, (XQ[:, :, None] * XQ[:, None, :]).reshape(len(t), -1), n2)
                n += len(t)
        M, gP, gQ = M.reshape(n2, d, d), gP.reshape(n2, d, d), gQ.reshape(n2, d, d)
        ridge = self.ridge * np.eye(d)[None]
        U, _, Vt = np.linalg.svd(M)  # (2) the leading pair, whitened
        k1 = np.linalg.solve(gP + ridge, U[:, :, :1])[:, :, 0]
        k2 = np.linalg.solve(gQ + ridge, np.swapaxes(Vt[:, :1, :], 1, 2))[:, :, 0]
        for _ in range(self.rounds):  # (3) alternating least squares: k1 from k2, then k2 from the new k1
            k1 = self._half_step(clips, n2, k2, first=True, gram=gP + ridge)
            k2 = self._half_step(clips, n2, k1, first=False, gram=gQ + ridge)
        self.k1_, self.k2_ = k1, k2
        self.pilots_ = pil / max(len(clips), 1)
        self.n_instances_ = n
        return self

    def _half_step(self, clips, n2: int, other: np.ndarray, first: bool, gram: np.ndarray) -> np.ndarray:
        """One grid's directions by ridge regression of ``e * sign(<other, x_other>)`` on its samples."""
        b = np.zeros(other.shape)
        of = other.astype(np.float32)
        for frames in clips:
            data, _ = self._clip_data(frames, n2)
            for XP, XQ, e, t in data:
                X, Xo = (XP, XQ) if first else (XQ, XP)
                target = np.where(np.einsum("nd,nd->n", Xo, of[t]) >= 0, e, -e)
                b += self._per_cell(t, X * target[:, None], n2)
        return np.linalg.solve(gram, b[:, :, None])[:, :, 0]

    def signs(self, y: np.ndarray) -> np.ndarray:
        XP, XQ, _, t = self.grids(y)
        a = np.einsum("nd,nd->n", XP, self.k1_[t])
        b = np.einsum("nd,nd->n", XQ, self.k2_[t])
        return np.where(a * b >= 0, 1.0, -1.0)


def clean_label_forger(method: BoundMethod, truth, **kw) -> PairForger:
    """A ``PairForger`` that learns from the true bound values (``truth``: an embedder under the real
    key) instead of its estimates from marked frames: the learner's ceiling, since no attacker has
    these labels. How far the real forger stays under it is the price of its noisy labels."""

    class CleanLabels(PairForger):
        def grids(self, y: np.ndarray):
            xp, xq, _, t = super().grids(y)
            return xp, xq, true_bound_values(truth, y)[0].astype(np.float32), t

    return CleanLabels(method, **kw)
