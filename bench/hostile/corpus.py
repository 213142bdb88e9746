"""Generate a corpus of hostile media for the verifier.

Run: .venv/bin/python -m bench.hostile.corpus OUT_DIR [--signed SIGNED.mp4]

Families (each file name starts with its family):
- truncated_*: a valid signed MP4 cut at many offsets
- randhdr_*: valid-looking headers (ftyp/moov/EBML/RIFF/JPEG) followed by random bytes
- bigdims_*: MJPEG in MKV/AVI whose frames declare 40000x40000 (a decompression bomb)
- bigcount_*: MP4 whose mvhd/mdhd/tkhd durations and stsz counts are patched huge
- nested_*: deeply nested and self-overlapping boxes
- zero_frames_*: containers with a video stream and no frames
- audio_only_*, image_as_mp4_*, text_as_mp4_*: not videos
- longdur_*: two frames 10 hours apart (tiny file, absurd duration)
- vfr_*: variable frame rate
- odd_*: 1x1, 4097x3 and 3x4097 frames (lossless codecs that allow odd sizes)
- deep_*: 10-bit 4:2:0, 4:4:4 8-bit and 10-bit
- container_*: the same clip as MKV, WebM, MOV, AVI
- mutated_*: a signed MP4 with bytes flipped inside every box type
"""

from __future__ import annotations

import argparse
import io
import os
import random
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from kinoseal.mediaio.bmff import CONTAINERS, boxes


def synthetic_frames(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    return [np.roll(base, 2 * i, axis=1) for i in range(n)]


def encode(path: Path, codec: str, pix_fmt: str, frames: list[np.ndarray], fps: int = 10,
           fmt: str | None = None, pts: list[int] | None = None, options: dict | None = None) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fps, options=options or {})
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.codec_context.time_base = Fraction(1, fps)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format=pix_fmt)
            vf.pts = pts[i] if pts else i
            vf.time_base = Fraction(1, fps)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def all_boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0):
    """(type, offset, size, depth) of every box, depth first in file order."""
    for b in boxes(data, start, end, plain_sizes=True):
        yield b.type, b.start, b.size, depth
        if b.type in CONTAINERS:
            yield from all_boxes(data, b.payload_start, b.end, depth + 1)


