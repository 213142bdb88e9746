"""User-supplied diffusers text-to-video checkpoints (generate/external.py).

Every pipeline here is a tiny random-weight pipeline that tests/tiny_pipelines.py builds and
saves in diffusers layout (nothing is downloaded), then loads back through
``ExternalVideoModel.from_dir`` exactly as ``kinoseal generate --model DIR`` would.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from kinoseal.generate.external import SUPPORTED, ExternalVideoModel
from kinoseal.errors import InputError, KinosealError
from tests import tiny_pipelines

CLASSES = sorted(tiny_pipelines.BUILDERS)
# Smallest size each tiny pipeline accepts (LTX: check_inputs wants multiples of 32).
SIZE = {name: 16 for name in CLASSES} | {"LTXPipeline": 32}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny-pipelines")


@pytest.fixture(scope="module")
def tiny_dir(tiny_root):
    """name -> saved pipeline dir, built once per module on first use."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = tiny_pipelines.BUILDERS[name](tiny_root)
        return built[name]

    return get


@pytest.fixture(scope="module")
def tiny_model(tiny_dir):
    loaded: dict[str, ExternalVideoModel] = {}

    def get(name: str) -> ExternalVideoModel:
        if name not in loaded:
            loaded[name] = ExternalVideoModel.from_dir(tiny_dir(name))
        return loaded[name]

    return get


def _frames(model: ExternalVideoModel, *, seed: int, seconds: float = 0.5, fps: int = 8, progress=None):
    s = SIZE[model.class_name]
    return list(model._iter_frames("a red ball on the sea", seconds=seconds, fps=fps, seed=seed, steps=2,
                                   height=s, width=s, progress=progress))


def test_every_supported_class_has_a_tiny_builder():
    assert set(tiny_pipelines.BUILDERS) == set(SUPPORTED)


# ----------------------------------------------------------------------------- per class, end to end


@pytest.mark.parametrize("name", CLASSES)
def test_build_save_load_plan_generate(name, tiny_dir, tiny_model):
    root = tiny_dir(name)
    assert json.loads((root / "model_index.json").read_text())["_class_name"] == name
    model = tiny_model(name)
    assert type(model._pipe).__name__ == name

    info = model.describe()
    assert info["class"] == name
    assert info["name"] == f"{name}:{root.name}"
    assert info["version"] not in ("", "unknown")
    assert info["constraints"]["size_multiple"] % 8 == 0

    plan = model.plan(seconds=0.5, fps=8, height=SIZE[name], width=SIZE[name])
    c = model.constraints
    n = plan["num_frames"]
    assert plan["requested_frames"] == 4
    assert n >= 4
    if c.frame_rule == "tk+1":
        assert (n - 1) % c.temporal_ratio == 0
    if c.max_frames is not None:
        assert n <= c.max_frames

    steps: list[tuple] = []
    frames = _frames(model, seed=7, progress=lambda *a: steps.append(a))
    assert len(frames) == n
    for f in frames:
        assert f.dtype == np.uint8 and f.ndim == 3 and f.shape == (plan["height"], plan["width"], 3)
        assert f.shape[0] % 2 == 0 and f.shape[1] % 2 == 0
    assert steps and steps[-1] == ("step", 2, 2)

    again = _frames(model, seed=7)
    other = _frames(model, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True)), "same seed, different frames"
    assert any(not np.array_equal(a, b) for a, b in zip(frames, other)), "different seed, same frames"


# ----------------------------------------------------------------------------- the rules of each class


def test_text_to_video_sd_takes_any_count_and_rounds_sizes(tiny_model):
    m = tiny_model("TextToVideoSDPipeline")
    p = m.plan(seconds=0.625, fps=8, height=20, width=30)
    assert (p["num_frames"], p["height"], p["width"]) == (5, 24, 32)
    assert any("divisible by 8" in a for a in p["adjustments"])
    d = m.plan(seconds=1, fps=None, height=None, width=None)  # defaults: 8 fps, unet.sample_size x VAE factor
    assert (d["fps"], d["num_frames"], d["height"], d["width"]) == (8, 8, 16, 16)


def test_animatediff_refuses_more_frames_than_its_motion_module(tiny_model):
    m = tiny_model("AnimateDiffPipeline")
    assert m.constraints.max_frames == 16
    assert m.plan(seconds=2, fps=8, height=16, width=16)["num_frames"] == 16
    with pytest.raises(InputError) as e:
        m.plan(seconds=3, fps=8, height=16, width=16)
    msg = str(e.value)
    assert "\n" not in msg
    assert "AnimateDiffPipeline" in msg and "at most 16 frames" in msg and "motion_max_seq_length" in msg
    assert "24 frames requested" in msg and "--seconds 2" in msg


