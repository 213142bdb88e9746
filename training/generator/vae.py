"""Train kino-tiny's frame autoencoder (diffusers ``AutoencoderKL``) on rendered frames.

    python -m kinoseal.training.generator.vae --out generate/weights/kino-tiny-vae --steps 3000 --threads 2 --seed 0

Why a VAE: in raw pixel space (32x32 frames pixel-unshuffled to 8x8x48) the tiny denoiser has to
produce 48 exact values per position, and after 10k steps it still left visible per-pixel noise
(x0 error 0.027 at t=200, where a flat background allows ~0). An 8x8x4 latent is 12x smaller; the
decoder, trained here on the same procedural domain, draws the flat colours and sharp edges.

The data are frames of :func:`scenes.procedural.caption_batch` clips (all textures, pans and object
counts), the batch for step ``s`` depends only on (seed, s). Loss: L1 + MSE on pixels plus a tiny KL
(1e-6, as in Stable Diffusion) so the latent stays a smooth, bounded space. At the end the latent's
std on fresh frames sets ``scaling_factor`` so the diffusion model sees unit-variance latents.

``--finetune-decoder DIR`` continues the decoder of the autoencoder in DIR with the encoder (and so
the latent space and ``scaling_factor``) frozen, so a denoiser trained on DIR's latents stays valid.
Its loss weights the pixels objects cover by ``1 + --fg-weight``: the first run's decoder turned
small blue objects purple on warm backgrounds (colour bled from the background), which capped the
generator's colour accuracy at ~91% before the denoiser had any say. The decoder sees the encoder's
mean latent plus a little Gaussian noise (``--latent-noise``, in units of the latent std) because at
sampling time it decodes the denoiser's estimate, never an exact encoding.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kinoseal.mediaio.atomic import atomic_dir

from kinoseal.scenes.procedural import caption_batch
from kinoseal.generate.pipeline import default_vae, frames_to_tensor


def _frames_and_cover(rng: np.random.Generator, n_clips: int, per_clip: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames [N, 3, 32, 32] in [-1, 1] and the objects' coverage [N, 1, 32, 32]."""
    clips, _, cover = caption_batch(rng, n_clips, 16, 32, with_coverage=True)
    idx = rng.integers(0, 16, size=(n_clips, per_clip))
    frames = np.stack([clips[i, j] for i in range(n_clips) for j in idx[i]])
    cov = np.stack([cover[i, j] for i in range(n_clips) for j in idx[i]])
    return frames_to_tensor(frames[:, None])[:, :, 0], torch.from_numpy(cov)[:, None]


def _frames(rng: np.random.Generator, n_clips: int, per_clip: int) -> torch.Tensor:
    return _frames_and_cover(rng, n_clips, per_clip)[0]


@torch.no_grad()
def _reconstruct(vae, x: torch.Tensor) -> torch.Tensor:
    return vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)


