"""Training and the held-out protocol of the residual CNN (``detect.rcnn``): shared by the shipped model's
build (``training.detector.train_rcnn``), few-shot refits (``training.detector.fit``) and the probes that
measure it (``bench.detector_cnn_probe``; ``bench.detector_pairs_probe`` and ``detector_resize_probe``
change what a fold trains on and fit it with :func:`fit_fold`, as ``train_rcnn`` does).

Protocol ("repository folds"): K folds over the *source repositories* of the AI clips (every clip a
repository published in one fold, folds balanced by clip count), crossed with ``train_xgen.real_folds``
(real footage by source). Fold i's models never see the AI repositories of fold i, any other clip those
repositories published, nor real fold i; they score fold i. Every clip gets one out-of-fold score from
models that never saw its generator family, its publisher or its real source. It holds out ~4
repositories at once (stricter than one family at a time), because a CNN per family (34 trainings) takes
~2 h on 2 cores and a protocol run must fit in a session.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

Log = Callable[[str], None]

#: the tubes the CNN trains on: kinodet_xgen's windows, 4 crops of 96 px (the first 3 are kinodet_xgen's)
N_WINDOWS, WIN_LEN, CROP, N_CROPS = 8, 3, 96, 4
RECIPE = f"cnnprobe|w{N_WINDOWS}|l{WIN_LEN}|c{CROP}x{N_CROPS}|v1"
K = 5


def _nolog(msg: str) -> None:
    pass


# ----------------------------------------------------------------------------- pixels


def clip_key(path: str) -> str:
    st = Path(path).stat()
    return hashlib.sha1(f"{RECIPE}|{path}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()


def load_tubes(clips: list[dict], cache: Path, log: Log = _nolog) -> tuple[list[np.ndarray | None], float]:
    """Tubes [W, C, L, S, S, 3] uint8 per clip (None when unreadable), cached in ``cache`` by recipe, path,
    size and mtime; also the mean seconds per clip read anew."""
    from kinoseal.detect.features import read_tubes
    from kinoseal.errors import InputError

    cache.mkdir(parents=True, exist_ok=True)
    out, t_new, n_new = [], 0.0, 0
    for c in clips:
        f = cache / f"{clip_key(c['path'])}.npz"
        if f.exists():
            with np.load(f) as z:
                out.append(z["tubes"] if z["ok"] else None)
            continue
        t = time.perf_counter()
        try:
            tubes = read_tubes(Path(c["path"]), None, n_windows=N_WINDOWS, win_len=WIN_LEN, crop=CROP,
                               n_crops=N_CROPS).tubes
            np.savez(f, tubes=tubes, ok=True)
        except InputError as exc:
            log(f"unreadable {c['path']}: {exc}")
            tubes = None
            np.savez(f, tubes=np.zeros(0, np.uint8), ok=False)
        t_new += time.perf_counter() - t
        n_new += 1
        if n_new % 50 == 0:
            log(f"tubes: {n_new} new clips read ({t_new:.0f} s)")
        out.append(tubes)
    if n_new:
        log(f"tubes: {n_new} new clips read in {t_new:.0f} s")
    return out, (t_new / n_new if n_new else float("nan"))


def inputs_of(tubes: list[np.ndarray]) -> np.ndarray:
    """[n, W*C, 3+L, S-2, S-2] float16: every clip's CNN input (half precision: 1.2 GB for the 366 clips)."""
    from kinoseal.detect.rcnn import cnn_input

    return np.stack([cnn_input(t).astype(np.float16) for t in tubes])


# ----------------------------------------------------------------------------- training


