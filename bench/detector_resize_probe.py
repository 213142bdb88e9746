"""Does training on resized copies keep the residual features' reach after a platform's downscale? (issue 22)

    .venv/bin/python -m bench.detector_resize_probe [--scale 0.55]

Why: ``detector_attacks.md`` showed the default classifier flags no public AI clip after a resize to 0.55
(its views read native-resolution noise). Before retraining the CNN (23 min a protocol run), this probe asks
the cheap half of the question with the residual features and their logistic head only (the generalist's
first view, ``train_xgen.fit_head``), under ``training.detector.rcnn``'s repository folds:

* **originals**: each fold's head trained on the clips as published;
* **+ resized**: the same, plus a resized copy of every training clip (same label, family, group);

each scored out of fold on the held-out clips as published *and* on their resized copies (the watermark
suite's ``resize_<scale>`` attack, written back losslessly, ``bench.detector_attacks.attacked_copy``).
Resized tubes are cached in ``tmp/resizeprobe``. Writes ``bench/results/detector_resize_probe.{json,md}``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

from bench.results_io import write_results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "tmp" / "resizeprobe"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def resized_tubes(clips: list[dict], scale: float) -> list[np.ndarray | None]:
    """Each clip's resized copy as the CNN's tubes (``training.detector.rcnn``'s 8 windows x 3 frames x 4 crops
    of 96 px; the features use the first 3 crops, exactly kinodet_xgen's); None where it cannot be read."""
    import tempfile

    from bench.detector_attacks import attacked_copy
    from kinoseal.detect.features import read_tubes
    from kinoseal.errors import InputError
    from kinoseal.training.detector import rcnn

    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, c in enumerate(clips):
            f = CACHE / f"{rcnn.clip_key(c['path'])}_{scale}.npz"
            if not f.exists():
                try:
                    copy = attacked_copy(Path(c["path"]), f"resize_{scale}", Path(tmp) / "r.mp4")
                    np.savez(f, tubes=read_tubes(copy, None, n_windows=rcnn.N_WINDOWS, win_len=rcnn.WIN_LEN,
                                                 crop=rcnn.CROP, n_crops=rcnn.N_CROPS).tubes, ok=True)
                except (InputError, RuntimeError, ValueError) as exc:
                    log(f"{Path(c['path']).name}: {exc}")
                    np.savez(f, tubes=np.zeros(0, np.uint8), ok=False)
            with np.load(f) as z:
                out.append(z["tubes"] if z["ok"] else None)
            if (i + 1) % 100 == 0:
                log(f"resized tubes: {i + 1}/{len(clips)}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.55, choices=[0.55, 0.71])
    ap.add_argument("--cnn", action="store_true", help="also the residual CNN and the blend (10 CNN trainings, ~40 min)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the CNN")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from kinoseal.detect import create_model
    from kinoseal.detect.resid import resid_features
    from kinoseal.training.detector.rcnn import K, evaluate, fit_fold, fold_split, paired_delta, repo_folds
    from kinoseal.training.detector.train_rcnn import _sig, dev_tubes

    t0 = time.time()
    det = create_model("kinodet_xgen")
    C = float(det.config["head_C"])
    dev, tubes = dev_tubes(log)
    rtubes = resized_tubes(dev, args.scale)
    ok = np.array([t is not None for t in rtubes])
    dev = [c for c, o in zip(dev, ok) if o]
    tubes = [t for t, o in zip(tubes, ok) if o]
    rtubes = [t for t in rtubes if t is not None]
    X = np.stack([resid_features(t[:, :3]) for t in tubes])
    Xr = np.stack([resid_features(t[:, :3]) for t in rtubes])
    y = np.array([c["label"] for c in dev])
    fam = np.array([c["family"] or "" for c in dev])
    groups = np.array([c["group"] for c in dev])
    log(f"{len(dev)} clips ({int((~ok).sum())} dropped: their resized copy could not be read)")
    fold, fold_of_repo = repo_folds(dev)
    combos = ("originals|published", "originals|resized", "+ resized|published", "+ resized|resized")
    p = {k: np.full(len(dev), np.nan) for k in combos}
    pb = {k: np.full(len(dev), np.nan) for k in combos}  # the blend with the CNN (--cnn)
    if args.cnn:
        import torch

        from kinoseal.training.detector.rcnn import inputs_of

        torch.set_num_threads(max(1, args.threads))
        inputs = np.concatenate([inputs_of(tubes), inputs_of(rtubes)])  # rows n.. are the resized copies
    n = len(dev)
    XX, yy, ff, gg = np.concatenate([X, Xr]), np.r_[y, y], np.r_[fam, fam], np.r_[groups, groups]
    for i in range(K):
        tr, te = fold_split(i, fold, fold_of_repo, dev)
        for name, rows in {"originals": tr, "+ resized": np.r_[tr, tr + n]}.items():
            if args.cnn:
                log(f"fold {i}, {name}: head and CNN on {len(rows)} clips")
            # scaled on the fold's training clips as published, whatever it trained on
            fit = fit_fold(XX, inputs if args.cnn else None, rows, yy, ff, gg, C=C, steps=900 if args.cnn else 0,
                           seed=100 + i, scale_rows=tr)
            p[f"{name}|published"][te] = fit.head.predict_proba(X[te])[:, 1]
            p[f"{name}|resized"][te] = fit.head.predict_proba(Xr[te])[:, 1]
            if args.cnn:
                for on, off in (("published", 0), ("resized", n)):
                    pb[f"{name}|{on}"][te] = _sig((fit.z_head(XX[te + off]) + fit.z_cnn(inputs, te + off)[1]) / 2)
    if args.cnn:
        p = {**{f"features, {k}": v for k, v in p.items()}, **{f"blend with the CNN, {k}": v for k, v in pb.items()}}
    ev = {k: evaluate(v, dev) for k, v in p.items()}
    rows = [{"training": k.split("|")[0], "scored on": k.split("|")[1], "mean_auc": e["mean_auc"], "median_auc": e["median_auc"],
             "pooled_tpr": e["pooled_tpr"], "threshold": e["threshold"],
             "accused_loso": sum(r["accused_threshold_without_own_source"] for r in e["false_accusations"])}
            for k, e in ev.items()]
    pre = [("features, ", "features"), ("blend with the CNN, ", "blend")] if args.cnn else [("", "features")]
    deltas = {f"{w}, scored on {s}": paired_delta(ev[f"{a}originals|{s}"], ev[f"{a}+ resized|{s}"])
              for a, w in pre for s in ("published", "resized")}
    res = {"command": "python -m bench.detector_resize_probe" + (f" --scale {args.scale}" if args.scale != 0.55 else "")
           + (f" --cnn --threads {args.threads}" if args.cnn else ""),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": f"{platform.machine()}, Python {platform.python_version()}",
           "scale": args.scale, "clips": {"ai": int(y.sum()), "real": int((y == 0).sum())}, "rows": rows, "deltas": deltas,
           "auc_by_family": {k: e["auc_by_family"] for k, e in ev.items()}, "seconds": round(time.time() - t0, 1)}
    L = ["# Residual features trained with resized copies: reach after a downscale (issue 22)", "",
         f"Command: `{res['command']}` ({res['date']}, {res['host']}). {res['clips']['ai']} AI clips (33 public families + "
         f"kino-tiny's train split), {res['clips']['real']} real; `training.detector.rcnn`'s repository folds; the residual "
         + ("features and `train_xgen.fit_head`, and their blend with the residual CNN (`train_rcnn`'s recipe, 900 steps, "
            "1 crop a window; each fold's CNN trained with the same rows as its head; z-scores on the fold's original "
            "training clips). " if args.cnn else "features and `train_xgen.fit_head` only (no CNN). ")
         + f"Resized = the watermark suite's `resize_{args.scale}` "
         "(bilinear, antialiased, not scaled back), written back losslessly. Each fold's head scores its held-out "
         "clips as published and their resized copies; thresholds above every real out-of-fold score of that "
         "column (floor 0.5, + 0.01).", "",
         "| training | scored on | mean AUC (33 families) | median | pooled TPR at 0 false accusations | threshold | real accused, threshold without own source |",
         "|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['training']} | {r['scored on']} | **{r['mean_auc']:.3f}** | {r['median_auc']:.3f} | {r['pooled_tpr']:.1%} | "
                 f"{r['threshold']:.3f} | {r['accused_loso']} |")
    L += ["", "Per-family AUC change from adding the resized copies (mean over families, 95% bootstrap interval):", ""]
    for s, d in deltas.items():
        L.append(f"- {s} clips: {d['delta']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}], "
                 f"{d['better']} families better / {d['worse']} worse")
    stem = "detector_resize_probe" + ("_cnn" if args.cnn else "")
    log(f"wrote {write_results(args.results, stem, res, chr(10).join(L) + chr(10))} ({res['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