def _psnr(y: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR in dB for images in [-1, 1] (peak-to-peak 2, so peak power 4)."""
    return float(10 * torch.log10(4.0 / F.mse_loss(y, x)))


def _object_error(y: torch.Tensor, x: torch.Tensor, cov: torch.Tensor) -> float:
    """Mean absolute RGB error (0-255 scale) of reconstruction y on the pixels objects fully cover."""
    inside = (cov >= 0.99).expand_as(x)
    return float((y - x).abs()[inside].mean() * 127.5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="generate/weights/kino-tiny-vae")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32, help="frames per step (from batch/2 clips)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl", type=float, default=1e-6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--finetune-decoder", default=None, metavar="DIR",
                    help="continue the decoder of the autoencoder in DIR; encoder and scaling_factor stay frozen")
    ap.add_argument("--fg-weight", type=float, default=0.0, help="extra loss weight on pixels objects cover")
    ap.add_argument("--latent-noise", type=float, default=0.1,
                    help="decoder fine-tune: Gaussian noise added to the latent, in units of the latent std")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.finetune_decoder:
        return finetune_decoder(args, argv)
    torch.manual_seed(args.seed)
    vae = default_vae()
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    t_start = time.time()
    run = []
    for step in range(args.steps):
        rng = np.random.default_rng([args.seed, 7, step])
        x = _frames(rng, args.batch // 2, 2)
        post = vae.encode(x).latent_dist
        z = post.sample(generator=torch.Generator().manual_seed(args.seed * 1_000_003 + step))
        y = vae.decode(z).sample
        rec = F.l1_loss(y, x) + F.mse_loss(y, x)
        kl = post.kl().mean()  # summed over the latent, per frame (the weight 1e-6 is for this scale)
        loss = rec + args.kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        run.append(rec.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1} rec {np.mean(run):.4f} kl/dim {kl.item() / x[0].numel():.3f} "
                  f"{(time.time() - t_start) / (step + 1):.2f}s/step", flush=True)
            run = []

    vae.eval()
    with torch.no_grad():
        x = _frames(np.random.default_rng([args.seed, 8]), 64, 4)
        z = vae.encode(x).latent_dist.mode()
        std = float(z.std())
        psnr = _psnr(vae.decode(z).sample.clamp(-1, 1), x)
    vae.register_to_config(scaling_factor=1.0 / std)
    out = Path(args.out)
    with atomic_dir(out) as tmp:
        vae.save_pretrained(tmp, safe_serialization=True)
        (tmp / "TRAINING.md").write_text(
            "# kino-tiny frame autoencoder\n\n"
            f"Command: `python -m kinoseal.training.generator.vae {' '.join(sys.argv[1:] if argv is None else argv)}`\n\n"
            f"- steps {args.steps}, batch {args.batch} frames, lr {args.lr} (one-cycle), KL weight {args.kl}, seed {args.seed}\n"
            f"- held-out frames (256): reconstruction PSNR {psnr:.1f} dB (range [-1, 1]); latent std {std:.3f} "
            f"-> scaling_factor {1 / std:.3f}\n"
            f"- wall time {(time.time() - t_start) / 60:.1f} min on {args.threads} CPU thread(s)\n")
    print(f"saved {out}: PSNR {psnr:.1f} dB, latent std {std:.3f}", flush=True)
    return 0


def finetune_decoder(args, argv) -> int:
    from diffusers import AutoencoderKL

    src = Path(args.finetune_decoder)
    vae = AutoencoderKL.from_pretrained(str(src), local_files_only=True)
    vae.requires_grad_(False)
    trainable = list(vae.post_quant_conv.parameters()) + list(vae.decoder.parameters())
    for p in trainable:
        p.requires_grad_(True)
    vae.eval()  # no dropout / batch norm in this model; eval keeps the frozen encoder deterministic
    latent_std = 1.0 / float(vae.config.scaling_factor)
    check_x, check_cov = _frames_and_cover(np.random.default_rng([args.seed, 8]), 64, 4)
    before = _object_error(_reconstruct(vae, check_x), check_x, check_cov)
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    t_start = time.time()
    run = []
    for step in range(args.steps):
        rng = np.random.default_rng([args.seed, 17, step])
        x, cov = _frames_and_cover(rng, args.batch // 2, 2)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mode()
            z = z + args.latent_noise * latent_std * torch.randn(
                z.shape, generator=torch.Generator().manual_seed(args.seed * 1_000_003 + step))
        y = vae.decode(z).sample
        w = 1.0 + args.fg_weight * cov
        rec = ((w * ((y - x).abs() + (y - x) ** 2)).sum() / (w.sum() * x.shape[1]))
        opt.zero_grad(set_to_none=True)
        rec.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        sched.step()
        run.append(rec.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1} weighted rec {np.mean(run):.4f} {(time.time() - t_start) / (step + 1):.2f}s/step",
                  flush=True)
            run = []
    y = _reconstruct(vae, check_x)
    after, psnr = _object_error(y, check_x, check_cov), _psnr(y, check_x)
    out = Path(args.out)
    history = (src / "TRAINING.md").read_text() if (src / "TRAINING.md").exists() else ""
    with atomic_dir(out) as tmp:
        vae.save_pretrained(tmp, safe_serialization=True)
        (tmp / "TRAINING.md").write_text(
            history.rstrip() + "\n\n## Decoder fine-tune\n\n"
            f"Command: `python -m kinoseal.training.generator.vae {' '.join(sys.argv[1:] if argv is None else argv)}`\n\n"
            f"- encoder, latent space and scaling_factor unchanged (frozen); decoder + post_quant_conv trained "
            f"{args.steps} steps, batch {args.batch} frames, lr {args.lr} (one-cycle), object-pixel weight "
            f"1 + {args.fg_weight:g}, latent noise {args.latent_noise:g} x latent std, seed {args.seed}\n"
            f"- held-out frames (256): mean |RGB error| on object pixels {before:.1f} -> {after:.1f} (0-255); "
            f"reconstruction PSNR {psnr:.1f} dB\n"
            f"- wall time {(time.time() - t_start) / 60:.1f} min on {args.threads} CPU thread(s)\n")
    print(f"saved {out}: object-pixel error {before:.1f} -> {after:.1f}, PSNR {psnr:.1f} dB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
