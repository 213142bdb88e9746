"""The registry's views (``fingerprint.views``): do cropped, turned and warped copies match the clip they
came from, and what do unrelated real clips reach? The threshold ``views.MATCH_NCC`` is read here.

The 144 clips of ``../shared/data/realworld`` (113 AI clips of 33 public generator families and 31
real clips, none made here), their first 4 s: each is registered as the labeler does (views every
0.5 s) and, on every third clip, attacked (the watermark suite's geometric attacks, then H.264 CRF 23;
the re-share chain has its own codec) and queried as the verifier samples (73 frames). Each query is
compared with its own clip's views (a copy: should match) and with the views of ``--others`` other
clips (unrelated footage: must not, unless the two show the same scene; the highest are listed by
name so that a reader can judge). The hashes' own verdict on the same copies is beside it: the views
are only asked where the hashes fail.

    nice -n 10 python -m bench.fingerprint_views [--others 6] [--attacks ...] [--out DIR]

Attacks may be joined with '+' (``crop_0.71+hflip``); ``rot90`` is a quarter turn, ``cut2`` the middle 2 s.
A mirror or quarter turn is undone before the views are compared, as the verifier does from the mark's
geometry; the query's place in time is not given (as where the hashes do not place it), so a shorter
query is also tried where it may have been cut from (``fingerprint.views.cut_offsets``).

Writes bench/results/fingerprint_views.{json,md}; skips with a note where ../shared is absent.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from bench.fingerprint import QUERY_FRAMES, SHARED
from bench.results_io import write_results
from kinoseal.evaluation.watermark.attacks import apply_attack
from kinoseal.evaluation.watermark.clips import decode_i420
from kinoseal.fingerprint import FingerprintBuilder, match
from kinoseal.fingerprint.views import MATCH_NCC, MIN_PAIRS, ViewsBuilder
from kinoseal.label.labeler import REFERENCE_GAP_S
from kinoseal.verify.content import view_match

OUT = Path(__file__).resolve().parent / "results"
ATTACKS = ("none", "crop_0.71", "crop_0.55", "rotate_5", "rotate_10", "perspective_0.1", "perspective_0.2",
           "perspective_0.3", "reshare")
SECONDS = 4.0


def register(frames, fps: float):
    """(hashes, views bytes) as the labeler records them."""
    views = ViewsBuilder()
    b = FingerprintBuilder(min_gap_s=REFERENCE_GAP_S, views=views)
    for i, (y, u, v) in enumerate(frames):
        b.add(y, u, v, i / fps)
    return b.build(), views.build().to_bytes()


def sample(frames, fps: float):
    """(hashes, pictures) as the verifier's scan keeps them."""
    gap = len(frames) / fps / QUERY_FRAMES
    b = FingerprintBuilder(min_gap_s=gap * 0.999, keep_mirrored=True, keep_pictures=True)
    for i, (y, u, v) in enumerate(frames):
        b.add(y, u, v, i / fps)
    return b.build(), b.pictures


# Edits that turn the picture over or round: the verifier undoes them before comparing views, as the mark's
# geometry gives them (``TiledExtractor.frame_map``: exact for a detected mark, tests/test_views.py). Here the
# clips carry no mark, so the orientation that mark would give is passed as known.
ORIENTATION = {"hflip": 1, "rot90": 6}


def _rot90(frames):
    """A quarter turn anticlockwise (a phone clip shown sideways), each plane turned."""
    return [tuple(np.ascontiguousarray(np.rot90(p)) for p in f) for f in frames]


