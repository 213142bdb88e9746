"""Training, few-shot fine-tuning and evaluation on folders of clips.

* ``fit_detector``: read the tubes of every clip once, train the backbone on
  single crops (unless it is kept), compute window features, fit the calibrated
  head (grouped by source), choose the threshold.
* ``finetune_detector``: few-shot adaptation to a new generator from ~20 clips:
  the backbone is kept, the head is refitted on the new clips together with the
  base model's stored training features ("replay"), so the old generator is not
  forgotten; the new clips carry as much weight as the whole replay set. A
  residual CNN (``detect.rcnn``) is kept too; its blend with the new head is
  refitted from the replay's stored out-of-fold CNN scores and the new clips'.
* ``evaluate_detector``: ROC AUC, TPR at 1% / 0.1% FPR, accuracy, calibration
  (ECE, reliability bins), false accusations at the threshold; ROC plot + JSON.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from kinoseal.config import Limits
from kinoseal.errors import InputError

from kinoseal.detect.backbone import train_backbone
from kinoseal.detect.head import WindowLogisticHead
from kinoseal.detect.model import Detector, json_default

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".y4m"}
Log = Callable[[str], None]


def _nolog(msg: str) -> None:
    pass


def list_clips(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    clips = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
    return clips


def groups_for(clips: Sequence[Path], root: Path) -> list[str]:
    """A clip's source group: its first sub-folder under ``root`` (or the file itself)."""
    out = []
    for c in clips:
        rel = Path(c).relative_to(root)
        out.append(f"{root.name}/{rel.parts[0]}" if len(rel.parts) > 1 else f"{root.name}/{rel.stem}")
    return out


def read_all_tubes(det: Detector, clips: Sequence[Path], limits: Limits | None = None, log: Log = _nolog,
                   skip_bad: bool = True):
    """Tubes for every clip ([n, W, C, L, S, S, 3] uint8) and the indices of clips that were readable."""
    tubes, ok = [], []
    t0 = time.time()
    for i, c in enumerate(clips):
        try:
            tubes.append(det.tubes(Path(c), limits).tubes)
            ok.append(i)
        except InputError as exc:
            if not skip_bad:
                raise
            log(f"skipped {Path(c).name}: {exc}")
        if (i + 1) % 50 == 0:
            log(f"read {i + 1}/{len(clips)} clips ({time.time() - t0:.0f} s)")
    if not tubes:
        raise InputError("none of the clips could be read")
    return np.stack(tubes), ok


def features_from_tubes(det: Detector, tubes: np.ndarray) -> np.ndarray:
    return np.stack([det.window_features(t) for t in tubes]).astype(np.float32)


def choose_threshold(real_probs: np.ndarray, floor: float = 0.95, margin: float = 0.01, cap: float = 0.9999) -> float:
    """Lowest threshold >= ``floor`` that is above every real clip's probability (plus a margin)."""
    top = float(np.max(real_probs)) if len(real_probs) else 0.0
    return float(min(cap, max(floor, top + margin)))


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y).astype(int)
    counts = np.bincount(y, minlength=2).astype(float)
    return np.array([len(y) / (2.0 * counts[k]) for k in y])