def make_corpus(out: Path, signed: Path | None, seed: int = 0) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    made: list[Path] = []

    def put(name: str, data: bytes) -> None:
        p = out / name
        p.write_bytes(data)
        made.append(p)

    base = encode(out / "_base.mp4", "libx264", "yuv420p", synthetic_frames(20, 96, 128))
    if signed is None:
        signed = base
    sdata = signed.read_bytes()

    # truncated at many offsets
    for i, frac in enumerate([0.0005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999]):
        put(f"truncated_{i:02d}.mp4", sdata[: max(1, int(len(sdata) * frac))])
    # valid headers + random bytes
    headers = {
        "mp4": struct.pack(">I4s4sI", 20, b"ftyp", b"isom", 512) + b"isom",
        "moov": struct.pack(">I4s", 0x7FFFFFFF, b"moov"),
        "mkv": bytes.fromhex("1A45DFA3"),
        "avi": b"RIFF" + struct.pack("<I", 100000) + b"AVI LIST",
        "jpeg": bytes.fromhex("FFD8FFE0"),
    }
    for name, head in headers.items():
        for j in range(3):
            put(f"randhdr_{name}_{j}.mp4", head + rnd.randbytes(rnd.choice([10, 1000, 50000])))
    # decompression bomb: MJPEG frames declaring 40000x40000
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buf, format="JPEG")
    jpeg = bytearray(buf.getvalue())
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 40000, 40000)
    for fmt, ext in (("matroska", "mkv"), ("avi", "avi")):
        small = encode(out / f"_small.{ext}", "mjpeg", "yuvj420p", synthetic_frames(5, 16, 16), fmt=fmt)
        p = out / f"bigdims_{ext}.{ext}"
        with av.open(str(small)) as src, av.open(str(p), "w", format=fmt) as c:
            s_out = c.add_stream_from_template(src.streams.video[0])
            for pkt in src.demux(src.streams.video[0]):
                if pkt.dts is None:
                    continue
                data = bytearray(bytes(pkt))
                at = data.find(b"\xff\xc0")
                if at >= 0:
                    data[at + 5:at + 9] = struct.pack(">HH", 40000, 40000)
                new = av.Packet(bytes(data))
                new.pts, new.dts, new.time_base = pkt.pts, pkt.dts, pkt.time_base
                new.stream = s_out
                c.mux(new)
        small.unlink()
        made.append(p)
    # huge counts/durations patched into a valid MP4
    bdata = bytearray(base.read_bytes())
    for typ, pos, size, _ in all_boxes(bytes(bdata)):
        if typ == b"mvhd":
            bdata[pos + 24:pos + 28] = struct.pack(">I", 0xFFFFFFF0)  # duration (v0)
        if typ == b"stsz":
            bdata[pos + 16:pos + 20] = struct.pack(">I", 0x7FFFFFFF)  # sample count
    put("bigcount_mp4.mp4", bytes(bdata))
    # nested / overlapping boxes
    inner = b""
    for _ in range(2000):
        inner = struct.pack(">I4s", 8 + len(inner), b"moov") + inner
    put("nested_deep.mp4", headers["mp4"] + inner)
    put("nested_selfsize.mp4", headers["mp4"] + struct.pack(">I4s", 8, b"moov") * 5000)
    put("nested_overlap.mp4", headers["mp4"] + struct.pack(">I4s", 4, b"trak") + rnd.randbytes(64))
    # zero frames
    for fmt, ext in (("mp4", "mp4"), ("matroska", "mkv")):
        p = out / f"zero_frames.{ext}"
        with av.open(str(p), "w", format=fmt) as c:
            s = c.add_stream("libx264", rate=10)
            s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        if p.exists():  # some muxers write nothing for a stream without frames
            made.append(p)
    # not videos
    p = out / "audio_only.mp4"
    with av.open(str(p), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=44100)
        tone = (0.1 * np.sin(np.arange(44100) / 10)).astype(np.float32)
        for st in range(0, 44100, 1024):
            fr = av.AudioFrame.from_ndarray(tone[None, st:st + 1024], format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 44100, st
            for pk in a.encode(fr):
                c.mux(pk)
        for pk in a.encode():
            c.mux(pk)
    made.append(p)
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (1, 2, 3)).save(buf, format="PNG")
    put("image_as_mp4.mp4", buf.getvalue())
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (1, 2, 3)).save(buf, format="JPEG")
    put("image_jpeg_as_mp4.mp4", buf.getvalue())
    put("text_as_mp4.mp4", b"<html><body>not a video</body></html>\n" * 50)
    # absurd durations, VFR
    made.append(encode(out / "longdur.mkv", "libx264", "yuv420p", synthetic_frames(2, 64, 64), fps=10,
                       fmt="matroska", pts=[0, 10 * 3600 * 10]))
    made.append(encode(out / "vfr.mkv", "libx264", "yuv420p", synthetic_frames(12, 96, 128), fps=1000,
                       fmt="matroska", pts=[0, 33, 40, 100, 101, 300, 310, 311, 500, 700, 701, 900]))
    # odd sizes
    made.append(encode(out / "odd_1x1.mkv", "ffv1", "yuv444p", synthetic_frames(3, 1, 1), fmt="matroska"))
    made.append(encode(out / "odd_4097x3.mkv", "ffv1", "yuv444p", synthetic_frames(3, 3, 4097), fmt="matroska"))
    made.append(encode(out / "odd_3x4097.mkv", "ffv1", "yuv444p", synthetic_frames(3, 4097, 3), fmt="matroska"))
    # bit depth and chroma
    made.append(encode(out / "deep_10bit.mp4", "libx264", "yuv420p10le", synthetic_frames(10, 96, 128)))
    made.append(encode(out / "deep_444.mp4", "libx264", "yuv444p", synthetic_frames(10, 96, 128)))
    made.append(encode(out / "deep_444_10bit.mkv", "libx265", "yuv444p10le", synthetic_frames(10, 96, 128), fmt="matroska",
                       options={"x265-params": "log-level=none"}))
    # containers
    made.append(encode(out / "container.mkv", "libx264", "yuv420p", synthetic_frames(10, 96, 128), fmt="matroska"))
    made.append(encode(out / "container.webm", "libvpx-vp9", "yuv420p", synthetic_frames(10, 96, 128), fmt="webm"))
    made.append(encode(out / "container.mov", "libx264", "yuv420p", synthetic_frames(10, 96, 128), fmt="mov"))
    made.append(encode(out / "container.avi", "mjpeg", "yuvj420p", synthetic_frames(10, 96, 128), fmt="avi"))
    # mutated signed files: flips inside every box type
    for k, (typ, pos, size, depth) in enumerate(all_boxes(sdata)):
        for j in range(2):
            m = bytearray(sdata)
            off = pos + rnd.randrange(0, size)
            for t in range(rnd.choice([1, 4, 16])):
                if off + t < len(m):
                    m[off + t] ^= rnd.randrange(1, 256)
            put(f"mutated_{typ.decode('latin-1').strip()}_{k:02d}_{j}.mp4", bytes(m))
    (out / "_base.mp4").unlink()
    return made


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--signed", type=Path, default=None)
    args = ap.parse_args()
    files = make_corpus(args.out, args.signed)
    print(f"{len(files)} files in {args.out}")


if __name__ == "__main__":
    main()
