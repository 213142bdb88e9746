"""The calibrated head: a scikit-learn estimator over per-window features.

``WindowLogisticHead`` follows the estimator API (parameters in ``__init__``
only, learned state ends in ``_``, ``fit``/``predict_proba``/``decision_function``):

* input ``X``: ``[n_clips, n_windows, n_features]`` (a clip is a fixed number of windows);
* a standardiser + L2 logistic regression scores each *window*; a clip's logit is
  the mean of its window logits (robust to one odd window);
* Platt calibration (a 1-D logistic regression) maps clip logits to probabilities.
  It is fitted on *out-of-fold* clip logits (``StratifiedGroupKFold`` over the
  ``groups`` given to ``fit``, i.e. by source), so it is not fitted on scores
  the classifier has already memorised.

Its learned state is plain arrays (``to_arrays``/``from_arrays``), stored in
safetensors: no pickle.

The estimator API is implemented, not inherited (``get_params``/``set_params``, so ``sklearn.base.clone``
works): scikit-learn is imported only by ``fit``. Inference is numpy, and importing scikit-learn (with
the ``scipy.stats`` it pulls in) cost every ``kinoseal verify`` and every isolated verification
child 0.8 s of start-up.
"""

from __future__ import annotations

import numpy as np

_PARAMS = ("C", "cv", "calibration_C", "max_iter")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


