"""Open a file as a video and check it against the limits before decoding it."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from kinoseal.config import Limits
from kinoseal.errors import InputError, LimitExceeded

# Containers that ffmpeg opens as a one-frame "video" but that are still images.
_IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "gif", "webp_pipe", "tiff_pipe", "apng")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    fps: Fraction
    frame_count: int  # declared or estimated from duration; 0 if unknown
    duration_s: float
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = float(self.fps)
        return d


def open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise InputError(f"{Path(path).name} is not a readable video file", hint=_short(exc)) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot open {Path(path).name}", hint=_short(exc)) from None


def _short(exc: BaseException) -> str:
    """One line, without file paths (the caller names the file)."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    text = " ".join(str(text).split())
    return text[:200]


def check_file(path: Path, limits: Limits) -> int:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path.name} does not exist")
    if not path.is_file():
        raise InputError(f"{path.name} is not a regular file")
    size = os.stat(path).st_size
    if size == 0:
        raise InputError(f"{path.name} is empty")
    if size > limits.max_file_bytes:
        raise LimitExceeded(f"{path.name} is {size} bytes, over the limit of {limits.max_file_bytes} bytes")
    return size


def probe(path: Path, limits: Limits | None = None) -> VideoInfo:
    """Metadata of the first video stream; raises InputError/LimitExceeded with a clear message."""
    limits = limits or Limits()
    size = check_file(path, limits)
    with open_container(path) as container:
        return _info(Path(path), size, container, limits)


def _info(path: Path, size: int, container: av.container.InputContainer, limits: Limits) -> VideoInfo:
    fmt = container.format.name if container.format else "unknown"
    if any(name in fmt.split(",") for name in _IMAGE_FORMATS):
        raise InputError(f"{path.name} is a still image ({fmt}), not a video")
    if not container.streams.video:
        kind = "an audio-only file" if container.streams.audio else "not a video"
        raise InputError(f"{path.name} has no video stream ({kind})")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None:
        raise InputError(f"{path.name} has a video stream with an unknown or unsupported codec")
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width <= 0 or height <= 0:
        raise InputError(f"{path.name} declares no frame size; the video stream is unusable")
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise LimitExceeded(
            f"{path.name} declares {width}x{height} frames, over the limit of "
            f"{limits.max_width}x{limits.max_height} ({limits.max_pixels} pixels)"
        )
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = Fraction(rate) if rate else Fraction(25)
    if fps <= 0 or fps > 1000:
        fps = Fraction(25)
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    duration = max(duration, 0.0)
    if duration > limits.max_duration_s:
        raise LimitExceeded(f"{path.name} declares {duration:.0f} s, over the limit of {limits.max_duration_s:.0f} s")
    frames = int(stream.frames or 0)
    if frames <= 0 and duration > 0:
        frames = int(round(duration * float(fps)))
    if frames > limits.max_frames:
        raise LimitExceeded(f"{path.name} declares {frames} frames, over the limit of {limits.max_frames}")
    audio = container.streams.audio[0] if container.streams.audio else None
    return VideoInfo(
        path=str(path),
        size_bytes=size,
        container=fmt,
        codec=ctx.name,
        width=width,
        height=height,
        fps=fps,
        frame_count=frames,
        duration_s=duration,
        pix_fmt=ctx.pix_fmt,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None and audio.codec_context is not None else None,
    )
