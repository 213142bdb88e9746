"""User-supplied diffusers text-to-video checkpoints (``kinoseal generate ... --model DIR``).

A checkpoint is a directory in diffusers layout (``model_index.json`` + one folder per component),
loaded offline (``local_files_only=True``) in float32 on the CPU. Only the pipeline classes in
:data:`SUPPORTED` are accepted; each one has its own frame-count and size rules, which
:meth:`ExternalVideoModel.plan` applies (rounding up / to the nearest multiple) or explains in an
:class:`~kinoseal.errors.InputError` when a request cannot be met.

Where each rule comes from (diffusers 0.42 sources):

* ``TextToVideoSDPipeline`` (ModelScope) -- per-frame ``AutoencoderKL``: any frame count;
  ``check_inputs`` wants height/width % 8.
* ``AnimateDiffPipeline`` -- per-frame VAE, any frame count up to the motion module's
  ``motion_max_seq_length`` (its positional table; 32 for the public adapters); % 8.
* ``CogVideoXPipeline`` -- ``AutoencoderKLCogVideoX`` compresses time by
  ``temporal_compression_ratio`` (4): num_frames = 4k+1; sizes % (8, VAE x patch). The VAE decodes
  latents two at a time, so an even latent count decodes to 3 extra trailing frames; those are dropped.
* ``LTXPipeline`` -- ``AutoencoderKLLTXVideo`` time ratio (8 for the public models): num_frames = 8k+1;
  ``check_inputs`` wants % 32. ``frame_rate`` is passed to the model (its RoPE is scaled by it).
* ``WanPipeline`` -- ``AutoencoderKLWan.scale_factor_temporal`` (4): 4k+1 (the pipeline itself
  would silently round *down*); sizes % 16 and % (VAE x patch); at most ``rope_max_seq_len`` latent
  frames / patches per side.
* ``LattePipeline`` -- the transformer adds a temporal position table of exactly ``video_length``
  (16) frames: a clip is exactly that long (or 1 frame); % (8, VAE x patch).

Product rule: the frame-producing method is private (:meth:`ExternalVideoModel._iter_frames`); the
public entry points that return video go through ``label.Labeler`` and always watermark + sign.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from kinoseal.errors import InputError, KinosealError, LimitExceeded

ProgressFn = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------- class rules


@dataclass(frozen=True)
class ClassRules:
    """What a pipeline class needs. Numbers marked "default" are replaced at load time by what the
    checkpoint's own configs say (VAE compression ratios, patch sizes, position-table lengths)."""

    frames_arg: str  # __call__ argument that takes the frame count
    frame_rule: str  # "any" | "tk+1" (t = VAE temporal ratio) | "fixed" (exactly the model's length, or 1)
    temporal_ratio: int  # default VAE temporal compression (1 = per-frame VAE)
    size_multiple: int  # what the pipeline's check_inputs demands of height and width
    default_fps: int
    text_max_length: int | None  # default max_sequence_length passed to the pipeline (None: tokenizer's own)
    max_frames_from: str | None  # where a hard frame limit comes from, if the class has one
    step_callback: str  # "on_step_end" | "legacy"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SUPPORTED: dict[str, ClassRules] = {
    "TextToVideoSDPipeline": ClassRules(
        frames_arg="num_frames", frame_rule="any", temporal_ratio=1, size_multiple=8, default_fps=8,
        text_max_length=None, max_frames_from=None, step_callback="legacy",
    ),
    "AnimateDiffPipeline": ClassRules(
        frames_arg="num_frames", frame_rule="any", temporal_ratio=1, size_multiple=8, default_fps=8,
        text_max_length=None, max_frames_from="unet.config.motion_max_seq_length", step_callback="on_step_end",
    ),
    "CogVideoXPipeline": ClassRules(
        frames_arg="num_frames", frame_rule="tk+1", temporal_ratio=4, size_multiple=8, default_fps=8,
        text_max_length=226, max_frames_from=None, step_callback="on_step_end",
    ),
    "LTXPipeline": ClassRules(
        frames_arg="num_frames", frame_rule="tk+1", temporal_ratio=8, size_multiple=32, default_fps=25,
        text_max_length=128, max_frames_from=None, step_callback="on_step_end",
    ),
    "WanPipeline": ClassRules(
        frames_arg="num_frames", frame_rule="tk+1", temporal_ratio=4, size_multiple=16, default_fps=16,
        text_max_length=512, max_frames_from="transformer.config.rope_max_seq_len", step_callback="on_step_end",
    ),
    "LattePipeline": ClassRules(
        frames_arg="video_length", frame_rule="fixed", temporal_ratio=1, size_multiple=8, default_fps=8,
        text_max_length=120, max_frames_from="transformer.config.video_length", step_callback="on_step_end",
    ),
}

