"""Do aligned synthetic pairs from a simulated latent decoder help the cross-generator classifier? (issue 22)

    .venv/bin/python -m bench.detector_pairs_probe [--threads 2]     # ~35 min on 2 cores (+10 min the first time)

Why: the generalist learns from ~140 AI clips of 33 families, too few to tell a decoder's traces from each
family's scenes. ``training.detector.decoder_sim`` trains a small latent-diffusion-style autoencoder on the real
clips' crops and makes aligned pairs from every real clip: its crops repainted by the decoder (AI) and the
same crops through the same H.264 encode without it (real). This probe asks whether adding them to training
moves the held-out numbers, under ``train_rcnn``'s protocol and recipe (repository folds, the features head,
the residual CNN at 900 steps, the blend of standardised logits, CNN at 1 crop a window), every variant on
the same folds and seeds:

* features / CNN, each trained without and with the pairs (a fold only takes the pairs of its own
  training real clips);
* the blend without pairs (the shipped ``kinodet_xgen_rcnn`` 1.0.0 recipe), with pairs for the features
  head only, and with pairs for both.

Writes ``bench/results/detector_pairs_probe.{json,md}`` (the JSON keeps every variant's out-of-fold
standardised logits). Tubes come from ``train_rcnn``'s cache; the autoencoder and the pairs are cached in
``tmp/cnnprobe/decoder_sim``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bench.results_io import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PAIRS = ROOT / "tmp" / "cnnprobe" / "decoder_sim"
PAIRS_FAMILY = "simulated decoder (aligned pairs)"
BASE = "blend without pairs (shipped 1.0.0 recipe)"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def markdown(res: dict) -> str:
    from kinoseal.training.detector.rcnn import SUMMARY_HEADER, summary_row

    ev = res["eval"]
    a = res["autoencoder"]
    L = ["# Aligned pairs from a simulated latent decoder: do they help the generalist? (issue 22)", "",
         f"Command: `{res['command']}` ({res['date']}, {res['host']}). Runtime {res['seconds'] / 60:.1f} min.", "",
         f"Clips: {res['clips']['ai']} AI (33 public families + kino-tiny's train split), {res['clips']['real']} real. "
         f"Pairs: each of the {res['clips']['real']} real clips' tubes (8 windows x 3 frames x 4 crops of 96 px) repainted "
         f"by the simulated decoder (`training.detector.decoder_sim`: {a['parameters']:,} parameters, 1/8-resolution "
         f"latent of 16 channels, nearest-neighbour upsampling + 3x3 convolutions; seed {a['seed']}; trained {a['steps']} steps on "
         f"{a['crops']} real crops, reconstruction PSNR {a['psnr_db']:.1f} dB on a seventh of them), then H.264 CRF 20 - labelled AI; the "
         "same crops through the same encode without the decoder - labelled real. Protocol and recipe: "
         "`train_rcnn`'s (5 repository folds crossed with 5 real-source folds; features head; CNN 900 steps, seeds "
         f"{a['seed']} + fold; blend = mean of the standardised logits; CNN at 1 crop a window). A fold trains on the pairs of "
         "its own training real clips only; every variant is scored on the same published out-of-fold clips, "
         "thresholds above every real out-of-fold score (floor 0.5, + 0.01).", "",
         SUMMARY_HEADER] + [summary_row(v, e) for v, e in ev.items()]
    L += ["", "## Paired per-family AUC differences", "",
          "Mean over the 33 families of AUC(model) - AUC(against); 95% bootstrap interval over families; better / "
          "worse = families moving by more than 0.005.", "",
          "| model | against | mean delta AUC | 95% interval | better / worse |", "|---|---|---|---|---|"]
    for d in res["deltas"]:
        L.append(f"| {d['model']} | {d['against']} | {d['delta']:+.3f} | [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] | "
                 f"{d['better']} / {d['worse']} |")
    names = list(ev)
    L += ["", "## Real footage: highest out-of-fold score and accusations with a threshold chosen without the clip's own source", "",
          "| kind | clips | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    fa = {v: {r["kind"]: r for r in ev[v]["false_accusations"]} for v in names}
    for kind, r in fa[names[0]].items():
        L.append(f"| {kind} | {r['clips']} | " + " | ".join(
            f"{fa[v][kind]['max_score']:.2f} / {fa[v][kind]['accused_threshold_without_own_source']}" for v in names) + " |")
    L += ["", "## Pose-driven dance generators (AUC)", "", "| family | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for f in ("MagicDance", "MimicMotion", "Moore-AnimateAnyone", "MuseV"):
        L.append(f"| {f} | " + " | ".join(f"{ev[v]['auc_by_family'][f]:.2f}" for v in names) + " |")
    L += ["", "## Reading", ""] + [f"- {n}" for n in res["notes"]]
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--seed", type=int, default=100, help="fold i's CNN is seeded seed + i; the autoencoder seed")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    import torch

    from kinoseal.detect import create_model
    from kinoseal.detect.resid import resid_features
    from kinoseal.training.detector import decoder_sim
    from kinoseal.training.detector.rcnn import (K, clip_key, evaluate, fit_fold, fold_split, inputs_of,
                                                 paired_delta, repo_folds)
    from kinoseal.training.detector.train_rcnn import ARCH, XGEN_CROPS, _sig, dev_tubes

    torch.set_num_threads(max(1, args.threads))
    t0 = time.time()
    cfg = create_model(ARCH).config
    C, steps = float(cfg["head_C"]), int(cfg["cnn_steps"])
    dev, tubes = dev_tubes(log)
    n = len(dev)
    y = np.array([c["label"] for c in dev])
    fam = np.array([c["family"] or "" for c in dev])
    groups = np.array([c["group"] for c in dev])
    real = np.flatnonzero(y == 0)
    nr = len(real)

    # rows n..n+nr-1: the synthetic twin of real clip real[j] (AI); rows n+nr..: its H.264 round trip (real)
    ae, ae_file = decoder_sim.autoencoder([tubes[i] for i in real], PAIRS, seed=args.seed, log=log)
    synth, rt = decoder_sim.aligned_pairs([tubes[i] for i in real], [clip_key(dev[i]["path"]) for i in real], ae, ae_file,
                                          PAIRS / "pairs", log=log)
    sample = np.concatenate([tubes[i][:, :, 1] for i in real[::7]])
    mse = float(np.mean((decoder_sim.reconstruct(ae, sample).astype(np.float64) - sample) ** 2))
    ae_info = {"file": ae_file.name, "recipe": decoder_sim.RECIPE, "steps": decoder_sim.STEPS, "seed": args.seed,
               "parameters": int(sum(p.numel() for p in ae.parameters())), "crops": int(nr * tubes[0].shape[0] * tubes[0].shape[1]),
               "psnr_db": float(10 * np.log10(255 ** 2 / mse))}
    X = np.stack([resid_features(t[:, :XGEN_CROPS]) for t in tubes])
    XX = np.concatenate([X] + [np.stack([resid_features(t[:, :XGEN_CROPS]) for t in side]) for side in (synth, rt)])
    yy = np.r_[y, np.ones(nr, int), np.zeros(nr, int)]
    ff = np.r_[fam, np.full(nr, PAIRS_FAMILY), np.full(nr, "")]
    gg = np.r_[groups, groups[real], groups[real]]
    inputs = np.concatenate([inputs_of(tubes), inputs_of(synth), inputs_of(rt)])
    del synth, rt
    log(f"{n} clips + {nr} aligned pairs; CNN inputs {inputs.shape} ({inputs.nbytes / 1e9:.2f} GB)")

    fold, fold_of_repo = repo_folds(dev)
    kinds = ("plain", "pairs")
    zh = {v: np.full(n, np.nan) for v in kinds}
    zc = {v: np.full(n, np.nan) for v in kinds}
    pf = {v: np.full(n, np.nan) for v in kinds}
    for i in range(K):
        tr, te = fold_split(i, fold, fold_of_repo, dev)
        used = np.flatnonzero(np.isin(real, tr))
        for v, r in {"plain": tr, "pairs": np.r_[tr, n + used, n + nr + used]}.items():
            log(f"fold {i}, {v}: head and CNN on {len(r)} rows")
            fit = fit_fold(XX, inputs, r, yy, ff, gg, C=C, steps=steps, seed=args.seed + i)
            pf[v][te] = fit.head.predict_proba(X[te])[:, 1]
            zh[v][te] = fit.z_head(X[te])
            zc[v][te] = fit.z_cnn(inputs, te)[1]

    variants = {"features": pf["plain"], "features + pairs": pf["pairs"], "CNN": _sig(zc["plain"]),
                "CNN + pairs": _sig(zc["pairs"]), BASE: _sig((zh["plain"] + zc["plain"]) / 2),
                "blend, pairs for the features only": _sig((zh["pairs"] + zc["plain"]) / 2),
                "blend, pairs for both": _sig((zh["pairs"] + zc["pairs"]) / 2)}
    ev = {v: evaluate(p, dev) for v, p in variants.items()}
    for v, e in ev.items():
        log(f"{v:45s} mean AUC {e['mean_auc']:.3f}, pooled TPR {e['pooled_tpr']:.1%}")
    deltas = [{"model": a, "against": b, **paired_delta(ev[b], ev[a])} for a, b in (
        ("features + pairs", "features"), ("CNN + pairs", "CNN"),
        ("blend, pairs for the features only", BASE), ("blend, pairs for both", BASE))]
    dance = ("MagicDance", "MimicMotion", "Moore-AnimateAnyone", "MuseV")

    def mean_dance(v: str) -> float:
        return float(np.mean([ev[v]["auc_by_family"][f] for f in dance]))

    def verdict(x: dict) -> str:
        lo, hi = x["ci95"]
        word = "gains" if lo > 0 else "loses" if hi < 0 else "moves by"
        return f"{word} {x['delta']:+.3f} per family (95% interval [{lo:+.3f}, {hi:+.3f}], {x['better']} better / {x['worse']} worse)"

    notes = [f"{x['model']} against {x['against']}: {verdict(x)}; pooled TPR at zero false accusations "
             f"{ev[x['against']]['pooled_tpr']:.1%} -> {ev[x['model']]['pooled_tpr']:.1%}." for x in deltas]
    notes.append("Pose-driven dance generators (mean AUC of the four): "
                 + ", ".join(f"{v} {mean_dance(v):.2f}" for v in (BASE, "blend, pairs for the features only", "blend, pairs for both")) + ".")
    res = {"command": "python -m bench.detector_pairs_probe" + ("" if args.threads == 2 else f" --threads {args.threads}")
           + ("" if args.seed == 100 else f" --seed {args.seed}"),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__} "
                   f"on {torch.get_num_threads()} threads",
           "clips": {"ai": int(y.sum()), "real": int(nr)}, "autoencoder": ae_info, "eval": ev, "deltas": deltas, "notes": notes,
           "oof_z": {"paths": [c["path"] for c in dev], "features": {v: zh[v].tolist() for v in kinds},
                     "cnn_1crop": {v: zc[v].tolist() for v in kinds}},
           "seconds": round(time.time() - t0, 1)}
    log(f"wrote {write_results(args.results, 'detector_pairs_probe', res, markdown(res), indent=1)} ({res['seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
