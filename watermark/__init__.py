"""Invisible keyed video watermark on luma planes.

The core works on decoded Y planes only (uint8 HxW), with numpy/scipy; the
callers decode/encode video and pass U/V through untouched. Methods are
looked up by name (``get_method("kinoseal-wm-v1")``) so that clips marked
with one version keep verifying when newer versions are added.
"""

from kinoseal.watermark.keys import WatermarkKey, WatermarkKeyError
from kinoseal.watermark.methods import get_method, list_methods, register_method
from kinoseal.watermark.result import P_VALUE_THRESHOLD, WatermarkResult
from kinoseal.watermark.v1 import LumaEmbedder, LumaExtractor, SpreadSpectrumMethod, SpreadSpectrumParams

__all__ = [
    "P_VALUE_THRESHOLD",
    "LumaEmbedder",
    "LumaExtractor",
    "SpreadSpectrumMethod",
    "SpreadSpectrumParams",
    "WatermarkKey",
    "WatermarkKeyError",
    "WatermarkResult",
    "get_method",
    "list_methods",
    "register_method",
]