def augment(batch: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Random size x size sub-crop, flip, 90-degree rotation (per sample)."""
    n, ch, H, Wd = batch.shape
    out = np.empty((n, ch, size, size), np.float32)
    for j in range(n):
        y0, x0 = rng.integers(0, H - size + 1), rng.integers(0, Wd - size + 1)
        a = batch[j, :, y0:y0 + size, x0:x0 + size]
        if rng.random() < 0.5:
            a = a[:, :, ::-1]
        out[j] = np.rot90(a, int(rng.integers(4)), axes=(1, 2))
    return out


def train_cnn(inputs: np.ndarray, tr: np.ndarray, y: np.ndarray, w: np.ndarray, *, steps: int = 900, batch: int = 64,
              size: int = 64, lr: float = 3e-3, seed: int = 0, win_len: int = WIN_LEN, widths=None, log: Log = _nolog):
    """A ``detect.rcnn.ResidCNN`` trained on rows ``tr`` of ``inputs`` [n_clips, T, 3+L, H, W] (labels ``y``
    and weights ``w`` aligned with ``tr``); each sample: a clip drawn in proportion to ``w`` (classes
    balanced, families equal: ``train_xgen._weights``), one random crop-tube of it, augmented."""
    import torch

    from kinoseal.detect.rcnn import WIDTHS, ResidCNN

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = ResidCNN(win_len=win_len, widths=tuple(widths or WIDTHS))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    p = np.asarray(w, np.float64) / np.sum(w)
    T = inputs.shape[1]
    net.train()
    run = []
    for s in range(steps):
        ci = rng.choice(len(y), batch, p=p)
        ti = rng.integers(0, T, batch)
        xb = augment(inputs[tr[ci], ti].astype(np.float32), rng, min(size, inputs.shape[-1]))
        opt.zero_grad()
        loss = loss_fn(net(torch.from_numpy(xb)), torch.from_numpy(np.asarray(y)[ci].astype(np.float32)))
        loss.backward()
        opt.step()
        sched.step()
        run.append(loss.item())
        if (s + 1) % max(1, steps // 4) == 0:
            log(f"    step {s + 1}/{steps}: loss {np.mean(run[-50:]):.3f}")
    net.eval()
    return net


def tube_logits(net, inputs: np.ndarray, idx: np.ndarray, n_crops: int = N_CROPS, crops: int | None = None) -> np.ndarray:
    """[len(idx), W, crops]: the logit of each window's first ``crops`` crop-tubes (all ``n_crops`` by
    default; rows of ``inputs`` are window-major), the others not run through the net."""
    import torch

    crops = n_crops if crops is None else int(crops)
    out = np.empty((len(idx), inputs.shape[1] // n_crops, crops))
    with torch.inference_mode():
        for j, i in enumerate(idx):
            x = inputs[i].reshape(-1, n_crops, *inputs.shape[2:])[:, :crops].reshape(-1, *inputs.shape[2:])
            x = torch.from_numpy(x.astype(np.float32))
            out[j] = torch.cat([net(x[k:k + 64]) for k in range(0, len(x), 64)]).double().numpy().reshape(-1, crops)
    return out


def clip_logits(net, inputs: np.ndarray, idx: np.ndarray, crops: int, n_crops: int = N_CROPS) -> np.ndarray:
    """Clip logit = mean over windows of the mean logit of each window's first ``crops`` crop-tubes (what
    ``detect.rcnn.window_logits`` computes at inference)."""
    return tube_logits(net, inputs, idx, n_crops, crops).mean(axis=(1, 2))


def cnn_scale(net, inputs: np.ndarray, rows: np.ndarray, crops: Sequence[int], n_crops: int = N_CROPS) -> dict[int, tuple[float, float]]:
    """Mean and spread of ``net``'s clip logits over ``rows``, scoring the first k crop-tubes a window for each
    k in ``crops`` (one pass over the largest k): the scale that makes its logits blendable."""
    from kinoseal.detect.rcnn import Blend

    lt = tube_logits(net, inputs, rows, n_crops, max(crops))
    return {k: Blend.stats(lt[:, :, :k].mean(axis=(1, 2))) for k in crops}


@dataclass
class FoldFit:
    """A features head and a residual CNN trained on the same rows, each with the mean and spread of its
    logits on its own training clips: their held-out logits become z-scores that the blend
    (``detect.rcnn.Blend``) averages. ``net`` is None when the CNN was not trained (``steps=0``)."""

    head: Any
    head_stats: tuple[float, float]
    net: Any = None
    cnn_stats: dict[int, tuple[float, float]] = field(default_factory=dict)
    n_crops: int = N_CROPS

    def z_head(self, X: np.ndarray) -> np.ndarray:
        return (self.head.decision_function(X) - self.head_stats[0]) / self.head_stats[1]

    def z_cnn(self, inputs: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
        """Per crop count k: the z-score of each row's clip logit at k crop-tubes a window."""
        lt = tube_logits(self.net, inputs, rows, self.n_crops, max(self.cnn_stats))
        return {k: (lt[:, :, :k].mean(axis=(1, 2)) - mu) / sd for k, (mu, sd) in self.cnn_stats.items()}


