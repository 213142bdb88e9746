"""Host predictors for the watermark detector's whitening, compared on attacked clips.

    python -m bench.wm_predictor [--keys 3]

Why: ``bench.wm_texture`` found the v5 mark present in busy block textures but drowned by the
picture (detected with the host removed exactly, not blind). The detector removes the host with
v1's "quad8" predictor (``watermark.v2._whiten``: a quadratic surface through 8 taps 3 working
pixels away). Any predictor that does not depend on the key keeps the test's analytic p-value
valid, and would help old clips as much as new ones, so a better one is cheap to adopt. This
measures alternatives with the shipped v5 extractor, swapping only the predictor (same local
normalisation and clipping; the step-1 path of small cells unchanged):

* ``quad8``: the predictor shipped until this study (``TiledParams.median_blend_cell=0``);
* ``median8``: the median of the same 8 taps (edges of flat colour fields predicted from one side);
* ``hybrid40``: the median where the taps span more than 40 grey levels (an edge), else quad8;
* ``ls16``: a linear predictor from the two rings of 8 taps at 3 and 4 pixels plus a constant,
  fitted to each frame by least squares (on every 7th pixel);
* ``quad_avg``: the mean of quad8 at 3 and at 4 pixels;
* ``rule``: median8 where the frame-size rule's cell is at least 2.5 working pixels (every frame
  downscaled to the working size, and native frames with cells that big), quad8 elsewhere (small
  frames with 2 px cells: carphone lost its mark at CRF 23 under median8 in the first run). Chosen
  after the first run, so it is judged on the second (``--stem wm_predictor_check``: clips and
  attacks the first run did not see);
* ``blend``: the mean of the quad8 and median8 predictions (tried after the second run, on the
  first run's clips and attacks: ``--stem wm_predictor_blend``);
* ``rule_blend``: blend where ``rule`` takes median8, judged on the second run's clips and attacks
  (``--stem wm_predictor_check2``): 36 detections of 72 against quad8's 33, none lost; on the first
  run's 36, 20 against 16 (``wm_predictor_blend``). Shipped since (``watermark.v2._whiten``), so the
  runs before it name it as ``quad8``'s replacement, not as ``shipped``.

The median of 8 is a sorting network (19 min/max pairs: 1.8 ms for a 256x455 plane, against 21 ms
for ``np.median``; identical values). Every run also reads each attacked clip *unmarked* with the
first key under every predictor: the test's bound holds for any predictor that ignores the key, and
this checks it on these hosts.

The clips are the suite's (``evaluation.watermark.clips``), ``texture`` among them. Each clip is marked with v5 under ``--keys`` keys, attacked once per key, and every predictor reads
the same attacked frames: the table gives the median log10 p over the keys (the clip's presence p:
the stronger of the sync layer and the bound layer), how many keys' clips were detected, and (since
the check3 run) how many were bound and how many gave back their payload (read from the sync tile). The predictor changes the sync layer only; the bound test reads
its own planes, at the geometry the sync layer found, so binding moves only where that geometry does.

Writes bench/results/<stem>.{json,md} (default stem: wm_predictor).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
from kinoseal.watermark.v2 import host_taps, median8, normalise

from bench.results_io import write_results

OUT = Path(__file__).resolve().parent / "results"
CLIPS = ("carphone", "bikes", "generated", "texture")
ATTACKS = ("h264_crf23", "h264_crf30", "h264_crf40")


def _ring(g: np.ndarray, d: int) -> np.ndarray:
    """The detector's 8 taps d pixels away (4 along the axes, then 4 diagonal), stacked."""
    return np.stack(host_taps(g, d))


def _quad(t: np.ndarray) -> np.ndarray:
    return 0.5 * t[:4].sum(0) - 0.25 * t[4:].sum(0)


def _median8(g, t, d):
    return median8(t)


def _hybrid40(g, t, d):
    return np.where(t.max(0) - t.min(0) > 40.0, median8(t), _quad(t))


def _ls16(g, t, d):
    cols = [*t, *_ring(g, d + 1)]
    X = np.stack([c.ravel() for c in cols] + [np.ones(g.size, np.float32)], 1)
    coef, *_ = np.linalg.lstsq(X[::7].astype(np.float64), g.ravel()[::7].astype(np.float64), rcond=None)
    return (X @ coef.astype(np.float32)).reshape(g.shape)


def _blend(g, t, d):
    return 0.5 * (_quad(t) + median8(t))


def _quad_avg(g, t, d):
    return 0.5 * (_quad(t) + _quad(_ring(g, d + 1)))


@contextmanager
def surface_only():
    """The watermark detector as it was before 2026-12-07 within the block: its host prediction the
    quadratic surface alone (``median_blend_cell=0`` for every version), for side-by-side runs."""
    from kinoseal.watermark import v2

    blended = v2._whiten
    v2._whiten = lambda g, p, step=None, g8=None: blended(g, replace(p, median_blend_cell=0.0), step, g8=g8)
    try:
        yield
    finally:
        v2._whiten = blended


def predictors(shipped):
    """The predictors by name, as whitening functions; ``shipped`` is ``watermark.v2._whiten``, which
    since this study is ``rule_blend`` (``TiledParams.median_blend_cell``); ``quad8`` is it with the
    blend turned off, as it was before."""
    def make(pred):
        def whiten(g, p, step=None, g8=None):
            if step is not None:  # the step-1 residual of small cells: unchanged
                return shipped(g, p, step)
            return normalise(g - pred(g, _ring(g, p.pred_step), p.pred_step), p)
        return whiten

    def quad8(g, p, step=None, g8=None):
        return shipped(g, replace(p, median_blend_cell=0.0), step, g8=g8)

    median = make(_median8)

    def rule(g, p, step=None, g8=None):
        return median(g, p, step) if step is None and p.cell_px(*g.shape) >= 2.5 else quad8(g, p, step)

    return {"quad8": quad8, "median8": median, "hybrid40": make(_hybrid40), "ls16": make(_ls16),
            "quad_avg": make(_quad_avg), "rule": rule, "blend": make(_blend), "rule_blend": shipped}


