"""Name -> watermark method registry (timm-style).

A clip records the method name it was marked with; the verifier looks the
name up here. Registered versions are frozen forever: a changed parameter is
a new name, never an edit, or old clips stop verifying.
"""

from __future__ import annotations

from typing import Callable

from kinoseal.watermark.core import WatermarkMethod
from kinoseal.watermark.v1 import SpreadSpectrumMethod, SpreadSpectrumParams

__all__ = ["register_method", "get_method", "list_methods"]

_REGISTRY: dict[str, Callable[[], WatermarkMethod]] = {}
_INSTANCES: dict[str, WatermarkMethod] = {}


def register_method(name: str, factory: Callable[[], WatermarkMethod]) -> None:
    if name in _REGISTRY:
        raise ValueError(f"watermark method {name!r} is already registered")
    _REGISTRY[name] = factory


def list_methods() -> list[str]:
    return sorted(_REGISTRY)


def get_method(name: str) -> WatermarkMethod:
    if name not in _REGISTRY:
        raise KeyError(f"unknown watermark method {name!r}; available: {', '.join(list_methods())}")
    inst = _INSTANCES.get(name)
    if inst is None:
        inst = _REGISTRY[name]()
        _INSTANCES[name] = inst
    return inst


register_method(
    "kinoseal-wm-v1",
    lambda: SpreadSpectrumMethod(name="kinoseal-wm-v1", version=1, params=SpreadSpectrumParams()),
)
register_method("kinoseal-wm-v2", lambda: __import__("kinoseal.watermark.v2", fromlist=["make_v2"]).make_v2())
register_method("kinoseal-wm-v3", lambda: __import__("kinoseal.watermark.v3", fromlist=["make_v3"]).make_v3())
register_method("kinoseal-wm-v4", lambda: __import__("kinoseal.watermark.v4", fromlist=["make_v4"]).make_v4())
register_method("kinoseal-wm-v5", lambda: __import__("kinoseal.watermark.v5", fromlist=["make_v5"]).make_v5())
