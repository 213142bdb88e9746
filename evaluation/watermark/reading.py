"""Which of an attacked clip's frames the verifier's watermark scan reads, for benches that should
read a clip the way ``kinoseal verify`` does.

The verifier decodes a long clip with non-reference frames skipped (``verify.verifier.skips_nonreference``)
and hands the frames that remain to its watermark scan's sampler (``watermark.scan.WatermarkScan``: an
even sample in media time plus the I-frames it passes over). Frames from ``attacks.codec_roundtrip``
say their coding type and whether a skipping decoder returns them; frames of any other attack are
all decoded, and their type is unknown. The classifier's windows, which make the verifier decode
every frame around them, are left out: this is the scan alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

from kinoseal.evaluation.watermark.attacks import Planes, frame_kind, frame_reference
from kinoseal.verify.verifier import skips_nonreference
from kinoseal.watermark.scan import WatermarkScan


def verifier_sample(frames: Sequence[Planes], fps: float, max_frames: int, *, intra: bool = True) -> list[int]:
    """Indices of ``frames`` (at ``i / fps`` seconds) that the verifier's watermark scan reads.
    ``intra=False``: the scan's sample before it took the I-frames it passes over (2026-12-07)."""
    n = len(frames)
    skip = skips_nonreference(n, max_frames)
    scan = WatermarkScan([], max_frames)
    if not intra:
        scan.intra_frames = 0
    scan.start(SimpleNamespace(duration_s=n / fps, frame_count=n))
    taken = []
    for i, f in enumerate(frames):
        if skip and frame_reference(f) is False:
            continue
        if scan.wants(i, i / fps, frame_kind(f)):
            taken.append(i)
    return taken


__all__ = ["verifier_sample"]