class WindowLogisticHead:
    _estimator_type = "classifier"

    def __init__(self, C: float = 0.5, cv: int = 5, calibration_C: float = 10.0, max_iter: int = 2000):
        self.C = C
        self.cv = cv
        self.calibration_C = calibration_C
        self.max_iter = max_iter

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in _PARAMS}

    def set_params(self, **params) -> "WindowLogisticHead":
        unknown = set(params) - set(_PARAMS)
        if unknown:
            raise ValueError(f"invalid parameters for WindowLogisticHead: {sorted(unknown)}; valid: {list(_PARAMS)}")
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return f"WindowLogisticHead({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # ------------------------------------------------------------------ fitting

    @staticmethod
    def _check_X(X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2:
            X = X[:, None, :]
        if X.ndim != 3:
            raise ValueError(f"X must be [n_clips, n_windows, n_features], got shape {X.shape}")
        return np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)

    def _fit_windows(self, X: np.ndarray, y: np.ndarray, w: np.ndarray):
        n, W, F = X.shape
        Xw = X.reshape(n * W, F)
        mean = Xw.mean(axis=0)
        scale = Xw.std(axis=0)
        scale[scale < 1e-6] = 1.0
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
        lr.fit((Xw - mean) / scale, np.repeat(y, W), sample_weight=np.repeat(w, W))
        return mean, scale, lr.coef_[0].copy(), float(lr.intercept_[0])

    @staticmethod
    def _clip_logits(X, mean, scale, coef, intercept) -> np.ndarray:
        return (((X - mean) / scale) @ coef + intercept).mean(axis=1)

    def fit(self, X, y, sample_weight=None, groups=None):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedGroupKFold

        X = self._check_X(X)
        y = np.asarray(y).astype(int)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("the head needs both classes (0 = real, 1 = generated)")
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[2]
        self.mean_, self.scale_, self.coef_, self.intercept_ = self._fit_windows(X, y, w)
        # out-of-fold clip logits for the calibrator
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        n_splits = min(int(self.cv), int(np.bincount(y).min()), len(np.unique(groups)))
        oof = np.full(len(y), np.nan)
        if n_splits >= 2:
            try:
                splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=0)
                for tr, te in splitter.split(X, y, groups):
                    if len(np.unique(y[tr])) < 2:
                        continue
                    m, s, c, b = self._fit_windows(X[tr], y[tr], w[tr])
                    oof[te] = self._clip_logits(X[te], m, s, c, b)
            except ValueError:
                pass
        missing = np.isnan(oof)
        if missing.any():
            oof[missing] = self._clip_logits(X[missing], self.mean_, self.scale_, self.coef_, self.intercept_)
        cal = LogisticRegression(C=self.calibration_C, max_iter=self.max_iter)
        cal.fit(oof[:, None], y, sample_weight=w)
        self.cal_a_ = float(cal.coef_[0, 0])
        self.cal_b_ = float(cal.intercept_[0])
        if self.cal_a_ <= 0:  # a degenerate fold split; never invert the score
            self.cal_a_, self.cal_b_ = 1.0, 0.0
        self.oof_logits_ = oof
        self.oof_proba_ = _sigmoid(self.cal_a_ * oof + self.cal_b_)
        return self

    # ------------------------------------------------------------------ inference

    def window_logits(self, X) -> np.ndarray:
        X = self._check_X(X)
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def decision_function(self, X) -> np.ndarray:
        return self.window_logits(X).mean(axis=1)

    def calibrate(self, logits) -> np.ndarray:
        return _sigmoid(self.cal_a_ * np.asarray(logits, dtype=np.float64) + self.cal_b_)

    def predict_proba(self, X) -> np.ndarray:
        p = self.calibrate(self.decision_function(X))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def score(self, X, y) -> float:
        """Mean accuracy, as a scikit-learn classifier's ``score``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    # ------------------------------------------------------------------ storage

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "head.mean": np.asarray(self.mean_, np.float64),
            "head.scale": np.asarray(self.scale_, np.float64),
            "head.coef": np.asarray(self.coef_, np.float64),
            "head.intercept": np.asarray([self.intercept_], np.float64),
            "head.calibration": np.asarray([self.cal_a_, self.cal_b_], np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], params: dict | None = None) -> "WindowLogisticHead":
        head = cls(**(params or {}))
        head.mean_ = np.asarray(arrays["head.mean"], np.float64)
        head.scale_ = np.asarray(arrays["head.scale"], np.float64)
        head.coef_ = np.asarray(arrays["head.coef"], np.float64)
        head.intercept_ = float(np.asarray(arrays["head.intercept"]).reshape(-1)[0])
        a, b = np.asarray(arrays["head.calibration"], np.float64).reshape(-1)[:2]
        head.cal_a_, head.cal_b_ = float(a), float(b)
        head.classes_ = np.array([0, 1])
        head.n_features_in_ = int(head.coef_.shape[0])
        if not (head.mean_.shape == head.scale_.shape == head.coef_.shape) or head.mean_.ndim != 1:
            raise ValueError("head arrays have inconsistent shapes")
        if not np.all(np.isfinite(head.coef_)) or not np.all(np.isfinite(head.scale_)) or np.any(head.scale_ <= 0):
            raise ValueError("head arrays contain invalid values")
        return head


class FamilyHead:
    """Which known generator family a clip looks most like: multinomial logistic regression over the
    clip's mean window features, fitted on generated clips only. Below ``threshold`` confidence the
    answer is "unknown family" (``None``): a new generator should land there, not in the nearest
    known name. Plain arrays, stored beside the detector head."""

    def __init__(self, names: list[str], mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 threshold: float = 0.5) -> None:
        self.names, self.threshold = list(names), float(threshold)
        self.mean, self.scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
        self.coef, self.intercept = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
        if self.coef.shape != (len(self.names), self.mean.shape[0]) or self.intercept.shape != (len(self.names),):
            raise ValueError("family head arrays have inconsistent shapes")

    @classmethod
    def fit(cls, X: np.ndarray, families: list[str], C: float = 0.3, threshold: float = 0.5) -> "FamilyHead":
        """X [n, F] clip features of generated clips, their family names."""
        X = np.asarray(X, np.float64)
        names = sorted(set(families))
        y = np.array([names.index(f) for f in families])
        mean, scale = X.mean(axis=0), X.std(axis=0)
        scale[scale < 1e-6] = 1.0
        if len(names) == 1:
            return cls(names, mean, scale, np.zeros((1, X.shape[1])), np.zeros(1), threshold)
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
        lr.fit((X - mean) / scale, y)
        coef, icpt = lr.coef_, lr.intercept_
        if len(names) == 2:  # sklearn gives one logit for two classes: softmax over (0, z)
            coef, icpt = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, icpt]
        return cls(names, mean, scale, coef, icpt, threshold)

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def attribute(self, x: np.ndarray) -> tuple[str | None, float, list[tuple[str, float]]]:
        """(family or None for unknown, confidence, top-3 [(name, p)]) for one clip's features [F]."""
        p = self.proba(np.asarray(x)[None])[0]
        order = np.argsort(p)[::-1][:3]
        top = [(self.names[i], round(float(p[i]), 4)) for i in order]
        best = float(p[order[0]])
        return (self.names[order[0]] if best >= self.threshold else None), best, top

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"family.mean": self.mean, "family.scale": self.scale, "family.coef": self.coef,
                "family.intercept": self.intercept}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], names: list[str], threshold: float) -> "FamilyHead":
        return cls(names, arrays["family.mean"], arrays["family.scale"], arrays["family.coef"],
                   arrays["family.intercept"], threshold)