_SUPPORTED_LIST = ", ".join(sorted(SUPPORTED))
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Constraints:
    """The rules of one loaded checkpoint (ClassRules with the numbers read from its configs)."""

    frame_rule: str
    temporal_ratio: int
    min_frames: int
    max_frames: int | None
    max_frames_reason: str | None
    fixed_frames: int | None
    size_multiple: int
    max_side: int | None
    fixed_size: tuple[int, int] | None
    default_size: tuple[int, int]
    default_frames: int | None
    default_fps: int
    default_steps: int
    default_guidance: float | None
    text_max_length: int | None

    @property
    def rule_text(self) -> str:
        if self.frame_rule == "fixed":
            return f"exactly {self.fixed_frames} frames (or 1)"
        if self.frame_rule == "tk+1" and self.temporal_ratio > 1:
            return f"num_frames = {self.temporal_ratio}k+1"
        return "any number of frames"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rule"] = self.rule_text
        return d


# ----------------------------------------------------------------------------- helpers


def _one_line(err: BaseException | str, limit: int = 300) -> str:
    text = str(err) if not isinstance(err, str) else err
    if isinstance(err, BaseException) and not text:
        text = type(err).__name__
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cfg(obj: Any, key: str, default: Any = None) -> Any:
    cfg = getattr(obj, "config", None)
    if cfg is None:
        return default
    val = cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)
    return default if val is None else val


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[-1])
    return int(v), int(v)


def _round_to(x: int, m: int) -> int:
    """Nearest multiple of m (ties up), at least m."""
    return max(m, int(math.floor(x / m + 0.5)) * m)


def _quiet_libraries() -> contextlib.ExitStack:
    """Silence diffusers/transformers logs, progress bars and warnings (accelerate hints,
    deprecations) while loading; the previous settings come back on exit."""
    import warnings

    stack = contextlib.ExitStack()
    for modname in ("diffusers.utils.logging", "transformers.utils.logging"):
        try:
            mod = __import__(modname, fromlist=["get_verbosity"])
            old = mod.get_verbosity()
            mod.set_verbosity_error()
            stack.callback(mod.set_verbosity, old)
            if mod.is_progress_bar_enabled():
                mod.disable_progress_bar()
                stack.callback(mod.enable_progress_bar)
        except Exception:  # pragma: no cover - logging helpers moved
            pass
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", UserWarning)
    return stack


@contextlib.contextmanager
def _fp32_modules_without_accelerate(class_names: list[str]):
    """diffusers 0.42 refuses ``from_pretrained`` for models with ``_keep_in_fp32_modules`` (e.g.
    ``WanTransformer3DModel``) when ``accelerate`` is not installed ("low_cpu_mem_usage cannot be False
    when keep_in_fp32_modules is True"). We always load in float32, where keeping some modules in
    float32 is a no-op, so the list is cleared for the duration of the load."""
    from diffusers.utils import is_accelerate_available

    patched: list[tuple[type, Any]] = []
    if not is_accelerate_available():
        import diffusers

        for name in class_names:
            cls = getattr(diffusers, name, None)
            if isinstance(cls, type) and getattr(cls, "_keep_in_fp32_modules", None) is not None:
                patched.append((cls, cls.__dict__.get("_keep_in_fp32_modules", _MISSING)))
                cls._keep_in_fp32_modules = None
    try:
        yield
    finally:
        for cls, old in patched:
            if old is _MISSING:
                del cls._keep_in_fp32_modules
            else:
                cls._keep_in_fp32_modules = old


