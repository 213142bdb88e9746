"""A small learned residual CNN: the cross-generator generalist's second view of a clip's fine noise.

Why beside the hand-made residual features (``detect.resid``) and not instead of them: held out by source
repository on the 33 public generator families, the CNN alone ranks unseen families no better than the
features (mean AUC 0.785 / 0.779 against 0.778 over two seeds), but the two err on different families, and
the average of their standardised logits gains +0.04 to +0.05 AUC per family with a bootstrap interval clear
of zero (``bench/results/detector_cnn_probe.md``). So a detector with a CNN blends the two (``Blend``).

Input per crop-tube (the detector's own tubes, so no extra decode): the 3x3-binomial high-pass residual of
the middle frame's RGB and of every frame's luma, divided by a fixed ``IN_SCALE`` (no per-sample
normalisation: the noise energy itself is evidence). Two 3x3 convolutions at full resolution keep the
2/4/8-px periodicities that video decoders' upsamplers leave; three stride-2 blocks, global mean + std
pooling, one logit per crop-tube. A window's logit is the mean over the crop-tubes it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

IN_SCALE = 4.0
WIDTHS = (16, 16, 32, 64)


def _block(i: int, o: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class ResidCNN(nn.Module):
    def __init__(self, win_len: int = 3, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        a, b, c, d = (int(x) for x in widths)
        self.body = nn.Sequential(_block(3 + win_len, a, 1), _block(a, a, 1),  # full resolution: no stride
                                  _block(a, b, 2), _block(b, c, 2), _block(c, d, 2), _block(d, d, 1))
        self.fc = nn.Linear(2 * d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).flatten(2)
        return self.fc(torch.cat([h.mean(-1), h.std(-1)], dim=1)).squeeze(1)


def build_cnn(cfg: dict) -> ResidCNN | None:
    """The CNN a detector config names (``config["cnn"]``), untrained; ``None`` without one."""
    spec = cfg.get("cnn")
    if not spec:
        return None
    if spec.get("arch") != "resid_cnn":
        raise ValueError(f"unknown cnn architecture {spec.get('arch')!r}")
    return ResidCNN(win_len=int(cfg["win_len"]), widths=tuple(spec.get("widths") or WIDTHS)).eval()


def cnn_input(tubes: np.ndarray) -> np.ndarray:
    """tubes [W, C, L, S, S, 3] uint8 -> [W*C, 3 + L, S-2, S-2] float32."""
    from kinoseal.detect.features import highpass, luma

    W, C, L, S = tubes.shape[:4]
    x = tubes.reshape(W * C, L, S, S, 3).astype(np.float32)
    rgb = highpass(np.moveaxis(x[:, L // 2], -1, 1))
    lum = highpass(luma(x))
    return (np.concatenate([rgb, lum], axis=1) / IN_SCALE).astype(np.float32)


@torch.inference_mode()
def window_logits(net: nn.Module, tubes: np.ndarray, crops: int) -> np.ndarray:
    """[W] float64: per window, the mean logit of its first ``crops`` crop-tubes (the cost knob)."""
    W = tubes.shape[0]
    sub = np.ascontiguousarray(tubes[:, :max(1, int(crops))])
    x = torch.from_numpy(cnn_input(sub))
    net.eval()
    z = torch.cat([net(x[i:i + 32]) for i in range(0, len(x), 32)]) if len(x) else torch.zeros(0)
    return z.double().numpy().reshape(W, -1).mean(axis=1)


@dataclass
class Blend:
    """How a detector with a CNN turns its two logits into one probability: each logit standardised by
    the mean and std of that model's clip logits on its own training clips, the two averaged, then a
    Platt calibration fitted on *out-of-fold* blended logits (the training protocol's)."""

    head_mu: float
    head_sd: float
    cnn_mu: float
    cnn_sd: float
    cal_a: float = 1.0
    cal_b: float = 0.0

    def z(self, head_logit, cnn_logit) -> tuple[np.ndarray, np.ndarray]:
        return ((np.asarray(head_logit, np.float64) - self.head_mu) / self.head_sd,
                (np.asarray(cnn_logit, np.float64) - self.cnn_mu) / self.cnn_sd)

    def logit(self, head_logit, cnn_logit) -> np.ndarray:
        zh, zc = self.z(head_logit, cnn_logit)
        return (zh + zc) / 2.0

    def calibrate(self, logit) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.cal_a * np.asarray(logit, np.float64) + self.cal_b, -60, 60)))

    def to_array(self) -> np.ndarray:
        return np.array([self.head_mu, self.head_sd, self.cnn_mu, self.cnn_sd, self.cal_a, self.cal_b], np.float64)

    @classmethod
    def from_array(cls, a: np.ndarray) -> "Blend":
        a = np.asarray(a, np.float64).reshape(-1)
        if a.shape != (6,) or not np.isfinite(a).all() or a[1] <= 0 or a[3] <= 0 or a[4] <= 0:
            raise ValueError("blend statistics must be 6 finite numbers with positive scales and slope")
        return cls(*(float(v) for v in a))

    @staticmethod
    def stats(logits: np.ndarray) -> tuple[float, float]:
        """(mean, std) of a model's clip logits on its training clips."""
        v = np.asarray(logits, np.float64)
        return float(v.mean()), float(max(v.std(), 1e-6))

    @classmethod
    def fit(cls, head_stats: tuple[float, float], cnn_stats: tuple[float, float], head_oof_z: np.ndarray,
            cnn_oof_z: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, C: float = 10.0) -> "Blend":
        """Scales from the final models' logits on their training clips (``stats``); the calibration from
        out-of-fold standardised logits (each fold's model standardised by its own training clips)."""
        from sklearn.linear_model import LogisticRegression

        b = cls(*head_stats, *cnn_stats)
        s = (np.asarray(head_oof_z, np.float64) + np.asarray(cnn_oof_z, np.float64)) / 2.0
        lr = LogisticRegression(C=C, max_iter=2000).fit(s[:, None], np.asarray(y).astype(int), sample_weight=weight)
        a = float(lr.coef_[0, 0])
        b.cal_a, b.cal_b = (a, float(lr.intercept_[0])) if a > 0 else (1.0, 0.0)  # never invert the score
        return b


__all__ = ["Blend", "IN_SCALE", "ResidCNN", "build_cnn", "cnn_input", "window_logits"]
