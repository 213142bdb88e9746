"""Where in time a clip carries the mark: from the per-frame scores at the geometry the clip
test found, the stretches of sampled frames that are marked.

A frame's score is its pilot correlation at that geometry, about N(0, 1) on a frame without
the mark (``watermark.v2``). One marked frame after CRF 23 scores 1-8 (measured on a splice
into real footage), too noisy alone, so a sample counts as marked when the mean of its
3-sample neighbourhood, scaled back to N(0, 1), passes ``FRAME_Z`` (3e-5 per unmarked
neighbourhood) and its own score passes ``OWN_Z`` (so the unmarked sample next to a strongly
marked one does not ride on its neighbour: boundaries stay where the mark starts). A stretch needs ``MIN_RUN``
marked samples in a row, and gaps of up to ``MAX_GAP`` samples inside a stretch are bridged (frames
ruined by a transition or a compression spike). Times are the sampled frames' own presentation times:
a segment runs from its first marked frame to just before the next unmarked sample (half
the gap to it), so its ends are known to within half a sampling interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FRAME_Z = 4.0
OWN_Z = 1.0
MIN_RUN = 2
MAX_GAP = 2
# Marked stretches covering at least this share of the clip make it fully marked.
FULL_COVER = 0.9


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    frames: int  # sampled frames marked in it

    def to_dict(self) -> dict[str, float | int]:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "frames": self.frames}


def neighbourhood_z(scores: Sequence[float]) -> list[float]:
    """Each sample's score pooled with its two neighbours (at an end, the two next to it):
    sum / sqrt(count), N(0, 1) where nothing is marked."""
    x = [0.0 if s is None or not math.isfinite(s) else float(s) for s in scores]
    out = []
    for i in range(len(x)):
        lo = max(0, min(i - 1, len(x) - 3))  # at the ends, the three samples nearest the end
        w = x[lo: lo + 3]
        out.append(sum(w) / math.sqrt(len(w)))
    return out


def _hits(scores: Sequence[float], z: float) -> set[int]:
    pooled = neighbourhood_z(scores)
    return {i for i, (p, s) in enumerate(zip(pooled, scores)) if p > z and s is not None and s > OWN_Z}


def marked_runs(scores: Sequence[float], z: float = FRAME_Z, min_run: int = MIN_RUN,
                max_gap: int = MAX_GAP) -> list[tuple[int, int]]:
    """[first, last] indices of the marked stretches of a score sequence."""
    hits = sorted(_hits(scores, z))
    runs: list[list[int]] = []
    for i in hits:
        if runs and i - runs[-1][1] - 1 <= max_gap:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(a, b) for a, b in runs if sum(1 for i in hits if a <= i <= b) >= min_run]


def clip_end(times: Sequence[float], duration_s: float | None) -> float:
    """Where the clip ends: its stated duration, or its last sampled frame when that is later
    (or the duration is unknown)."""
    last = float(times[-1]) if len(times) else 0.0
    return max(last, float(duration_s)) if duration_s else last


def segments(scores: Sequence[float], times: Sequence[float], duration_s: float | None = None,
             z: float = FRAME_Z, runs: Sequence[tuple[int, int]] | None = None) -> list[Segment]:
    """The marked time ranges of a clip whose sampled frames had ``scores`` at ``times`` (s);
    ``runs``: the stretches already found (and checked) by the extractor."""
    n = min(len(scores), len(times))
    if n == 0:
        return []
    t = [float(x) for x in times[:n]]
    end_of_clip = clip_end(t, duration_s)
    out = []
    hits = _hits(scores[:n], z)
    for a, b in (marked_runs(scores[:n], z) if runs is None else [r for r in runs if r[1] < n]):
        start, end = run_bounds(t, a, b, end_of_clip)
        out.append(Segment(start, end, sum(1 for i in range(a, b + 1) if i in hits)))
    return out


def run_bounds(times: Sequence[float], a: int, b: int, end_of_clip: float) -> tuple[float, float]:
    """The time range of the sampled frames ``a``..``b`` (indices into ``times``): from half the gap
    before the first to half the gap after the last, or the clip's own start (the first sample is
    taken at or near t = 0) and end where the run reaches them."""
    start = 0.0 if a == 0 else times[a] - (times[a] - times[a - 1]) / 2.0
    end = end_of_clip if b == len(times) - 1 else times[b] + (times[b + 1] - times[b]) / 2.0
    return max(0.0, float(start)), float(end)


def covers_clip(segs: Sequence[Segment], duration_s: float) -> bool:
    """True when the marked stretches cover (nearly) the whole clip."""
    if duration_s <= 0:
        return bool(segs)
    return sum(s.end_s - s.start_s for s in segs) >= FULL_COVER * duration_s


__all__ = ["FRAME_Z", "Segment", "clip_end", "covers_clip", "marked_runs", "neighbourhood_z", "run_bounds", "segments"]
