"""Aligned synthetic training pairs for the cross-generator classifier: real clips repainted by a
latent-diffusion-style decoder that this module trains itself.

Why: 33 public generator families give the classifier ~140 AI clips, too few for it to learn what a video
decoder paints rather than what each family's scenes look like. Most of those generators (AnimateDiff,
VideoCrafter, ModelScope, ZeroScope, DynamiCrafter, the SVD family, ...) draw every frame through a
VAE decoder that upsamples a latent 8x, so a decoder's fingerprint is the cue most likely to carry over to a
generator nobody showed us. No such decoder can be downloaded here, so this module trains a small one
(``SimAutoencoder``: 1/8 resolution, 16 latent channels, nearest-neighbour upsampling + 3x3 convolutions,
the shape of Stable Diffusion's VAE decoder at a fraction of its width) on real frame crops, and makes
**aligned pairs** from real clips (the idea of Rajan et al., "Aligned datasets improve detection of latent
diffusion-generated images", ICLR 2025):

* the *synthetic* side: each crop of the real clip reconstructed by the autoencoder, then H.264 CRF 20
  (the shared set's own conversion) - labelled AI;
* the *round-trip* side: the same crops through the same H.264 encode without the autoencoder - real.

The two sides differ only by the decoder, so the classifier can learn the decoder's traces and nothing
about content, codec or resolution. ``bench.detector_pairs_probe`` measures the generalist's features, CNN and
blend without and with the pairs on ``train_rcnn``'s folds (``bench/results/detector_pairs_probe.md``).

The autoencoder trains on the middle frame of every crop-tube of the protocol's real clips. The held-out
protocol uses only pairs made from each fold's *training* real clips; the autoencoder itself has seen every
real clip's pixels, which gives the classifier no label of any held-out clip (its reconstructions of
held-out clips are never trained on).
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Callable

import numpy as np

Log = Callable[[str], None]

LATENT = 16
WIDTHS = (32, 48, 64)
STEPS, BATCH, PATCH, LR = 1500, 16, 48, 6e-4
CRF = 20
#: bump when the autoencoder or the pairs change: the caches are keyed by it
RECIPE = f"simae|l{LATENT}|w{'-'.join(map(str, WIDTHS))}|s{STEPS}|b{BATCH}|p{PATCH}|crf{CRF}|v1"


def _nolog(msg: str) -> None:
    pass


def build_autoencoder():
    import torch.nn as nn
    import torch.nn.functional as F

    class Res(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return x + self.b(F.silu(self.a(F.silu(x))))

    class SimAutoencoder(nn.Module):
        """RGB in [-1, 1] -> 16 x H/8 x W/8 latent -> RGB: three stride-2 convolutions down, three
        nearest-neighbour 2x upsamplings + 3x3 convolutions up (Stable Diffusion's decoder shape)."""

        def __init__(self) -> None:
            super().__init__()
            c1, c2, c3 = WIDTHS

            def up(i: int, o: int) -> list:
                return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(i, o, 3, padding=1)]

            self.enc = nn.Sequential(nn.Conv2d(3, c1, 3, padding=1), nn.SiLU(), nn.Conv2d(c1, c2, 4, 2, 1), Res(c2),
                                     nn.Conv2d(c2, c3, 4, 2, 1), Res(c3), nn.Conv2d(c3, c3, 4, 2, 1), Res(c3),
                                     nn.Conv2d(c3, LATENT, 1))
            self.dec = nn.Sequential(nn.Conv2d(LATENT, c3, 3, padding=1), Res(c3), *up(c3, c3), Res(c3), *up(c3, c2),
                                     Res(c2), *up(c2, c1), Res(c1), nn.SiLU(), nn.Conv2d(c1, 3, 3, padding=1))

        def forward(self, x):
            return self.dec(self.enc(x))

    return SimAutoencoder()


def _highpass(x):
    import torch.nn.functional as F

    return x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)


