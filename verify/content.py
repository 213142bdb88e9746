"""The registry's record against the pixels by its views, where its hashes do not match.

The hashes (``fingerprint.match``) come first: cheap, and enough for every edit that keeps the frame
(``bench/results/fingerprint.md``). A crop, a turn or a perspective warp breaks them while the
watermark's payload still names the record; its views (``fingerprint.views``) are then searched for
the query's pictures. The warp's fill outlines the picture (``watermark.rectify``, read from the
content alone), so a perspective warp is undone before the search, and the fill a turn leaves is
masked out of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from kinoseal.fingerprint.views import (CUT_TRIES, MIN_PAIRS, VIEW_GAP_S, ViewMatch, Views, cut_offsets, match_views,
                                        prepare, screen_offsets)
from kinoseal.watermark.rectify import outline_fill, outline_homography, rectify
from kinoseal.watermark.segments import FULL_COVER, Segment, clip_end, covers_clip, run_bounds
from kinoseal.watermark.v2 import orient


def view_match(views: bytes, pictures: Sequence[tuple[float, np.ndarray]], *, offset_s: float | None = None,
               orientation: int = 0, starts_at: float | None = None) -> ViewMatch | None:
    """The record's views (``Views.to_bytes``) against the query's pictures ((media time, ``views.encode``d
    picture), ``FingerprintScan.pictures``); None where the record's views are not of this version.
    ``offset_s``: registered time minus query time, where the hashes placed the query in time. None: not
    known; the times are taken as they are, and where that does not match and the query is shorter than
    the registered clip (an excerpt, cropped past its hashes), the places it may have been cut from
    (``cut_offsets``) are screened cheaply and the best ``CUT_TRIES`` searched in full, the best kept.
    ``starts_at``: where the hashes did not place it and the query is longer than the registered clip, the
    query time at which the registered clip starts, as the watermark's marked segment says (a shot spliced
    into longer footage): the views are compared there instead of at the query's own times, still one
    comparison.
    ``orientation``: put the pictures upright first (``watermark.v2.orient``): the mirror and quarter
    turns the watermark's geometry found (``TiledExtractor.frame_map``). The search itself covers turns
    of at most 12 degrees and no mirror: one orientation is compared, the one the mark gives, so a
    mirrored copy costs no second search and adds no chance of a false match."""
    try:
        reference = Views.from_bytes(views)
    except ValueError:
        return None
    if len(pictures) < MIN_PAIRS:
        return ViewMatch(False, None, len(pictures), orientation=orientation)
    times = [t for t, _ in pictures]
    if (offset_s is None and starts_at is not None and len(reference) > 1 and len(times) > 1
            and (reference.times[-1] - reference.times[0]) < (times[-1] - times[0]) - VIEW_GAP_S):
        # only for a query longer than the registered clip: a whole clip whose mark reads weak at its ends
        # also has segments, and moving its views off its own times would lose them
        offset_s = float(reference.times[0]) - float(starts_at)
    planes = [np.ascontiguousarray(orient(p, orientation)) if orientation else p for _, p in pictures]
    fill, mean = outline_fill(planes)
    prepared = prepare(planes, fill)
    found = match_views(reference, times, *prepared, offset_s=offset_s or 0.0)
    H = outline_homography(fill, mean)
    if H is not None:
        # Also warped back: a still dark stretch of picture can outline a quadrilateral of its own, so the
        # frames as they came are compared too, and the better of the two kept (bench/results/fingerprint_views.md
        # measures unrelated clips with both tries).
        warped = match_views(reference, times, *prepare(rectify(planes, H)), offset_s=offset_s or 0.0, rectified=True)
        found = _better(found, warped)
    if offset_s is None and not found.matched:
        offsets = cut_offsets(reference.times, times)
        if offsets:
            screened = screen_offsets(reference, times, *prepared, offsets)
            for k in np.argsort(screened)[::-1][:CUT_TRIES]:
                if screened[k] > -1.0:
                    found = _better(found, match_views(reference, times, *prepared, offset_s=offsets[k]))
    return replace(found, orientation=orientation)


def content_stretch(times: Sequence[float], span: tuple[float, float] | None, duration_s: float | None,
                    placed: tuple[float, float] | None = None,
                    alike: Sequence[bool] | None = None) -> tuple[str | None, list[dict]]:
    """Where a registered clip's content sits in this one: ("full" or "segments", [{"start_s", "end_s",
    "frames"}]) from the stretch of the query's hashed frames that matched it (``FingerprintMatch.span_s``,
    times of ``times``), bounded like the watermark's segments (half the gap to the next sampled frame,
    or the clip's own ends); (None, []) where no stretch is known. ``placed``: the registered clip's own
    span in this clip's times (its first and last fingerprinted frame at the match's offset): where it
    covers the clip, the clip is that content throughout ("full"), even if the hashes of a few frames at
    its ends, worn by the encoder, did not match. ``alike``: per frame of ``times``, whether its hash is
    close to any of the registered clip's at any time (``fingerprint.core.alike``); where most frames
    outside the stretch are, they show the registered content too (a still scene matched at a slightly
    wrong offset leaves frames at its ends out of the stretch): "full", never a segment of other footage.
    A registered shot spliced into other footage is thus
    reported as a segment even when its mark was too weak for the blind search, which folds every frame
    of the clip and so dilutes a short shot's mark with the footage around it."""
    t = [float(x) for x in times]
    if span is None or not t:
        return None, []
    inside = [i for i, x in enumerate(t) if span[0] - 1e-6 <= x <= span[1] + 1e-6]
    if not inside:
        return None, []
    end_of_clip = clip_end(t, duration_s)
    whole = [Segment(0.0, end_of_clip, len(inside)).to_dict()]
    if placed is not None and min(placed[1], end_of_clip) - max(placed[0], 0.0) >= FULL_COVER * end_of_clip:
        return "full", whole
    seg = Segment(*run_bounds(t, inside[0], inside[-1], end_of_clip), len(inside))
    if covers_clip([seg], end_of_clip):
        return "full", [seg.to_dict()]
    outside = [bool(alike[i]) for i in range(min(len(t), len(alike)))
               if not inside[0] <= i <= inside[-1]] if alike is not None else []
    if outside and sum(outside) >= 0.5 * len(outside):
        return "full", whole
    return "segments", [seg.to_dict()]


def _better(a: ViewMatch, b: ViewMatch) -> ViewMatch:
    return b if (b.score or -1.0) > (a.score or -1.0) else a


__all__ = ["content_stretch", "view_match"]
