"""``Detector``: backbone + hand-made/temporal features + calibrated head, saved as a folder.

Folder layout (no pickle anywhere)::

    config.json          format, name, version, architecture config, threshold, feature names
    model.safetensors    backbone weights ("backbone.*"), head arrays ("head.*"), a residual
                         CNN and its blend ("cnn.*", "blend.stats", optional), replay
                         features for few-shot refits ("replay.*", optional)
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

from kinoseal.detect.backbone import BACKBONE_FEATURES, backbone_features, build_backbone
from kinoseal.detect.features import HAND_FEATURES, ClipTubes, TubeCollector, hand_features, read_tubes
from kinoseal.detect.head import FamilyHead, WindowLogisticHead
from kinoseal.detect.rcnn import Blend, build_cnn, window_logits
from kinoseal.detect.resid import RESID_FEATURES, resid_features

FORMAT = "kinoseal-detector"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
METRICS = "metrics.json"


@dataclass
class ClipScore:
    """Calibrated probability that a clip is generated, and where it came from.

    ``segments``: one per distinct window, ``{"start_s", "end_s", "probability"}`` (time-stamped
    scores, as moderation platforms show them). ``family``: the known generator family the clip
    looks most like, ``None`` for "unknown family" (below the model's attribution threshold, or a
    model without attribution); ``family_confidence`` its probability among the known families,
    ``family_top`` the three closest. ``evidence``: plain sentences for a report."""

    probability: float
    per_window: list[float]
    frames_used: int
    model: str
    logit: float = 0.0
    windows: int = 0
    segments: list[dict] = field(default_factory=list)
    family: str | None = None
    family_confidence: float | None = None
    family_top: list[tuple[str, float]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"probability": self.probability, "per_window": list(self.per_window), "frames_used": self.frames_used,
                "model": self.model, "logit": self.logit, "windows": self.windows,
                "segments": [dict(s) for s in self.segments], "family": self.family,
                "family_confidence": self.family_confidence, "family_top": [list(t) for t in self.family_top],
                "evidence": list(self.evidence)}


def feature_names(config: dict | None = None) -> list[str]:
    if (config or {}).get("features") == "resid":
        return list(RESID_FEATURES)
    return list(HAND_FEATURES) + list(BACKBONE_FEATURES)


UNKNOWN_FAMILY = "unknown family"


def summary_lines(tag: str, threshold: float, s: ClipScore) -> list[str]:
    """The first evidence lines of a score: the probability against the threshold, and where in the clip."""
    lines = [f"Classifier {tag}: probability {s.probability:.2f} that the clip is AI-generated "
             f"(it reports 'likely AI-generated' from {threshold:.4g}; on its own it never proves anything)."]
    if s.segments:
        top = max(s.segments, key=lambda g: g["probability"])
        hi = sum(g["probability"] >= threshold for g in s.segments)
        lines.append(f"Most AI-like moment: {top['start_s']:.1f}-{top['end_s']:.1f} s ({top['probability']:.2f}); "
                     f"{hi} of {len(s.segments)} sampled segments at or above the threshold.")
    return lines


@dataclass
class Detector:
    name: str
    version: str
    config: dict
    backbone: torch.nn.Module | None
    head: WindowLogisticHead | None = None
    threshold: float = 0.95
    card: dict = field(default_factory=dict)
    replay: dict[str, np.ndarray] | None = None
    family_head: FamilyHead | None = None
    # a second view (``detect.rcnn``): a learned residual CNN on the same tubes, blended with the head
    cnn: torch.nn.Module | None = None
    blend: Blend | None = None

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
        if self.config.get("features") == "resid":
            return resid_features(tubes)
        return np.concatenate([hand_features(tubes), backbone_features(self.backbone, tubes)], axis=1)

    # ------------------------------------------------------------------ scoring

    def _require_head(self):
        if self.head is None:
            raise InputError(f"detector {self.tag} is not trained yet")
        return self.head

    def cnn_logits(self, tubes: np.ndarray) -> np.ndarray | None:
        """[W] the residual CNN's window logits, or ``None`` for a detector without one."""
        if self.cnn is None:
            return None
        return window_logits(self.cnn, tubes, int(self.config["cnn"].get("crops", self.config["n_crops"])))

    def score_features(self, X: np.ndarray, n_distinct: int | None = None, frames_used: int = 0,
                       spans: list[tuple[float, float]] | None = None, cnn_logits: np.ndarray | None = None) -> ClipScore:
        head = self._require_head()
        zw = head.window_logits(X[None])[0]
        n = len(zw) if not n_distinct else min(len(zw), int(n_distinct))
        calibrate, views = head.calibrate, None
        if self.cnn is not None:
            if cnn_logits is None or self.blend is None:
                raise InputError(f"detector {self.tag} has a residual CNN: score it with its tubes (score_tubes)")
            views = self.blend.z(zw[:n].mean(), np.asarray(cnn_logits)[:n].mean())
            zw, calibrate = self.blend.logit(zw, cnn_logits), self.blend.calibrate
        z = float(zw.mean())
        per_window = [round(float(p), 6) for p in calibrate(zw[:n])]
        segments = [{"start_s": round(a, 3), "end_s": round(b, 3), "probability": p}
                    for (a, b), p in zip(spans or [], per_window)]
        s = ClipScore(probability=float(calibrate(z)), per_window=per_window, frames_used=int(frames_used),
                      model=self.tag, logit=z, windows=n, segments=segments)
        if self.family_head is not None:
            fam, conf, top = self.family_head.attribute(np.asarray(X, np.float64)[:n].mean(axis=0))
            s.family, s.family_confidence, s.family_top = fam, round(conf, 4), top
        s.evidence = self.explain(s, X[:n], views)
        return s

    def explain(self, s: ClipScore, X: np.ndarray, views: tuple[float, float] | None = None) -> list[str]:
        """Sentences a journalist can read: the score against the threshold, where in the clip, which
        cues weighed most, and which generator family it resembles (or that none fits)."""
        from kinoseal.detect.resid import describe_cues

        lines = summary_lines(self.tag, self.threshold, s)
        if views is not None:
            zh, zc = (float(v) for v in views)
            lines.append(f"Two views of the fine noise make the score: the hand-made residual cues ({zh:+.1f}) and a "
                         f"learned residual CNN ({zc:+.1f}), each in standard deviations from the mean of its training "
                         "clips, real and AI (higher is more AI-like)"
                         + ("; the two views disagree." if abs(zh - zc) >= 1.5 and (zh > 0) != (zc > 0) else "."))
        if self.config.get("features") == "resid" and self.head is not None and len(X):
            cues = describe_cues(self.head, np.asarray(X, np.float64).mean(axis=0), s.probability >= 0.5)
            if cues:
                lines.append(("What points to AI: " if s.probability >= 0.5 else "What points to a camera or non-AI source: ")
                             + "; ".join(cues) + ".")
        if self.family_head is not None and s.probability >= 0.5:
            if s.family:
                lines.append(f"It looks most like {s.family} (confidence {s.family_confidence:.2f} among "
                             f"{len(self.family_head.names)} known families); attribution is a hint, not proof.")
            else:
                lines.append(f"Generator family: unknown (no known family fits; the closest, {s.family_top[0][0]}, "
                             f"at {s.family_confidence:.2f}, is below {self.family_head.threshold:.2f}).")
        return lines

    def collector(self) -> TubeCollector:
        """A ``mediaio.stream.FrameConsumer`` that gathers this model's windows from a
        decode shared with other consumers; score it with :meth:`score_tubes`."""
        c = self.config
        return TubeCollector(n_windows=int(c["n_windows"]), win_len=int(c["win_len"]), crop=int(c["crop"]),
                             n_crops=int(c["n_crops"]))

    def score_collected(self, collector: TubeCollector) -> ClipScore:
        """The score of what :meth:`collector` gathered during a shared decode."""
        return self.score_tubes(collector.tubes())

    def score_tubes(self, t: ClipTubes) -> ClipScore:
        self._require_head()
        return self.score_features(self.window_features(t.tubes), t.n_distinct, t.frames_used, t.spans,
                                   self.cnn_logits(t.tubes))

    def score_clip(self, path: Path, limits: Limits | None = None) -> ClipScore:
        """Calibrated probability that the clip at ``path`` is generated (reads a fixed number of frames)."""
        self._require_head()
        return self.score_tubes(self.tubes(path, limits))

    # ------------------------------------------------------------------ storage

    def save(self, directory: Path, *, card_text: str | None = None) -> Path:
        from safetensors.numpy import save_file

        from kinoseal.mediaio.atomic import atomic_path

        head = self._require_head()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, np.ndarray] = {} if self.backbone is None else {
            f"backbone.{k}": v.detach().cpu().contiguous().numpy() for k, v in self.backbone.state_dict().items()
        }
        if self.cnn is not None:
            if self.blend is None:
                raise InputError(f"detector {self.tag} has a residual CNN but no blend: train it before saving")
            tensors.update({f"cnn.{k}": v.detach().cpu().contiguous().numpy() for k, v in self.cnn.state_dict().items()})
            tensors["blend.stats"] = self.blend.to_array()
        tensors.update({k: np.ascontiguousarray(v) for k, v in head.to_arrays().items()})
        if self.family_head is not None:
            tensors.update({k: np.ascontiguousarray(v) for k, v in self.family_head.to_arrays().items()})
        for k, v in (self.replay or {}).items():
            tensors[f"replay.{k}"] = np.ascontiguousarray(v)
        cfg = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "threshold": float(self.threshold),
            "config": self.config,
            "feature_names": feature_names(self.config),
            "head_params": head.get_params(),
        }
        if self.family_head is not None:
            cfg["families"] = list(self.family_head.names)
            cfg["family_threshold"] = float(self.family_head.threshold)
        with atomic_path(directory / WEIGHTS) as tmp:
            save_file(tensors, str(tmp), metadata={"format": FORMAT, "name": self.name, "version": self.version})
        if card_text is None:
            from kinoseal.detect.card import render_card

            card_text = render_card(self)
        write_folder_files(directory, cfg, self.card, card_text)
        return directory

    @classmethod
    def load(cls, directory: Path) -> "Detector":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        directory = Path(directory)
        bad = f"{directory} is not a valid kinoseal detector"
        if not directory.is_dir():
            raise InputError(f"{directory} is not a detector folder (it does not exist or is not a folder)")
        cfg = read_folder_config(directory, bad, FORMAT, FORMAT_VERSION)
        try:
            name, version, config = str(cfg["name"]), str(cfg["version"]), dict(cfg["config"])
            threshold = float(cfg["threshold"])
            for key in ("backbone", "crop", "n_crops", "n_windows", "win_len"):
                config[key]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(bad, hint=f"{CONFIG} lacks a field: {exc}") from None
        check_threshold(threshold, bad)
        if list(cfg.get("feature_names") or []) != feature_names(config):
            raise InputError(bad, hint="its features do not match this kinoseal version")
        try:
            arrays = load_file(str(directory / WEIGHTS))
        except FileNotFoundError:
            raise InputError(bad, hint=f"{WEIGHTS} is missing") from None
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise InputError(bad, hint=f"{WEIGHTS} is unreadable: {str(exc)[:120]}") from None
        try:
            backbone = build_backbone(config)
            if backbone is not None:
                state = {k[len("backbone."):]: torch.from_numpy(v.copy()) for k, v in arrays.items()
                         if k.startswith("backbone.")}
                backbone.load_state_dict(state, strict=True)
                backbone.eval()
        except Exception as exc:  # noqa: BLE001 - any mismatch is a corrupt model for the user
            raise InputError(bad, hint=f"backbone weights do not match {config.get('backbone')!r}: {str(exc)[:160]}") from None
        cnn, blend = None, None
        if config.get("cnn"):
            try:
                cnn = build_cnn(config)
                cnn.load_state_dict({k[len("cnn."):]: torch.from_numpy(v.copy()) for k, v in arrays.items()
                                     if k.startswith("cnn.")}, strict=True)
                cnn.eval()
                blend = Blend.from_array(arrays["blend.stats"])
            except Exception as exc:  # noqa: BLE001 - any mismatch is a corrupt model for the user
                raise InputError(bad, hint=f"its residual CNN does not load: {type(exc).__name__}: {str(exc)[:160]}") from None
        try:
            head = WindowLogisticHead.from_arrays(arrays, cfg.get("head_params") or {})
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(bad, hint=f"head arrays are missing or invalid: {str(exc)[:120]}") from None
        if head.n_features_in_ != len(feature_names(config)):
            raise InputError(bad, hint="the head does not match the feature count")
        family_head = None
        if cfg.get("families"):
            try:
                family_head = FamilyHead.from_arrays(arrays, list(cfg["families"]), float(cfg.get("family_threshold", 0.5)))
            except (KeyError, ValueError, TypeError) as exc:
                raise InputError(bad, hint=f"family attribution arrays are missing or invalid: {str(exc)[:120]}") from None
        replay = {k[len("replay."):]: v for k, v in arrays.items() if k.startswith("replay.")} or None
        card = read_metrics(directory, bad)
        det = cls(name=name, version=version, config=config, backbone=backbone, head=head, threshold=threshold,
                  card=card, replay=replay, family_head=family_head, cnn=cnn, blend=blend)
        # A smoke run on a synthetic tube: shapes and numbers must work end to end.
        S, L = int(config["crop"]), int(config["win_len"])
        probe = np.random.default_rng(0).integers(0, 256, (1, int(config["n_crops"]), L, S, S, 3), dtype=np.uint8)
        try:
            s = det.score_features(det.window_features(probe), cnn_logits=det.cnn_logits(probe))
        except Exception as exc:  # noqa: BLE001
            raise InputError(bad, hint=f"a test run failed: {type(exc).__name__}: {str(exc)[:120]}") from None
        if not np.isfinite(s.probability):
            raise InputError(bad, hint="a test run produced a non-finite score")
        return det


