"""Run video models: the shipped kino-tiny pipeline and user-supplied diffusers checkpoints.
Every frame a model makes leaves through ``kinoseal.label`` (watermark, encode, sign); there
is no public path to unlabeled frames. Training lives in ``kinoseal.training``."""

from kinoseal.generate.model import VideoModel
from kinoseal.generate.run import (
    DEFAULT_MODEL_DIR,
    MAX_SECONDS,
    default_model_available,
    edit_clip,
    generate_clip,
    load_model,
)

__all__ = ["DEFAULT_MODEL_DIR", "MAX_SECONDS", "VideoModel", "default_model_available", "edit_clip",
           "generate_clip", "load_model"]
