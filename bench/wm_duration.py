"""2 s against 10 s clips under the hard attacks (issue 21 item 4): does a longer clip carry the mark further?

    nice -n 5 python -m bench.wm_duration [--methods kinoseal-wm-v5] [--keys 3] [--seconds 2,10] [--readings verifier]

A method may carry parameter overrides, ``name:field=value[:field=value]``: ``kinoseal-wm-v5:hold=0`` is v5's
embedder without its hold (the extractor is the same), to compare the two in one run. ``--read-variants
bound_frames=96`` reads every attacked clip a second time with the method's extractor so overridden (rows named
``kinoseal-wm-v5:bound_frames=96``): the same marked and attacked frames, so the comparison is paired and the
encodes are not repeated. Only for parameters the embedder does not read.

``--readings verifier,verifier-no-intra,spread`` reads every attacked clip once per reading (rows
``name [reading]``): 'verifier' (the default) is the verifier's watermark scan
(``evaluation.watermark.reading.verifier_sample``: a long clip decoded without its non-reference frames, an
even sample of at most ``Limits.verify_max_frames`` frames in media time plus the I-frames it passes over; a
2 s clip: every frame), 'verifier-no-intra' the same sample before it took those I-frames, 'spread' this
bench's reading before 2026-12-07 (``max_frames`` frames spread over all frames, B-frames included).

The first 10 s of each clip is marked once per key; each duration is the first N seconds of that marked clip,
attacked as a whole (so an encoder sees the clip it would see), then read. A clip counts as detected when the
mark is bound at p < 1e-6 (what ``ai_generated`` needs), as in the robustness suite.
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
from kinoseal.evaluation.watermark.reading import verifier_sample
from kinoseal.evaluation.watermark.suite import method_variant
from kinoseal.watermark import WatermarkKey, get_method

OUT = Path(__file__).resolve().parent / "results" / "wm_duration"
ATTACKS = ["none", "h264_crf30", "h264_crf40", "h265_crf40", "av1_crf50", "crop_0.71", "perspective_0.3", "reshare"]
CLIPS = ["bikes", "generated", "kino_tiny"]


def bench_key(i: int) -> WatermarkKey:
    return WatermarkKey(hashlib.sha256(f"kinoseal-bench-duration-{i}".encode()).digest())


def sample(frames, fps: float, reading: str) -> list[int]:
    """The frames a reading takes: 'verifier' is the verifier's scan (``verifier_sample``),
    'verifier-no-intra' the same before it took the I-frames its even sample passes over, 'spread'
    this bench's reading before 2026-12-07 (every frame of a short clip, else ``max_frames`` spread
    evenly over all frames, B-frames included)."""
    n, max_frames = len(frames), Limits().verify_max_frames
    if reading == "spread":
        if n <= max_frames:
            return list(range(n))
        return sorted({int(round(x)) for x in np.linspace(0, n - 1, max_frames)})
    return verifier_sample(frames, fps, max_frames, intra=reading == "verifier")


def read(method, key: WatermarkKey, frames, fps: float, reading: str) -> dict:
    ex = method.extractor([key])
    taken = sample(frames, fps, reading)
    for i in taken:
        ex.update(frames[i][0], frame_kind(frames[i]))
    r = ex.result()
    return {"read_frames": len(taken), "read_intra": sum(frame_kind(frames[i]) == "I" for i in taken),
            "detected": bool(r.detected and r.bound is not False), "log10_p": round(float(r.log10_p_value), 2),
            "binding_log10_p": None if r.binding_log10_p is None else round(float(r.binding_log10_p), 2)}


def run(methods: list[str], clips: list[str], seconds: list[float], attacks: list[str], keys: int,
        read_variants: list[str] = (), readings: list[str] = ("verifier",)) -> list[dict]:
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
            readers = [(reader_name(n, g, readings), rm, g) for n, rm in readers for g in readings]
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
                        for rname, rm, reading in readers:
                            t = time.perf_counter()
                            got = read(rm, key, fr, clip.fps, reading)
                            row = {"clip": cname, "method": rname, "key": k, "seconds": sec, "attack": att,
                                   "frames": len(fr), **got, "attack_s": round(attack_s, 2),
                                   "read_s": round(time.perf_counter() - t, 2)}
                            rows.append(row)
                            print(row, flush=True)
    return rows


READINGS_MD = {
    "verifier": "Read like the verifier's watermark scan: a clip of at least twice the sample (96 frames) decoded "
                "without its non-reference frames, an even sample in media time plus the I-frames it passes over.",
    "verifier-no-intra": "The verifier's scan before 2026-12-07: the same, without the extra I-frames.",
    "spread": "This bench before 2026-12-07: every frame of a 2 s clip, at most 96 frames spread over all frames "
              "(B-frames included) of a longer one.",
}


def reader_name(method: str, reading: str, readings) -> str:
    return method if len(readings) == 1 else f"{method} [{reading}]"


def markdown(res: dict) -> str:
    rows, secs = res["rows"], res["seconds"]
    L = ["# 2 s against 10 s clips under the hard attacks (issue 21 item 4)", "",
         f"Command: `{res['command']}` ({res['date']}, {res['host']}, {res['minutes']} min).", "",
         f"Clips: {', '.join(res['clips'])}, each marked with {res['keys']} keys (own payload each); a duration is the "
         "first N seconds of the marked clip, attacked as a whole, then read. "
         + (" ".join(f"`[{g}]`: {READINGS_MD[g]}" for g in res["readings"]) if len(res.get("readings", [])) > 1
            else READINGS_MD[res.get("readings", ["spread"])[0]])
         + " Cell: clips detected (bound at p < 1e-6) / clips, then the median log10 p of the binding, then the median "
         "frames read (I-frames among them).", ""]
    for mname in res["methods"]:
        L += [f"## {mname}", "", "| attack | " + " | ".join(f"{s:g} s" for s in secs) + " |",
              "|---|" + "---|" * len(secs)]
        for att in res["attacks"]:
            cells = []
            for s in secs:
                rr = [r for r in rows if r["method"] == mname and r["attack"] == att and r["seconds"] == s]
                b = [r["binding_log10_p"] for r in rr if r["binding_log10_p"] is not None]
                med = f"{np.median(b):.1f}" if b else "-"
                nf = [r["read_frames"] for r in rr if "read_frames" in r]
                ni = [r["read_intra"] for r in rr if "read_intra" in r]
                frames = f"; {np.median(nf):g} ({np.median(ni):g})" if nf else ""
                cells.append(f"{sum(r['detected'] for r in rr)}/{len(rr)} ({med}{frames})")
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
    ap.add_argument("--readings", default="verifier", help="comma-separated: " + ", ".join(READINGS_MD))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    t0 = time.time()
    methods, clips = args.methods.split(","), args.clips.split(",")
    seconds, attacks = [float(s) for s in args.seconds.split(",")], args.attacks.split(",")
    variants = [v for v in args.read_variants.split(";") if v]
    readings = args.readings.split(",")
    unknown = [g for g in readings if g not in READINGS_MD]
    if unknown:
        ap.error(f"unknown reading {unknown[0]!r}; choose from {', '.join(READINGS_MD)}")
    rows = run(methods, clips, seconds, attacks, args.keys, variants, readings)
    given = sys.argv[1:] if argv is None else argv
    res = {"command": " ".join(["python -m bench.wm_duration", *given]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, python {platform.python_version()}",
           "minutes": round((time.time() - t0) / 60, 1),
           "methods": [reader_name(r, g, readings) for m in methods for r in [m, *(f"{m}:{v}" for v in variants)]
                       for g in readings], "readings": readings,
           "clips": sorted({r["clip"] for r in rows}, key=clips.index), "seconds": seconds, "attacks": attacks,
           "keys": args.keys, "max_frames": Limits().verify_max_frames, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