def test_cogvideox_rounds_up_to_4k_plus_1(tiny_model):
    m = tiny_model("CogVideoXPipeline")
    c = m.constraints
    assert (c.temporal_ratio, c.size_multiple, c.text_max_length) == (4, 16, tiny_pipelines.TEXT_LEN)
    p = m.plan(seconds=2, fps=8, height=20, width=40)
    assert p["requested_frames"] == 16 and p["num_frames"] == 17
    assert "CogVideoXPipeline needs num_frames = 4k+1: 16 frames requested -> 17" in p["adjustments"]
    assert (p["height"], p["width"]) == (16, 48)  # VAE 8x * patch 2 = 16
    assert m.plan(seconds=1 / 8, fps=8)["num_frames"] == 1


def test_cogvideox_even_latent_count_yields_the_planned_frames(tiny_model):
    # 9 frames -> 3 latents (odd): the VAE decodes 9; 13 -> 4 latents (even): it decodes 16, we keep 13.
    m = tiny_model("CogVideoXPipeline")
    for seconds, n in ((9 / 8, 9), (13 / 8, 13)):
        assert len(_frames(m, seed=1, seconds=seconds)) == n


def test_ltx_rule_follows_the_checkpoint_vae(tiny_model):
    m = tiny_model("LTXPipeline")
    c = m.constraints
    assert (c.temporal_ratio, c.size_multiple) == (4, 32)  # tiny VAE: 4x time; check_inputs: % 32
    assert c.default_fps == 25 and c.default_size == (512, 704)
    p = m.plan(seconds=1, fps=10, height=40, width=100)
    assert (p["num_frames"], p["height"], p["width"]) == (13, 32, 96)
    # the public LTX-Video VAE compresses time 8x: the same code gives 8k+1
    m8 = _with_constraints(m, temporal_ratio=8)
    p8 = m8.plan(seconds=2, fps=24, height=512, width=704)
    assert p8["num_frames"] == 49 and "num_frames = 8k+1" in p8["adjustments"][0]


def test_wan_rounds_up_and_refuses_past_its_rope_table(tiny_model):
    m = tiny_model("WanPipeline")
    c = m.constraints
    assert (c.temporal_ratio, c.size_multiple, c.max_frames, c.max_side) == (4, 16, 125, 512)
    assert m.plan(seconds=1, fps=16, height=16, width=16)["num_frames"] == 17
    with pytest.raises(InputError) as e:
        m.plan(seconds=16, fps=8, height=16, width=16)
    msg = str(e.value)
    assert "\n" not in msg and "num_frames = 4k+1" in msg and "at most 125" in msg and "use 125" in msg
    with pytest.raises(InputError, match="up to 512"):
        m.plan(seconds=1, fps=8, height=1024, width=16)


def test_latte_makes_exactly_its_video_length(tiny_model):
    m = tiny_model("LattePipeline")
    assert m.constraints.fixed_frames == 4
    assert m.plan(seconds=2 / 8, fps=8)["num_frames"] == 4  # rounded up to the fixed length
    assert m.plan(seconds=1 / 8, fps=8)["num_frames"] == 1  # a single image is allowed
    with pytest.raises(InputError) as e:
        m.plan(seconds=1, fps=8)
    msg = str(e.value)
    assert "\n" not in msg and "exactly 4 frames" in msg and "video_length" in msg and "--seconds 0.5" in msg


def test_plan_rejects_nonsense(tiny_model):
    m = tiny_model("TextToVideoSDPipeline")
    for kw in (dict(seconds=0, fps=8), dict(seconds=-1, fps=8), dict(seconds=float("nan"), fps=8),
               dict(seconds=1, fps=-4), dict(seconds=1, fps=7.5), dict(seconds=1, fps=8, height=0)):
        with pytest.raises(InputError):
            m.plan(**kw)
    with pytest.raises(InputError, match="prompt is empty"):
        next(m._iter_frames("  ", seconds=0.5, fps=8, seed=0, steps=1))
    with pytest.raises(InputError, match="steps"):
        next(m._iter_frames("a cat", seconds=0.5, fps=8, seed=0, steps=0))