def fit_detector(
    det: Detector,
    clips: Sequence[Path],
    labels: Sequence[int],
    groups: Sequence[str] | None = None,
    *,
    limits: Limits | None = None,
    backbone_steps: int | None = None,
    tubes: np.ndarray | None = None,
    log: Log = _nolog,
    seed: int = 0,
) -> dict:
    """Train ``det`` in place (backbone from scratch + head). Returns a training record."""
    labels_arr = np.asarray(labels).astype(int)
    groups_arr = np.asarray(groups if groups is not None else [str(c) for c in clips])
    if tubes is None:
        tubes, ok = read_all_tubes(det, clips, limits, log)
        labels_arr, groups_arr = labels_arr[ok], groups_arr[ok]
    if len(np.unique(labels_arr)) < 2:
        raise InputError("training needs at least one readable real clip and one readable generated clip")
    steps = int(det.config.get("backbone_steps", 400) if backbone_steps is None else backbone_steps)
    if det.backbone is None:  # feature-only architectures (kinodet_xgen): nothing to train but the head
        steps = 0
    S = tubes.shape[-2]
    crops = tubes.reshape(-1, S, S, 3)
    per_clip = int(np.prod(tubes.shape[1:4]))
    crop_labels = np.repeat(labels_arr, per_clip)
    rec = {"clips": int(len(labels_arr)), "real": int((labels_arr == 0).sum()), "generated": int((labels_arr == 1).sum())}
    if steps > 0:
        log(f"training the backbone on {len(crops)} crops ({steps} steps)")
        rec["backbone"] = train_backbone(det.backbone, crops, crop_labels, steps=steps, seed=seed, log=log)
    log("computing window features")
    X = features_from_tubes(det, tubes)
    head = WindowLogisticHead(C=float(det.config.get("head_C", 0.5)))
    ids = {g: i for i, g in enumerate(dict.fromkeys(groups_arr.tolist()))}
    gid = np.array([ids[g] for g in groups_arr])
    head.fit(X, labels_arr, sample_weight=_balanced_weights(labels_arr), groups=gid)
    det.head = head
    det.replay = {"X": X.astype(np.float32), "y": labels_arr.astype(np.int64), "groups": gid.astype(np.int64),
                  "weight": np.ones(len(labels_arr), np.float32)}
    p_oof = head.oof_proba_
    if det.cnn is not None:
        cnn_z, rec["cnn"] = fit_cnn(det, tubes, labels_arr, gid, seed=seed, log=log)
        det.replay["cnn_z"] = cnn_z.astype(np.float32)
        p_oof = refit_blend(det, X, labels_arr, _balanced_weights(labels_arr), cnn_z)
    real_oof = p_oof[labels_arr == 0]
    det.threshold = choose_threshold(real_oof)
    rec["threshold_rule"] = ("lowest value >= 0.95 above every real training clip's out-of-fold probability "
                             f"(max {float(real_oof.max()):.4f}) plus 0.01")
    rec["oof"] = metrics(labels_arr, p_oof, det.threshold)
    return rec


def fit_cnn(det: Detector, tubes: np.ndarray, y: np.ndarray, groups: np.ndarray, *, folds: int = 3, seed: int = 0,
            log: Log = _nolog) -> tuple[np.ndarray, dict]:
    """Train ``det.cnn`` on every clip and return each clip's *out-of-fold* standardised CNN logit (a CNN per
    group fold, standardised by its own training clips), which the blend's calibration needs."""
    from sklearn.model_selection import StratifiedGroupKFold

    from kinoseal.detect.rcnn import Blend
    from kinoseal.training.detector.rcnn import clip_logits, inputs_of, train_cnn

    cfg = det.config
    steps, crops, n_crops = int(cfg.get("cnn_steps", 900)), int(cfg["cnn"]["crops"]), int(cfg["n_crops"])
    inputs = inputs_of(list(tubes))
    w = _balanced_weights(y)
    z = np.full(len(y), np.nan)
    k = min(folds, int(np.bincount(y).min()), len(np.unique(groups)))
    t0 = time.time()
    if k >= 2:
        for i, (tr, te) in enumerate(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(tubes, y, groups)):
            if len(np.unique(y[tr])) < 2:
                continue
            log(f"residual CNN, fold {i + 1}/{k}: {len(tr)} clips, {steps} steps")
            net = train_cnn(inputs, tr, y[tr], w[tr], steps=steps, seed=seed + 1 + i, win_len=int(cfg["win_len"]),
                            widths=cfg["cnn"].get("widths"), log=log)
            mu, sd = Blend.stats(clip_logits(net, inputs, tr, crops, n_crops))
            z[te] = (clip_logits(net, inputs, te, crops, n_crops) - mu) / sd
    log(f"residual CNN on all {len(y)} clips, {steps} steps")
    det.cnn = train_cnn(inputs, np.arange(len(y)), y, w, steps=steps, seed=seed, win_len=int(cfg["win_len"]),
                        widths=cfg["cnn"].get("widths"), log=log)
    final = clip_logits(det.cnn, inputs, np.arange(len(y)), crops, n_crops)
    mu, sd = Blend.stats(final)
    z[np.isnan(z)] = (final[np.isnan(z)] - mu) / sd  # no fold held them out (too few clips): in-sample
    det.blend = Blend(0.0, 1.0, mu, sd)
    return z, {"steps": steps, "folds": k, "seconds": round(time.time() - t0, 1)}