def read_folder_config(directory: Path, bad: str, fmt: str, max_version: int) -> dict:
    """A model folder's config.json, checked for its format and version; ``bad`` opens every error."""
    try:
        cfg = json.loads((directory / CONFIG).read_text())
    except FileNotFoundError:
        raise InputError(bad, hint=f"{CONFIG} is missing") from None
    except (OSError, ValueError) as exc:
        raise InputError(bad, hint=f"{CONFIG} is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != fmt:
        raise InputError(bad, hint=f"{CONFIG} does not declare format {fmt!r}")
    if int(cfg.get("format_version", 0)) > max_version:
        raise InputError(bad, hint=f"format version {cfg.get('format_version')} is newer than this kinoseal")
    return cfg


def check_threshold(threshold: float, bad: str) -> None:
    if not 0.0 < threshold < 1.0:
        raise InputError(bad, hint=f"threshold {threshold} is not a probability in (0, 1)")


def read_metrics(directory: Path, bad: str) -> dict:
    """metrics.json of a model folder, ``{}`` when there is none."""
    if not (directory / METRICS).exists():
        return {}
    try:
        return json.loads((directory / METRICS).read_text())
    except ValueError:
        raise InputError(bad, hint=f"{METRICS} is not valid JSON") from None


def write_folder_files(directory: Path, cfg: dict, card: dict, card_text: str) -> None:
    """config.json, metrics.json (when there are metrics) and MODEL_CARD.md, each written atomically."""
    from kinoseal.mediaio.atomic import atomic_path

    with atomic_path(directory / CONFIG) as tmp:
        Path(tmp).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if card:
        with atomic_path(directory / METRICS) as tmp:
            Path(tmp).write_text(json.dumps(card, indent=2, sort_keys=True, default=json_default) + "\n")
    with atomic_path(directory / CARD) as tmp:
        Path(tmp).write_text(card_text)


def json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)
