"""The base of the verifier's consumers that read an even sample of a clip's frames in media time
(``mediaio.stream.FrameConsumer``): the watermark scan and the content fingerprint.

At most ``max_frames`` frames, one per ``duration / max_frames`` seconds, or every n-th frame
when the duration is unknown. When the length is unknown too (a raw H.264 stream declares
neither), the stride doubles after every ``max_frames // 2`` frames taken: the sample still reaches
the end of a long stream, and its size grows with the logarithm of the length (a 216,000-frame
stream: about 580 frames) instead of taking every frame. Two consumers with the same
``max_frames`` pick the same even sample, so a frame converted for one (``DecodedFrame`` caches
each format) is converted once for both when they ask for the same format. The sample never needs
consecutive frames, so the decoder may skip non-reference frames for it. A consumer stops taking
frames once it sets ``error``.

``intra_frames``: also take up to that many intra-coded (I) frames the even sample passes over, at
most one per ``duration / intra_frames`` seconds, so a clip made only of I-frames adds that many
evenly spread frames and no more. An encoder spends most of its bits on its few I-frames; after
heavy compression they keep most of what is left of a watermark (``watermark.v2.frame_weights``).
"""

from __future__ import annotations

from kinoseal.mediaio.reader import sample_stride


class EvenSample:
    def __init__(self, max_frames: int, *, intra_frames: int = 0) -> None:
        self.max_frames = max_frames
        self.intra_frames = intra_frames
        self.error: str | None = None
        self.duration_s = 0.0
        self._gap = 0.0
        self._stride = 1
        self._next_t = float("-inf")
        self._intra_gap = 0.0
        self._intra_left = 0
        self._next_intra_t = float("-inf")
        self._open_ended = False
        self._taken = 0

    def start(self, info) -> None:
        self.duration_s = float(info.duration_s or 0.0)
        self._gap = info.duration_s / self.max_frames if info.duration_s > 0 else 0.0
        self._stride = 1 if self._gap > 0 else sample_stride(info.frame_count, self.max_frames)
        self._open_ended = self._gap <= 0 and (info.frame_count or 0) <= 0
        self._taken = 0
        self._intra_left = self.intra_frames
        self._intra_gap = self.duration_s / self.intra_frames if self.intra_frames and self.duration_s > 0 else 0.0

    def wants(self, index: int, time: float, kind: str | None = None) -> bool:
        if self.error is not None:
            return False
        # 0.999: a frame exactly one gap later is still taken despite rounding of its time.
        if index % self._stride == 0 and time >= self._next_t:
            self._next_t = time + self._gap * 0.999 if self._gap > 0 else float("-inf")
            self._taken += 1
            if self._open_ended and self._taken % max(1, self.max_frames // 2) == 0:
                self._stride *= 2
            return True
        if kind == "I" and self._intra_left > 0 and time >= self._next_intra_t:
            self._intra_left -= 1
            self._next_intra_t = time + self._intra_gap * 0.999
            return True
        return False

    def needs_every_frame(self, t_from: float, t_to: float) -> bool:
        return False

    def finished(self) -> bool:
        return self.error is not None


__all__ = ["EvenSample"]