def fit_fold(X: np.ndarray, inputs: np.ndarray | None, rows: np.ndarray, y: np.ndarray, fam: np.ndarray,
             groups: np.ndarray, *, C: float, steps: int, seed: int, crops: Sequence[int] = (1,),
             scale_rows: np.ndarray | None = None, log: Log = _nolog) -> FoldFit:
    """``train_xgen.fit_head`` on the features ``X[rows]`` and :func:`train_cnn` (``steps`` steps, ``seed``,
    families weighted by ``train_xgen._weights``) on ``inputs[rows]``; both scaled on ``scale_rows`` (default
    ``rows``: a probe that adds derived rows to training can keep the scale of the clips as published).
    ``steps=0``: the head alone. The one recipe behind ``train_rcnn``'s folds and shipped model and the probes
    that vary its training rows."""
    from kinoseal.detect.rcnn import Blend
    from kinoseal.training.detector.train_xgen import _weights, fit_head

    s = rows if scale_rows is None else scale_rows
    head = fit_head(X[rows], y[rows], fam[rows], groups[rows], C)
    fit = FoldFit(head, Blend.stats(head.decision_function(X[s])))
    if steps > 0:
        fit.net = train_cnn(inputs, rows, y[rows], _weights(y[rows], fam[rows]), steps=steps, seed=seed, log=log)
        fit.cnn_stats = cnn_scale(fit.net, inputs, s, crops)
    return fit


# ----------------------------------------------------------------------------- folds


def repo_folds(clips: list[dict], k: int = K) -> tuple[np.ndarray, dict[str, int]]:
    """Fold per clip: AI clips by source repository (greedy, largest repository first into the lightest
    fold), real clips by ``train_xgen.real_folds``."""
    from kinoseal.training.detector.train_xgen import real_folds

    fam_repos = defaultdict(set)
    count = defaultdict(int)
    for c in clips:
        if c["label"] == 1:
            fam_repos[c["family"]].add(c["repo"])
            count[c["repo"]] += 1
    if any(len(r) > 1 for r in fam_repos.values()):
        raise ValueError("a generator family spans repositories: group them before folding")
    load = [0] * k
    fold_of: dict[str, int] = {}
    for r in sorted(count, key=lambda r: (-count[r], r)):
        f = int(np.argmin(load))
        fold_of[r] = f
        load[f] += count[r]
    rf = real_folds(clips, k)
    return np.array([fold_of[c["repo"]] if c["label"] == 1 else rf[i] for i, c in enumerate(clips)]), fold_of