_MISSING = object()


_VOCAB_FILES = ("tokenizer.json", "spiece.model", "tokenizer.model", "vocab.json", "vocab.txt")


def _check_components(root: Path, index: dict, components: list[str]) -> None:
    """Every component model_index.json names must have its folder; a tokenizer folder must hold a
    vocabulary (transformers 5 would otherwise build a default, near-empty tokenizer without a word)."""
    for comp in components:
        cls_name = str(index[comp][1])
        folder = root / comp
        if not folder.is_dir() or not any(folder.iterdir()):
            raise InputError(f"{root} is incomplete: component folder '{comp}' ({cls_name}) is missing or empty")
        if "Tokenizer" in cls_name and not any((folder / f).is_file() for f in _VOCAB_FILES):
            raise InputError(
                f"{root} is incomplete: '{comp}' ({cls_name}) has no vocabulary file "
                f"({', '.join(_VOCAB_FILES)})"
            )


def _check_weight_files(root: Path, components: list[str]) -> None:
    """Open every safetensors header of the pipeline's components: a truncated or corrupt file is
    reported by name, before diffusers produces a long, less specific error."""
    from safetensors import safe_open

    for comp in components:
        folder = root / comp
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.safetensors")):
            try:
                with safe_open(str(f), framework="pt") as h:
                    h.keys()
            except Exception as e:
                raise InputError(
                    f"corrupt weight file {comp}/{f.name} in {root}: {_one_line(e, 160)}",
                    hint="re-download or re-save the checkpoint",
                ) from None


_WEIGHT_FILE = re.compile(
    r"^[\w-]+?(?:\.(?P<variant>[A-Za-z0-9_]+))?(?:-\d+-of-\d+)?\.(?:safetensors|bin)(?:\.index(?:\.[A-Za-z0-9_]+)?\.json)?$"
)


def _weight_variant(root: Path, components: list[str]) -> str | None:
    """If components only have variant weights (``diffusion_pytorch_model.fp16.safetensors``, as a
    ``--variant fp16`` download leaves them), the variant to load; None when plain weights exist."""
    found: set[str] = set()
    for comp in components:
        folder = root / comp
        if not folder.is_dir():
            continue
        plain, variants = False, set()
        for f in folder.iterdir():
            m = _WEIGHT_FILE.match(f.name)
            if not m:
                continue
            v = m.group("variant")
            if f.name.endswith(".json") and v is None:
                # "x.safetensors.index.fp16.json": the variant sits before ".json"
                parts = f.name.split(".")
                v = parts[-2] if len(parts) > 4 else None
            if v is None:
                plain = True
            else:
                variants.add(v)
        if not plain and variants:
            found |= variants
    return sorted(found)[0] if len(found) == 1 else None


# ----------------------------------------------------------------------------- the model