def main(argv: list[str] | None = None) -> None:
    from kinoseal.evaluation.watermark.attacks import apply_attack
    from kinoseal.evaluation.watermark.clips import load_clip
    from kinoseal.watermark import v2
    from kinoseal.watermark.keys import WatermarkKey
    from kinoseal.watermark.methods import get_method

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--predictors", default="quad8,median8,hybrid40,ls16,quad_avg")
    ap.add_argument("--stem", default="wm_predictor")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    method = get_method("kinoseal-wm-v5")
    shipped = v2._whiten
    variants = {k: v for k, v in predictors(shipped).items() if k in args.predictors.split(",")}
    clips, attacks = args.clips.split(","), args.attacks.split(",")
    runs, unmarked = [], []
    try:
        for name in clips:
            clip = load_clip(name)
            frames, fps = clip.frames, clip.fps
            for attack in attacks:
                attacked = list(apply_attack(attack, frames, fps)[0])
                run = {"clip": name, "attack": attack}
                for vname, whiten in variants.items():
                    v2._whiten = whiten
                    ex = method.extractor(WatermarkKey(bytes([1]) * 32))
                    for y, *_ in attacked:
                        ex.update(y)
                    run[vname] = round(float(ex.result().log10_p_value), 2)
                v2._whiten = shipped
                unmarked.append(run)
                print("unmarked", run, flush=True)
            for k in range(args.keys):
                key = WatermarkKey(bytes([k + 1]) * 32)
                embedder = method.embedder(key, 1000 + k)
                marked = [(embedder.embed_luma(y), u, v) for y, u, v in frames]
                for attack in attacks:
                    attacked = list(apply_attack(attack, marked, fps)[0])
                    run = {"clip": name, "key": k, "attack": attack}
                    for vname, whiten in variants.items():
                        v2._whiten = whiten
                        ex = method.extractor(key)
                        for y, *_ in attacked:
                            ex.update(y)
                        r = ex.result()
                        run[vname] = round(float(r.log10_p_value), 2)
                        run[f"{vname}_bound"] = bool(r.bound)
                        run[f"{vname}_payload"] = r.payload_id == 1000 + k
                    v2._whiten = shipped
                    runs.append(run)
                    print(run, flush=True)
    finally:
        v2._whiten = shipped
    names = list(variants)
    rows = []
    for name in clips:
        for attack in attacks:
            sel = [r for r in runs if r["clip"] == name and r["attack"] == attack]
            rows.append({"clip": name, "attack": attack,
                         **{v: round(statistics.median(r[v] for r in sel), 2) for v in names},
                         **{f"{v}_detected": sum(r[v] < -6 for r in sel) for v in names},
                         **{f"{v}_bound": sum(bool(r.get(f"{v}_bound")) for r in sel) for v in names},
                         **{f"{v}_payload": sum(bool(r.get(f"{v}_payload")) for r in sel) for v in names}})
    totals = {v: sum(r[f"{v}_detected"] for r in rows) for v in names}
    bound = {v: sum(r[f"{v}_bound"] for r in rows) for v in names}
    payload = {v: sum(r[f"{v}_payload"] for r in rows) for v in names}
    command = "python -m bench.wm_predictor" + "".join(
        f" --{k} {getattr(args, k)}" for k, d in (("keys", 3), ("clips", ",".join(CLIPS)), ("attacks", ",".join(ATTACKS)),
                                                    ("predictors", "quad8,median8,hybrid40,ls16,quad_avg"),
                                                    ("stem", "wm_predictor")) if getattr(args, k) != d)
    lowest = {v: min(r[v] for r in unmarked) for v in names}
    res = {"command": command,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, {os.cpu_count()} CPUs", "seconds": round(time.perf_counter() - started, 1),
           "keys": args.keys, "rows": rows, "detected_total": totals, "bound_total": bound, "payload_total": payload, "unmarked_lowest_log10_p": lowest,
           "runs": runs, "unmarked": unmarked}
    md = ["# Host predictors for the watermark detector\n",
          f"Command: `{res['command']}` ({res['date']}, {res['host']}, {res['seconds']} s). kinoseal-wm-v5, "
          f"{args.keys} keys per clip; median log10 p of the blind test over the keys (detected: p < 1e-6 before "
          "the verifier's factor for other versions), each predictor on the same attacked frames. `quad8` was "
          "shipped until 2026-12-07, `rule_blend` since; see the script's docstring for the others.\n",
          "| clip | attack | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in rows:
        md.append(f"| {r['clip']} | {r['attack']} | "
                  + " | ".join(f"{r[v]} ({r[f'{v}_detected']}/{args.keys}, bound {r[f'{v}_bound']})" for v in names) + " |")
    md.append("| **detected, all** | | " + " | ".join(f"**{totals[v]}**" for v in names) + " |")
    md.append("| **bound, all** (what makes `ai_generated`) | | " + " | ".join(f"**{bound[v]}**" for v in names) + " |")
    md.append("| **payload read, all** (the registry's key to the clip) | | "
              + " | ".join(f"**{payload[v]}**" for v in names) + " |")
    md.append(f"| unmarked attacked clips ({len(unmarked)}), lowest log10 p | | "
              + " | ".join(str(lowest[v]) for v in names) + " |")
    print(write_results(args.out, args.stem, res, "\n".join(md) + "\n"))


if __name__ == "__main__":
    main()