def fold_split(i: int, fold: np.ndarray, fold_of_repo: dict[str, int], clips: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) of fold ``i``: training drops fold i and every clip its repositories published."""
    held = {r for r, f in fold_of_repo.items() if f == i}
    repo = np.array([c["repo"] for c in clips])
    te = np.flatnonzero(fold == i)
    tr = np.flatnonzero((fold != i) & ~np.isin(repo, sorted(held)))
    return tr, te


# ----------------------------------------------------------------------------- metrics


def auc(neg: np.ndarray, pos: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if not len(neg) or not len(pos):
        return float("nan")
    return float(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


def evaluate(p: np.ndarray, dev: list[dict], threshold: float | None = None) -> dict:
    """Out-of-fold scores ``p`` of ``dev``: per family AUC against every real clip and TPR at the threshold
    above every real score (``train_xgen.choose_threshold``, or ``threshold``), GIF / MP4 origin split,
    false accusations by kind of real footage (also at a threshold chosen without the clip's own source)."""
    from kinoseal.training.detector.train_xgen import KT_FAMILY, choose_threshold

    y = np.array([c["label"] for c in dev])
    fam = np.array([c["family"] or "" for c in dev])
    fmt = np.array([c["fmt"] if c["fmt"] == "gif" else "mp4" for c in dev])
    groups = np.array([c["group"] for c in dev])
    real = np.flatnonzero(y == 0)
    pr = p[real]
    thr = choose_threshold(pr) if threshold is None else float(threshold)
    rows = []
    for f in sorted({f for f in fam[y == 1]}):
        ai = np.flatnonzero((y == 1) & (fam == f))
        rows.append({"family": f, "clips": int(len(ai)), "fmt": "/".join(sorted({dev[i]["fmt"] for i in ai})),
                     "auc": auc(pr, p[ai]), "tpr_at_threshold": float((p[ai] >= thr).mean()),
                     "mean_score": float(p[ai].mean())})
    shared = [r for r in rows if r["family"] != KT_FAMILY]
    aucs = np.array([r["auc"] for r in shared])
    ai_sh = np.flatnonzero((y == 1) & (fam != KT_FAMILY))
    kt = np.flatnonzero((y == 1) & (fam == KT_FAMILY))
    by_origin = []
    for o in ("gif", "mp4"):
        a, r = ai_sh[fmt[ai_sh] == o], real[fmt[real] == o]
        by_origin.append({"origin": o, "ai_clips": int(len(a)), "real_clips": int(len(r)), "auc": auc(p[r], p[a]),
                          "tpr_at_threshold": float((p[a] >= thr).mean())})
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i in real:
        by_kind[dev[i]["kind"]].append(i)
    fa = []
    for kind, idx in sorted(by_kind.items()):
        loso = sum(int(p[i] >= choose_threshold(p[real[groups[real] != groups[i]]])) for i in idx)
        idx = np.array(idx)
        fa.append({"kind": kind, "clips": int(len(idx)), "sources": int(len(set(groups[idx]))),
                   "max_score": float(p[idx].max()), "accused": int((p[idx] >= thr).sum()),
                   "accused_threshold_without_own_source": loso})
    return {"threshold": thr, "threshold_capped": bool(thr >= 0.9999 and pr.max() + 0.01 > 0.9999),
            "mean_auc": float(aucs.mean()), "median_auc": float(np.median(aucs)),
            "families": len(shared), "families_auc_095": int((aucs >= 0.95).sum()),
            "pooled_tpr": float((p[ai_sh] >= thr).mean()),
            "kino_tiny_auc": auc(pr, p[kt]) if len(kt) else None,
            "kino_tiny_tpr": float((p[kt] >= thr).mean()) if len(kt) else None,
            "by_origin": by_origin, "false_accusations": fa, "rows": rows,
            "auc_by_family": {r["family"]: round(r["auc"], 4) for r in shared},
            "worst": [(r["family"], round(r["auc"], 3)) for r in sorted(shared, key=lambda r: r["auc"])[:6]]}


def paired_delta(a: dict, b: dict, n_boot: int = 2000) -> dict:
    """Mean over families of AUC(b) - AUC(a), with a bootstrap over families (95% interval): 33 families of
    1-11 clips each make a single mean a noisy number."""
    fams = sorted(a["auc_by_family"])
    d = np.array([b["auc_by_family"][f] - a["auc_by_family"][f] for f in fams])
    boot = np.random.default_rng(0).choice(d, (n_boot, len(d))).mean(axis=1)
    return {"delta": float(d.mean()), "ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
            "better": int((d > 0.005).sum()), "worse": int((d < -0.005).sum()), "families": len(d)}


SUMMARY_HEADER = ("| model | mean AUC (33 families) | median | families >= 0.95 | pooled TPR at the threshold | threshold | "
                  "gif AUC | mp4 AUC | kino-tiny (held out with its fold) | worst 4 |\n|---|---|---|---|---|---|---|---|---|---|")


def summary_row(name: str, e: dict) -> str:
    """One model's row under ``SUMMARY_HEADER``, from :func:`evaluate`'s result."""
    o = {r["origin"]: r for r in e["by_origin"]}
    worst = ", ".join(f"{f} {a:.2f}" for f, a in e["worst"][:4])
    return (f"| {name} | **{e['mean_auc']:.3f}** | {e['median_auc']:.3f} | {e['families_auc_095']}/{e['families']} | "
            f"{e['pooled_tpr']:.1%} | {e['threshold']:.3f}{' (cap)' if e['threshold_capped'] else ''} | "
            f"{o['gif']['auc']:.3f} | {o['mp4']['auc']:.3f} | {e['kino_tiny_auc']:.3f} | {worst} |")
