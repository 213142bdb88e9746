"""The detection result shared by every watermark method version."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WatermarkResult", "P_VALUE_THRESHOLD"]

#: False-positive probability per clip (per key set) that a detection must beat.
#: The p-value is an analytic, content-independent bound (see ``watermark.stats``),
#: so this is a real guarantee on unmarked clips, not a tuned operating point.
P_VALUE_THRESHOLD = 1e-6


@dataclass(frozen=True)
class WatermarkResult:
    method: str
    detected: bool
    p_value: float
    log10_p_value: float
    payload_id: int | None
    bit_accuracy: float | None
    frames_analyzed: int
    key_id: str | None
    per_frame_scores: list[float] = field(default_factory=list)
    # Content binding (v3 and later; None for methods without it, v1/v2): True when the
    # content-bound layer is significant (the mark belongs to these pixels), False when
    # only a content-free pattern is (present, but possibly copied from another clip).
    bound: bool | None = None
    binding_log10_p: float | None = None
    # [first, last] indices (into the analysed frames) of the stretches that carry the mark,
    # bound layer included (v3; watermark.segments); empty when not resolved.
    marked_runs: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view: payload as 16 hex chars, no NaN/inf."""

        def _num(x: float | None) -> float | None:
            if x is None or not math.isfinite(x):
                return None
            return float(x)

        return {
            "method": self.method,
            "detected": bool(self.detected),
            "p_value": float(self.p_value),
            "log10_p_value": _num(self.log10_p_value),
            "payload_id": None if self.payload_id is None else f"{self.payload_id:016x}",
            "bit_accuracy": _num(self.bit_accuracy),
            "frames_analyzed": int(self.frames_analyzed),
            "key_id": self.key_id,
            "per_frame_scores": [_num(s) for s in self.per_frame_scores],
            "bound": self.bound,
            "binding_log10_p": _num(self.binding_log10_p),
            "marked_runs": [list(r) for r in self.marked_runs],
        }
