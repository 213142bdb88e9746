"""Can the UNet learn the sign of a horizontal slide? Focused fine-tune on mirror pairs of
horizontal sliders only, high noise levels only; then the same-seed left/right test.

    python -m bench.probes.signprobe WEIGHTS STEPS T_MIN [LR]     e.g. generate/weights/kino-tiny 300 950 1e-3
"""
import sys, time, numpy as np, torch
from diffusers import DDPMScheduler
from kinoseal.scenes import procedural as data
from kinoseal.generate.pipeline import KinoVideoPipeline, denoise, frames_to_tensor, text_condition, unet_input
from kinoseal.generate.tokenizer import encode, MAX_LENGTH
from kinoseal.training.generator.losses import cell_weight
from bench import direction_sensitivity as ds
torch.set_num_threads(2)
w, steps, tmin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lr = float(sys.argv[4]) if len(sys.argv) > 4 else 2e-4
train_te = False
pipe = KinoVideoPipeline.from_pretrained(w, local_files_only=True)
unet, te, tok = pipe.unet, pipe.text_encoder, pipe.tokenizer
pos = bool(pipe.config.position_channels)
T, S = int(pipe.config.frames_per_chunk), int(pipe.config.native_size)
ns = DDPMScheduler.from_config(pipe.scheduler.config)
params = list(unet.parameters()) + (list(te.parameters()) if train_te else [])
opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
HORIZ = {"sliding left", "sliding right", "bouncing from left to right", "bouncing from right to left"}
def batch(rng, pairs):
    clips, caps, covs = [], [], []
    while len(caps) < 2 * pairs:
        sp = data.sample_spec(rng, max_objects=1, textures=False, pans=False)
        if sp.objects[0].motion not in HORIZ: continue
        other = data.twin_spec(sp, "mirror")
        if other is None: continue
        img, cov = data._render_training_clip(sp, rng, T, S, 1.0)
        clips += [img, img[:, :, ::-1]]; covs += [cov, cov[:, :, ::-1]]; caps += [sp.caption(), other.caption()]
    return np.ascontiguousarray(np.stack(clips)), caps, np.ascontiguousarray(np.stack(covs)).astype(np.float32)
def evaluate():
    unet.eval()
    g = torch.Generator().manual_seed(0); N = 16
    noise = torch.randn(N, 4, T, 8, 8, generator=g)
    a = ns.alphas_cumprod[999]
    cxs = []
    for prompt in ["a red ball sliding right on a blue background", "a red ball sliding left on a blue background"]:
        with torch.no_grad():
            cond = pipe._encode_text([prompt] * N)
            v = denoise(unet, unet_input(noise, torch.zeros(N, 1, T, 8, 8), pos), torch.full((N,), 999), cond)
            px = pipe._decode_latents(a.sqrt() * noise - (1 - a).sqrt() * v)
        bgc = torch.tensor([30/127.5-1, 70/127.5-1, 225/127.5-1]).view(1, 3, 1, 1, 1)
        d = ((px - bgc) ** 2).sum(1).sqrt().mean(0)
        d = (d - d.flatten(1).median(1).values.view(-1, 1, 1)).clamp_min(0)
        xs = torch.arange(32).float()
        cxs.append([float((d[f].sum(0) * xs).sum() / d[f].sum().clamp_min(1e-6)) for f in range(0, T, 3)])
    print("x0@999 cx right", " ".join("%.1f" % c for c in cxs[0]), "| left", " ".join("%.1f" % c for c in cxs[1]), flush=True)
    ds.PAIRS = (ds.PAIRS[0],)
    r = ds.same_seed_pairs(pipe, 3, 2.0, 25)
    unet.train()
    return r[0]
print("before", evaluate(), flush=True)
gen = torch.Generator().manual_seed(0)
t0 = time.time(); run = 0
for step in range(steps):
    rng = np.random.default_rng([7, step])
    clips, caps, cover = batch(rng, 4)
    with torch.no_grad():
        x0 = pipe._encode_frames(frames_to_tensor(clips))
    B = x0.shape[0]
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.randint(tmin, 1000, (B,), generator=gen)
    twin = torch.arange(B); twin[1::2] -= 1
    noise, t = noise[twin], t[twin]
    xt = ns.add_noise(x0, noise, t); target = ns.get_velocity(x0, noise, t)
    inp = unet_input(xt, torch.zeros(B, 1, T, x0.shape[-2], x0.shape[-1]), pos)
    cond = text_condition(te, encode(tok, caps, MAX_LENGTH), str(pipe.config.text_pooling))
    pred = denoise(unet, inp, t, cond)
    wpx = cell_weight(cover, x0.shape[-1], 4.0)
    loss = (((pred - target) ** 2) * wpx).mean() / wpx.mean()
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step()
    run += loss.item()
    if (step + 1) % 50 == 0:
        print(step + 1, f"{run/50:.4f}", f"{(time.time()-t0)/(step+1):.2f}s/step", flush=True); run = 0
print("after", evaluate(), flush=True)
