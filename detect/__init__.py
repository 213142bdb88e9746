"""The generated-video classifier: kinoseal's third line of evidence when labels are gone.

    from kinoseal.detect import load_detector, list_models, create_model
    det = load_detector()                    # the shipped default model, or None if absent
    score = det.score_clip(path, limits)     # ClipScore(probability, per_window, frames_used, model)
"""

from __future__ import annotations

from pathlib import Path

from kinoseal.detect.ensemble import GatedEnsemble, is_ensemble_folder
from kinoseal.detect.model import ClipScore, Detector
from kinoseal.detect.registry import create_model, list_models, model_config, register_model

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "kinodet_duo"


def default_model_dir() -> Path:
    return MODELS_DIR / DEFAULT_MODEL


def load_detector(path: Path | str | None = None) -> Detector | GatedEnsemble | None:
    """Load a detector folder, or an ensemble folder (``detect.ensemble``). Without ``path``: the
    shipped default model, or ``None`` when it is not installed. A corrupt folder raises
    ``kinoseal.errors.InputError``."""
    if path is None:
        path = default_model_dir()
        if not (path / "config.json").exists():
            return None
    path = Path(path)
    if is_ensemble_folder(path):
        return GatedEnsemble.load(path)
    return Detector.load(path)


__all__ = ["ClipScore", "Detector", "GatedEnsemble", "create_model", "default_model_dir", "list_models", "load_detector",
           "model_config", "register_model"]
