"""``Detector``: backbone + hand-made/temporal features + calibrated head, saved as a folder.

Folder layout (no pickle anywhere)::

    config.json          format, name, version, architecture config, threshold, feature names
    model.safetensors    backbone weights ("backbone.*"), head arrays ("head.*"),
                         replay features for few-shot refits ("replay.*", optional)
    MODEL_CARD.md        training data recipe, metrics, intended use, limits
    metrics.json         the numbers in the card (optional)

``Detector.load`` validates everything at load time, so a corrupt folder fails
when the service starts, not at the first request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kinoseal.config import Limits
from kinoseal.errors import InputError

from .backbone import BACKBONE_FEATURES, backbone_features, build_backbone
from .features import HAND_FEATURES, hand_features, read_tubes
from .head import WindowLogisticHead

FORMAT = "kinoseal-detector"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
METRICS = "metrics.json"


@dataclass
class ClipScore:
    """Calibrated probability that a clip is generated, and where it came from."""

    probability: float
    per_window: list[float]
    frames_used: int
    model: str
    logit: float = 0.0
    windows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"probability": self.probability, "per_window": list(self.per_window), "frames_used": self.frames_used,
                "model": self.model, "logit": self.logit, "windows": self.windows}


def feature_names() -> list[str]:
    return list(HAND_FEATURES) + list(BACKBONE_FEATURES)


@dataclass
class Detector:
    name: str
    version: str
    config: dict
    backbone: torch.nn.Module
    head: WindowLogisticHead | None = None
    threshold: float = 0.95
    card: dict = field(default_factory=dict)
    replay: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ features

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def tubes(self, path: Path, limits: Limits | None = None):
        c = self.config
        return read_tubes(Path(path), limits, n_windows=int(c["n_windows"]), win_len=int(c["win_len"]),
                          crop=int(c["crop"]), n_crops=int(c["n_crops"]))

    def window_features(self, tubes: np.ndarray) -> np.ndarray:
        """tubes [W, C, L, S, S, 3] -> [W, F]"""
        return np.concatenate([hand_features(tubes), backbone_features(self.backbone, tubes)], axis=1)

    # ------------------------------------------------------------------ scoring

    def _require_head(self):
        if self.head is None:
            raise InputError(f"detector {self.tag} is not trained yet")
        return self.head

    def score_features(self, X: np.ndarray, n_distinct: int | None = None, frames_used: int = 0) -> ClipScore:
        head = self._require_head()
        zw = head.window_logits(X[None])[0]
        n = len(zw) if not n_distinct else min(len(zw), int(n_distinct))
        z = float(zw.mean())
        return ClipScore(
            probability=float(head.calibrate(z)),
            per_window=[round(float(p), 6) for p in head.calibrate(zw[:n])],
            frames_used=int(frames_used),
            model=self.tag,
            logit=z,
            windows=n,
        )

    def score_clip(self, path: Path, limits: Limits | None = None) -> ClipScore:
        """Calibrated probability that the clip at ``path`` is generated (reads a fixed number of frames)."""
        self._require_head()
        t = self.tubes(path, limits)
        X = self.window_features(t.tubes)
        return self.score_features(X, t.n_distinct, t.frames_used)

    # ------------------------------------------------------------------ storage

    def save(self, directory: Path, *, card_text: str | None = None) -> Path:
        from safetensors.numpy import save_file

        from mediaio.atomic import atomic_path

        head = self._require_head()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, np.ndarray] = {
            f"backbone.{k}": v.detach().cpu().contiguous().numpy() for k, v in self.backbone.state_dict().items()
        }
        tensors.update({k: np.ascontiguousarray(v) for k, v in head.to_arrays().items()})
        for k, v in (self.replay or {}).items():
            tensors[f"replay.{k}"] = np.ascontiguousarray(v)
        cfg = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "threshold": float(self.threshold),
            "config": self.config,
            "feature_names": feature_names(),
            "head_params": head.get_params(),
        }
        with atomic_path(directory / WEIGHTS) as tmp:
            save_file(tensors, str(tmp), metadata={"format": FORMAT, "name": self.name, "version": self.version})
        with atomic_path(directory / CONFIG) as tmp:
            Path(tmp).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        if self.card:
            with atomic_path(directory / METRICS) as tmp:
                Path(tmp).write_text(json.dumps(self.card, indent=2, sort_keys=True, default=_json_default) + "\n")
        if card_text is None:
            from .card import render_card

            card_text = render_card(self)
        with atomic_path(directory / CARD) as tmp:
            Path(tmp).write_text(card_text)
        return directory

    @classmethod
    def load(cls, directory: Path) -> "Detector":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        directory = Path(directory)
        bad = f"{directory} is not a valid kinoseal detector"
        if not directory.is_dir():
            raise InputError(f"{directory} is not a detector folder (it does not exist or is not a folder)")
        try:
            cfg = json.loads((directory / CONFIG).read_text())
        except FileNotFoundError:
            raise InputError(bad, hint=f"{CONFIG} is missing") from None
        except (OSError, ValueError) as exc:
            raise InputError(bad, hint=f"{CONFIG} is not valid JSON: {str(exc)[:120]}") from None
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise InputError(bad, hint=f"{CONFIG} does not declare format {FORMAT!r}")
        if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
            raise InputError(bad, hint=f"format version {cfg.get('format_version')} is newer than this kinoseal")
        try:
            name, version, config = str(cfg["name"]), str(cfg["version"]), dict(cfg["config"])
            threshold = float(cfg["threshold"])
            for key in ("backbone", "crop", "n_crops", "n_windows", "win_len"):
                config[key]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(bad, hint=f"{CONFIG} lacks a field: {exc}") from None
        if not 0.0 < threshold < 1.0:
            raise InputError(bad, hint=f"threshold {threshold} is not a probability in (0, 1)")
        if list(cfg.get("feature_names") or []) != feature_names():
            raise InputError(bad, hint="its features do not match this kinoseal version")
        try:
            arrays = load_file(str(directory / WEIGHTS))
        except FileNotFoundError:
            raise InputError(bad, hint=f"{WEIGHTS} is missing") from None
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise InputError(bad, hint=f"{WEIGHTS} is unreadable: {str(exc)[:120]}") from None
        try:
            backbone = build_backbone(config)
            state = {k[len("backbone."):]: torch.from_numpy(v.copy()) for k, v in arrays.items()
                     if k.startswith("backbone.")}
            backbone.load_state_dict(state, strict=True)
            backbone.eval()
        except Exception as exc:  # noqa: BLE001 - any mismatch is a corrupt model for the user
            raise InputError(bad, hint=f"backbone weights do not match {config.get('backbone')!r}: {str(exc)[:160]}") from None
        try:
            head = WindowLogisticHead.from_arrays(arrays, cfg.get("head_params") or {})
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(bad, hint=f"head arrays are missing or invalid: {str(exc)[:120]}") from None
        if head.n_features_in_ != len(feature_names()):
            raise InputError(bad, hint="the head does not match the feature count")
        replay = {k[len("replay."):]: v for k, v in arrays.items() if k.startswith("replay.")} or None
        card = {}
        if (directory / METRICS).exists():
            try:
                card = json.loads((directory / METRICS).read_text())
            except ValueError:
                raise InputError(bad, hint=f"{METRICS} is not valid JSON") from None
        det = cls(name=name, version=version, config=config, backbone=backbone, head=head, threshold=threshold,
                  card=card, replay=replay)
        # A smoke run on a synthetic tube: shapes and numbers must work end to end.
        S, L = int(config["crop"]), int(config["win_len"])
        probe = np.random.default_rng(0).integers(0, 256, (1, int(config["n_crops"]), L, S, S, 3), dtype=np.uint8)
        try:
            s = det.score_features(det.window_features(probe))
        except Exception as exc:  # noqa: BLE001
            raise InputError(bad, hint=f"a test run failed: {type(exc).__name__}: {str(exc)[:120]}") from None
        if not np.isfinite(s.probability):
            raise InputError(bad, hint="a test run produced a non-finite score")
        return det


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)
