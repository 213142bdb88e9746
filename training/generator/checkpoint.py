"""Training state and exports: the run log, atomic saves, the diffusers export with its
TRAINING.md, and loading (and widening) weights from an earlier export."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import torch

from kinoseal.mediaio.atomic import atomic_dir
from kinoseal.generate.pipeline import KinoVideoPipeline
from kinoseal.generate.tokenizer import PHRASE_TOKENS

from kinoseal.training.generator.report import RUNS_CSV, write_training_md

def default_state_dir(name: str) -> Path:
    """Training state lives outside the repo (it is ~70 MB and changes every few minutes)."""
    base = os.environ.get("KINOSEAL_TRAIN_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "kinoseal", "train")
    return Path(base) / name


def atomic_torch_save(obj, path: Path):
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export_pipeline(pipe: KinoVideoPipeline, ema: dict[str, torch.Tensor], out: Path, meta: dict, state_dir: Path):
    """Save the EMA weights as a diffusers pipeline at ``out`` (swap in atomically)."""
    live = {n: p.detach().clone() for n, p in named_params(pipe)}
    load_params(pipe, ema)
    try:
        with atomic_dir(out) as tmp:
            pipe.save_pretrained(tmp, safe_serialization=True)
            write_training_md(tmp, meta, state_dir)
            vae_md = Path(meta["vae_dir"]) / "TRAINING.md" if meta.get("vae_dir") else None
            if vae_md is not None and vae_md.exists() and (tmp / "vae").is_dir():
                shutil.copyfile(vae_md, tmp / "vae" / "TRAINING.md")
            planner_md = out / "planner" / "TRAINING.md"  # written by training.generator.planner beside the weights
            if planner_md.exists() and (tmp / "planner").is_dir():
                shutil.copyfile(planner_md, tmp / "planner" / "TRAINING.md")
            for name in ("loss.csv", RUNS_CSV):
                if (state_dir / name).exists():
                    shutil.copyfile(state_dir / name, tmp / name)
    finally:
        load_params(pipe, live)


def named_params(pipe):
    for n, p in pipe.unet.named_parameters():
        yield "unet." + n, p
    for n, p in pipe.text_encoder.named_parameters():
        yield "text_encoder." + n, p


def _widen(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``value`` zero-padded on its input side (dimension 1) to ``like``'s shape.

    Why: switching ``--text-pooling`` from "eos" to "eos+mean" widens the UNet's pooled-caption
    projection (time_embedding.cond_proj), and ``--position-channels`` widens its conv_in; zero
    weights for the new inputs keep the resumed model computing exactly what it did, and they
    get gradient from the first step.
    """
    if value.shape == like.shape:
        return value
    if (value.ndim < 2 or value.ndim != like.ndim or value.shape[0] != like.shape[0]
            or value.shape[2:] != like.shape[2:] or value.shape[1] > like.shape[1]):
        raise SystemExit(f"saved weights of shape {tuple(value.shape)} do not fit the model's {tuple(like.shape)}")
    out = torch.zeros_like(like)
    out[:, :value.shape[1]] = value
    return out


TOKEN_EMBEDDING = "embeddings.token_embedding.weight"


def _grow_vocab(value: torch.Tensor, like: torch.Tensor, tokenizer) -> torch.Tensor:
    """A token embedding table with rows appended for ``tokenizer``'s phrase tokens, each the
    mean of its words' rows (the ids of the words are unchanged, see generate.tokenizer)."""
    if value.shape[0] >= like.shape[0] or value.shape[1:] != like.shape[1:]:
        return value
    vocab = tokenizer.get_vocab()
    out = like.detach().clone()
    out[:value.shape[0]] = value
    for phrase, token in PHRASE_TOKENS.items():
        if token in vocab and vocab[token] >= value.shape[0]:
            out[vocab[token]] = value[[vocab[w] for w in phrase.split()]].mean(0)
    return out


def fit_param(name: str, value: torch.Tensor, like: torch.Tensor, pipe) -> torch.Tensor:
    """``value`` for the parameter ``name`` of ``pipe``: vocabulary grown or inputs widened."""
    if name.endswith(TOKEN_EMBEDDING):
        value = _grow_vocab(value, like, pipe.tokenizer)
    return _widen(value, like)


def load_params(pipe, values: dict[str, torch.Tensor]) -> bool:
    """Copy ``values`` into the model; True if any had to be widened or grown (see :func:`fit_param`)."""
    widened = False
    with torch.no_grad():
        for n, p in named_params(pipe):
            v = fit_param(n, values[n], p, pipe)
            widened |= v is not values[n]
            p.copy_(v)
    return widened


def warm_start_from_export(pipe, out: Path, state_dir: Path) -> tuple[int, float]:
    """Load exported weights into ``pipe``; return (step, train_seconds) recorded beside them."""
    from safetensors.torch import load_file

    for name in ("unet", "text_encoder"):
        files = sorted((out / name).glob("*.safetensors"))
        if not files:
            raise SystemExit(f"{out / name} has no safetensors weights to resume from")
        sd = {}
        for f in files:
            sd.update(load_file(str(f)))
        own = getattr(pipe, name).state_dict()
        sd = {k: fit_param(k, v, own[k], pipe) if k in own else v for k, v in sd.items()}
        missing, unexpected = getattr(pipe, name).load_state_dict(sd, strict=False)
        # An export from before the pooled-caption input lacks only its projection; zero
        # it, so the warm-started model computes exactly what the export did.
        if unexpected or any(k != "time_embedding.cond_proj.weight" for k in missing):
            raise SystemExit(f"{out / name} does not match the model being trained "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        if missing:
            with torch.no_grad():
                pipe.unet.time_embedding.cond_proj.weight.zero_()
            print("the export predates the pooled-caption input: its projection starts at zero", flush=True)
    step, hours = 0, 0.0
    for name in ("loss.csv", RUNS_CSV):  # the export carries the records export_pipeline copied into it
        if (out / name).exists():
            shutil.copyfile(out / name, state_dir / name)
    if (out / "loss.csv").exists():
        with open(out / "loss.csv") as f:
            rows = list(csv.DictReader(f))
        if rows:
            step, hours = int(rows[-1]["step"]), float(rows[-1]["hours"])
    return step, hours * 3600


