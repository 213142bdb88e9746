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

from kinoseal.fingerprint.views import (CUT_TRIES, MIN_PAIRS, ViewMatch, Views, cut_offsets, match_views, prepare,
                                        screen_offsets)
from kinoseal.watermark.rectify import outline_fill, outline_homography, rectify
from kinoseal.watermark.v2 import orient


def view_match(views: bytes, pictures: Sequence[tuple[float, np.ndarray]], *, offset_s: float | None = None,
               orientation: int = 0) -> ViewMatch | None:
    """The record's views (``Views.to_bytes``) against the query's pictures ((media time, ``views.encode``d
    picture), ``FingerprintScan.pictures``); None where the record's views are not of this version.
    ``offset_s``: registered time minus query time, where the hashes placed the query in time. None: not
    known; the times are taken as they are, and where that does not match and the query is shorter than
    the registered clip (an excerpt, cropped past its hashes), the places it may have been cut from
    (``cut_offsets``) are screened cheaply and the best ``CUT_TRIES`` searched in full, the best kept.
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


def _better(a: ViewMatch, b: ViewMatch) -> ViewMatch:
    return b if (b.score or -1.0) > (a.score or -1.0) else a


__all__ = ["view_match"]
