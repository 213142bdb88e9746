"""From a clip to "tubes" (aligned crops over consecutive frames) and from tubes to features.

A clip is read as ``n_windows`` windows spread evenly over its length; each window
is ``win_len`` consecutive decoded frames. In each window ``n_crops`` square crops
of ``crop`` pixels are cut at the *native* resolution (resizing would wash out the
noise traces the detector looks at), at the same place in every frame of the
window: a tube ``[n_crops, win_len, crop, crop, 3]``. A frame smaller than the crop
is upscaled just enough to fit one. The cost of a clip is therefore bounded by
``n_windows * win_len`` converted frames, whatever its length or resolution.

Hand-made features per window (all on the luma of the tubes):

* spatial: high-pass residual energy, gradient energy, three radial-spectrum
  band ratios, residual kurtosis, spread of residual energy between crops;
* temporal: frame-difference energy, residual-difference ratio (sensor noise is
  independent between frames, a generator's "texture" is not), residual
  correlation between consecutive frames, duplicate-frame fraction, how much of
  the frame difference is high-frequency.

The backbone adds its own per-window statistics (see ``detect.backbone``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kinoseal.config import Limits
from kinoseal.errors import InputError

HAND_FEATURES = (
    "res_energy", "grad_energy", "spec_hi_lo", "spec_top_mid", "spec_top_hi", "res_kurtosis", "res_energy_spread",
    "diff_energy", "res_diff_ratio", "res_corr", "dup_frac", "diff_hf_frac",
)

_EPS = 1e-3


@dataclass
class ClipTubes:
    """What a clip contributes: tubes [W, C, L, S, S, 3] uint8 plus bookkeeping."""

    tubes: np.ndarray
    n_distinct: int  # windows that are really different (short clips repeat windows to fill W)
    frames_used: int
    size: tuple[int, int]  # (width, height) of the decoded frames
    spans: list[tuple[float, float]] = field(default_factory=list)  # (start_s, end_s) of each distinct window


def window_starts(frame_count: int, n_windows: int, win_len: int) -> list[int]:
    """Evenly spread window starts (distinct, sorted)."""
    last = max(0, frame_count - win_len)
    if n_windows <= 1 or last == 0:
        return [0]
    return sorted({int(round(x)) for x in np.linspace(0, last, n_windows)})


def crop_positions(h: int, w: int, crop: int, n_crops: int, window: int) -> list[tuple[int, int]]:
    """Deterministic, well-spread crop corners (golden-ratio sequence shifted per window)."""
    out = []
    for k in range(n_crops):
        u = (0.5 + (k + 0.5) * 0.6180339887 + window * 0.1370) % 1.0
        v = (0.5 + (k + 0.5) * 0.7548776662 + window * 0.2917) % 1.0
        # keep away from the borders (letterboxing, encoder edge effects)
        y = int(round((0.1 + 0.8 * v) * (h - crop)))
        x = int(round((0.1 + 0.8 * u) * (w - crop)))
        out.append((max(0, min(h - crop, y)), max(0, min(w - crop, x))))
    return out


def _fit_min_side(frame, crop: int):
    """``frame`` (an RGB array, or a ``RegionRgb``: either is sliced) upscaled so that its short side holds a crop."""
    h, w = frame.shape[:2]
    if min(h, w) >= crop:
        return frame
    from PIL import Image

    s = crop / min(h, w)
    nw, nh = max(crop, int(math.ceil(w * s))), max(crop, int(math.ceil(h * s)))
    return np.asarray(Image.fromarray(np.asarray(frame)).resize((nw, nh), Image.BICUBIC))


def tubes_from_frames(frames_by_window: list[list[np.ndarray]], crop: int, n_crops: int, n_windows: int) -> np.ndarray:
    """[[win_len RGB frames] per window] -> tubes [n_windows, n_crops, L, crop, crop, 3] (windows repeated to fill)."""
    out = []
    for wi, frames in enumerate(frames_by_window):
        frames = [_fit_min_side(f, crop) for f in frames]
        h, w = frames[0].shape[:2]
        crops = []
        for (y, x) in crop_positions(h, w, crop, n_crops, wi):
            crops.append(np.stack([f[y:y + crop, x:x + crop, :3] for f in frames]))
        out.append(np.stack(crops))
    k = len(out)
    while len(out) < n_windows:
        out.append(out[len(out) % k])
    return np.ascontiguousarray(np.stack(out[:n_windows]))


#: clips with at least this many frames are read by seeking to the keyframe before each
#: window (when the container allows it) instead of decoding the whole stream
SEEK_MIN_FRAMES = 200


def _read_sequential(path: Path, limits: Limits, starts: list[int], win_len: int) -> dict[int, np.ndarray]:
    from kinoseal.mediaio.reader import DecodeReport, iter_frames

    wanted = {s + j for s in starts for j in range(win_len)}
    got: dict[int, np.ndarray] = {}
    last_needed = max(wanted)
    for fr in iter_frames(Path(path), limits, fmt="rgb24", tolerant=True, report=DecodeReport(),
                          select=lambda i: i in wanted):
        got[fr.index] = fr.planes[0]
        if fr.index >= last_needed:
            break
    return got


def _read_seeking(path: Path, limits: Limits, starts: list[int], win_len: int) -> dict[int, np.ndarray] | None:
    """Decode only from the keyframe before each window. Frame i is the frame shown at
    ``start + i / fps`` (constant frame rate). ``None`` when the file does not allow it
    (the caller then decodes sequentially)."""
    import av

    from kinoseal.mediaio.probe import open_container

    with open_container(Path(path)) as c:
        st = c.streams.video[0]
        st.thread_type = "AUTO"
        rate = st.average_rate or st.guessed_rate
        tb = st.time_base
        if not rate or not tb or float(rate) <= 0:
            return None
        t0 = st.start_time or 0
        keys = sorted(p.pts for p in c.demux(st) if p.pts is not None and p.is_keyframe)
        if not keys:
            return None
        step = 1.0 / (float(rate) * float(tb))  # pts per frame

        def pts_of(i: int) -> float:
            return t0 + i * step

        got: dict[int, np.ndarray] = {}
        it = None
        pos: float | None = None  # pts of the last frame decoded by ``it``
        for s in starts:
            target = pts_of(s)
            k = max([kp for kp in keys if kp <= target + step / 2] or [keys[0]])
            if it is None or pos is None or pos >= target - step / 2 or k > pos:
                c.seek(int(k), stream=st, backward=True, any_frame=False)
                it = c.decode(st)
                pos = None
            n = 0
            for fr in it:
                if fr.pts is None:
                    return None
                if fr.width * fr.height > limits.max_pixels:
                    return None
                pos = float(fr.pts)
                if pos < target - step / 2:
                    continue
                idx = s + n
                if abs(pos - pts_of(idx)) > step / 2:  # a gap or variable frame rate: do not guess
                    return None
                got[idx] = fr.to_ndarray(format="rgb24")
                n += 1
                if n == win_len:
                    break
            if n < win_len:
                return None
        return got


def read_tubes(path: Path, limits: Limits | None, *, n_windows: int, win_len: int, crop: int, n_crops: int,
               seek: bool | None = None) -> ClipTubes:
    """Decode only the frames the windows need (streaming) and cut the tubes.

    ``seek``: None = automatic (clips of ``SEEK_MIN_FRAMES`` frames or more are read by
    seeking, so a 60 s clip costs about as much as a 10 s one); False = always decode
    sequentially from the start."""
    return read_tubes_many(path, limits, n_windows=n_windows, win_len=win_len, crops=[(crop, n_crops)], seek=seek)[0]


def read_tubes_many(path: Path, limits: Limits | None, *, n_windows: int, win_len: int,
                    crops: list[tuple[int, int]], seek: bool | None = None) -> list[ClipTubes]:
    """:func:`read_tubes` for several crop plans over the same windows: one read of the frames."""
    from kinoseal.mediaio.probe import probe

    limits = limits or Limits()
    info = probe(Path(path), limits)
    count = int(info.frame_count or 0)
    if count <= 0:
        count = win_len  # unknown length: look at the start of the clip
    starts = window_starts(count, n_windows, win_len)
    got = read_window_frames(Path(path), limits, starts, win_len, count, seek)
    return [tubes_from_windows(got, starts, win_len, crop=crop, n_crops=n_crops, n_windows=n_windows,
                               name=Path(path).name, fps=float(info.fps or 0.0)) for crop, n_crops in crops]


def read_window_frames(path: Path, limits: Limits, starts: list[int], win_len: int, count: int,
                       seek: bool | None = None) -> dict[int, np.ndarray]:
    """RGB frames by index: ``win_len`` from each of ``starts``, of a clip of ``count`` frames. ``seek``
    as in :func:`read_tubes`; where seeking is not possible the stream is decoded from the start."""
    import av

    got: dict[int, np.ndarray] | None = None
    if (seek is None and count >= SEEK_MIN_FRAMES) or seek:
        try:
            got = _read_seeking(path, limits, starts, win_len)
        except (av.FFmpegError, ValueError, MemoryError, OSError):
            got = None
    return got or _read_sequential(path, limits, starts, win_len)


def tubes_from_windows(got: dict[int, np.ndarray], starts: list[int], win_len: int, *, crop: int, n_crops: int,
                       n_windows: int, name: str, fps: float = 0.0) -> ClipTubes:
    """Frames decoded by index -> tubes. Windows whose frames were not all decoded (the
    declared length was wrong, the stream ended early) are rebuilt from the frames that exist."""
    if not got:
        raise InputError(f"{name} contains no decodable video frames")
    have = sorted(got)
    frames_by_window: list[list[np.ndarray]] = []
    kept: list[int] = []
    for s in starts:
        idx = [s + j for j in range(win_len)]
        if all(i in got for i in idx):
            frames_by_window.append([got[i] for i in idx])
            kept.append(s)
    if not frames_by_window:
        pool = [got[i] for i in have][-win_len:]
        kept.append(have[-len(pool)])
        while len(pool) < win_len:
            pool.append(pool[-1])
        frames_by_window.append(pool)
    rate = fps if fps > 0 else 25.0
    spans = [(s / rate, (s + win_len) / rate) for s in kept]
    h, w = frames_by_window[0][0].shape[:2]
    tubes = tubes_from_frames(frames_by_window, crop, n_crops, n_windows)
    return ClipTubes(tubes=tubes, n_distinct=len(frames_by_window), frames_used=sum(len(f) for f in frames_by_window),
                     size=(int(w), int(h)), spans=spans)


class TubeCollector:
    """The detector's share of the verifier's one decode (a ``mediaio.stream.FrameConsumer``):
    the same windows and crops as :func:`read_tubes`, taken from frames decoded for everyone."""

    def __init__(self, *, n_windows: int, win_len: int, crop: int, n_crops: int) -> None:
        self.n_windows, self.win_len, self.crop, self.n_crops = n_windows, win_len, crop, n_crops
        self.starts: list[int] = []
        self._wanted: set[int] = set()
        self._spans: list[tuple[float, float]] = []
        self._got: dict[int, np.ndarray] = {}
        self._last_index = -1
        self._name = "clip"
        self._fps = 0.0

    def start(self, info) -> None:
        count = int(info.frame_count or 0) or self.win_len  # unknown length: look at the start of the clip
        fps = float(info.fps) or 25.0
        self._fps = fps
        self._name = Path(info.path).name
        self.starts = window_starts(count, self.n_windows, self.win_len)
        self._wanted = {s + j for s in self.starts for j in range(self.win_len)}
        # Half a frame either side: a window's frames sit at s/fps ... (s+L-1)/fps.
        self._spans = [((s - 0.5) / fps, (s + self.win_len - 0.5) / fps) for s in self.starts]

    def wants(self, index: int, time: float, kind: str | None = None) -> bool:
        return index in self._wanted and index not in self._got

    def needs_every_frame(self, t_from: float, t_to: float) -> bool:
        return any(a <= t_to and t_from <= b for a, b in self._spans)

    def feed(self, frame) -> None:
        # only the crops are converted to RGB, later (the frame's 4:2:0 planes are kept)
        self._got[frame.index] = frame.rgb_regions()
        self._last_index = max(self._last_index, frame.index)

    def finished(self) -> bool:
        return bool(self._wanted) and self._last_index >= max(self._wanted)

    def tubes(self) -> ClipTubes:
        return tubes_from_windows(self._got, self.starts, self.win_len, crop=self.crop, n_crops=self.n_crops,
                                  n_windows=self.n_windows, name=self._name, fps=self._fps)


# ----------------------------------------------------------------------------- hand-made features


def luma(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def highpass(y: np.ndarray) -> np.ndarray:
    """y - 3x3 binomial blur, on the last two axes (valid region, 2 pixels smaller)."""
    b = (y[..., :-2, :] + 2 * y[..., 1:-1, :] + y[..., 2:, :]) / 4.0
    b = (b[..., :, :-2] + 2 * b[..., :, 1:-1] + b[..., :, 2:]) / 4.0
    return y[..., 1:-1, 1:-1] - b


_BAND_CACHE: dict[int, tuple[np.ndarray, ...]] = {}


def _bands(n: int) -> tuple[np.ndarray, ...]:
    if n not in _BAND_CACHE:
        f = np.fft.fftfreq(n)
        r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2) / 0.5  # 1.0 = Nyquist along an axis
        edges = (0.05, 0.15, 0.3, 0.55, 1.5)
        masks = tuple((r > a) & (r <= b) for a, b in zip(edges[:-1], edges[1:]))
        hann = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
        _BAND_CACHE[n] = (hann, *masks)
    return _BAND_CACHE[n]


def half_plane(masks: np.ndarray) -> np.ndarray:
    """Masks [..., n, n] over the full FFT plane -> float32 weights [..., n, n // 2 + 1] over ``rfft2``'s half
    plane that give the same sums of a real image's power spectrum (it is symmetric through the origin, so
    every column but the first and, for even n, the last stands for itself and its mirror). Valid for masks
    that are themselves symmetric, as radial bands are."""
    n = masks.shape[-1]
    mirror = np.full(n // 2 + 1, 2.0, np.float32)
    mirror[0] = 1.0
    if n % 2 == 0:
        mirror[-1] = 1.0
    return np.asarray(masks, np.float32)[..., : n // 2 + 1] * mirror


def power_spectrum(y: np.ndarray, window: np.ndarray) -> np.ndarray:
    """|rfft2|^2 of each (mean-removed, windowed) image on the last two axes, in float32: scipy's real FFT
    is ~7x faster than numpy's complex float64 ``fft2``, and the half plane (with ``half_plane``'s
    weights) gives the same band powers to float32 precision."""
    import scipy.fft

    c = scipy.fft.rfft2((y - y.mean(axis=(-1, -2), keepdims=True)) * window.astype(np.float32))
    return c.real ** 2 + c.imag ** 2


_HALF_BANDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def hand_features(tubes: np.ndarray) -> np.ndarray:
    """tubes [W, C, L, S, S, 3] uint8 -> [W, len(HAND_FEATURES)] float32."""
    W, C, L, S = tubes.shape[:4]
    y = luma(tubes)  # [W, C, L, S, S]
    r = highpass(y)  # [W, C, L, S-2, S-2]
    e_r = (r ** 2).mean(axis=(-1, -2))  # [W, C, L]
    gy = np.diff(y, axis=-2)[..., :, :-1]
    gx = np.diff(y, axis=-1)[..., :-1, :]
    e_g = (gy ** 2 + gx ** 2).mean(axis=(-1, -2))
    hann, *bands = _bands(S)
    if S not in _HALF_BANDS:
        _HALF_BANDS[S] = (half_plane(np.stack(bands)), np.stack(bands).sum(axis=(1, 2)).astype(np.float32))
    weights, counts = _HALF_BANDS[S]
    bp = np.einsum("...ij,bij->...b", power_spectrum(y, hann), weights) / counts  # mean power per band
    p = [bp[..., k] + _EPS for k in range(4)]
    r2 = r * r
    m4 = (r2 * r2).mean(axis=(-1, -2))  # not r ** 4: numpy's power with exponent 4 is a per-element pow() call
    kurt = m4 / (e_r ** 2 + _EPS)
    feats = [
        np.log(e_r + _EPS).mean(axis=(1, 2)),
        np.log(e_g + _EPS).mean(axis=(1, 2)),
        np.log(p[2] / p[0]).mean(axis=(1, 2)),
        np.log(p[3] / p[1]).mean(axis=(1, 2)),
        np.log(p[3] / p[2]).mean(axis=(1, 2)),
        np.log(kurt + 1.0).mean(axis=(1, 2)),
        np.log(e_r + _EPS).mean(axis=2).std(axis=1),
    ]
    if L >= 2:
        d = np.diff(y, axis=2)  # [W, C, L-1, S, S]
        e_d = (d ** 2).mean(axis=(-1, -2))
        dr = np.diff(r, axis=2)
        e_dr = (dr ** 2).mean(axis=(-1, -2))
        ratio = e_dr / (e_r[:, :, 1:] + e_r[:, :, :-1] + _EPS)
        r0, r1 = r[:, :, :-1], r[:, :, 1:]
        cov = (r0 * r1).mean(axis=(-1, -2))
        corr = cov / np.sqrt(e_r[:, :, :-1] * e_r[:, :, 1:] + _EPS)
        dup = (np.abs(d).mean(axis=(-1, -2)) < 0.35).astype(np.float32)
        hd = highpass(d)
        hf = (hd ** 2).mean(axis=(-1, -2)) / (e_d + _EPS)
        feats += [
            np.log(e_d + _EPS).mean(axis=(1, 2)),
            np.log(ratio + _EPS).mean(axis=(1, 2)),
            corr.mean(axis=(1, 2)),
            dup.mean(axis=(1, 2)),
            np.log(hf + _EPS).mean(axis=(1, 2)),
        ]
    else:
        feats += [np.zeros(W, np.float32)] * 5
    return np.stack(feats, axis=1).astype(np.float32)
