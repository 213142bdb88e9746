"""Train kino-tiny from procedurally rendered clips (CPU, resumable).

    python -m kinoseal.training.generator.vae --out ~/.cache/kinoseal/train/kino-tiny-vae --steps 2500 --threads 2 --seed 0
    python -m kinoseal.training.generator.train --out generate/weights/kino-tiny --vae ~/.cache/kinoseal/train/kino-tiny-vae \
        --blocks 32,64 --steps 4500 --resume ...   (the exact command: generate/weights/kino-tiny/TRAINING.md)

* Space: with ``--vae`` the denoiser works on the frozen autoencoder's 8x8x4 latents
  (kino-tiny 0.2); without, on pixel-unshuffled 8x8x48 frames (kino-tiny 0.1).

* Data: :func:`scenes.procedural.sample_spec` / :func:`render_clip`, rendered on the fly
  (16 frames, 32x32). The batch for step ``s`` depends only on (seed, s), so a resumed
  run sees exactly the data an uninterrupted one would.
* Curriculum: for the first ``--curriculum`` steps only single objects on plain
  backgrounds (colour, shape, motion direction first), then the full mix (up to three
  objects, striped/checkered backgrounds, camera pans).
* Objective: v-prediction, DDPM cosine schedule, plain v-MSE (``--loss-weight v``; the
  first 695 steps of the shipped run used ``minsnr`` = clamp(SNR, 1, 5)/(SNR + 1), which left
  the low-noise levels untrained and samples noisy). 10% empty captions (classifier-free
  guidance), 5% of caption words dropped to [UNK]. With probability ``--p-context``
  the first 4 frames are given clean with the mask channel on (chunk continuation);
  they get no loss.
* State (model, EMA, optimizer, step) is written atomically to ``--state-dir``
  (default ``$KINOSEAL_TRAIN_DIR/<out name>``, else ``~/.cache/kinoseal/train/<out name>``) every ``--ckpt-minutes``; the EMA
  weights are exported as a diffusers pipeline to ``--out`` (atomically replaced)
  every ``--export-minutes`` with a TRAINING.md. ``loss.csv`` and ``runs.csv`` (the command of every
  invocation that trained, in order) sit beside the state and are exported with the weights.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch


from kinoseal.scenes.procedural import ATTRIBUTE_NAMES, caption_attributes, caption_batch, twin_batch
from kinoseal.generate.layout import LayoutPlanner, layout_input
from kinoseal.generate.pipeline import KinoVideoPipeline, denoise, frames_to_tensor, pooled_width, text_condition, unet_input
from kinoseal.generate.tokenizer import BOS_ID, EOS_ID, MAX_LENGTH, PAD_ID, UNK_ID, encode, has_phrase_tokens

REPO_ROOT = Path(__file__).resolve().parents[2]

from kinoseal.training.generator.checkpoint import (atomic_torch_save, default_state_dir, export_pipeline, fit_param,
                                                   load_params, named_params, warm_start_from_export)
from kinoseal.training.generator.report import log_run, read_runs
from kinoseal.training.generator.losses import cell_weight
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="generate/weights/kino-tiny")
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--steps", type=int, default=40000, help="total optimisation steps (target)")
    ap.add_argument("--resume", action="store_true", help="continue from the state in --state-dir if present")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--curriculum", type=int, default=3000)
    ap.add_argument("--p-uncond", type=float, default=0.1)
    ap.add_argument("--p-context", type=float, default=0.3)
    ap.add_argument("--p-unk", type=float, default=0.05)
    ap.add_argument("--offset-noise", type=float, default=0.1,
                    help="std of a per-clip, per-RGB-channel constant added to the noise. Without it the mean colour "
                         "of 16x32x32 pixels survives up to t~980 (the average beats the noise), so the prompt was "
                         "never needed in training and sampling from pure noise picked colours at random")
    ap.add_argument("--p-high-noise", type=float, default=0.25,
                    help="share of samples drawn from the top 10%% of noise levels, where only the prompt "
                         "tells the colours and motion (uniform sampling puts ~3%% there)")
    ap.add_argument("--loss-weight", choices=["v", "minsnr"], default="v",
                    help="v: plain v-MSE (every noise level weighted alike); minsnr: clamp(SNR,1,5)/(SNR+1)")
    ap.add_argument("--fg-weight", type=float, default=0.0,
                    help="extra loss weight on latent cells an object touches (loss weight 1 + this there). Objects "
                         "cover ~3x3 of the 8x8 cells, so plain v-MSE spends most of its signal on the background; "
                         "0 = plain v-MSE")
    ap.add_argument("--p-directed", type=float, default=0.0,
                    help="probability that a clip starts where its motion says it comes from (data.caption_batch); "
                         "0 keeps the earlier data stream")
    ap.add_argument("--directed-unless-context", action="store_true",
                    help="every clip without known frames starts where its motion comes from, every clip with them "
                         "anywhere on the torus (--p-directed is then unused): a first chunk is generated without "
                         "known frames and starts where the caption says, a continued chunk can be anywhere. At the top "
                         "noise levels the best x0 guess is the caption's mean clip; predicting a held-out 'sliding "
                         "right' clip by the 'sliding left' mean costs 1.18x the error of its own mean with 70%% "
                         "directed starts, 1.51x with all (bench/direction_sensitivity.py --ideal)")
    ap.add_argument("--mirror-pairs", type=int, default=0,
                    help="per batch, this many clips that say left or right, each with its left-right mirror image "
                         "(data.twin_batch), the two trained with the same noise and noise level, so only the "
                         "caption tells them apart; 0 keeps the earlier data stream")
    ap.add_argument("--reverse-pairs", type=int, default=0,
                    help="the same with clips played backwards (growing <-> shrinking, up <-> down, left <-> right)")
    ap.add_argument("--text-aux", type=float, default=0.0,
                    help="weight of an auxiliary loss: a linear head on the pooled caption state predicts the "
                         "caption's attributes (data.caption_attributes), so the text encoder cannot average a word away")
    ap.add_argument("--text-aux-lr-scale", type=float, default=1.0,
                    help="learning rate of the --text-aux head relative to the model's (a fresh head that reads a weak "
                         "feature passes the encoder little gradient until its own weights grow)")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--export-minutes", type=float, default=10.0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--blocks", default="48,96")
    ap.add_argument("--layers-per-block", type=int, default=1)
    ap.add_argument("--vae", default=None,
                    help="frozen AutoencoderKL (from kinoseal.training.generator.vae) to diffuse in its latent space; on resume "
                         "the export's own vae/ is used. Without it the denoiser works on pixel-unshuffled frames")
    ap.add_argument("--text-pooling", choices=["eos", "mean", "eos+mean"], default="eos",
                    help="pooled caption for the timestep embedding: end-of-text state (order-aware), token mean, or "
                         "both concatenated (resuming an 'eos' run with 'eos+mean' widens the projection with zeros)")
    ap.add_argument("--position-channels", action="store_true",
                    help="feed the denoiser the frame index, row and column as three extra input channels "
                         "(pipeline.position_ramps); resuming a run without them widens conv_in with zero weights, "
                         "and a resumed run whose export has them keeps them")
    ap.add_argument("--layout-channels", action="store_true",
                    help="two more denoiser inputs: the objects' layout (discs on their true tracks, "
                         "generate.layout) and a 'layout given' flag; resuming a run without them widens conv_in "
                         "with zero weights. At sampling the planner from kinoseal.training.generator.planner draws the layout")
    ap.add_argument("--p-layout", type=float, default=0.8,
                    help="with --layout-channels: probability that a clip without known frames gets its layout "
                         "(clips with known frames never do, as continued chunks at sampling)")
    ap.add_argument("--phrase-tokens", action="store_true",
                    help="tokenize each motion phrase with 'left' or 'right' as one token (generate.tokenizer."
                         "PHRASE_TOKENS); resuming a run without them appends their embedding rows (each the mean of "
                         "its words' rows), and a resumed run whose export has them keeps them")
    ap.add_argument("--default-guidance", type=float, default=None,
                    help="classifier-free guidance scale the exported pipeline uses by default (chosen with "
                         "bench/generator_quality.py --sweep on training prompts); with --resume at the target step "
                         "the export is just rewritten with it; a resumed run without it keeps the export's value")
    ap.add_argument("--continuation-guidance", type=float, default=None,
                    help="upper bound on the guidance of chunks that continue known frames, written to the export "
                         "(chosen with bench/generator_quality.py --continuation); a resumed run keeps the exported one")
    ap.add_argument("--lr-min", type=float, default=None,
                    help="cosine-decay the learning rate to this by --steps (default: constant)")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (after a checkpoint) after this long")
    args = ap.parse_args(argv)
    if min(args.mirror_pairs, args.reverse_pairs) < 0 or 2 * (args.mirror_pairs + args.reverse_pairs) >= args.batch:
        ap.error(f"--mirror-pairs {args.mirror_pairs} and --reverse-pairs {args.reverse_pairs} need "
                 f"2 x (their sum) < --batch {args.batch}")
    return args


def _latent_scheduler(pipe: KinoVideoPipeline, seed: int):
    """Sampling scheduler whose x0 clip range covers real latents (their max |value| on
    training-like clips, plus 25%)."""
    from kinoseal.generate.pipeline import default_scheduler

    clips, _ = caption_batch(np.random.default_rng([seed, 99]), 16, 16, 32)
    z = pipe._encode_frames(frames_to_tensor(clips))
    return default_scheduler(round(float(z.abs().max()) * 1.25, 2))


def _phase(early: bool, args) -> str:
    """loss.csv's phase column: which data and which loss terms made the row's value."""
    return " ".join(["curriculum" if early else "full",
                     *([f"fg{args.fg_weight:g}"] if args.fg_weight else []),
                     *(["dir-unless-ctx"] if args.directed_unless_context else
                       [f"dir{args.p_directed:g}"] if args.p_directed else []),
                     *([f"mirror{args.mirror_pairs}"] if args.mirror_pairs else []),
                     *([f"reverse{args.reverse_pairs}"] if args.reverse_pairs else []),
                     *([f"aux{args.text_aux:g}"] if args.text_aux else []),
                     *(["pos"] if args.position_channels else []),
                     *([f"layout{args.p_layout:g}"] if args.layout_channels else []),
                     *(["phrases"] if args.phrase_tokens else [])])


def training_clips(rng: np.random.Generator, args, T: int, S: int, cells: int = 0, **kw):
    """One batch of training clips: (clips, captions, coverage, known-frame flags or None,
    layout maps [B, T, cells, cells] or None).

    Twin pairs come first (mirror pairs, then reverse pairs; they keep their captions: they
    exist to teach the caption's direction), then single clips, some with empty captions.
    With ``--directed-unless-context`` which clips get known frames is drawn here, first,
    because it decides where each clip starts (the flags are returned; twins share theirs).
    Otherwise the caller draws them later (None), as in earlier runs. Layout maps
    (:func:`generate.layout.layout_map` of the true tracks) only with ``cells``.
    """
    n_single = args.batch - 2 * (args.mirror_pairs + args.reverse_pairs)
    ctx = None
    p_dir = {"single": args.p_directed, "reverse": args.p_directed, "mirror": args.p_directed}
    if args.directed_unless_context:
        ctx = {"single": rng.random(n_single) < args.p_context,
               "reverse": rng.random(args.reverse_pairs) < args.p_context,
               "mirror": rng.random(args.mirror_pairs) < args.p_context}
        p_dir = {k: (~v).astype(float) for k, v in ctx.items()}
    clips, caps, cover, *lay = caption_batch(rng, n_single, T, S, with_coverage=True, p_directed=p_dir["single"],
                                             layout_cells=cells, **kw)
    caps = ["" if rng.random() < args.p_uncond else c for c in caps]
    for twin, pairs in (("reverse", args.reverse_pairs), ("mirror", args.mirror_pairs)):
        if pairs:
            t_clips, t_caps, t_cover, *t_lay = twin_batch(rng, pairs, twin, T, S, p_dir[twin], layout_cells=cells, **kw)
            clips, caps, cover = np.concatenate([t_clips, clips]), t_caps + caps, np.concatenate([t_cover, cover])
            lay = [np.concatenate([t_lay[0], lay[0]])] if cells else []
    layout = lay[0] if cells else None
    if ctx is None:
        return clips, caps, cover, None, layout
    flags = np.concatenate([np.repeat(ctx["mirror"], 2), np.repeat(ctx["reverse"], 2), ctx["single"]])
    return clips, caps, cover, flags, layout


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    out = Path(args.out)
    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir(out.name)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path = state_dir / "state.pt"
    blocks = tuple(int(b) for b in args.blocks.split(","))

    vae = None
    vae_dir = out / "vae" if args.resume and (out / "vae").is_dir() else (Path(args.vae) if args.vae else None)
    if vae_dir is not None:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(str(vae_dir), local_files_only=True)
        vae.requires_grad_(False)
        vae.eval()
        print(f"diffusing in the latent space of {vae_dir}", flush=True)
    # a resumed run keeps the sampling settings chosen for the export (bench --sweep / --continuation)
    # unless told otherwise, and keeps its position channels
    exported = (json.loads((out / "model_index.json").read_text())
                if args.resume and (out / "model_index.json").exists() else {})
    args.position_channels = bool(args.position_channels or exported.get("position_channels", False))
    args.layout_channels = bool(args.layout_channels or exported.get("layout_channels", False))
    if args.resume and (out / "tokenizer").is_dir() and not args.phrase_tokens:
        from transformers import PreTrainedTokenizerFast

        args.phrase_tokens = has_phrase_tokens(PreTrainedTokenizerFast.from_pretrained(str(out / "tokenizer")))
    pipe = KinoVideoPipeline.from_config_random(
        seed=args.seed, unet_kwargs={"block_out_channels": blocks, "layers_per_block": args.layers_per_block},
        vae=vae, text_pooling=args.text_pooling, position_channels=args.position_channels,
        layout_channels=args.layout_channels, phrase_tokens=args.phrase_tokens)
    if args.layout_channels:
        if (out / "planner").is_dir():  # exported with the weights it plans for (training.generator.planner)
            pipe.register_modules(planner=LayoutPlanner.from_pretrained(str(out / "planner")))
        else:
            print(f"no planner in {out / 'planner'}: exports will not plan layouts until "
                  "`python -m kinoseal.training.generator.planner` writes one", flush=True)
    if vae is not None:
        pipe.scheduler = _latent_scheduler(pipe, args.seed)
    for key, value in (("default_guidance", args.default_guidance), ("continuation_guidance", args.continuation_guidance)):
        value = exported.get(key) if value is None else value
        if value is not None:
            pipe.register_to_config(**{key: float(value)})
    unet, te, tok = pipe.unet, pipe.text_encoder, pipe.tokenizer
    # eval mode while training: the models have no dropout (p=0) and no batch norm, and in train
    # mode the p=0 dropouts still draw random masks (5% of a step's time).
    unet.eval()
    te.eval()
    from diffusers import DDPMScheduler

    noise_sched = DDPMScheduler.from_config(pipe.scheduler.config)
    alphas_cumprod = noise_sched.alphas_cumprod.float()
    params = [p for _, p in named_params(pipe)]
    # No weight decay on gains, biases and embeddings: with decay, the text encoder's LayerNorm
    # gains (useful only once the denoiser listens to text) decayed toward zero.
    groups: dict[bool, list[torch.nn.Parameter]] = {True: [], False: []}
    for n, p_ in named_params(pipe):
        groups[p_.ndim >= 2 and "embedding" not in n].append(p_)
    opt = torch.optim.AdamW([{"params": groups[True], "weight_decay": 0.01}, {"params": groups[False], "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99))
    ema = {n: p.detach().clone() for n, p in named_params(pipe)}
    # Training-only head for --text-aux (not exported: the pipeline never uses it).
    aux_head = torch.nn.Linear(pooled_width(args.text_pooling, int(te.config.hidden_size)), len(ATTRIBUTE_NAMES))
    if args.text_aux > 0:
        opt.add_param_group({"params": list(aux_head.parameters()), "weight_decay": 0.0})
    step = 0
    train_seconds = 0.0
    rewarm_from = 0
    if args.resume and state_path.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        widened = load_params(pipe, st["params"])
        ema = {n: fit_param(n, st["ema"][n], p_, pipe) for n, p_ in named_params(pipe)}
        step = int(st["step"])
        train_seconds = float(st.get("train_seconds", 0.0))
        rewarm_from = int(st.get("rewarm_from", 0))
        if "aux_head" in st and st["aux_head"]["weight"].shape == aux_head.weight.shape:
            aux_head.load_state_dict(st["aux_head"])
        if len(st["opt"]["param_groups"]) == len(opt.param_groups) and not widened:
            opt.load_state_dict(st["opt"])
        else:  # saved before the decay / no-decay split or the aux head: fresh moments, warm up again
            rewarm_from = step
            print("optimizer state has other parameter groups: fresh AdamW moments", flush=True)
        print(f"resumed from {state_path} at step {step}", flush=True)
    elif args.resume and (out / "unet").is_dir():
        # A new machine has no optimizer state, but the committed export holds the EMA weights:
        # continue from them (fresh AdamW moments, so the learning rate is warmed up again).
        step, train_seconds = warm_start_from_export(pipe, out, state_dir)
        ema = {n: p_.detach().clone() for n, p_ in named_params(pipe)}
        rewarm_from = step
        print(f"no state at {state_path}; warm start from the export in {out} at step {step}", flush=True)
    else:
        if args.resume:
            print(f"no state at {state_path}; starting fresh", flush=True)
        with torch.no_grad():  # start from a zero prediction (loss starts at ~1 instead of ~20)
            unet.conv_out.weight.zero_()
            unet.conv_out.bias.zero_()
        ema = {n: p.detach().clone() for n, p in named_params(pipe)}

    csv_path = state_dir / "loss.csv"
    new_csv = not csv_path.exists() or step == 0
    csv_f = open(csv_path, "w" if new_csv else "a", newline="")
    writer = csv.writer(csv_f)
    if new_csv:
        writer.writerow(["step", "loss", "lr", "sec_per_step", "hours", "phase"])
        csv_f.flush()

    command = "python -m kinoseal.training.generator.train " + " ".join(sys.argv[1:] if argv is None else argv)
    meta_base = dict(command=command, seed=args.seed, target_steps=args.steps, batch=args.batch, lr=args.lr,
                     warmup=args.warmup, ema=args.ema, threads=args.threads, blocks=blocks,
                     curriculum=args.curriculum, loss_weight=args.loss_weight, fg_weight=args.fg_weight,
                     p_directed=args.p_directed, directed_unless_context=args.directed_unless_context,
                     mirror_pairs=args.mirror_pairs,
                     reverse_pairs=args.reverse_pairs, text_aux=args.text_aux, text_aux_lr_scale=args.text_aux_lr_scale, p_context=args.p_context, p_uncond=args.p_uncond, p_unk=args.p_unk,
                     p_high_noise=args.p_high_noise, offset_noise=args.offset_noise,
                     layers_per_block=args.layers_per_block, text_pooling=args.text_pooling,
                     position_channels=args.position_channels, phrase_tokens=args.phrase_tokens,
                     layout_channels=args.layout_channels, p_layout=args.p_layout,
                     vae_dir=str(vae_dir) if vae_dir is not None else None,
                     space=("32x32 RGB frames encoded per frame by a frozen AutoencoderKL (`vae/`, trained by"
                            " `python -m kinoseal.training.generator.vae`; a later `--finetune-decoder` run changes only the"
                            " decoder; both are recorded in vae/TRAINING.md) to 8x8x4 latents"
                            if vae is not None else
                            "32x32 RGB frames pixel-unshuffled to 8x8x48 (lossless patchify, no VAE)"),
                     state_dir=str(state_dir))

    def checkpoint():
        atomic_torch_save({"params": {n: p.detach().clone() for n, p in named_params(pipe)}, "ema": ema,
                            "opt": opt.state_dict(), "aux_head": aux_head.state_dict(), "step": step, "train_seconds": train_seconds, "rewarm_from": rewarm_from,
                            "args": vars(args)}, state_path)

    def export(sec_per_step):
        meta = dict(meta_base, default_steps=int(pipe.config.default_steps),
                    default_guidance=float(pipe.config.default_guidance),
                    continuation_guidance=pipe.config.get("continuation_guidance"), step=step, train_hours=train_seconds / 3600, sec_per_step=sec_per_step,
                    exported_at=time.strftime("%Y-%m-%d %H:%M:%S"))
        export_pipeline(pipe, ema, out, meta, state_dir)
        (state_dir / "last_export.json").write_text(json.dumps(meta, indent=1, default=str))

    stop = {"flag": False}

    def _on_signal(signum, frame):  # kill <pid> (SIGTERM) / Ctrl-C: checkpoint + export, then exit
        stop["flag"] = True

    import signal

    old_handlers = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    last_ckpt = last_export = time.time()
    start_wall = time.time()
    run_loss, run_n, t_log = 0.0, 0, time.time()
    sec_per_step = float("nan")
    if (state_dir / "last_export.json").exists():  # a re-export without new steps keeps the measured speed
        sec_per_step = float(json.loads((state_dir / "last_export.json").read_text()).get("sec_per_step", "nan"))
    steps_at_start = step
    p = int(pipe.config.patch_size)
    K = int(pipe.config.context_frames)
    T = int(pipe.config.frames_per_chunk)
    S = int(pipe.config.native_size)
    print(f"training from step {step} to {args.steps}; params "
          f"{sum(p_.numel() for p_ in params) / 1e6:.2f}M; state {state_dir}; out {out}", flush=True)
    while step < args.steps:
        t0 = time.time()
        rng = np.random.default_rng([args.seed, step])
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        early = step < args.curriculum
        kw = dict(max_objects=1, textures=False, pans=False) if early else {}
        n_pair = 2 * (args.mirror_pairs + args.reverse_pairs)
        cells = S // p
        clips, caps, cover, ctx_drawn, layout = training_clips(rng, args, T, S, cells if args.layout_channels else 0,
                                                               **kw)
        ids = encode(tok, caps, MAX_LENGTH)
        drop = (torch.from_numpy(rng.random(ids.shape) < args.p_unk)) & (ids != PAD_ID) & (ids != BOS_ID) & (ids != EOS_ID)
        ids = ids.masked_fill(drop, UNK_ID)

        with torch.no_grad():
            x0 = pipe._encode_frames(frames_to_tensor(clips))  # [B, C, T, 8, 8]
        B = x0.shape[0]
        noise = torch.randn(x0.shape, generator=gen)
        if args.offset_noise > 0:
            if vae is None:  # pixel-unshuffled channels are grouped by colour: 3 groups of p*p
                off = torch.randn(B, 3, 1, 1, 1, generator=gen).repeat_interleave(p * p, dim=1)
            else:
                off = torch.randn(B, x0.shape[1], 1, 1, 1, generator=gen)
            noise = noise + args.offset_noise * off
        n_t = noise_sched.config.num_train_timesteps
        t = torch.randint(0, n_t, (B,), generator=gen)
        high = torch.rand(B, generator=gen) < args.p_high_noise
        t = torch.where(high, torch.randint(int(0.9 * n_t), n_t, (B,), generator=gen), t)
        if n_pair:  # a mirror image shares its original's noise and noise level
            twin = torch.arange(B)
            twin[1:n_pair:2] -= 1
            noise, t = noise[twin], t[twin]
        xt = noise_sched.add_noise(x0, noise, t)
        target = noise_sched.get_velocity(x0, noise, t)
        if ctx_drawn is not None:
            has_ctx = torch.from_numpy(ctx_drawn).float()
        else:
            has_ctx = torch.from_numpy(rng.random(B) < args.p_context).float()
            if n_pair:
                has_ctx = has_ctx[twin]
        mask = torch.zeros(B, 1, T, 1, 1)
        mask[:, :, :K] = has_ctx.view(B, 1, 1, 1, 1)
        mask = mask.expand(B, 1, T, x0.shape[-2], x0.shape[-1])
        x_in = xt * (1 - mask) + x0 * mask
        lay_in = None
        if args.layout_channels:  # drawn last: the draws above stay those of runs without layouts
            given = torch.from_numpy(rng.random(B) < args.p_layout).float()
            if n_pair:
                given = given[twin]
            given = given * (1 - has_ctx)
            lay_in = layout_input(torch.from_numpy(layout), tuple(x0.shape)) * given.view(B, 1, 1, 1, 1)
        inp = unet_input(x_in, mask, args.position_channels, lay_in)

        lr = args.lr * min(1.0, (step + 1 - rewarm_from) / max(1, args.warmup))
        if args.lr_min is not None:
            frac = min(1.0, step / max(1, args.steps))
            lr = min(lr, args.lr_min + 0.5 * (args.lr - args.lr_min) * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        if args.text_aux > 0:  # the head's group is the last one (added after the model's two)
            opt.param_groups[-1]["lr"] = lr * args.text_aux_lr_scale
        cond = text_condition(te, ids, args.text_pooling)
        pred = denoise(unet, inp, t, cond)
        w_px = (1 - mask) * cell_weight(cover, x0.shape[-1], args.fg_weight)
        err = (pred - target) ** 2 * w_px
        per = err.flatten(1).sum(1) / (w_px.flatten(1).sum(1) * x0.shape[1]).clamp_min(1e-6)
        ac = alphas_cumprod[t]
        snr = ac / (1 - ac)
        w = snr.clamp(1.0, 5.0) / (snr + 1) if args.loss_weight == "minsnr" else torch.ones_like(snr)
        loss = (w * per).mean()
        if args.text_aux > 0:
            attrs = torch.from_numpy(np.stack([caption_attributes(c) for c in caps]))
            said = (attrs.sum(1) > 0).float()  # empty (unconditional) captions have nothing to predict
            bce = torch.nn.functional.binary_cross_entropy_with_logits(aux_head(cond.pooled), attrs, reduction="none")
            loss = loss + args.text_aux * (bce.mean(1) * said).sum() / said.sum().clamp_min(1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for n, prm in named_params(pipe):
                ema[n].mul_(decay).add_(prm.detach(), alpha=1 - decay)
        step += 1
        if step == steps_at_start + 1:
            log_run(state_dir, steps_at_start, command)
        dt = time.time() - t0
        train_seconds += dt
        run_loss += loss.item()
        run_n += 1
        if step % args.log_every == 0 or step == args.steps:
            sec_per_step = (time.time() - t_log) / run_n
            writer.writerow([step, f"{run_loss / run_n:.5f}", f"{lr:.2e}", f"{sec_per_step:.3f}",
                             f"{train_seconds / 3600:.3f}",
                             _phase(early, args)])
            csv_f.flush()
            print(f"step {step} loss {run_loss / run_n:.4f} lr {lr:.1e} {sec_per_step:.2f}s/step", flush=True)
            run_loss, run_n, t_log = 0.0, 0, time.time()
        now = time.time()
        done = step >= args.steps or stop["flag"] or (args.max_minutes and now - start_wall > args.max_minutes * 60)
        if now - last_ckpt > args.ckpt_minutes * 60 or done:
            checkpoint()
            last_ckpt = now
        if now - last_export > args.export_minutes * 60 or done:
            export(sec_per_step)
            last_export = now
            print(f"exported step {step} to {out}", flush=True)
        if done:
            break
    if step == steps_at_start and step > 0:  # nothing to train: rewrite the export (e.g. a new default guidance)
        runs = read_runs(state_dir)
        if runs:  # the command on record stays the one that trained
            meta_base.update(command=runs[-1]["command"], reexport_command=command)
        if (state_dir / "last_export.json").exists():  # and so does its target (not the re-export's --steps)
            meta_base["target_steps"] = json.loads((state_dir / "last_export.json").read_text()).get(
                "target_steps", meta_base["target_steps"])
        export(sec_per_step)
        print(f"re-exported step {step} to {out}", flush=True)
    csv_f.close()
    for sig, h in old_handlers.items():
        signal.signal(sig, h)
    return step


if __name__ == "__main__":
    main()
