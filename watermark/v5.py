"""Content-bound watermark, two keyed halfspaces ("kinoseal-wm-v5"): v4 with every bound value
``chip_b * sign(<k1, x_P>) * sign(<k2, x_Q>)`` instead of ``chip_b * sign(<k, x_P>)``.

Why a new version: v3/v4's bound value is a linear threshold of features anyone can compute (the
host's coarse luma around the cell), under a keyed direction per tile cell. A forger holding marked
clips of one key fits those directions by regression of the estimated mark on the features
(``evaluation.watermark.learned_forger``) and then paints correct bound signs on any host: measured
with ``bench.wm_learned_forgery``, 10 marked clips at 320x240 made 5 of 6 unrelated real clips bind
at the mark's own strength (H.264 CRF 18 after painting).

The product of two signs is an even function of the features (negating them leaves it unchanged),
so it has no linear part: the regression that learns v4 finds nothing. Three details make it hold:

* ``x_Q`` is read on a grid displaced by ``pair_offset`` (12, 8) cells. Read at the same place, the
  product follows the local second-order structure (edges and their orientation), which unrelated
  scenes share: a copied v5 mark then bound at 10^-4.2 on one host (v4's worst: 10^-3.1).
* The test centres the weights per tile cell (``BoundParams.centre``): a pattern that is constant on a
  tile cell, as the mean of an even function over a cell's instances is, adds nothing to it. Without
  it, a forger at chance on the signs still bound 5 of 6 hosts at gain 4 through its learned pilots.
* Both projections are blind to planes, quadrics and the cell's own mark, as v4's is.
* The test's dead zone is 0.25 grey levels, not 0.5: an instance counts only when both signs are
  clear, and on a small object over a flat background (kino-tiny's output) 0.5 left too few (a 256x256
  red-ball clip bound at 10^-0 to -5 instead of v4's 10^-15). The product keeps flat hosts safe at
  0.25: the issue's estimate painted on mid-grey or on that clip at gains 1-8 bound at 10^-3.8 at
  worst (v4 with its 0.5: 10^-12 at gain 8).

The price: the test must get both signs right, so an attack that flips one sign in ten costs more
binding power than in v4 (``bench/results/wm_v3_robustness.md``).

The hold (``BoundParams.hold``, embedder only, added after the first v5 clips: the test is unchanged,
so clips marked before and after verify alike): an instance whose smallest |f| is under half the
test's dead zone carries no weight in the test, so the embedder gives it the previous frame's value
instead of the content's. Without it the product of two signs flipped in 16% of a moving-object clip's
instances from one frame to the next (v4: 10%), and an encoder codes a flickering mark worst: on a
256 px red-ball clip at H.264 CRF 28 the sync layer read 10^-4.4 without the hold and 10^-25 with it
(median of 6 keys; v4: 10^-7.8), and small clips' payloads at CRF 23 came back for 30 of 30 keys
instead of 6 and 16 (``bench/results/wm_payload_v5.md``). The binding moves less
(``bench/results/wm_duration.md``, with and without the hold in one run).

The flat-frame cap (``min_rms``, embedder only, 0.25 since 2026-12-07, v2's 0.5 before: the test is
unchanged, so clips marked before and after verify alike). The embedder scales each frame's pattern to
one target RMS (about 42.5 dB), but caps the boost of a frame whose activity mask leaves little energy
at ``amplitude / min_rms``. At 0.5 the cap held kino-tiny's output (flat colour fields: the generator's
own clips) at 48.8-51.7 dB, and ordinary re-encodes took its binding: on 8 prompts x 2 keys that no
choice was made on (``bench/results/wm_flat.md``), bound after H.264 CRF 30 9/16, H.265 CRF 30 7/16,
AV1 CRF 35 2/16. At 0.25 they are marked at 43.1-45.9 dB and bound 16/16, 15/16 and 14/16 (97 against
63 of 128 attacked clips in all). Frames with texture never reach the cap: of 34 real clips, 3 moved
(to clip means of 42.35-42.55 dB). The price: in the flatter half of a kino-tiny frame the mark is 1.3
grey levels RMS where it was 0.7, on a picture whose own grain there is 0.2 (real footage: 0.7 against a
grain of 1.3), a faint grain that shows side by side at 2x; a uniform frame gets at most 3 grey levels
(45 dB) where 0.5 gave 1; a labeled kino-tiny file at CRF 18 is 1.34x the unmarked encode (1.17x). 0.15 reached 42.5 dB on every flat clip, a visible grain on white, for a
smaller further gain (a screen of 0.5 / 0.35 / 0.25 / 0.15 on five other kino-tiny clips, one key).

The fill (``BoundParams.fill_border``, test only, since 2026-12-07: clips marked before and after
verify alike). A geometric edit that leaves a fill (the black outside a shrunk, turned or warped
picture; letterbox and pillarbox bars) put the fill's edge into the coarse luma the test reads its
features from, so every instance near it got features the embedder never saw; on a flat picture, whose
usable instances are few, they drowned the rest. The test now carries the picture into the fill
before its low-pass (``watermark.v3.fill_index``: regions of one value in every frame that touch the
frame's edge, widened by two pixels), as the embedder's low-pass reads past the frame's edge. The same
attacked frames read with and without it (one-off, one key; the suite side by side, each method with its
own key, in ``bench/results/wm_suite_v5_fill``): kino-tiny shrunk to 0.88 bound at 10^-116 against
10^-9; turned 10 degrees 10^-109 against 10^-8; letterboxed 10^-135 against 10^-10; under perspective 0.2
at 10^-74 where it read 10^-2. In the suite, perspective 0.1 5/5 against 3/5, 0.2 and 0.3 3/5 against 2/5.
"""

from __future__ import annotations

from kinoseal.watermark.v3 import BoundMethod, BoundParams

__all__ = ["make_v5"]


def make_v5() -> BoundMethod:
    return BoundMethod(name="kinoseal-wm-v5", version=5,
                       params=BoundParams(domain=b"kinoseal-wm-v5", detrend_order=2, halfspaces=2, centre=True,
                                         pair_offset=(12.0, 8.0), dead=0.25, hold=0.125, min_rms=0.25,
                                         fill_border=True, rectify=True))
