"""One streaming decode that feeds every consumer of a clip's pixels.

Verification looks at a clip three ways (the watermark, the classifier, the
media facts). Opening and decoding the file once per consumer multiplies the
dominant cost - decoding - by the number of consumers, so the verifier opens
the container once, probes it, and hands each decoded frame to whichever
consumers ask for it.

Consumers say per frame whether they want it (``wants``) and per stretch of
media time whether they need *every* frame there (``needs_every_frame``: the
classifier's windows of consecutive frames do, the watermark's spread sample
does not). Where no consumer needs every frame, and the clip is long enough
that a sample still fills up, the decoder skips frames that no other frame
references (B-frames: 30-40% of an H.264 decode). The switch is made ahead of
the stretch that needs every frame (``LOOKAHEAD_FRAMES``), because the frames
coming out of a threaded decoder lag the packets going in.

Frames are converted lazily and at most once per format, and no consumer may
keep a ``DecodedFrame`` after ``feed`` returns (its buffers belong to the
decoder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Protocol, Union

import av
import numpy as np

from kinoseal.config import Limits
from kinoseal.mediaio.i420 import RegionRgb
from kinoseal.mediaio.probe import VideoInfo
from kinoseal.mediaio.reader import DecodeReport, _convert, check_frame, decode_failed, open_video, require_frames

# Frames ahead of a stretch that needs every frame at which the decoder stops
# skipping non-reference frames: the packets already sent to the decoder when a
# frame comes out (B-frame reordering, up to 4 with x264's defaults, plus one per
# decoder thread) were decoded under the old setting.
LOOKAHEAD_FRAMES = 10


_PICT_TYPES = {1: "I", 2: "P", 3: "B"}


def coding_type(frame: av.VideoFrame) -> str | None:
    """'I', 'P' or 'B' as the decoder reports the frame's picture type; None for any other (S, SI, SP,
    BI, or none given)."""
    try:
        return _PICT_TYPES.get(int(frame.pict_type))
    except (TypeError, ValueError):
        return None


class DecodedFrame:
    """A decoded frame with its media time; ``gray()``/``rgb()``/``yuv420p()``
    convert on first use and cache, so two consumers of one format pay once."""

    __slots__ = ("index", "time", "width", "height", "kind", "_frame", "_cache")

    def __init__(self, index: int, time: float, frame: av.VideoFrame, kind: str | None = None) -> None:
        self.index = index
        self.time = time
        self.width = int(frame.width)
        self.height = int(frame.height)
        self.kind = kind if kind is not None else coding_type(frame)
        self._frame = frame
        self._cache: dict[str, tuple[np.ndarray, ...]] = {}

    def planes(self, fmt: str) -> tuple[np.ndarray, ...]:
        got = self._cache.get(fmt)
        if got is None:
            got = self._cache[fmt] = _convert(self._frame, fmt)
        return got

    def gray(self) -> np.ndarray:
        return self.planes("gray")[0]

    def rgb(self) -> np.ndarray:
        return self.planes("rgb24")[0]

    def yuv420p(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y, u, v = self.planes("yuv420p")
        return y, u, v

    def rgb_regions(self) -> RegionRgb | np.ndarray:
        """The RGB picture to keep after ``feed``, converted only where it is later sliced (an
        even-sized yuv420p frame: ``RegionRgb``), else converted whole now (a copy)."""
        if RegionRgb.supports(self._frame):
            return RegionRgb(self.yuv420p(), self._frame.colorspace, self._frame.color_range)
        return self.rgb().copy()


class FrameConsumer(Protocol):
    """Anything that reads a clip's frames during the verifier's one decode."""

    def start(self, info: VideoInfo) -> None:
        """Called once, after probing and before the first frame: plan the sample."""

    def wants(self, index: int, time: float, kind: str | None = None) -> bool:
        """Convert and ``feed`` this frame? ``index`` is ``round(time * fps)``; ``kind`` its coding
        type (``coding_type``)."""

    def needs_every_frame(self, t_from: float, t_to: float) -> bool:
        """Does any moment in ``[t_from, t_to]`` (media seconds) need every frame?"""

    def feed(self, frame: DecodedFrame) -> None:
        """Take what is needed from the frame; do not keep the frame."""

    def finished(self) -> bool:
        """True once no later frame is wanted (decoding stops when all are finished)."""


@dataclass
class StreamResult:
    info: VideoInfo
    decode: DecodeReport = field(default_factory=DecodeReport)


def stream_frames(path: Path, consumers: list[FrameConsumer], limits: Limits | None = None, *,
                  allow_skip: Union[bool, Callable[[VideoInfo], bool]] = True, tolerant: bool = True,
                  report: DecodeReport | None = None,
                  on_info: Callable[[VideoInfo], list[FrameConsumer]] | None = None) -> StreamResult:
    """Open ``path`` once, probe it, and decode it once for every consumer.

    ``allow_skip`` (or ``allow_skip(info)``): skip non-reference frames where no
    consumer needs every frame; the caller knows when a sample still fills up.
    ``on_info(info)`` runs after probing, before any consumer starts, and returns
    more consumers: work that is only worth preparing for a file that really is a
    video (loading a model) waits until then. It may raise to stop.
    ``tolerant``: a decoding error after good frames ends the stream with a note.
    """
    limits = limits or Limits()
    report = report if report is not None else DecodeReport()
    name = Path(path).name
    with open_video(path, limits, report) as (container, info):
        if on_info is not None:
            consumers = [*consumers, *(on_info(info) or [])]
        if callable(allow_skip):
            allow_skip = bool(allow_skip(info))
        for c in consumers:
            c.start(info)
        active = [c for c in consumers if not c.finished()]
        if not active:
            return StreamResult(info, report)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = limits.decode_threads
        ctx = stream.codec_context
        fps = float(info.fps) or 25.0
        t0: float | None = None
        last_index, counting = -1, False
        skipping = False

        def set_skip(on: bool) -> None:
            nonlocal skipping
            if on != skipping:
                ctx.skip_frame = "NONREF" if on else "DEFAULT"
                skipping = on

        ahead = LOOKAHEAD_FRAMES / fps
        set_skip(allow_skip and not any(c.needs_every_frame(0.0, ahead) for c in active))
        try:
            for frame in container.decode(stream):
                check_frame(frame, report.frames_decoded, limits, name)
                report.frames_decoded += 1
                t = float(frame.time) if frame.time is not None else math.nan
                if t0 is None:
                    t0 = t if math.isfinite(t) else 0.0
                index = int(round((t - t0) * fps)) if math.isfinite(t) and not counting else -1
                if index <= last_index:
                    # Missing, repeated, backward or squeezed time stamps (broken muxers,
                    # hostile files) would put several frames at one index: from here on,
                    # count frames instead, which holds only while none is skipped.
                    if not counting:
                        counting = True
                        report.notes.append("the clip's time stamps are broken; frames were counted instead")
                        if allow_skip:
                            allow_skip = False
                            set_skip(False)
                    index = last_index + 1
                last_index = index
                rel = t - t0 if not counting else index / fps
                df: DecodedFrame | None = None
                kind = coding_type(frame)
                for c in active:
                    if c.wants(index, rel, kind):
                        df = df or DecodedFrame(index, rel, frame, kind)
                        c.feed(df)
                if df is not None:
                    report.frames_returned += 1
                active = [c for c in active if not c.finished()]
                if not active:
                    break
                if allow_skip:
                    set_skip(not any(c.needs_every_frame(rel, rel + ahead) for c in active))
        except (av.FFmpegError, ValueError, MemoryError) as exc:
            decode_failed(exc, report, tolerant, name)
        require_frames(report, name)
    return StreamResult(info, report)


__all__ = ["DecodedFrame", "coding_type", "FrameConsumer", "LOOKAHEAD_FRAMES", "StreamResult", "stream_frames"]
