"""The watermark robustness suite behind ``kinoseal bench watermark``.

``run_suite(methods, clips, attacks, out_dir)`` marks every clip with every
method, applies every attack (``evaluation.watermark.attacks``) to the marked clip *and*
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

import hashlib
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from kinoseal.evaluation.watermark.attacks import Attack, Planes, frame_kind, get_attack
from kinoseal.evaluation.watermark.clips import CLIP_SOURCES, SuiteClip, load_clip
from kinoseal.evaluation.watermark.metrics import imperceptibility, spread_indices
from kinoseal.evaluation.watermark.report import CSV_COLUMNS, diff_figure, write_report
from kinoseal.watermark.keys import WatermarkKey
from kinoseal.watermark.result import P_VALUE_THRESHOLD

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
class Detection:
    detected: bool
    log10_p: float
    bit_accuracy: float | None
    payload_ok: bool | None
    frames_decoded: int
    frame_hits: list[bool]
    window_hits: list[bool]


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
        sel = [frames[i] for i in spread_indices(len(frames), self.decode_frames)]
        n = len(sel)
        frame_groups = [[i] for i in spread_indices(n, frame_tests)] if frame_tests != 0 else []
        wins = [list(range(i, i + WINDOW)) for i in range(0, n - WINDOW + 1, WINDOW)] or [list(range(n))]
        win_groups = [wins[j] for j in spread_indices(len(wins), window_tests)] if window_tests != 0 else []
        if self.kind == "ours":
            def run(fs: Sequence[Planes]):
                ex = self.impl.extractor([key])
                for f in fs:
                    ex.update(f[0], frame_kind(f))  # weighed by coding type, as in the verifier
                return ex.result()

            # Content-bound methods (v3-v5) count only a mark bound to the content: that alone makes the
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


def method_variant(spec: str):
    """A registered method, or one with some of its parameters overridden (``name:field=value``, as
    ``kinoseal-wm-v5:median_blend_cell=0``): a variant to measure beside the method as registered."""
    import dataclasses

    from kinoseal.watermark.methods import get_method

    name, *overrides = spec.split(":")
    m = get_method(name)
    if not overrides:
        return m
    fields = {f.name for f in dataclasses.fields(m.params)}
    changes = {}
    for o in overrides:
        field, _, value = o.partition("=")
        if field not in fields:
            raise KeyError(f"{name} has no parameter {field!r}")
        try:
            kind = type(getattr(m.params, field))
            if kind is bool:  # bool("False") is True: read the word
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                changes[field] = value.lower() in ("true", "1")
            else:
                changes[field] = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {field}={value!r} is not a {type(getattr(m.params, field)).__name__}") from None
    return dataclasses.replace(m, params=dataclasses.replace(m.params, **changes))


def resolve_method(name: str, decode_frames: int | None | str = "default",
                   max_pixels: int | None | str = "default") -> SuiteMethod | str:
    """A SuiteMethod, or a string saying why the method is skipped (missing optional package).
    Ours may carry parameter overrides (``method_variant``)."""
    from kinoseal.watermark.methods import list_methods

    if name.split(":")[0] in list_methods():
        m = method_variant(name)
        return SuiteMethod(name, "ours", int(m.payload_bits), m,
                           None if decode_frames == "default" else decode_frames,
                           None if max_pixels == "default" else max_pixels,
                           note="kinoseal method: its own analytic, content-independent p-value")
    from kinoseal.evaluation.watermark.peers import binomial_log10_p, binomial_threshold, get_peer, list_peers

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
    from kinoseal.evaluation.watermark.peers import list_peers
    from kinoseal.watermark.methods import list_methods

    return [*list_methods(), *list_peers()]


# ----------------------------------------------------------------------------
# Quality metrics


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
                    diff_figs.append(diff_figure(clip, active, marked, out / "plots"))
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


