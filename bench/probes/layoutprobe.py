"""Probe: does a text-conditioned positional map let the denoiser learn the sign of motion?

A small MLP reads the pooled caption and each latent cell's (frame, row, column) and writes 4
extra input channels (conv_in widened with zero weights, so step 0 is kino-tiny 0.4). The
multiplicative text x frame interaction that the UNet has no cheap path for is then one MLP.
Fine-tunes on the training mix (p_directed 0.7) plus mirror and reverse twins; reports the
same-seed test before and after.

    python -m bench.probes.layoutprobe STEPS [EVAL_EVERY]     e.g. 2400 1200
"""
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn

from diffusers import DDPMScheduler

import kinoseal.generate.pipeline as gp
from bench import direction_sensitivity as ds
from kinoseal.scenes import procedural as data
from kinoseal.generate.pipeline import KinoVideoPipeline, frames_to_tensor, text_condition, unet_input
from kinoseal.generate.tokenizer import MAX_LENGTH, encode
from kinoseal.training.generator.losses import cell_weight

torch.set_num_threads(2)
steps = int(sys.argv[1])
eval_every = int(sys.argv[2]) if len(sys.argv) > 2 else steps
M = 4


class LayoutMap(nn.Module):
    def __init__(self, pooled: int, hidden: int = 64, out: int = M, freqs=(1, 2, 4)):
        super().__init__()
        self.freqs = freqs
        self.text = nn.Linear(pooled, 32)
        nin = 32 + 3 + 6 * len(freqs)
        self.mlp = nn.Sequential(nn.Linear(nin, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, out))

    def forward(self, pooled, shape):
        B, _, T, h, w = shape
        pos = gp.position_ramps((1, 1, T, h, w))[0].permute(1, 2, 3, 0)  # [T,h,w,3]
        feats = [pos] + [f(math.pi * k * pos) for k in self.freqs for f in (torch.sin, torch.cos)]
        pos = torch.cat(feats, -1)  # [T,h,w,3+6F]
        tx = self.text(pooled)  # [B,32]
        z = torch.cat([tx[:, None, None, None, :].expand(B, T, h, w, -1), pos[None].expand(B, -1, -1, -1, -1)], -1)
        return self.mlp(z).permute(0, 4, 1, 2, 3)  # [B,M,T,h,w]


pipe = KinoVideoPipeline.from_pretrained("generate/weights/kino-tiny", local_files_only=True)
unet, te, tok = pipe.unet, pipe.text_encoder, pipe.tokenizer
pooled_dim = unet.config.time_cond_proj_dim
layout = LayoutMap(pooled_dim)
old = unet.conv_in
new = nn.Conv3d(old.in_channels + M, old.out_channels, old.kernel_size, padding=old.padding) \
    if isinstance(old, nn.Conv3d) else nn.Conv2d(old.in_channels + M, old.out_channels, old.kernel_size, padding=old.padding)
with torch.no_grad():
    new.weight.zero_()
    new.weight[:, :old.in_channels] = old.weight
    new.bias.copy_(old.bias)
unet.conv_in = new
print("conv_in", type(old).__name__, old.weight.shape, "->", new.weight.shape, flush=True)
_orig_denoise = gp.denoise


def denoise_with_layout(u, x, t, cond):
    return _orig_denoise(u, torch.cat([x, layout(cond.pooled.to(x.dtype), tuple(x.shape))], 1), t, cond)


gp.denoise = denoise_with_layout  # the sampler looks it up in the module at call time
pos = bool(pipe.config.position_channels)
T, S = int(pipe.config.frames_per_chunk), int(pipe.config.native_size)
ns = DDPMScheduler.from_config(pipe.scheduler.config)
opt = torch.optim.AdamW([{"params": unet.parameters(), "lr": 2e-4},
                         {"params": layout.parameters(), "lr": 1e-3}], weight_decay=0.0)


def evaluate(tag):
    unet.eval()
    layout.eval()
    keep = ds.PAIRS
    ds.PAIRS = keep[:2]
    t0 = time.time()
    r = ds.same_seed_pairs(pipe, 2, 2.0, 25)
    ds.PAIRS = keep
    for row in r:
        print(tag, row, f"({time.time() - t0:.0f}s)", flush=True)
    unet.train()
    layout.train()


def batch(rng):
    clips, caps, cov = data.caption_batch(rng, 4, T, S, with_coverage=True, p_directed=0.7)
    c2, k2, v2 = data.twin_batch(rng, 1, "mirror", T, S, p_directed=0.7)
    c3, k3, v3 = data.twin_batch(rng, 1, "reverse", T, S, p_directed=0.7)
    return (np.concatenate([clips, c2, c3]), caps + list(k2) + list(k3),
            np.concatenate([cov, v2, v3]).astype(np.float32))


evaluate("before")
gen = torch.Generator().manual_seed(0)
t0 = time.time()
run = 0.0
for step in range(steps):
    rng = np.random.default_rng([11, step])
    clips, caps, cover = batch(rng)
    caps = ["" if rng.random() < 0.1 else c for c in caps]
    with torch.no_grad():
        x0 = pipe._encode_frames(frames_to_tensor(clips))
    B = x0.shape[0]
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.randint(0, 1000, (B,), generator=gen)
    hi = torch.rand(B, generator=gen) < 0.25
    t[hi] = torch.randint(900, 1000, (int(hi.sum()),), generator=gen)
    twin = torch.arange(B)
    twin[5::2] -= 1  # clips 4/5 and 6/7 are twins: same noise, same t
    noise, t = noise[twin], t[twin]
    xt = ns.add_noise(x0, noise, t)
    target = ns.get_velocity(x0, noise, t)
    inp = unet_input(xt, torch.zeros(B, 1, T, x0.shape[-2], x0.shape[-1]), pos)
    with torch.no_grad():
        cond = text_condition(te, encode(tok, caps, MAX_LENGTH), str(pipe.config.text_pooling))
    pred = denoise_with_layout(unet, inp, t, cond)
    w = cell_weight(cover, x0.shape[-1], 4.0)
    loss = (((pred - target) ** 2) * w).mean() / w.mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(unet.parameters()) + list(layout.parameters()), 1.0)
    opt.step()
    run += loss.item()
    if (step + 1) % 50 == 0:
        print(step + 1, f"{run / 50:.4f}", f"{(time.time() - t0) / (step + 1):.2f}s/step",
              f"|W_layout| {new.weight[:, -M:].abs().mean().item():.2e}", flush=True)
        run = 0.0
    if (step + 1) % eval_every == 0:
        evaluate(f"step {step + 1}")