def refit_blend(det: Detector, X: np.ndarray, y: np.ndarray, w: np.ndarray, cnn_z: np.ndarray) -> np.ndarray:
    """The blend of ``det``'s (new) head with its CNN: the head's scale from its logits on ``X``, the CNN's
    kept, the calibration refitted on out-of-fold standardised logits (the head's from its own fit, the
    CNN's given). Returns the out-of-fold blended probabilities."""
    from kinoseal.detect.rcnn import Blend

    h_stats = Blend.stats(det.head.decision_function(X))
    zh = (det.head.oof_logits_ - h_stats[0]) / h_stats[1]
    det.blend = Blend.fit(h_stats, (det.blend.cnn_mu, det.blend.cnn_sd), zh, cnn_z, y, weight=w)
    return det.blend.calibrate((zh + np.asarray(cnn_z, np.float64)) / 2)


def finetune_detector(
    base: Detector,
    clips: Sequence[Path],
    labels: Sequence[int],
    groups: Sequence[str] | None = None,
    *,
    limits: Limits | None = None,
    new_weight: float = 1.0,
    features: np.ndarray | None = None,
    log: Log = _nolog,
) -> tuple[Detector, dict]:
    """Few-shot adaptation: keep the backbone, refit the head on new clips + the base's replay features.
    ``features`` ([n, W, F], from ``features_from_tubes`` with this backbone) skips reading ``clips``."""
    det = copy.deepcopy(base)
    labels_arr = np.asarray(labels).astype(int)
    groups_arr = np.asarray(groups if groups is not None else [str(c) for c in clips])
    z_new = None
    if features is None:
        tubes, ok = read_all_tubes(det, clips, limits, log)
        labels_arr, groups_arr = labels_arr[ok], groups_arr[ok]
        X_new = features_from_tubes(det, tubes)
        if det.cnn is not None:  # the kept CNN never saw these clips: their scores are out of sample
            z_new = det.blend.z(0.0, np.array([det.cnn_logits(t).mean() for t in tubes]))[1]
    else:
        X_new = np.asarray(features, np.float32)
    if det.cnn is not None and (z_new is None or "cnn_z" not in (base.replay or {})):
        raise InputError(f"{base.tag} has a residual CNN: fine-tune it from clips (not features), with its replay set")
    replay = base.replay or {}
    if "X" in replay and len(replay["X"]):
        X_old, y_old = np.asarray(replay["X"], np.float32), np.asarray(replay["y"]).astype(int)
        g_old = np.asarray(replay.get("groups", np.arange(len(y_old)))).astype(int)
        w_old = np.asarray(replay.get("weight", np.ones(len(y_old))), np.float64)
    else:
        X_old = np.zeros((0, *X_new.shape[1:]), np.float32)
        y_old, g_old, w_old = np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    y = np.concatenate([y_old, labels_arr])
    if len(np.unique(y)) < 2:
        raise InputError("fine-tuning needs real and generated examples (in the new clips or the base model's replay set)")
    # weights: the old set keeps its class balance; the new clips together weigh new_weight x the old set
    w_old_b = w_old * (_balanced_weights(y_old) if len(y_old) and len(np.unique(y_old)) == 2 else 1.0)
    w_new = np.ones(len(labels_arr))
    if len(np.unique(labels_arr)) == 2:
        w_new = _balanced_weights(labels_arr)
    if len(y_old):
        w_new = w_new * new_weight * w_old_b.sum() / max(w_new.sum(), 1e-9)
    ids = {g: i for i, g in enumerate(dict.fromkeys(groups_arr.tolist()))}
    offset = int(g_old.max()) + 1 if len(g_old) else 0
    g_new = np.array([offset + ids[g] for g in groups_arr])
    X = np.concatenate([X_old, X_new])
    w = np.concatenate([w_old_b, w_new])
    g = np.concatenate([g_old, g_new])
    head = WindowLogisticHead(**base.head.get_params()) if base.head is not None else WindowLogisticHead()
    head.fit(X, y, sample_weight=w, groups=g)
    det.head = head
    det.replay = {"X": X.astype(np.float32), "y": y.astype(np.int64), "groups": g.astype(np.int64),
                  "weight": np.concatenate([w_old, np.full(len(labels_arr), w_new.mean() if len(w_new) else 1.0)]).astype(np.float32)}
    p_oof = head.oof_proba_
    if det.cnn is not None:
        cnn_z = np.concatenate([np.asarray(replay["cnn_z"], np.float64), z_new])
        det.replay["cnn_z"] = cnn_z.astype(np.float32)
        p_oof = refit_blend(det, X, y, w, cnn_z)
    real_oof = p_oof[y == 0]
    det.threshold = choose_threshold(real_oof)
    rec = {"base": base.tag, "new_clips": int(len(labels_arr)), "new_real": int((labels_arr == 0).sum()),
           "new_generated": int((labels_arr == 1).sum()), "replay_clips": int(len(y_old)),
           "threshold_rule": ("lowest value >= 0.95 above every real clip's out-of-fold probability "
                              f"(max {float(real_oof.max()):.4f}) plus 0.01"),
           "oof": metrics(y, p_oof, det.threshold)}
    return det, rec


