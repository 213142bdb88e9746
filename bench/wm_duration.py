"""2 s against 10 s clips under the hard attacks (issue 21 item 4): does a longer clip carry the mark further?

    nice -n 5 python -m bench.wm_duration [--methods kinoseal-wm-v5] [--keys 3] [--seconds 2,10]

A method may carry parameter overrides, ``name:field=value[:field=value]``: ``kinoseal-wm-v5:hold=0`` is v5's
embedder without its hold (the extractor is the same), to compare the two in one run. ``--read-variants
bound_frames=96`` reads every attacked clip a second time with the method's extractor so overridden (rows named
``kinoseal-wm-v5:bound_frames=96``): the same marked and attacked frames, so the comparison is paired and the
encodes are not repeated. Only for parameters the embedder does not read.

The first 10 s of each clip is marked once per key; each duration is the first N seconds of that marked clip,
attacked as a whole (so an encoder sees the clip it would see), then read the way the verifier reads a clip:
at most ``Limits.verify_max_frames`` frames spread evenly over it (a 2 s clip: every frame). A clip counts as
detected when the mark is bound at p < 1e-6 (what ``ai_generated`` needs), as in the robustness suite.
Writes bench/results/wm_duration.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from kinoseal.config import Limits
from kinoseal.evaluation.watermark.attacks import apply_attack, frame_kind
from kinoseal.evaluation.watermark.clips import load_clip
from kinoseal.evaluation.watermark.suite import method_variant
from kinoseal.watermark import WatermarkKey, get_method

OUT = Path(__file__).resolve().parent / "results" / "wm_duration"
ATTACKS = ["none", "h264_crf30", "h264_crf40", "h265_crf40", "av1_crf50", "crop_0.71", "perspective_0.3", "reshare"]
CLIPS = ["bikes", "generated", "kino_tiny"]


def bench_key(i: int) -> WatermarkKey:
    return WatermarkKey(hashlib.sha256(f"kinoseal-bench-duration-{i}".encode()).digest())


def sample(n: int, max_frames: int) -> list[int]:
    """The verifier's sample: every frame of a short clip, else ``max_frames`` spread evenly."""
    if n <= max_frames:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, max_frames)})


def read(method, key: WatermarkKey, frames) -> dict:
    ex = method.extractor([key])
    for i in sample(len(frames), Limits().verify_max_frames):
        ex.update(frames[i][0], frame_kind(frames[i]))
    r = ex.result()
    return {"detected": bool(r.detected and r.bound is not False), "log10_p": round(float(r.log10_p_value), 2),
            "binding_log10_p": None if r.binding_log10_p is None else round(float(r.binding_log10_p), 2)}


def run(methods: list[str], clips: list[str], seconds: list[float], attacks: list[str], keys: int,
        read_variants: list[str] = ()) -> list[dict]:
    rows = []
    longest = max(seconds)
    for cname in clips:
        probe = load_clip(cname, 1)
        clip = load_clip(cname, int(math.ceil(longest * probe.fps)))
        if len(clip.frames) < int(round(longest * clip.fps)):
            print(f"{cname}: only {len(clip.frames) / clip.fps:.1f} s, skipped", flush=True)
            continue
        for mname in methods:
            m = method_variant(mname)
            readers = [(mname, m)] + [(f"{mname}:{v}", method_variant(f"{mname}:{v}")) for v in read_variants]
            for k in range(keys):
                key = bench_key(k)
                emb = m.embedder(key, 0x5EED + k)
                marked = [(emb.embed_luma(y), u, v) for y, u, v in clip.frames]
                for sec in seconds:
                    part = marked[: int(round(sec * clip.fps))]
                    for att in attacks:
                        t = time.perf_counter()
                        fr, _ = apply_attack(att, part, clip.fps)
                        attack_s = time.perf_counter() - t
                        for rname, rm in readers:
                            t = time.perf_counter()
                            got = read(rm, key, fr)
                            row = {"clip": cname, "method": rname, "key": k, "seconds": sec, "attack": att,
                                   "frames": len(fr), **got, "attack_s": round(attack_s, 2),
                                   "read_s": round(time.perf_counter() - t, 2)}
                            rows.append(row)
                            print(row, flush=True)
    return rows


def markdown(res: dict) -> str:
    rows, secs = res["rows"], res["seconds"]
    L = ["# 2 s against 10 s clips under the hard attacks (issue 21 item 4)", "",
         f"Command: `{res['command']}` ({res['date']}, {res['host']}, {res['minutes']} min).", "",
         f"Clips: {', '.join(res['clips'])}, each marked with {res['keys']} keys (own payload each); a duration is the "
         "first N seconds of the marked clip, attacked as a whole, read like the verifier (every frame of a 2 s clip, "
         f"at most {res['max_frames']} spread frames of a longer one). Cell: clips detected (bound at p < 1e-6) / clips, "
         "then the median log10 p of the binding.", ""]
    for mname in res["methods"]:
        L += [f"## {mname}", "", "| attack | " + " | ".join(f"{s:g} s" for s in secs) + " |",
              "|---|" + "---|" * len(secs)]
        for att in res["attacks"]:
            cells = []
            for s in secs:
                rr = [r for r in rows if r["method"] == mname and r["attack"] == att and r["seconds"] == s]
                b = [r["binding_log10_p"] for r in rr if r["binding_log10_p"] is not None]
                med = f"{np.median(b):.1f}" if b else "-"
                cells.append(f"{sum(r['detected'] for r in rr)}/{len(rr)} ({med})")
            L.append(f"| {att} | " + " | ".join(cells) + " |")
        tot = [sum(r["detected"] for r in rows if r["method"] == mname and r["seconds"] == s) for s in secs]
        n = [sum(1 for r in rows if r["method"] == mname and r["seconds"] == s) for s in secs]
        L += ["| **total** | " + " | ".join(f"**{a}/{b}**" for a, b in zip(tot, n)) + " |", ""]
        by_clip = []
        for c in res["clips"]:
            parts = []
            for s in secs:
                rr = [r for r in rows if r["method"] == mname and r["clip"] == c and r["seconds"] == s]
                parts.append(f"{sum(r['detected'] for r in rr)}/{len(rr)}")
            by_clip.append(f"{c} {' vs '.join(parts)}")
        L += ["By clip (" + " vs ".join(f"{s:g} s" for s in secs) + "): " + "; ".join(by_clip) + ".", ""]
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="kinoseal-wm-v5")
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--seconds", default="2,10")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--read-variants", default="", help="extractor-only overrides read beside each method, "
                    "';'-separated (each may join several with ':'), e.g. 'bound_frames=96'")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    t0 = time.time()
    methods, clips = args.methods.split(","), args.clips.split(",")
    seconds, attacks = [float(s) for s in args.seconds.split(",")], args.attacks.split(",")
    variants = [v for v in args.read_variants.split(";") if v]
    rows = run(methods, clips, seconds, attacks, args.keys, variants)
    given = sys.argv[1:] if argv is None else argv
    res = {"command": " ".join(["python -m bench.wm_duration", *given]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, python {platform.python_version()}",
           "minutes": round((time.time() - t0) / 60, 1),
           "methods": [r for m in methods for r in [m, *(f"{m}:{v}" for v in variants)]],
           "clips": sorted({r["clip"] for r in rows}, key=clips.index), "seconds": seconds, "attacks": attacks,
           "keys": args.keys, "max_frames": Limits().verify_max_frames, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
