"""The fingerprint's share of the verifier's one decode (a ``mediaio.stream.FrameConsumer``).

It hashes the frames of the same even sample as the watermark scan (same ``max_frames``), as 4:2:0
planes (``DecodedFrame.yuv420p``: the watermark reads luma alone, so these frames are converted
twice; 0.07 ms a 720p frame for the planes, against 0.35 ms for the hash itself, `fingerprint.md`).
It also keeps each frame's picture (a few kB: ``fingerprint.views``), for the comparison with a
record's views when the hashes do not match a clip the watermark names.
"""

from __future__ import annotations

import numpy as np

from kinoseal.fingerprint.core import MIN_SIDE, Fingerprint, FingerprintBuilder
from kinoseal.mediaio.sampling import EvenSample


class FingerprintScan(EvenSample):
    def __init__(self, max_frames: int) -> None:
        super().__init__(max_frames)
        self._builder = FingerprintBuilder(keep_mirrored=True, keep_pictures=True)

    def feed(self, frame) -> None:
        if min(frame.width, frame.height) < MIN_SIDE:
            self.error = f"frames of {frame.width}x{frame.height} are too small for a content fingerprint"
            return
        y, u, v = frame.yuv420p()
        self._builder.add(y, u, v, float(frame.time))

    def result(self) -> Fingerprint:
        return self._builder.build()

    def pictures(self) -> list[tuple[float, np.ndarray]]:
        """(media time, ``views.encode``d picture) of each hashed frame."""
        return list(self._builder.pictures)


__all__ = ["FingerprintScan"]
