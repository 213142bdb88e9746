"""The watermark's share of the verifier's one decode: every registered extractor
over one sample of frames (a ``mediaio.stream.FrameConsumer``).

Every frame carries the mark, so any sample will do: at most ``max_frames``
frames, evenly spread in media time (one per ``duration / max_frames``
seconds), or every n-th frame when the duration is unknown, plus the clip's
I-frames that sample passes over (at most ``max_frames // 8``,
``mediaio.sampling.EvenSample``): after heavy compression they carry most of
what is left of the mark (bikes, 10 s, H.264 CRF 40, one key: bound at 10^-23.0
with its six I-frames and 10^-5.6 without, ``bench/results/wm_duration_readings.md``). The sample
never needs consecutive frames, so the decoder may skip non-reference frames for it.

``background=True`` analyses the frames on one worker thread, in order, while the
decoder goes on: the verifier's decode and the extractors' per-frame work (a third
of an unmarked clip's watermark cost) then overlap on two cores. The results are
the same frames, fed in the same order, so they are identical to a serial scan.
The owner calls :meth:`results` or :meth:`close`, or the worker waits forever. Such a scan
also lets the search in :meth:`results` use two threads (``watermark.parallel``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from kinoseal.mediaio.sampling import EvenSample
from kinoseal.watermark.parallel import threads
from kinoseal.watermark.result import WatermarkResult

# Extra I-frames per ``max_frames`` frames of the even sample: a clip of I-frames alone costs 1/8 more.
INTRA_SHARE = 8
# Below this many pixels on a side a frame cannot carry the watermark's grid.
MIN_WATERMARK_SIDE = 16
# Frames waiting for the background worker: a slow analysis holds the decoder back instead of
# filling memory (a 4K luma plane is 8 MB).
QUEUE_FRAMES = 4
_STOP = object()


class WatermarkScan(EvenSample):
    def __init__(self, extractors: Sequence, max_frames: int, *, background: bool = False) -> None:
        super().__init__(max_frames, intra_frames=max(1, max_frames // INTRA_SHARE))
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
        self.times: list[float] = []  # media time of each frame the extractors saw, in order
        self.background = background
        self._queue: queue.Queue | None = None
        self._worker: threading.Thread | None = None
        self._failure: BaseException | None = None

    def feed(self, frame) -> None:
        if min(frame.width, frame.height) < MIN_WATERMARK_SIDE:
            self.error = f"frames of {frame.width}x{frame.height} are too small to carry a watermark"
            return
        y = frame.gray()  # a copy: the frame's buffers go back to the decoder after feed
        self.times.append(float(frame.time))
        item = (y, frame.kind)  # its coding type weighs it in the test (watermark.v2.frame_weights)
        if not self.background:
            self._analyse(item)
            return
        if self._worker is None:
            self._queue = queue.Queue(QUEUE_FRAMES)
            self._worker = threading.Thread(target=self._work, name="kinoseal-watermark-scan", daemon=True)
            self._worker.start()
        self._queue.put(item)

    def _analyse(self, item: tuple) -> None:
        y, kind = item
        for ex in self.extractors:
            ex.update(y, kind)

    def _work(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            if self.error is None and self._failure is None:
                try:
                    self._analyse(item)
                except (ValueError, MemoryError) as exc:  # what the decode loop reports rather than raises
                    self.error = f"the watermark analysis failed: {type(exc).__name__}: {str(exc)[:160]}"
                except BaseException as exc:  # noqa: BLE001 - a bug: raised to the owner by results()
                    self._failure = exc

    def close(self) -> None:
        """Wait for the worker to finish the frames fed so far, and stop it (idempotent)."""
        if self._worker is not None:
            self._queue.put(_STOP)
            self._worker.join()
            self._worker = None

    def finished(self) -> bool:
        return super().finished() or self._failure is not None

    def results(self) -> list[WatermarkResult]:
        self.close()
        if self._failure is not None:
            raise self._failure
        # The search after the decode may take the second core too, where the frames were analysed
        # in the background (``watermark.parallel``: identical results).
        with threads(2 if self.background else 1):
            return [ex.result() for ex in self.extractors]


__all__ = ["INTRA_SHARE", "MIN_WATERMARK_SIDE", "QUEUE_FRAMES", "WatermarkScan"]