# ----------------------------------------------------------------------------- metrics


def tpr_at_fpr(y: np.ndarray, p: np.ndarray, fpr_target: float) -> float:
    """TPR at the strictest operating point whose FPR <= target (ties count against us)."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    neg = np.sort(p[y == 0])[::-1]
    pos = p[y == 1]
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    k = int(np.floor(fpr_target * len(neg)))  # negatives allowed above the threshold
    thr = neg[k] if k < len(neg) else -np.inf
    return float((pos > thr).mean())


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        conf, acc = float(p[m].mean()), float(y[m].mean())
        ece += m.mean() * abs(conf - acc)
        rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int(m.sum()), "mean_prob": round(conf, 4),
                     "frac_generated": round(acc, 4)})
    brier = float(np.mean((p - y) ** 2)) if len(y) else float("nan")
    return {"ece": float(ece), "brier": brier, "bins": rows}


def metrics(y, p, threshold: float) -> dict:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    both = len(np.unique(y)) == 2
    cal = calibration(y, p)
    return {
        "n_real": int((y == 0).sum()),
        "n_generated": int((y == 1).sum()),
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "tpr_at_1pct_fpr": tpr_at_fpr(y, p, 0.01),
        "tpr_at_0.1pct_fpr": tpr_at_fpr(y, p, 0.001),
        "accuracy_at_0.5": float(((p >= 0.5).astype(int) == y).mean()),
        "threshold": float(threshold),
        "tpr_at_threshold": float((p[y == 1] >= threshold).mean()) if (y == 1).any() else float("nan"),
        "false_accusations": int((p[y == 0] >= threshold).sum()),
        "max_real_prob": float(p[y == 0].max()) if (y == 0).any() else float("nan"),
        "ece": cal["ece"],
        "brier": cal["brier"],
        "reliability": cal["bins"],
    }


def roc_plot(y, p, out: Path, title: str, threshold: float | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    y = np.asarray(y).astype(int)
    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=110)
    if len(np.unique(y)) == 2:
        fpr, tpr, thr = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=2, label="ROC")
        if threshold is not None:
            pt_fpr = float((np.asarray(p)[y == 0] >= threshold).mean())
            pt_tpr = float((np.asarray(p)[y == 1] >= threshold).mean())
            ax.plot([pt_fpr], [pt_tpr], "o", color="crimson", label=f"threshold {threshold:.3g}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (real called generated)")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def score_clips(det: Detector, clips: Sequence[Path], limits: Limits | None = None, log: Log = _nolog):
    probs, rows = [], []
    for i, c in enumerate(clips):
        try:
            s = det.score_clip(Path(c), limits)
            probs.append(s.probability)
            rows.append({"file": str(c), "probability": s.probability, "per_window": s.per_window})
        except InputError as exc:
            probs.append(np.nan)
            rows.append({"file": str(c), "error": str(exc)})
        if (i + 1) % 50 == 0:
            log(f"scored {i + 1}/{len(clips)} clips")
    return np.asarray(probs, np.float64), rows


def evaluate_detector(det: Detector, real: Sequence[Path], generated: Sequence[Path], *, out_dir: Path | None = None,
                      limits: Limits | None = None, log: Log = _nolog, name: str = "evaluation") -> dict:
    clips = list(real) + list(generated)
    y = np.array([0] * len(real) + [1] * len(generated))
    p, rows = score_clips(det, clips, limits, log)
    for r, lab in zip(rows, y):
        r["label"] = "generated" if lab else "real"
    ok = np.isfinite(p)
    report = {"model": det.tag, "threshold": det.threshold, "unreadable": int((~ok).sum()),
              "metrics": metrics(y[ok], p[ok], det.threshold), "clips": rows}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        report["roc_png"] = str(roc_plot(y[ok], p[ok], out_dir / f"{name}_roc.png",
                                         f"{det.tag}: {int((y[ok] == 0).sum())} real vs {int((y[ok] == 1).sum())} generated",
                                         det.threshold))
        (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2, default=json_default) + "\n")
        report["json"] = str(out_dir / f"{name}.json")
    return report
