"""bench.detector_attacks scores the attacked pixels themselves: its lossless write-back reproduces them
exactly."""

from __future__ import annotations

import numpy as np
import pytest

from testkit.clips import write_clip


@pytest.mark.parametrize("attack", ["resize_0.55", "h264_crf30"])
def test_attacked_copy_holds_exactly_the_attacked_frames(tmp_path, attack):
    from bench.detector_attacks import attacked_copy
    from kinoseal.evaluation.watermark.attacks import apply_attack
    from kinoseal.mediaio.reader import iter_frames

    rng = np.random.default_rng(0)
    src = write_clip(tmp_path / "src.mp4", [rng.integers(0, 256, (64, 96, 3), np.uint8) for _ in range(6)])
    frames = [f.planes for f in iter_frames(src, fmt="yuv420p")]
    want, _ = apply_attack(attack, frames, 12.0)
    out = attacked_copy(src, attack, tmp_path / "out.mp4")
    got = [f.planes for f in iter_frames(out, fmt="yuv420p")]
    assert len(got) == len(want) == 6
    for g, x in zip(got, want):
        assert all(np.array_equal(a, b) for a, b in zip(g, x))
    assert got[0][0].shape != frames[0][0].shape or not np.array_equal(got[0][0], frames[0][0])  # it did attack
