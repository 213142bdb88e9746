"""Content-bound watermark, quadric detrend ("kinoseal-wm-v4"): v3 with the bound layer's keyed
projection blind to quadratic shading as well as to planes, in the embedder and in the test.

Why a new version: v3's embedder removes only the constant and linear parts of the coarse luma
before taking ``sign(<k, x>)``. Vignetting and centre-weighted framing (a bright subject in the
middle, darker corners) are quadratic and common to unrelated scenes, so the signs of two unrelated
clips agree more often than chance, and a mark lifted from one clip (or averaged over several)
keeps part of its binding on some hosts. Measured with ``bench.wm_forgery`` (33 real clips, 96
copy and collusion forgeries): with v3 the strongest forged binding reached log10 p = -5.84 (the
verifier's bar with its multiple-testing factor was about -6.5), and 6% of the forgeries were under
1e-3; with v4 the strongest is -3.09 and 1 of 96 is under 1e-3 (``bench/results/wm_forgery.md``).
Robustness is v3's (``bench/results/wm_v3_robustness.md``).

Learned forgers: the bound value is still one keyed halfspace of public features, which a
regression on ~10 labeled clips learns (``bench/results/wm_learned_forgery.md``); the verifier
reports a v4 binding but does not take it as proof (``Settings.proof_bindings``), and new clips
get ``kinoseal-wm-v5``.

Testing v3 marks with the quadric blinding (``BoundParams.test_detrend_order``) closes the gap for
clips already marked with v3 too, at a cost in robustness: their signs were taken with the quadratic
part included. New clips get v4, whose signs are taken the way the test reads them.
"""

from __future__ import annotations

from kinoseal.watermark.v3 import BoundMethod, BoundParams

__all__ = ["make_v4"]


def make_v4() -> BoundMethod:
    return BoundMethod(name="kinoseal-wm-v4", version=4,
                       params=BoundParams(domain=b"kinoseal-wm-v4", detrend_order=2))
