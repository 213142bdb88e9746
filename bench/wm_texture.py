"""Blind watermark detection on busy block textures: the labeled clips ``bench.load_verify`` makes.

    python -m bench.wm_texture [--seeds 3]

Found while profiling the load benchmark (2026-12-07): its 48 labeled 480p clips (random colour
blocks of 8 px drifting one pixel a frame, a red disc crossing, labeled at H.264 CRF 23 veryfast)
all read ``ai_generated``, from their C2PA manifest, but the blind watermark search found the
mark in none of them. This measures it per block size and CRF, on clips labeled here with the
shipped labeler (kinoseal-wm-v5, the development keys of a fresh home), each verified by the
library: the share detected at the verifier's threshold (p < 1e-6 after its multiple-testing
factor), and the median log10 p.

Writes bench/results/wm_texture.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.results_io import write_results

OUT = Path(__file__).resolve().parent / "results"
H, W, FPS, SECONDS = 480, 854, 24, 5.0
BLOCKS = (2, 4, 8, 16, 32)
CRFS = (12, 23)


def frames(seed: int, block: int):
    """The load benchmark's picture with ``block`` px blocks (``bench.load_verify.make_clip`` at 8)."""
    rng = np.random.default_rng(seed)
    base = rng.random(((H + 16) // block + 2, (W + 16) // block + 2, 3))
    big = np.kron(base, np.ones((block, block, 1)))
    yy, xx = np.mgrid[0:H, 0:W]
    for t in range(int(SECONDS * FPS)):
        img = big[t % 16: t % 16 + H, t % 16: t % 16 + W] * 0.6 + 0.2
        disc = (xx - (60 + 7 * t) % (W - 60)) ** 2 + (yy - H // 2) ** 2 < 40**2
        img[disc] = (0.9, 0.2, 0.1)
        yield (img * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    from kinoseal.config import Settings
    from kinoseal.label import GeneratorInfo, Labeler
    from kinoseal.verify.verifier import Verifier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kinoseal-wm-texture-") as tmp:
        home = Path(tmp) / "home"
        verifier = None
        for crf in CRFS:
            labeler = Labeler.from_settings(Settings(home=home, preset="veryfast", crf=crf))
            for block in BLOCKS:
                lps, found = [], 0
                for seed in range(args.seeds):
                    clip = Path(tmp) / f"b{block}-crf{crf}-{seed}.mp4"
                    labeler.label_frames(frames(seed, block), clip, fps=FPS, generator=GeneratorInfo("bench", "1"))
                    verifier = verifier or Verifier.from_settings(Settings(home=home, classifier_model="none"))
                    wm = verifier.verify(clip).to_dict()["watermark"]
                    found += bool(wm.get("detected"))
                    lps.append(float(wm.get("log10_p_value") or 0.0))
                    clip.unlink()
                rows.append({"block_px": block, "crf": crf, "clips": args.seeds, "detected": found,
                             "median_log10_p": round(statistics.median(lps), 2), "log10_p": [round(x, 2) for x in lps]})
                print(rows[-1], flush=True)
    res = {"command": "python -m bench.wm_texture" + (f" --seeds {args.seeds}" if args.seeds != 3 else ""),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, {os.cpu_count()} CPUs", "seconds": round(time.perf_counter() - started, 1),
           "clip": f"{W}x{H} {FPS} fps {SECONDS:.0f} s, H.264 veryfast", "rows": rows}
    md = ["# Blind watermark detection on block textures\n",
          f"Command: `{res['command']}` ({res['date']}, {res['host']}, {res['seconds']} s); {res['clip']}; "
          "random colour blocks drifting one pixel a frame and a red disc (the load benchmark's clips at 8 px), "
          "labeled here and verified blind.\n",
          "| block (px) | CRF | detected | median log10 p |", "|---|---|---|---|"]
    md += [f"| {r['block_px']} | {r['crf']} | {r['detected']} / {r['clips']} | {r['median_log10_p']} |" for r in rows]
    print(write_results(args.out, "wm_texture", res, "\n".join(md) + "\n"))


if __name__ == "__main__":
    main()
