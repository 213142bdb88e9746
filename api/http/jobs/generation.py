"""Thin adapter to the text-to-video generator (``generate.run``), which may not be installed."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from kinoseal.config import Settings
from kinoseal.errors import KinosealError


class GeneratorUnavailable(KinosealError):
    kind = "unavailable"


def importable() -> bool:
    try:
        mod = importlib.import_module("kinoseal.generate.run")
    except ImportError:
        return False
    return hasattr(mod, "generate_clip")


def available(model_dir: Path | None = None) -> bool:
    """The generator module is installed and has a model to run."""
    if not importable():
        return False
    if model_dir is not None:
        return (Path(model_dir) / "model_index.json").exists()
    mod = importlib.import_module("kinoseal.generate.run")
    check = getattr(mod, "default_model_available", None)
    return bool(check()) if callable(check) else True


def _module():
    try:
        return importlib.import_module("kinoseal.generate.run")
    except ImportError:
        raise GeneratorUnavailable("the text-to-video generator is not installed on this server") from None


def _as_dict(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if hasattr(result, "to_dict"):
        return result.to_dict()
    if isinstance(result, dict):
        return result
    return {"result": str(result)}


def generate(settings: Settings, params: dict[str, Any], dst: Path, model_dir: Path | None = None) -> dict[str, Any]:
    mod = _module()
    kw: dict[str, Any] = {"seconds": params.get("seconds", 2.0), "seed": params.get("seed", 0)}
    if model_dir is not None:
        kw["model_dir"] = model_dir
    if params.get("steps") is not None:
        kw["steps"] = params["steps"]
    return _as_dict(mod.generate_clip(settings, params["prompt"], dst, **kw))


def edit(settings: Settings, src: Path, params: dict[str, Any], dst: Path,
         model_dir: Path | None = None) -> dict[str, Any]:
    mod = _module()
    if not hasattr(mod, "edit_clip"):
        raise GeneratorUnavailable("video editing is not available on this server")
    kw: dict[str, Any] = {"strength": params.get("strength", 0.5), "seed": params.get("seed", 0)}
    if params.get("steps") is not None:
        kw["steps"] = params["steps"]
    if model_dir is not None:
        kw["model_dir"] = model_dir
    return _as_dict(mod.edit_clip(settings, src, params["prompt"], dst, **kw))
