"""The frame/patch backbone: a small CNN of timm's design, created from scratch (``pretrained=False``)
and trained here to tell generated crops from real ones.

Input per crop (6 channels): the RGB crop scaled to [-1, 1] and its high-pass
residual (crop minus a 3x3 binomial blur), scaled so camera noise is of order 1.
Per window the backbone contributes statistics of its crop logits and the
*temporal consistency* of its embeddings between consecutive frames of the same
crop (cosine similarity, logit change): generated video tends to be either too
stable or to flicker in ways a camera does not.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

BACKBONE_FEATURES = (
    "cnn_logit_mean", "cnn_logit_std", "cnn_logit_max", "cnn_logit_min",
    "cnn_cos_mean", "cnn_cos_min", "cnn_dlogit_mean",
)

_BLUR = torch.tensor([1.0, 2.0, 1.0]) / 4.0


def build_backbone(cfg: dict) -> torch.nn.Module | None:
    """The CNN of ``cfg``, or ``None`` for feature-only architectures (``backbone: null``)."""
    if not cfg.get("backbone"):
        return None
    kw = dict(cfg.get("backbone_kwargs") or {})
    if "channels" in kw:
        kw["channels"] = tuple(kw["channels"])
    if cfg["backbone"] == "resnet10t":  # every registered architecture: timm's network, without timm's import
        from kinoseal.detect.resnet import ResNet10T

        return ResNet10T(num_classes=1, in_chans=6, **kw)
    import timm

    return timm.create_model(cfg["backbone"], pretrained=False, num_classes=1, in_chans=6, **kw)


def prepare(crops: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> float [N, 6, S, S] (RGB in [-1, 1] + high-pass residual)."""
    x = torch.as_tensor(np.asarray(crops)).float().permute(0, 3, 1, 2)
    k = (_BLUR[:, None] * _BLUR[None, :]).to(x)[None, None].repeat(3, 1, 1, 1)
    blur = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    return torch.cat([x / 127.5 - 1.0, (x - blur) / 8.0], dim=1)


@torch.inference_mode()
def embed(model: torch.nn.Module, crops: np.ndarray, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """uint8 crops [N, S, S, 3] -> (embeddings [N, D], logits [N])."""
    model.eval()
    embs, logits = [], []
    head = model.get_classifier()
    for i in range(0, len(crops), batch):
        x = prepare(crops[i:i + batch])
        e = model.forward_head(model.forward_features(x), pre_logits=True)
        embs.append(e.float().numpy())
        logits.append(head(e).float().numpy()[:, 0])
    if not embs:
        return np.zeros((0, model.num_features), np.float32), np.zeros((0,), np.float32)
    return np.concatenate(embs), np.concatenate(logits)


def backbone_features(model: torch.nn.Module, tubes: np.ndarray) -> np.ndarray:
    """tubes [W, C, L, S, S, 3] -> [W, len(BACKBONE_FEATURES)]."""
    W, C, L = tubes.shape[:3]
    e, z = embed(model, tubes.reshape(-1, *tubes.shape[3:]))
    e = e.reshape(W, C, L, -1)
    z = z.reshape(W, C, L)
    feats = [z.mean(axis=(1, 2)), z.std(axis=(1, 2)), z.max(axis=(1, 2)), z.min(axis=(1, 2))]
    if L >= 2:
        en = e / (np.linalg.norm(e, axis=-1, keepdims=True) + 1e-6)
        cos = (en[:, :, 1:] * en[:, :, :-1]).sum(-1)  # [W, C, L-1]
        feats += [cos.mean(axis=(1, 2)), cos.min(axis=(1, 2)), np.abs(np.diff(z, axis=2)).mean(axis=(1, 2))]
    else:
        feats += [np.ones(W, np.float32), np.ones(W, np.float32), np.zeros(W, np.float32)]
    return np.stack(feats, axis=1).astype(np.float32)


def train_backbone(
    model: torch.nn.Module,
    crops: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int = 400,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    train_layers: str = "all",
) -> dict:
    """Train on individual crops (uint8 [N, S, S, 3], labels 0/1), class-balanced batches,
    flips and 90-degree rotations. ``train_layers="last"`` tunes only the last stage + head
    (few-shot adaptation). Returns a small training record."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    labels = np.asarray(labels).astype(np.int64)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("backbone training needs both real and generated crops")
    params = list(model.parameters())
    if train_layers == "last":
        for p in model.parameters():
            p.requires_grad_(False)
        last = [m for name, m in model.named_children() if name.startswith("layer")][-1:]
        params = [p for m in last + [model.get_classifier()] for p in m.parameters()]
        for p in params:
            p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps)))))
    model.train()
    if train_layers == "last":  # frozen layers keep their batch-norm statistics
        model.eval()
        for m in last + [model.get_classifier()]:
            m.train()
    t0 = time.time()
    losses = []
    half = batch // 2
    for step in range(steps):
        idx = np.concatenate([rng.choice(pos, half), rng.choice(neg, batch - half)])
        x = crops[idx]
        if rng.random() < 0.5:
            x = x[:, :, ::-1]
        if rng.random() < 0.5:
            x = x[:, ::-1]
        x = np.rot90(x, k=int(rng.integers(4)), axes=(1, 2))
        xt = prepare(np.ascontiguousarray(x))
        yt = torch.as_tensor(labels[idx]).float()
        out = model(xt)[:, 0]
        loss = F.binary_cross_entropy_with_logits(out, yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log and (step + 1) % max(1, steps // 10) == 0:
            log(f"backbone step {step + 1}/{steps} loss {np.mean(losses[-max(1, steps // 10):]):.4f}")
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return {"steps": steps, "batch": batch, "lr": lr, "final_loss": float(np.mean(losses[-20:])) if losses else None,
            "seconds": round(time.time() - t0, 1), "crops": int(len(crops)), "train_layers": train_layers}