def _cut2(frames, fps: float):
    """The middle 2 s of the clip (an excerpt: the hashes that would place it in time fail under a crop)."""
    k = int(round(2.0 * fps))
    start = max(0, (len(frames) - k) // 2)
    return frames[start:start + k]


def attacked(name: str, frames, fps: float):
    """``name``: a suite attack, or several joined by '+' (applied in order), then H.264 CRF 23."""
    if name == "none":
        return frames, fps
    out, fps2 = frames, fps
    for part in name.split("+"):
        local = {"rot90": _rot90, "cut2": lambda f: _cut2(f, fps2)}.get(part)
        out, fps2 = (local(out), fps2) if local else apply_attack(part, out, fps2)
    if name != "reshare":
        out, fps2 = apply_attack("h264_crf23", out, fps2)
    return out, fps2


def orientation(name: str) -> int:
    """The orientation (``watermark.v2.orient``'s index) that undoes ``name``'s mirror or quarter turn (one
    of them at most)."""
    turned = [ORIENTATION[p] for p in name.split("+") if p in ORIENTATION]
    return turned[0] if turned else 0


def run(attacks: list[str], others: int, log) -> dict:
    manifest = json.loads((SHARED / "manifest.json").read_text())
    clips = []
    for m in manifest:
        frames, fps = decode_i420(SHARED / m["file"], 10**6)
        frames = frames[: int(round(SECONDS * fps))]
        clips.append((m["file"], frames, fps))
    regs = [register(f, fps) for _, f, fps in clips]
    log(f"{len(clips)} clips registered; views {np.mean([len(r[1]) for r in regs]) / 1000:.1f} kB a clip (mean)")
    n = len(clips)
    rows, false, times = [], [], []
    for a in attacks:
        t0 = time.time()
        own = []
        for k in range(0, n, 3):
            name, frames, fps = clips[k]
            out, fps2 = attacked(a, frames, fps)
            fp, pics = sample(out, fps2)
            hashed = match(regs[k][0], fp).matched
            t = time.perf_counter()
            vm = view_match(regs[k][1], pics, orientation=orientation(a))
            times.append(time.perf_counter() - t)
            own.append({"clip": name, "hashes": hashed, "views": vm.matched, "score": vm.score, "pairs": vm.pairs,
                        "scale": vm.scale, "angle_deg": vm.angle_deg, "rectified": vm.rectified,
                        "offset_s": vm.offset_s})
            if orientation(a) or "cut2" in a.split("+"):
                # what the views gave before the mark's orientation was undone and a cut searched (2026-12-07)
                as_is = view_match(regs[k][1], pics, offset_s=0.0)
                own[-1].update(views_as_is=as_is.matched, score_as_is=as_is.score)
            for j in range(1, others + 1):
                o = (k + j * 23) % n
                if o == k:
                    continue
                wm = view_match(regs[o][1], pics, orientation=orientation(a))
                false.append({"query": name, "attack": a, "registered": clips[o][0], "score": wm.score,
                              "pairs": wm.pairs, "matched": wm.matched})
        scores = [r["score"] for r in own if r["score"] is not None]
        rows.append({"attack": a, "clips": len(own), "hashes": sum(r["hashes"] for r in own),
                     "views": sum(r["views"] for r in own), "either": sum(r["hashes"] or r["views"] for r in own),
                     "views_as_is": (sum(r["views_as_is"] for r in own) if "views_as_is" in own[0] else None),
                     "min_score": min(scores) if scores else None,
                     "median_score": float(np.median(scores)) if scores else None, "cells": own})
        log(f"  {a}: hashes {rows[-1]['hashes']}, views {rows[-1]['views']}, either {rows[-1]['either']} of "
            f"{len(own)}; min score {rows[-1]['min_score']} ({time.time() - t0:.0f} s)")
    fs = [f["score"] for f in false if f["score"] is not None]
    return {"clips": n, "attacks": rows, "false_pairs": len(false),
            "false_scored": len(fs), "false_max": max(fs) if fs else None,
            "false_p99": float(np.percentile(fs, 99)) if fs else None,
            "false_matched": [f for f in false if f["matched"]],
            "false_top": sorted((f for f in false if f["score"] is not None), key=lambda f: -f["score"])[:12],
            "seconds_per_comparison": {"median": float(np.median(times)), "max": float(np.max(times))}}


def markdown(res: dict) -> str:
    L = ["# Registered views: edited copies against unrelated clips", "",
         f"Command: `{res['command']}` ({res['date']}, {res['machine']}); runtime {res['runtime_min']:.1f} min.", ""]
    if "skipped" in res:
        return "\n".join(L + [f"Skipped: {res['skipped']}", ""])
    L += [f"{res['clips']} clips of `../shared/data/realworld` (first {SECONDS:.0f} s), registered as the labeler does; "
          f"every third attacked (then H.264 CRF 23; the re-share chain has its own codec) and sampled as the verifier "
          f"does ({QUERY_FRAMES} frames). A clip matches its views when at least {MIN_PAIRS} pairs of (view, query "
          f"picture at the same time) agree at one scale, turn and position with a mean correlation of at least "
          f"{MATCH_NCC}. 'hashes': the fingerprint's hashes match (what the verifier asks first).", "",
          "Attacks joined by '+' are applied in order; `rot90` is a quarter turn. Where one mirrors or turns the "
          "picture, the views are compared with it undone (the orientation the clip's watermark gives the verifier, "
          "`TiledExtractor.frame_map`); `cut2` keeps the middle 2 s, and a query shorter than the registered clip "
          "is also tried where it may have been cut from (`fingerprint.views.cut_offsets`: screened, the best 2 "
          "searched), every pair included. 'as is' gives those copies compared at their own times and "
          "orientation, as before 2026-12-07.", "",
          "| attack | clips | hashes match | views match | views match as is | either | lowest views score | median |",
          "|---|---|---|---|---|---|---|---|"]
    for r in res["attacks"]:
        lo = "-" if r["min_score"] is None else f"{r['min_score']:.3f}"
        med = "-" if r["median_score"] is None else f"{r['median_score']:.3f}"
        as_is = "-" if r.get("views_as_is") is None else r["views_as_is"]
        L.append(f"| {r['attack']} | {r['clips']} | {r['hashes']} | {r['views']} | {as_is} | {r['either']} | {lo} | {med} |")
    L += ["", f"**Unrelated clips**: {res['false_pairs']} (query, other clip's views) pairs, {res['false_scored']} with "
          f"enough pairs in time to score; highest score {res['false_max']:.3f}, 99th percentile "
          f"{res['false_p99']:.3f}; matched: {len(res['false_matched'])}. The highest, by name (read whether the two "
          "show the same scene):", "", "| query | attack | registered | score | pairs |", "|---|---|---|---|---|"]
    L += [f"| {f['query']} | {f['attack']} | {f['registered']} | {f['score']:.3f} | {f['pairs']} |"
          for f in res["false_top"]]
    s = res["seconds_per_comparison"]
    L += ["", f"One comparison (a query's pictures against one record's views, both tries where a quadrilateral is "
          f"outlined): median {s['median']:.2f} s, at most {s['max']:.2f} s; the verifier runs it only where a watermark "
          "payload named the record and its hashes did not match.", ""]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--others", type=int, default=6, help="unrelated clips each query is compared with")
    args = ap.parse_args(argv)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:6.0f} s] {msg}", flush=True)

    extra = (f" --attacks {args.attacks}" if args.attacks != ",".join(ATTACKS) else "") + \
        (f" --others {args.others}" if args.others != 6 else "") + (f" --out {args.out}" if args.out != OUT else "")
    res = {"command": "nice -n 10 python -m bench.fingerprint_views" + extra,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.machine()}, python {platform.python_version()}"}
    if not (SHARED / "manifest.json").is_file():
        res["skipped"] = f"{SHARED} is absent"
    else:
        res.update(run([a for a in args.attacks.split(",") if a], args.others, log))
    res["runtime_min"] = (time.time() - t0) / 60
    print(write_results(args.out, "fingerprint_views", res, markdown(res)).read_text())


if __name__ == "__main__":
    main()