class ExternalVideoModel:
    """A diffusers text-to-video pipeline loaded from a user's directory."""

    supports_edit = False  # text to video only: no video-to-video path is wired for these pipelines

    def __init__(self, pipe: Any, path: Path, class_name: str, model_index: dict) -> None:
        self._pipe = pipe
        self.path = path
        self.class_name = class_name
        self.model_index = model_index
        self.rules = SUPPORTED[class_name]
        self.constraints = self._resolve_constraints()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_dir(cls, path: str | Path) -> "ExternalVideoModel":
        root = Path(path).expanduser()
        if not root.exists():
            raise InputError(f"model directory not found: {root}")
        if not root.is_dir():
            raise InputError(f"--model must be a diffusers pipeline directory, not a file: {root}")
        index_file = root / "model_index.json"
        if not index_file.is_file():
            raise InputError(f"{root} is not a diffusers pipeline directory (no model_index.json)",
                             hint=f"supported pipelines: {_SUPPORTED_LIST}")
        try:
            index = json.loads(index_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"unreadable model_index.json in {root}: {_one_line(e, 160)}") from None
        class_name = index.get("_class_name") if isinstance(index, dict) else None
        if not isinstance(class_name, str) or not class_name:
            raise InputError(f"model_index.json in {root} names no pipeline class (_class_name)")
        if class_name not in SUPPORTED:
            raise InputError(
                f"{_one_line(class_name, 80)} (in {root}) is not a supported text-to-video pipeline; "
                f"supported: {_SUPPORTED_LIST}"
            )
        components = [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)
                      and len(v) == 2 and v[0] is not None]
        _check_components(root, index, components)
        _check_weight_files(root, components)
        component_classes = [v[1] for k, v in index.items() if k in components and isinstance(v[1], str)]

        import diffusers
        from diffusers import DiffusionPipeline

        kwargs: dict[str, Any] = {"local_files_only": True}
        try:  # diffusers >= 0.40 renamed torch_dtype -> dtype (the old name warns)
            from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401

            kwargs["dtype"] = torch.float32
        except ImportError:
            kwargs["torch_dtype"] = torch.float32
        variant = _weight_variant(root, components)
        if variant:
            kwargs["variant"] = variant
        with _LOAD_LOCK, _quiet_libraries(), _fp32_modules_without_accelerate(component_classes):
            try:
                pipe = DiffusionPipeline.from_pretrained(str(root), **kwargs)
            except KinosealError:
                raise
            except MemoryError:
                raise LimitExceeded(f"not enough memory to load {class_name} from {root}") from None
            except Exception as e:
                raise InputError(f"could not load {class_name} from {root}: {_one_line(e)}") from None
        expected = getattr(diffusers, class_name)
        if not isinstance(pipe, expected):
            raise InputError(f"{root} loaded as {type(pipe).__name__}, expected {class_name}")
        pipe.to("cpu")
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        return cls(pipe, root.resolve(), class_name, index)

    # ------------------------------------------------------------------ rules of this checkpoint

    def _resolve_constraints(self) -> Constraints:
        p, r, name = self._pipe, self.rules, self.class_name
        if getattr(p, "vae", None) is None:
            raise InputError(f"{name} in {self.path} has no vae component")
        t_ratio, mult = r.temporal_ratio, r.size_multiple
        max_frames = fixed_frames = max_side = default_frames = None
        max_reason = None
        fixed_size = None
        text_max = r.text_max_length
        tok_max = getattr(getattr(p, "tokenizer", None), "model_max_length", None)
        if text_max is not None and isinstance(tok_max, int) and 0 < tok_max < text_max:
            text_max = tok_max  # never pad past what the checkpoint's tokenizer declares
        if name in ("TextToVideoSDPipeline", "AnimateDiffPipeline"):
            s = int(p.vae_scale_factor)
            mult = math.lcm(mult, s)
            h, w = _pair(_cfg(p.unet, "sample_size", 64))
            default = (h * s, w * s)
            if name == "AnimateDiffPipeline":
                max_frames = int(_cfg(p.unet, "motion_max_seq_length", 32))
                max_reason = "its motion module has a positional table of that many frames (motion_max_seq_length)"
            text_max = tok_max if isinstance(tok_max, int) and tok_max < 100_000 else None
        elif name == "CogVideoXPipeline":
            t_ratio = int(p.vae_scale_factor_temporal)
            s = int(p.vae_scale_factor_spatial)
            patch = int(_cfg(p.transformer, "patch_size", 2))
            mult = math.lcm(mult, s * patch)
            default = (int(_cfg(p.transformer, "sample_height", 60)) * s, int(_cfg(p.transformer, "sample_width", 90)) * s)
            default_frames = int(_cfg(p.transformer, "sample_frames", 49))
            if _cfg(p.transformer, "use_learned_positional_embeddings", False):
                fixed_size = default
            text_max = int(_cfg(p.transformer, "max_text_seq_length", text_max or 226))
        elif name == "LTXPipeline":
            t_ratio = int(p.vae_temporal_compression_ratio)
            s = int(p.vae_spatial_compression_ratio)
            mult = math.lcm(mult, s * int(p.transformer_spatial_patch_size))
            default = (512, 704)  # LTXPipeline.__call__ defaults
            default_frames = 161
        elif name == "WanPipeline":
            t_ratio = int(p.vae_scale_factor_temporal)
            s = int(p.vae_scale_factor_spatial)
            tr = p.transformer if getattr(p, "transformer", None) is not None else p.transformer_2
            pt, ph, pw = (int(x) for x in _cfg(tr, "patch_size", (1, 2, 2)))
            mult = math.lcm(mult, s * ph, s * pw)
            rope = int(_cfg(tr, "rope_max_seq_len", 1024))
            max_frames = (rope * pt - 1) * t_ratio + 1
            max_reason = f"its rotary position table covers {rope} latent frames (rope_max_seq_len)"
            max_side = rope * s * max(ph, pw)
            default = (480, 832)  # WanPipeline.__call__ defaults
            default_frames = 81
        elif name == "LattePipeline":
            s = int(p.vae_scale_factor)
            patch = int(_cfg(p.transformer, "patch_size", 2))
            mult = math.lcm(mult, s * patch)
            h, w = _pair(_cfg(p.transformer, "sample_size", 64))
            default = (h * s, w * s)
            fixed_frames = int(_cfg(p.transformer, "video_length", 16))
            max_frames = fixed_frames
            max_reason = f"its temporal position table is exactly {fixed_frames} frames (video_length)"
            default_frames = fixed_frames
        else:  # pragma: no cover - SUPPORTED and this table are kept in step
            raise KinosealError(f"no constraint table for {name}")
        default = (_round_to(default[0], mult), _round_to(default[1], mult))
        call_defaults = _call_defaults(p)
        fps = r.default_fps
        if name == "CogVideoXPipeline" and _cfg(p.transformer, "patch_size_t", None):
            fps = 16  # CogVideoX 1.5 is trained at 16 fps
        return Constraints(
            frame_rule=r.frame_rule, temporal_ratio=int(t_ratio), min_frames=1, max_frames=max_frames,
            max_frames_reason=max_reason, fixed_frames=fixed_frames, size_multiple=int(mult), max_side=max_side,
            fixed_size=fixed_size, default_size=default, default_frames=default_frames, default_fps=fps,
            default_steps=int(call_defaults.get("num_inference_steps") or 50),
            default_guidance=call_defaults.get("guidance_scale"), text_max_length=text_max,
        )

    # ------------------------------------------------------------------ info

    def describe(self) -> dict:
        version = self.model_index.get("_diffusers_version")
        if not version:
            for comp in ("transformer", "unet"):
                version = _cfg(getattr(self._pipe, comp, None), "_diffusers_version", None)
                if version:
                    break
        c = self.constraints
        return {
            "name": f"{self.class_name}:{self.path.name}",
            "version": str(version or "unknown"),
            "class": self.class_name,
            "path": str(self.path),
            "components": {k: v[1] for k, v in self.model_index.items()
                           if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and v[1]},
            "default_fps": c.default_fps,
            "default_size": c.default_size,
            "default_steps": c.default_steps,
            "default_guidance": c.default_guidance,
            "constraints": c.as_dict(),
        }

    # ------------------------------------------------------------------ planning

    def plan(self, *, seconds: float, fps: int | None, height: int | None = None, width: int | None = None) -> dict:
        """The num_frames / height / width a request actually uses (see the module docstring)."""
        c, name = self.constraints, self.class_name
        if fps and float(fps) != int(fps):
            raise InputError(f"fps must be a whole number for {name}, got {fps}")
        fps = int(fps) if fps else c.default_fps
        if fps <= 0:
            raise InputError(f"fps must be positive, got {fps}")
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise InputError(f"seconds must be a number, got {seconds!r}") from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise InputError(f"seconds must be positive, got {seconds:g}")
        requested = max(1, int(round(seconds * fps)))
        notes: list[str] = []

        n = requested
        if c.frame_rule == "tk+1" and c.temporal_ratio > 1:
            t = c.temporal_ratio
            n = ((requested - 1 + t - 1) // t) * t + 1
        elif c.frame_rule == "fixed" and c.fixed_frames and requested > 1:
            n = c.fixed_frames if requested <= c.fixed_frames else requested
        if n != requested:
            notes.append(f"{name} needs {c.rule_text}: {requested} frames requested -> {n}")
        if c.max_frames is not None and n > c.max_frames:
            best = self._largest_allowed(c.max_frames)
            if c.frame_rule == "fixed":
                raise InputError(
                    f"{name} makes {c.rule_text}: {requested} frames requested ({seconds:g} s at {fps} fps), "
                    f"{c.max_frames_reason} -> use --seconds {best / fps:g} or less (shorter clips are rounded up to "
                    f"{best} frames), or a lower --fps"
                )
            raise InputError(
                f"{name} needs {c.rule_text} and at most {c.max_frames} frames ({c.max_frames_reason}); "
                f"{requested} frames requested ({seconds:g} s at {fps} fps) -> use {best} "
                f"(--seconds {best / fps:g} or less), or a lower --fps"
            )

        h, w = self._plan_size(height, width, notes)
        return {
            "class": name,
            "num_frames": int(n),
            "requested_frames": int(requested),
            "height": int(h),
            "width": int(w),
            "fps": int(fps),
            "seconds": n / fps,
            "rule": c.rule_text,
            "size_multiple": c.size_multiple,
            "adjustments": notes,
        }

    def _largest_allowed(self, limit: int) -> int:
        c = self.constraints
        if c.frame_rule == "tk+1" and c.temporal_ratio > 1:
            return ((limit - 1) // c.temporal_ratio) * c.temporal_ratio + 1
        return limit

    def _plan_size(self, height: int | None, width: int | None, notes: list[str]) -> tuple[int, int]:
        c, name = self.constraints, self.class_name
        out = []
        for label, val, default in (("height", height, c.default_size[0]), ("width", width, c.default_size[1])):
            if val is None:
                out.append(default)
                continue
            val = int(val)
            if val <= 0:
                raise InputError(f"{label} must be positive, got {val}")
            if c.fixed_size is not None:
                fixed = c.fixed_size[0 if label == "height" else 1]
                if val != fixed:
                    raise InputError(
                        f"{name} in {self.path.name} has learned position embeddings and only makes "
                        f"{c.fixed_size[1]}x{c.fixed_size[0]} video; {label} {val} requested -> leave it unset"
                    )
            r = _round_to(val, c.size_multiple)
            if c.max_side is not None and r > c.max_side:
                raise InputError(
                    f"{name} allows {label} up to {c.max_side} (its rotary position table); {val} requested"
                )
            if r != val:
                notes.append(f"{name} needs height and width divisible by {c.size_multiple}: {label} {val} -> {r}")
            out.append(r)
        return out[0], out[1]

    # ------------------------------------------------------------------ generation (PRIVATE)

    def _call_kwargs(self, plan: dict, steps: int, guidance: float | None, seed: int,
                     progress: ProgressFn | None) -> dict[str, Any]:
        c, name, r = self.constraints, self.class_name, self.rules
        kw: dict[str, Any] = {
            r.frames_arg: plan["num_frames"],
            "height": plan["height"],
            "width": plan["width"],
            "num_inference_steps": int(steps),
            "generator": torch.Generator("cpu").manual_seed(int(seed)),
            "output_type": "np",
        }
        if guidance is not None:
            kw["guidance_scale"] = float(guidance)
        if name in ("CogVideoXPipeline", "LTXPipeline", "WanPipeline") and c.text_max_length:
            kw["max_sequence_length"] = int(c.text_max_length)
        if name == "LTXPipeline":
            kw["frame_rate"] = plan["fps"]
            if _cfg(self._pipe.vae, "timestep_conditioning", False):
                kw["decode_timestep"], kw["decode_noise_scale"] = 0.05, 0.025  # LTX >= 0.9.1 recipe
        if name == "LattePipeline":
            kw["clean_caption"] = False  # needs bs4 + ftfy; a plain prompt needs no cleaning
        if progress is not None:
            pipe = self._pipe
            if r.step_callback == "legacy":
                kw["callback"] = lambda i, t, latents: progress("step", i + 1, steps)
                kw["callback_steps"] = 1
            else:
                def on_step_end(_p, i, t, callback_kwargs):
                    total = getattr(pipe, "_num_timesteps", None) or steps
                    progress("step", i + 1, int(total))
                    return {}

                kw["callback_on_step_end"] = on_step_end
        return kw

    def _iter_frames(
        self,
        prompt: str,
        *,
        seconds: float,
        fps: int,
        seed: int,
        steps: int | None = None,
        guidance: float | None = None,
        height: int | None = None,
        width: int | None = None,
        progress: ProgressFn | None = None,
    ) -> Iterator[np.ndarray]:
        """Run the pipeline and yield its frames (uint8 RGB, HxWx3, even sizes) in order.
        ``steps``/``guidance``/``fps``/sizes left as None take the model's defaults (see describe()).
        PRIVATE: callers must label (watermark + manifest) what this yields."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("the prompt is empty")
        if steps is None:
            steps = self.constraints.default_steps
        if int(steps) < 1:
            raise InputError(f"steps must be at least 1, got {steps}")
        plan = self.plan(seconds=seconds, fps=fps, height=height, width=width)
        kw = self._call_kwargs(plan, int(steps), guidance, seed, progress)
        with self._lock, torch.inference_mode():
            try:
                out = self._pipe(prompt, **kw)
            except KinosealError:
                raise
            except MemoryError:
                raise LimitExceeded(
                    f"not enough memory for {plan['num_frames']} frames at {plan['width']}x{plan['height']} "
                    f"with {self.class_name}", hint="use fewer --seconds or a smaller size",
                ) from None
            except (RuntimeError, ValueError, IndexError, TypeError) as e:
                raise InputError(f"{self.class_name} from {self.path.name} failed to generate: {_one_line(e)}") from None
        video = _frames_array(out.frames if hasattr(out, "frames") else out[0])
        n = plan["num_frames"]
        if video.shape[0] < n:
            raise KinosealError(f"{self.class_name} returned {video.shape[0]} frames, {n} were planned")
        # CogVideoX decodes an even number of latent frames into 4 per latent (3 more than 4k+1): drop the tail.
        video = video[:n]
        for frame in video:
            yield _to_rgb8(frame)


def _call_defaults(pipe: Any) -> dict[str, Any]:
    """Default values of the pipeline's __call__ arguments (num_inference_steps, guidance_scale...)."""
    import inspect

    try:
        sig = inspect.signature(type(pipe).__call__)
    except (TypeError, ValueError):  # pragma: no cover
        return {}
    return {k: v.default for k, v in sig.parameters.items()
            if v.default is not inspect.Parameter.empty and isinstance(v.default, (int, float))}


def _frames_array(frames: Any) -> np.ndarray:
    """Pipeline output (np [B,F,H,W,C] / [F,H,W,C] float in [0, 1], torch, or lists of PIL) -> [F,H,W,C]."""
    if isinstance(frames, torch.Tensor):
        arr = frames.detach().float().cpu()
        if arr.ndim == 5 and arr.shape[2] in (1, 3, 4):  # pt: [B, F, C, H, W]
            arr = arr.permute(0, 1, 3, 4, 2)
        frames = arr.numpy()
    if isinstance(frames, list):
        if frames and isinstance(frames[0], list):
            frames = frames[0]
        frames = np.stack([np.asarray(f) for f in frames])
    arr = np.asarray(frames)
    if arr.ndim == 5:
        arr = arr[0]
    if arr.ndim == 3:  # [F, H, W] grayscale
        arr = arr[..., None]
    if arr.ndim != 4:
        raise KinosealError(f"unexpected video output shape {arr.shape}")
    return arr


def _to_rgb8(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.dtype != np.uint8:
        f = (np.clip(f.astype(np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if f.shape[-1] == 1:
        f = np.repeat(f, 3, axis=-1)
    f = f[..., :3]
    h, w = f.shape[:2]
    return np.ascontiguousarray(f[: h - h % 2, : w - w % 2])