def test_no_public_path_to_unlabeled_frames(tiny_model):
    from diffusers import DiffusionPipeline

    public = {n for n in vars(ExternalVideoModel) if not n.startswith("_")}
    assert public == {"from_dir", "describe", "plan", "supports_edit"}
    m = tiny_model("LattePipeline")
    exposed = [k for k, v in vars(m).items() if not k.startswith("_") and isinstance(v, (DiffusionPipeline, torch.nn.Module))]
    assert not exposed, f"the raw pipeline is reachable as {exposed}"


# ----------------------------------------------------------------------------- bad directories


def _refused(path) -> str:
    with pytest.raises(InputError) as e:
        ExternalVideoModel.from_dir(path)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 500
    return msg


def test_missing_dir_and_non_pipeline_dirs(tmp_path):
    assert "not found" in _refused(tmp_path / "no-such-model")
    (tmp_path / "file.bin").write_bytes(b"x")
    assert "not a file" in _refused(tmp_path / "file.bin")
    (tmp_path / "empty").mkdir()
    assert "no model_index.json" in _refused(tmp_path / "empty")
    bad = tmp_path / "badjson"
    bad.mkdir()
    (bad / "model_index.json").write_text("{not json")
    assert "model_index.json" in _refused(bad)


def test_unsupported_class_names_the_supported_ones(tmp_path):
    d = tmp_path / "sd"
    d.mkdir()
    (d / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    }))
    msg = _refused(d)
    assert "StableDiffusionPipeline" in msg
    for name in SUPPORTED:
        assert name in msg
    assert isinstance(pytest.raises(KinosealError, ExternalVideoModel.from_dir, d).value, InputError)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_corrupt_or_incomplete_checkpoints(tiny_dir, tmp_path):
    src = tiny_dir("LTXPipeline")

    d = _copy(src, tmp_path / "truncated")
    w = d / "transformer" / "diffusion_pytorch_model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    msg = _refused(d)
    assert "corrupt weight file transformer/diffusion_pytorch_model.safetensors" in msg

    d = _copy(src, tmp_path / "garbage")
    (d / "text_encoder" / "model.safetensors").write_bytes(b"\x00not a safetensors file" * 8)
    assert "corrupt weight file text_encoder/model.safetensors" in _refused(d)

    d = _copy(src, tmp_path / "no-vae")
    shutil.rmtree(d / "vae")
    assert "'vae'" in _refused(d)

    d = _copy(src, tmp_path / "no-weights")
    (d / "text_encoder" / "model.safetensors").unlink()
    assert "could not load LTXPipeline" in _refused(d)

    d = _copy(src, tmp_path / "no-vocab")
    for f in (d / "tokenizer").iterdir():
        if f.name != "tokenizer_config.json":
            f.unlink()
    assert "no vocabulary" in _refused(d)

    d = _copy(src, tmp_path / "wrong-config")  # config and weights disagree
    cfg = json.loads((d / "transformer" / "config.json").read_text())
    cfg["num_attention_heads"] = 4
    (d / "transformer" / "config.json").write_text(json.dumps(cfg))
    assert "could not load LTXPipeline" in _refused(d)


def test_variant_only_weights_load(tiny_root, tmp_path, monkeypatch):
    """A ``--variant fp16``-style download (only ``*.fp16.safetensors``) loads without extra flags."""

    def save_variant(pipe, path):
        pipe.save_pretrained(str(path), safe_serialization=True, variant="fp16")
        return Path(path)

    monkeypatch.setattr(tiny_pipelines, "_save", save_variant)
    d = tiny_pipelines.build_latte(tmp_path)
    assert list((d / "transformer").glob("*.fp16.safetensors"))
    m = ExternalVideoModel.from_dir(d)
    assert len(list(m._iter_frames("a dog", seconds=0.5, fps=8, seed=0, steps=1, height=16, width=16))) == 4


def test_wan_loads_without_accelerate_and_leaves_diffusers_untouched(tiny_dir):
    # diffusers 0.42 refuses WanTransformer3DModel.from_pretrained without `accelerate` (its
    # _keep_in_fp32_modules); from_dir works around it for float32 and restores the class afterwards.
    from diffusers import WanTransformer3DModel

    before = WanTransformer3DModel._keep_in_fp32_modules
    assert before
    ExternalVideoModel.from_dir(tiny_dir("WanPipeline"))
    assert WanTransformer3DModel._keep_in_fp32_modules == before


def _with_constraints(model: ExternalVideoModel, **changes) -> ExternalVideoModel:
    clone = object.__new__(ExternalVideoModel)
    clone.__dict__.update(model.__dict__)
    clone.constraints = dataclasses.replace(model.constraints, **changes)
    return clone
