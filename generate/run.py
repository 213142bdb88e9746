"""Public entry points of the generator. Each one writes a labeled clip and
returns a ``LabelResult``; none returns frames.

The models (the shipped ``KinoVideoPipeline`` or a user's diffusers pipeline
loaded by ``generate.external``) produce frames only through private
``_iter_frames`` methods, and only this module and the labeler consume them.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Iterator

from kinoseal.label import GeneratorInfo, Labeler, LabelResult
from kinoseal.config import Settings
from kinoseal.errors import InputError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "weights" / "kino-tiny"
MAX_SECONDS = 60.0

# progress(kind, i, n) with kind in {"chunk", "step", "frame"}
ProgressFn = Callable[[str, int, int], None]

_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def default_model_available() -> bool:
    return (DEFAULT_MODEL_DIR / "model_index.json").exists()


def load_model(model_dir: Path | None = None):
    """The shipped model by default, or a diffusers pipeline directory (cached per path)."""
    path = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    key = str(path.resolve())
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        if not (path / "model_index.json").exists():
            raise InputError(f"{path} is not a diffusers model directory (no model_index.json)")
        import json

        try:
            cls_name = json.loads((path / "model_index.json").read_text()).get("_class_name")
        except (OSError, ValueError):
            raise InputError(f"{path}/model_index.json is not valid JSON") from None
        if cls_name == "KinoVideoPipeline":
            import diffusers
            import transformers

            from kinoseal.generate.pipeline import KinoVideoPipeline

            # Loading chatter (progress bars, "pip install accelerate") is not for our users.
            diffusers.utils.logging.set_verbosity_error()
            diffusers.utils.logging.disable_progress_bar()
            transformers.utils.logging.set_verbosity_error()
            transformers.utils.logging.disable_progress_bar()  # "Loading weights" bar of transformers 5

            try:
                with _legacy_module_names(path):
                    model = KinoVideoPipeline.from_pretrained(str(path), local_files_only=True)
                model.set_progress_bar_config(disable=True)
            except Exception as exc:  # noqa: BLE001 - any loader failure is a bad model dir for the user
                raise InputError(f"cannot load the model in {path}", hint=f"{type(exc).__name__}: {str(exc)[:200]}") from None
        else:
            from kinoseal.generate.external import ExternalVideoModel

            model = ExternalVideoModel.from_dir(path)
        _cache[key] = model
        return model


@contextlib.contextmanager
def _legacy_module_names(path: Path) -> Iterator[None]:
    """Checkpoints written before the kinoseal.* install namespace name their planner's module
    ``generate.layout``. diffusers resolves a non-diffusers component's module from
    ``sys.modules`` only (it never imports what a repository names), so that one old name is
    aliased to the module that now holds the class, for the duration of the load."""
    import json
    import sys

    try:
        planner = (json.loads((path / "model_index.json").read_text()).get("planner") or [None])[0]
    except (OSError, ValueError, AttributeError):
        planner = None  # from_pretrained reports the broken index
    if planner != "generate.layout" or "generate.layout" in sys.modules:
        yield
        return
    from kinoseal.generate import layout

    sys.modules["generate.layout"] = layout
    try:
        yield
    finally:
        sys.modules.pop("generate.layout", None)


def _generator_info(model, *, prompt: str, record_prompt: bool, **params: Any) -> GeneratorInfo:
    d = model.describe()
    name = str(d.get("model") or d.get("name") or type(model).__name__)
    version = str(d.get("version", "unknown"))
    extra: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    if record_prompt:
        extra["prompt"] = prompt
    else:
        extra["prompt_sha256"] = hashlib.sha256(prompt.encode()).hexdigest()
    for k in ("native_size", "output_size", "frames_per_chunk", "continuation_guidance"):
        if k in d:
            extra[k] = list(d[k]) if isinstance(d[k], tuple) else d[k]
    return GeneratorInfo(name, version, extra)


def _check_prompt(prompt: str) -> str:
    prompt = (prompt or "").strip()
    if not prompt:
        raise InputError("the prompt is empty")
    if len(prompt) > 2000:
        raise InputError("the prompt is longer than 2000 characters")
    return prompt


def generate_clip(
    settings: Settings,
    prompt: str,
    dst: Path,
    *,
    seconds: float = 4.0,
    fps: int | None = None,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    model_dir: Path | None = None,
    record_prompt: bool = False,
    progress: ProgressFn | None = None,
    labeler: Labeler | None = None,
) -> LabelResult:
    """Text to video, written as a labeled MP4 (watermark + C2PA trainedAlgorithmicMedia)."""
    prompt = _check_prompt(prompt)
    if not 0 < float(seconds) <= MAX_SECONDS:
        raise InputError(f"--seconds must be in (0, {MAX_SECONDS:.0f}]")
    if steps is not None and not 1 <= int(steps) <= 1000:
        raise InputError("--steps must be between 1 and 1000")
    model = load_model(model_dir)
    d = model.describe()
    fps = int(fps or d.get("default_fps") or 8)
    if not 1 <= fps <= 60:
        raise InputError("--fps must be between 1 and 60")
    steps = int(steps or d.get("default_steps") or 25)
    total = int(model.plan(seconds=seconds, fps=fps, height=None, width=None)["num_frames"])
    info = _generator_info(model, prompt=prompt, record_prompt=record_prompt, seed=int(seed), steps=steps,
                           guidance=guidance, fps=fps, seconds=float(seconds))
    frames = model._iter_frames(prompt, seconds=float(seconds), fps=fps, seed=int(seed), steps=steps,
                                guidance=guidance, progress=progress)
    return _write_labeled(settings, labeler, progress, frames, Path(dst), fps=fps, generator=info, total=total)


def edit_clip(
    settings: Settings,
    src: Path,
    prompt: str,
    dst: Path,
    *,
    strength: float = 0.6,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    model_dir: Path | None = None,
    record_prompt: bool = False,
    progress: ProgressFn | None = None,
    labeler: Labeler | None = None,
) -> LabelResult:
    """Video to video (SDEdit): re-noise ``src`` to ``strength`` and denoise toward ``prompt``.

    The output is labeled compositeWithTrainedAlgorithmicMedia; ``src`` (and its
    manifest, if it has one) becomes a parentOf ingredient with c2pa.opened +
    c2pa.edited actions, so the verifier shows the chain.
    """
    from kinoseal.mediaio.probe import probe
    from kinoseal.mediaio.reader import iter_frames

    prompt = _check_prompt(prompt)
    if not 0.0 < float(strength) <= 1.0:
        raise InputError("--strength must be in (0, 1]")
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise InputError("the output must be a different file from the input")
    info = probe(src, settings.limits)
    if info.duration_s > MAX_SECONDS:
        raise InputError(f"clips to edit must be at most {MAX_SECONDS:.0f} s long")
    model = load_model(model_dir)
    if not model.supports_edit:
        raise InputError(f"{type(model).__name__} does not support editing; use the default model")
    d = model.describe()
    steps = int(steps or d.get("default_steps") or 25)
    fps = max(1, int(round(float(info.fps))))
    gen_info = _generator_info(model, prompt=prompt, record_prompt=record_prompt, seed=int(seed), steps=steps,
                               guidance=guidance, strength=float(strength), mode="sdedit")
    init = (f.planes[0] for f in iter_frames(src, settings.limits, fmt="rgb24"))
    frames = model._iter_frames(prompt, seconds=None, fps=fps, seed=int(seed), steps=steps, guidance=guidance,
                                init_frames=init, strength=float(strength), progress=progress)
    return _write_labeled(
        settings, labeler, progress, frames, dst, fps=info.fps, generator=gen_info, total=info.frame_count,
        parent=src, edit_description=f"SDEdit toward a text prompt at strength {float(strength):.2f}",
    )


def _write_labeled(settings: Settings, labeler: Labeler | None, progress: ProgressFn | None, frames, dst: Path,
                   **label_kwargs) -> LabelResult:
    """The one exit of every generator path: the Labeler (watermark, encode, sign)."""
    labeler = labeler or Labeler.from_settings(settings)
    frame_progress = (lambda n, t: progress("frame", n, t)) if progress else None
    return labeler.label_frames(frames, dst, progress=frame_progress, **label_kwargs)
