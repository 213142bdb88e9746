"""A learned forger against the content-bound marks (issue 21, "learned forgers such as WmForger").

The attacker (``evaluation.watermark.learned_forger``) knows the algorithm, holds N clips marked
with one key at one resolution (each with its own payload), not the key. It learns each tile cell's
keyed halfspace from (coarse-luma features, estimated mark value) pairs, then paints the predicted
bound signs plus the learned pilots on unrelated real clips, encodes them (H.264 CRF 18) and the
verifier's extractor tests them with the real key.

Clips: ../shared/data/realworld, every clip centre-cropped to 4:3 and resized to 320x240. Hosts: the
first ``--hosts`` real camera clips (never used to train); training clips: the other clips (real and
AI-generated: content does not matter to the attack), ``--frames`` frames each (every 2nd of the first
2x that many). Gains are multiples of the real mark's RMS on the host.

    nice -n 10 python -m bench.wm_learned_forgery [--train 10,30,100] [--hosts 6] [--methods kinoseal-wm-v5,kinoseal-wm-v4] [--degree 2] [--merge a.json,b.json]

Writes bench/results/wm_learned_forgery.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from kinoseal.evaluation.watermark.attacks import _h264_options, codec_roundtrip
from kinoseal.evaluation.watermark.clips import decode_i420
from kinoseal.evaluation.watermark.forgery import fit_clip
from kinoseal.evaluation.watermark.learned_forger import (LearnedForger, PairForger, clean_label_forger,
                                                            true_bound_values)
from kinoseal.evaluation.watermark.suite import BENCH_KEY
from kinoseal.watermark import get_method
from kinoseal.watermark.result import P_VALUE_THRESHOLD

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "realworld"
OUT = Path(__file__).resolve().parent / "results"
LOG_T = math.log10(P_VALUE_THRESHOLD)
GAINS = (1.0, 2.0, 4.0)
W, H = 320, 240


def load(entry: dict, n: int) -> tuple[list, float]:
    fr, fps = decode_i420(SHARED / entry["file"], n)
    return fit_clip(fr, W, H), fps


def extract(method, lumas) -> dict:
    ex = method.extractor([BENCH_KEY])
    for y in lumas:
        ex.update(y)
    r = ex.result()
    return {"log10_p": round(float(r.log10_p_value), 1), "binding_log10_p": round(float(r.binding_log10_p), 1),
            "accepted": bool(r.detected and r.bound)}


def run(args) -> dict:
    if not (SHARED / "manifest.json").exists():
        raise SystemExit(f"{SHARED} is absent: this bench needs the shared real-world clips")
    man = json.loads((SHARED / "manifest.json").read_text())
    real = [e for e in man if e["kind"] == "real_camera"]
    hosts, train = real[: args.hosts], real[args.hosts:] + [e for e in man if e["kind"] != "real_camera"]
    sizes = [int(n) for n in args.train.split(",")]
    rows = []
    for name in args.methods.split(","):
        m = get_method(name)
        truth = m.embedder(BENCH_KEY, 0)
        marked = []
        for k, e in enumerate(train[: max(sizes)]):
            fr, _ = load(e, args.stride * args.frames)
            emb = m.embedder(BENCH_KEY, 1000 + k)  # every clip its own payload, as labeled clips are
            marked.append([emb.embed_luma(y) for y, _, _ in fr[::args.stride]])
        for n in sizes:
            t0 = time.perf_counter()
            forger = (clean_label_forger(m, truth, rounds=args.rounds) if args.clean_labels else
                      PairForger(m, rounds=args.rounds, estimate=args.estimate) if args.pair else
                      LearnedForger(m, degree=args.degree, components=args.components, per_grid=args.per_grid))
            forger.fit(marked[:n])
            fit_s = time.perf_counter() - t0
            for e in hosts:
                fr, fps = load(e, 16)
                ys = [y for y, _, _ in fr]
                # how well the forger predicts the true bound value chip_b * s, instance by instance
                acc, acc_live = [], []
                for y in ys[::4]:
                    s_true, live = true_bound_values(truth, y)
                    s_hat = forger.signs(y)
                    acc.append(float(np.mean(s_hat == s_true)))
                    acc_live.append(float(np.mean(s_hat[live] == s_true[live])))
                emb = m.embedder(BENCH_KEY, 7)
                mk = [emb.embed_luma(y) for y in ys]
                rms = float(np.sqrt(np.mean([(a.astype(np.float64) - b) ** 2 for a, b in zip(mk, ys)])))
                label = (f"pair, trained on the true bound values (the learner's ceiling: no attacker has them)"
                         if args.clean_labels else
                         f"pair: two halfspaces, rank-one start, {args.rounds} alternating rounds"
                         + (", whitened estimates" if args.estimate == "whitened" else "") if args.pair else
                         f"degree {args.degree}" + (f", {args.components} PCs per grid" if args.per_grid else ""))
                row = {"method": name, "forger": label, "train_clips": n, "train_frames": sum(len(c) for c in marked[:n]),
                       "host": e["file"], "fit_s": round(fit_s, 1),
                       "sign_accuracy": round(float(np.mean(acc)), 3), "sign_accuracy_live": round(float(np.mean(acc_live)), 3),
                       "mark_rms": round(rms, 2), "real_mark": extract(m, mk), "forged": {}}
                for gain in GAINS:
                    forged = forger.forge(ys, gain * rms)
                    enc, _ = codec_roundtrip([(y, u, v) for y, (_, u, v) in zip(forged, fr)], fps, "libx264",
                                             _h264_options(18))
                    row["forged"][str(gain)] = extract(m, [y for y, _, _ in enc])
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {"command": f"python -m bench.wm_learned_forgery --train {args.train} --hosts {args.hosts} "
                       f"--frames {args.frames}" + (f" --stride {args.stride}" if args.stride != 2 else "")
                       + f" --methods {args.methods}" + ("" if args.pair else f" --degree {args.degree}")
                       + (f" --components {args.components} --per-grid" if args.per_grid else "")
                       + (f" --pair --rounds {args.rounds}" if args.pair else "")
                       + (f" --estimate {args.estimate}" if args.pair and args.estimate != "highpass" else "")
                       + (" --clean-labels" if args.clean_labels else ""),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": f"{W}x{H}", "rows": rows}


def summarise(res: dict) -> str:
    md = ["# Learned forger against the content-bound marks", "",
          f"`{res['command']}` ({res['date']}). The attacker holds N clips marked with one key at {res['size']} "
          "(each with its own payload), learns every tile cell's keyed bound value by ridge regression, and paints "
          "the predicted bound signs plus the learned pilots on unrelated real clips (never in its training set), "
          "then H.264 CRF 18. Forger degree 1: regression on the 25 features (learns a halfspace); degree 2: on "
          "their 12 principal components and all pairwise products (learns a quadratic form); pair (v5 only): two halfspaces per "
          "tile cell, started from the rank-one cross-moment of the residual with the two feature grids and refined by "
          "alternating least squares, with high-pass or whitened (kinoseal's own host predictor) estimates of the mark, or "
          "trained on the true bound values (its ceiling). Gain 1 = the real mark's RMS on that host (about 2 grey levels). "
          "'accepted' = the verifier's extractor finds the pattern *and* binds it: the clip would read `ai_generated`.", "",
          "| method | forger | training clips | sign accuracy (counted instances) | accepted, gain 1 | gain 2 | gain 4 | "
          "median forged binding log10 p (gain 1 / 2 / 4) | real mark's binding, median |",
          "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list] = {}
    for r in res["rows"]:
        groups.setdefault((r["method"], r.get("forger", "degree 1"), r["train_clips"], r.get("train_frames")), []).append(r)
    for (name, forger, n, frames), rs in groups.items():
        n = n if frames is None else f"{n} ({frames} frames)"
        acc = np.mean([r["sign_accuracy_live"] for r in rs])
        cells = [f"{sum(r['forged'][str(g)]['accepted'] for r in rs)}/{len(rs)}" for g in GAINS]
        med = " / ".join(f"{np.median([r['forged'][str(g)]['binding_log10_p'] for r in rs]):.1f}" for g in GAINS)
        real = np.median([r["real_mark"]["binding_log10_p"] for r in rs])
        md.append(f"| {name} | {forger} | {n} | {acc:.3f} | {' | '.join(cells)} | {med} | {real:.1f} |")
    return "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="10,30,100")
    ap.add_argument("--hosts", type=int, default=6)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--methods", default="kinoseal-wm-v5,kinoseal-wm-v4")
    ap.add_argument("--degree", type=int, default=1, help="1: linear regression forger; 2: quadratic")
    ap.add_argument("--components", type=int, default=12, help="degree 2: principal components kept")
    ap.add_argument("--per-grid", action="store_true", help="degree 2: components of each sample grid apart")
    ap.add_argument("--pair", action="store_true",
                    help="v5's own form: two halfspaces per tile cell, rank-one start, alternating least squares")
    ap.add_argument("--rounds", type=int, default=6, help="--pair: alternating rounds")
    ap.add_argument("--estimate", default="highpass", choices=("highpass", "whitened"),
                    help="--pair: how the mark is estimated at each instance (whitened: kinoseal's own host predictor)")
    ap.add_argument("--clean-labels", action="store_true",
                    help="--pair trained on the true bound values, not its estimates: the learner's ceiling")
    ap.add_argument("--stride", type=int, default=2, help="training frames: every stride-th of the first stride x frames")
    ap.add_argument("--out", default=str(OUT / "wm_learned_forgery"))
    ap.add_argument("--merge", default="", help="comma-separated result JSONs: one table of their rows, nothing run")
    args = ap.parse_args()
    out = Path(args.out)
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge.split(",")]
        res = {"command": "; ".join(p["command"] for p in parts), "date": ", ".join(p["date"] for p in parts),
               "size": parts[0]["size"], "rows": [r for p in parts for r in p["rows"]]}
    else:
        res = run(args)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    md = summarise(res)
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
