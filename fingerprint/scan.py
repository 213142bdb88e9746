"""The fingerprint's share of the verifier's one decode (a ``mediaio.stream.FrameConsumer``).

It hashes the frames of the same even sample as the watermark scan (same ``max_frames``), as 4:2:0
planes (``DecodedFrame.yuv420p``, converted once per frame for every consumer that asks).
"""

from __future__ import annotations

from kinoseal.fingerprint.core import MIN_SIDE, Fingerprint, FingerprintBuilder
from kinoseal.mediaio.sampling import EvenSample


class FingerprintScan:
    def __init__(self, max_frames: int) -> None:
        self._sample = EvenSample(max_frames)
        self._builder = FingerprintBuilder(keep_mirrored=True)
        self.error: str | None = None

    def start(self, info) -> None:
        self._sample.start(info)

    def wants(self, index: int, time: float) -> bool:
        return self.error is None and self._sample.wants(index, time)

    def needs_every_frame(self, t_from: float, t_to: float) -> bool:
        return False

    def feed(self, frame) -> None:
        if min(frame.width, frame.height) < MIN_SIDE:
            self.error = f"frames of {frame.width}x{frame.height} are too small for a content fingerprint"
            return
        y, u, v = frame.yuv420p()
        self._builder.add(y, u, v, float(frame.time))

    def finished(self) -> bool:
        return self.error is not None

    def result(self) -> Fingerprint:
        return self._builder.build()


__all__ = ["FingerprintScan"]
