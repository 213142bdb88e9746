"""The watermark's share of the verifier's one decode: every registered extractor
over one sample of frames (a ``mediaio.stream.FrameConsumer``).

Every frame carries the mark, so any sample will do: at most ``max_frames``
frames, evenly spread in media time (one per ``duration / max_frames``
seconds), or every n-th frame when the duration is unknown. The sample never
needs consecutive frames, so the decoder may skip non-reference frames for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from kinoseal.mediaio.reader import sample_stride
from kinoseal.watermark.result import WatermarkResult

# Below this many pixels on a side a frame cannot carry the watermark's grid.
MIN_WATERMARK_SIDE = 16


class WatermarkScan:
    def __init__(self, extractors: Sequence, max_frames: int) -> None:
        self.extractors = list(extractors)
        # Versions that analyse frames identically (v2 and v3: only their key domains differ) share
        # one analysis: the frames are whitened and the geometries searched once, not once each.
        leaders: dict = {}
        for ex in self.extractors:
            key = ex.analysis_key() if hasattr(ex, "follow") else None
            if key is not None and key in leaders:
                ex.follow(leaders[key])
            elif key is not None:
                leaders[key] = ex
        self.max_frames = max_frames
        self.error: str | None = None
        self.times: list[float] = []  # media time of each frame the extractors saw, in order
        self.duration_s = 0.0
        self._gap = 0.0
        self._stride = 1
        self._next_t = float("-inf")

    def start(self, info) -> None:
        self.duration_s = float(info.duration_s or 0.0)
        self._gap = info.duration_s / self.max_frames if info.duration_s > 0 else 0.0
        self._stride = 1 if self._gap > 0 else sample_stride(info.frame_count, self.max_frames)

    def wants(self, index: int, time: float) -> bool:
        # 0.999: a frame exactly one gap later is still taken despite rounding of its time.
        if self.error is None and index % self._stride == 0 and time >= self._next_t:
            self._next_t = time + self._gap * 0.999 if self._gap > 0 else float("-inf")
            return True
        return False

    def needs_every_frame(self, t_from: float, t_to: float) -> bool:
        return False

    def feed(self, frame) -> None:
        if min(frame.width, frame.height) < MIN_WATERMARK_SIDE:
            self.error = f"frames of {frame.width}x{frame.height} are too small to carry a watermark"
            return
        y = frame.gray()
        self.times.append(float(frame.time))
        for ex in self.extractors:
            ex.update(y)

    def finished(self) -> bool:
        return self.error is not None

    def results(self) -> list[WatermarkResult]:
        return [ex.result() for ex in self.extractors]


__all__ = ["MIN_WATERMARK_SIDE", "WatermarkScan"]
