"""A small model registry in the style of timm: ``create_model(name)``, ``list_models()``.

An architecture is a function that returns a config dict; ``create_model`` builds
an *untrained* ``Detector`` from it (the backbone is timm's architecture, built by ``detect.resnet``
for ``resnet10t`` and by ``timm.create_model`` with ``pretrained=False`` for any other name: nothing is
downloaded). Trained models are folders,
loaded with ``detect.load_detector(path)``.
"""

from __future__ import annotations

import fnmatch
from typing import Callable

from kinoseal.errors import InputError

_ARCHS: dict[str, Callable[..., dict]] = {}


def register_model(fn: Callable[..., dict]) -> Callable[..., dict]:
    _ARCHS[fn.__name__] = fn
    return fn


@register_model
def kinodet_r10t_64(**overrides) -> dict:
    """Default: timm resnet10t narrowed to (16, 32, 64, 128) channels (0.32 M parameters),
    6-channel input (RGB + high-pass residual), 64x64 native-resolution crops,
    8 windows x 3 consecutive frames x 4 crops per clip."""
    cfg = dict(backbone="resnet10t", backbone_kwargs={"channels": [16, 32, 64, 128], "stem_width": 16},
               crop=64, n_crops=4, n_windows=8, win_len=3, backbone_steps=300, head_C=0.5)
    cfg.update(overrides)
    return cfg


@register_model
def kinodet_xgen(**overrides) -> dict:
    """Cross-generator default: no CNN; generator-agnostic residual, spectrum, decoder-periodicity,
    colour and temporal features (``detect.resid``) of 8 windows x 3 frames x 3 crops of 96 px at
    native resolution, a calibrated logistic head and a generator-family head."""
    cfg = dict(backbone=None, features="resid", crop=96, n_crops=3, n_windows=8, win_len=3, backbone_steps=0,
               head_C=0.1)
    cfg.update(overrides)
    return cfg


@register_model
def kinodet_xgen_rcnn(**overrides) -> dict:
    """``kinodet_xgen`` with a second view: a 66k-parameter residual CNN (``detect.rcnn``) on the same tubes,
    scoring the first crop of each window (8 crop-tubes of 94 px a clip: the cost budget), its standardised
    logit averaged with the features head's and calibrated out of fold."""
    cfg = kinodet_xgen(cnn={"arch": "resid_cnn", "widths": [16, 16, 32, 64], "crops": 1}, cnn_steps=900)
    cfg.update(overrides)
    return cfg


@register_model
def kinodet_xgen_rcnn_tiny(**overrides) -> dict:
    """``kinodet_xgen_rcnn`` for tests: 4 windows x 2 crops of 64 px, a narrow CNN, 40 steps."""
    return kinodet_xgen_rcnn(crop=64, n_crops=2, n_windows=4, cnn={"arch": "resid_cnn", "widths": [4, 4, 8, 8], "crops": 1},
                             cnn_steps=40, **overrides)


@register_model
def kinodet_xgen_tiny(**overrides) -> dict:
    """``kinodet_xgen`` for tests: 4 windows x 2 crops of 64 px."""
    return kinodet_xgen(crop=64, n_crops=2, n_windows=4, **overrides)


@register_model
def kinodet_tiny(**overrides) -> dict:
    """For tests and quick experiments: (8, 16, 32, 64) channels, 48x48 crops, 4 windows x 2 crops."""
    cfg = dict(backbone="resnet10t", backbone_kwargs={"channels": [8, 16, 32, 64], "stem_width": 8},
               crop=48, n_crops=2, n_windows=4, win_len=3, backbone_steps=30, head_C=0.5)
    cfg.update(overrides)
    return cfg


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _ARCHS if fnmatch.fnmatch(n, pattern))


def model_config(name: str, **overrides) -> dict:
    if name not in _ARCHS:
        raise InputError(f"unknown detector architecture {name!r}", hint="known: " + ", ".join(list_models()))
    cfg = _ARCHS[name](**overrides)
    cfg["arch"] = name
    return cfg


def create_model(name: str = "kinodet_r10t_64", *, version: str = "0.0.0", seed: int = 0, **overrides):
    """An untrained detector of architecture ``name`` (train it with ``training.detector.fit.fit_detector``)."""
    import torch

    from kinoseal.detect.backbone import build_backbone
    from kinoseal.detect.model import Detector

    cfg = model_config(name, **overrides)
    torch.manual_seed(seed)
    backbone = build_backbone(cfg)
    from kinoseal.detect.rcnn import build_cnn

    return Detector(name=name, version=version, config=cfg, backbone=backbone.eval() if backbone is not None else None,
                    cnn=build_cnn(cfg))