def train_autoencoder(frames: np.ndarray, *, seed: int = 0, steps: int = STEPS, log: Log = _nolog):
    """frames [n, H, W, 3] uint8 -> a trained ``SimAutoencoder`` (eval mode). Loss: L1 on pixels, L1 on their
    3x3 high-pass and on the log spectrum magnitude, so the decoder paints fine texture instead of only blurring."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_autoencoder()
    opt = torch.optim.Adam(net.parameters(), LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=steps, pct_start=0.05)
    n, H, W = frames.shape[:3]
    run, t = [], time.perf_counter()
    for s in range(steps):
        i = rng.integers(0, n, BATCH)
        y0, x0 = rng.integers(0, H - PATCH + 1, BATCH), rng.integers(0, W - PATCH + 1, BATCH)
        xb = np.stack([frames[j, a:a + PATCH, b:b + PATCH] for j, a, b in zip(i, y0, x0)]).astype(np.float32) / 127.5 - 1
        xb = torch.from_numpy(xb).permute(0, 3, 1, 2)
        r = net(xb)
        spec = (torch.log1p(torch.fft.rfft2(r).abs()) - torch.log1p(torch.fft.rfft2(xb).abs())).abs().mean()
        loss = F.l1_loss(r, xb) + F.l1_loss(_highpass(r), _highpass(xb)) + 0.1 * spec
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)  # without it the first peak of the LR diverged
        opt.step()
        sched.step()
        run.append(F.mse_loss(r, xb).item())
        if (s + 1) % max(1, steps // 5) == 0:
            log(f"  autoencoder step {s + 1}/{steps}: PSNR {10 * np.log10(4 / np.mean(run[-100:])):.1f} dB "
                f"({time.perf_counter() - t:.0f} s)")
    return net.eval()


def reconstruct(net, x: np.ndarray) -> np.ndarray:
    """uint8 [..., S, S, 3] (S a multiple of 8) -> the autoencoder's reconstruction, uint8, same shape."""
    import torch

    sh = x.shape
    xb = torch.from_numpy(x.reshape(-1, *sh[-3:]).astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)
    with torch.inference_mode():
        out = torch.cat([net(xb[k:k + 256]) for k in range(0, len(xb), 256)])
    return ((out.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8).reshape(sh)


def h264_roundtrip(tubes: np.ndarray, crf: int = CRF) -> np.ndarray:
    """tubes [W, C, L, S, S, 3] uint8 -> the same after one libx264 encode (yuv420p, CRF ``crf``, preset medium)
    of a W x C mosaic of the crops, L frames long: one encode a clip, crops on macroblock-aligned tiles."""
    import av

    W, C, L, S = tubes.shape[:4]
    mosaic = tubes.transpose(2, 0, 3, 1, 4, 5).reshape(L, W * S, C * S, 3)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = C * S, W * S, "yuv420p"
        st.options = {"crf": str(crf), "preset": "medium"}
        for f in mosaic:
            for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    buf.seek(0)
    with av.open(buf) as inp:
        dec = np.stack([f.to_ndarray(format="rgb24") for f in inp.decode(video=0)])
    if dec.shape != mosaic.shape:
        raise RuntimeError(f"the H.264 round trip returned {dec.shape}, expected {mosaic.shape}")
    return dec.reshape(L, W, S, C, S, 3).transpose(1, 3, 0, 2, 4, 5)


def autoencoder(real_tubes: list[np.ndarray], cache: Path, *, seed: int = 0, steps: int = STEPS, log: Log = _nolog):
    """The autoencoder trained on the middle frames of ``real_tubes``' crops, cached in ``cache`` (safetensors)
    by recipe, seed, steps and the frames' hash. Returns (the net, its file)."""
    from safetensors.torch import load_file, save_file

    frames = np.concatenate([t[:, :, t.shape[2] // 2].reshape(-1, *t.shape[-3:]) for t in real_tubes])
    key = hashlib.sha1(f"{RECIPE}|{seed}|{steps}".encode() + hashlib.sha1(frames.tobytes()).digest()).hexdigest()[:16]
    f = cache / f"autoencoder_{key}.safetensors"
    net = build_autoencoder().eval()
    if f.exists():
        net.load_state_dict(load_file(str(f)))
        return net, f
    log(f"training the simulated decoder on {len(frames)} real crops ({steps} steps)")
    net = train_autoencoder(frames, seed=seed, steps=steps, log=log)
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(f))
    return net, f


def aligned_pairs(real_tubes: list[np.ndarray], keys: list[str], net, net_file: Path, cache: Path,
                  log: Log = _nolog) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(synthetic, round-trip) tubes for every real clip's tubes (see the module doc), cached in ``cache`` by
    the clip's key and the autoencoder file."""
    cache.mkdir(parents=True, exist_ok=True)
    synth, rt = [], []
    t, made = time.perf_counter(), 0
    for tb, k in zip(real_tubes, keys):
        f = cache / f"{hashlib.sha1(f'{k}|{net_file.name}'.encode()).hexdigest()}.npz"
        if not f.exists():
            np.savez(f, synthetic=h264_roundtrip(reconstruct(net, tb)), roundtrip=h264_roundtrip(tb))
            made += 1
            if made % 50 == 0:
                log(f"  aligned pairs: {made} made ({time.perf_counter() - t:.0f} s)")
        with np.load(f) as z:
            synth.append(z["synthetic"])
            rt.append(z["roundtrip"])
    if made:
        log(f"aligned pairs: {made} clips made in {time.perf_counter() - t:.0f} s")
    return synth, rt
