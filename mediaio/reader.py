"""Stream decoded frames one at a time (never the whole clip in memory)."""

from __future__ import annotations

import contextlib
import errno
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from kinoseal.config import Limits
from kinoseal.errors import InputError, LimitExceeded
from kinoseal.mediaio.i420 import frame_planes
from kinoseal.mediaio.probe import VideoInfo, _info, _short, check_file, open_container


@dataclass
class Frame:
    index: int
    time: float  # seconds from the start of the stream
    planes: tuple[np.ndarray, ...]  # ("yuv420p": Y, U, V) ("gray": Y) ("rgb24": HxWx3)


@dataclass
class DecodeReport:
    """Filled while iterating: what was decoded and whether decoding stopped early."""

    info: VideoInfo | None = None
    frames_decoded: int = 0
    frames_returned: int = 0
    stopped_early: str | None = None
    notes: list[str] = field(default_factory=list)


def sample_stride(frame_count: int, max_frames: int) -> int:
    """Every n-th frame so that at most ``max_frames`` are used, spread over the clip."""
    if frame_count <= 0 or max_frames <= 0:
        return 1
    return max(1, math.ceil(frame_count / max_frames))


def _convert(frame: av.VideoFrame, fmt: str) -> tuple[np.ndarray, ...]:
    if fmt == "yuv420p":
        return frame_planes(frame)
    if fmt == "gray":
        if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "yuvj444p", "yuvj422p"):
            y = np.frombuffer(frame.planes[0], dtype=np.uint8)
            stride = frame.planes[0].line_size
            return (y.reshape(-1, stride)[: frame.height, : frame.width].copy(),)
        return (frame.to_ndarray(format="gray"),)
    if fmt == "rgb24":
        return (frame.to_ndarray(format="rgb24"),)
    raise ValueError(f"unsupported frame format {fmt!r}")


@contextlib.contextmanager
def open_video(path: Path, limits: Limits, report: DecodeReport) -> Iterator[tuple[av.container.InputContainer, VideoInfo]]:
    """Check the file against the limits, open it once and probe it (``report.info``)."""
    size = check_file(path, limits)
    with open_container(path) as container:
        report.info = _info(Path(path), size, container, limits)
        yield container, report.info


def check_frame(frame: av.VideoFrame, decoded: int, limits: Limits, name: str) -> None:
    """Stop a decode that goes past the frame-count or pixel limits (``decoded`` so far)."""
    if decoded >= limits.max_frames:
        raise LimitExceeded(f"{name} has more than {limits.max_frames} frames")
    if frame.width * frame.height > limits.max_pixels:
        raise LimitExceeded(f"{name} has a {frame.width}x{frame.height} frame, over the pixel limit")


def decode_failed(exc: BaseException, report: DecodeReport, tolerant: bool, name: str) -> None:
    """A decoding error: after good frames and ``tolerant``, a note that ends the stream; else InputError.
    A decoder out of memory, or out of threads (their stacks are memory too: "Resource temporarily
    unavailable" under a sandbox's address-space limit), is a limit, not a broken file: LimitExceeded,
    which no manifest fallback turns into a report that says the clip does not decode."""
    if isinstance(exc, MemoryError) or getattr(exc, "errno", None) in (errno.ENOMEM, errno.EAGAIN):
        raise LimitExceeded(f"{name} needs more memory than allowed to decode", hint=_short(exc)) from None
    if tolerant and report.frames_decoded > 0:
        report.stopped_early = f"decoding stopped after frame {report.frames_decoded}: {_short(exc)}"
        report.notes.append(report.stopped_early)
    else:
        raise InputError(f"{name} could not be decoded", hint=_short(exc)) from None


def require_frames(report: DecodeReport, name: str) -> None:
    if report.frames_decoded == 0:
        raise InputError(f"{name} contains no decodable video frames")


def iter_frames(
    path: Path,
    limits: Limits | None = None,
    *,
    fmt: str = "yuv420p",
    select: Callable[[int], bool] | None = None,
    tolerant: bool = False,
    report: DecodeReport | None = None,
    refs_only: bool = False,
    min_gap_s: float = 0.0,
) -> Iterator[Frame]:
    """Decode the first video stream frame by frame.

    ``select(i)`` decides which frames are converted to arrays (decoding still
    visits every frame, as inter-coded video requires). ``refs_only`` asks the
    decoder to skip frames no other frame references (B-frames, typically
    30-40% of the decode cost); indices then count the frames decoded. It suits
    consumers that need a sample of frames, not consecutive ones.
    ``min_gap_s`` converts at most one frame per that much media time, so a
    sample stays spread over the clip whatever the decoder skipped. ``tolerant``: a
    decoding error after at least one good frame ends the stream with a note
    in ``report`` instead of raising (the verifier still reports what it saw).
    """
    limits = limits or Limits()
    report = report if report is not None else DecodeReport()
    name = Path(path).name
    with open_video(path, limits, report) as (container, info):
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = limits.decode_threads
        if refs_only:
            stream.codec_context.skip_frame = "NONREF"
        index = 0
        next_t = -math.inf
        try:
            for frame in container.decode(stream):
                check_frame(frame, index, limits, name)
                report.frames_decoded = index + 1
                t = float(frame.time) if frame.time is not None else index / float(info.fps)
                if (select is None or select(index)) and t >= next_t:
                    next_t = t + min_gap_s if min_gap_s > 0 else -math.inf
                    report.frames_returned += 1
                    yield Frame(index=index, time=t, planes=_convert(frame, fmt))
                index += 1
        except (av.FFmpegError, ValueError, MemoryError) as exc:
            decode_failed(exc, report, tolerant, name)
        require_frames(report, name)
