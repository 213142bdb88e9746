"""Blind watermark detection on busy block textures: the labeled clips ``bench.load_verify`` makes.

    python -m bench.wm_texture [--seeds 3]

Found while profiling the load benchmark (2026-12-07): its 48 labeled 480p clips (random colour
blocks of 8 px drifting one pixel a frame, a red disc crossing, labeled at H.264 CRF 23 veryfast)
all read ``ai_generated``, from their C2PA manifest, but the blind watermark search found the
mark in none of them. This measures it per block size and CRF, on clips labeled here with the
shipped labeler (kinoseal-wm-v5, the development keys of a fresh home), each verified by the
library: the share detected at the verifier's threshold (p < 1e-6 after its multiple-testing
factor), and the median log10 p.

Where the mark goes (``--diagnose``, one clip per row, 8 px blocks): the same frames marked with
v5 outside the labeler (so the marks are known), encoded alike, then three detections: on the
marked frames before the encode, on the decoded clip, and on the decoded clip minus the unmarked
frames over flat grey (the host removed exactly: what a detector that knew the picture would see);
plus the median over frames of the correlation of the decode's change with the embedded mark.

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
    from kinoseal.evaluation.watermark.clips import block_texture

    return block_texture(int(SECONDS * FPS), seed=seed, block=block, height=H, width=W)


def diagnose(tmp: Path, block: int, crf: int, seed: int = 0) -> dict:
    """Detections with and without the host, and the mark left per frame (see the module doc)."""
    import av

    from kinoseal.mediaio.colour import rgb_to_i420
    from kinoseal.mediaio.i420 import frame_planes
    from kinoseal.mediaio.writer import H264Writer
    from kinoseal.watermark.keys import WatermarkKey
    from kinoseal.watermark.methods import get_method

    method, key = get_method("kinoseal-wm-v5"), WatermarkKey.generate()
    embedder = method.embedder(key, 0x5EED)
    before, host_removed, decoded = (method.extractor(key) for _ in range(3))
    plain, marks = [], []
    clip = tmp / f"diag-b{block}-crf{crf}.mp4"
    with H264Writer(clip, width=W, height=H, fps=FPS, crf=crf, preset="veryfast") as writer:
        for rgb in frames(seed, block):
            y, u, v = rgb_to_i420(rgb)
            marked = embedder.embed_luma(y)
            before.update(marked)
            plain.append(y)
            marks.append(marked.astype(np.float32) - y)
            writer.write_i420(marked, u, v)
    corr = []
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            y = frame_planes(frame)[0]
            decoded.update(y)
            change = y.astype(np.float32) - plain[i]
            host_removed.update(np.clip(change + 128.0, 0, 255).round().astype(np.uint8))
            mk = marks[i]
            corr.append(float((change * mk).sum() / np.sqrt((change * change).sum() * (mk * mk).sum())))
    clip.unlink()
    lp = lambda ex: round(float(ex.result().log10_p_value), 2)  # noqa: E731
    return {"block_px": block, "crf": crf, "mark_corr_median": round(statistics.median(corr), 3),
            "log10_p_marked_before_encode": lp(before), "log10_p_decoded": lp(decoded),
            "log10_p_decoded_host_removed": lp(host_removed)}


def main(argv: list[str] | None = None) -> None:
    from kinoseal.config import Settings
    from kinoseal.label import GeneratorInfo, Labeler
    from kinoseal.verify.verifier import Verifier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--diagnose", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure where the mark goes at 8 px (one clip per CRF)")
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
        diag = [diagnose(Path(tmp), 8, crf) for crf in CRFS] if args.diagnose else []
        for d in diag:
            print(d, flush=True)
    res = {"command": "python -m bench.wm_texture" + (f" --seeds {args.seeds}" if args.seeds != 3 else ""),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, {os.cpu_count()} CPUs", "seconds": round(time.perf_counter() - started, 1),
           "clip": f"{W}x{H} {FPS} fps {SECONDS:.0f} s, H.264 veryfast", "rows": rows, "diagnosis": diag}
    md = ["# Blind watermark detection on block textures\n",
          f"Command: `{res['command']}` ({res['date']}, {res['host']}, {res['seconds']} s); {res['clip']}; "
          "random colour blocks drifting one pixel a frame and a red disc (the load benchmark's clips at 8 px), "
          "labeled here and verified blind.\n",
          "| block (px) | CRF | detected | median log10 p |", "|---|---|---|---|"]
    md += [f"| {r['block_px']} | {r['crf']} | {r['detected']} / {r['clips']} | {r['median_log10_p']} |" for r in rows]
    if diag:
        md += ["", "Where the mark goes, 8 px blocks, one clip per row (v5 applied outside the labeler, encoded alike): "
               "log10 p of the blind detection on the marked frames before the encode, on the decoded clip, and on the "
               "decoded clip minus the unmarked frames over flat grey (the host removed exactly); and the median over "
               "frames of the correlation of the decode's change with the embedded mark.\n",
               "| CRF | mark correlation per frame | before the encode | decoded | decoded, host removed |",
               "|---|---|---|---|---|"]
        md += [f"| {d['crf']} | {d['mark_corr_median']} | {d['log10_p_marked_before_encode']} | "
               f"{d['log10_p_decoded']} | {d['log10_p_decoded_host_removed']} |" for d in diag]
    print(write_results(args.out, "wm_texture", res, "\n".join(md) + "\n"))


if __name__ == "__main__":
    main()
