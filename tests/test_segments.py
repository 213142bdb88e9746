"""Where the mark is, in time: the pure segment finder, then a real splice through the verifier."""

from __future__ import annotations

import numpy as np

from kinoseal.watermark.segments import covers_clip, marked_runs, segments


def test_marked_runs_need_two_frames_and_bridge_one_gap():
    z = [0.1, 9.0, 0.3, 8.0, 7.5, -0.2, 0.0, 6.0, 0.1, 0.2, 5.0, 5.0]
    assert marked_runs(z) == [(1, 4), (10, 11)]  # 7 alone is dropped; 2 is bridged
    assert marked_runs([0.0] * 10) == []
    assert marked_runs([3.9, 3.9, 3.9]) == []


def test_segments_in_seconds_and_full_cover():
    t = np.arange(0, 10, 0.25)  # 40 samples over 10 s
    z = np.where((t >= 3.0) & (t < 6.0), 12.0, np.random.default_rng(0).normal(0, 1, t.size))
    (seg,) = segments(z.tolist(), t.tolist(), 10.0)
    assert abs(seg.start_s - 3.0) <= 0.25 and abs(seg.end_s - 6.0) <= 0.25 and seg.frames == 12
    assert not covers_clip([seg], 10.0)
    (whole,) = segments([10.0] * 40, t.tolist(), 10.0)
    assert whole.start_s == 0.0 and whole.end_s == 10.0 and covers_clip([whole], 10.0)
    assert segments([], [], 10.0) == []
