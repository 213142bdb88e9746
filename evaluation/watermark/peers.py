"""Peer watermarks as baselines for the robustness suite (optional, offline).

Adapters with the shape of our methods: ``method.embedder(key, payload_id)``
gives an object whose ``embed_i420(y, u, v)`` marks one frame, and
``method.extractor(keys, payload_id)`` accumulates frames with
``update_i420(y, u, v)`` and returns a ``WatermarkResult`` from ``result()``.
Peers are per-frame *image* watermarks that work on colour frames, so they
take all three I420 planes (ours take only Y); frames go to the libraries'
BGR with the exact BT.601 conversions of ``mediaio.colour``.

* ``rivaGan`` (invisible-watermark 0.2.0): 32 bits, learned encoder/decoder
  shipped as ONNX in the wheel. Runs the same graphs with the same pre- and
  post-processing as ``imwatermark.rivaGan.RivaWatermark`` (BGR input as the
  library's examples pass it, uint8 truncation of the output), through our
  own onnxruntime sessions so that the thread count is ours. ~1 CPU-s per
  640x272 frame to embed, ~1.3 CPU-s to decode (research note), so the suite
  decodes it on a frame stride.
* ``dwtDctSvd`` (invisible-watermark 0.2.0): 32 bits QIM on the largest
  singular value of 4x4 blocks of the Haar LL band of the U plane (the
  library's default scales [0, 36, 0] touch U only). Embedding calls the
  library class; decoding is a vectorised copy (the DCT is orthonormal, so
  the block's singular values are the DCT block's).
* ``blindwm`` (blind-watermark 0.4.4): 32 bits, ``mode='common'``, passwords
  1/1, QIM on the two largest singular values of shuffled 4x4 DCT blocks of
  the Haar LL band of all three (full-range) YUV channels. Embedding calls
  the library; decoding is a vectorised copy of ``WaterMarkCore.extract``.

The public ``imwatermark`` API refuses frames under 256x256 pixels of area
("image too small"); like the research harness, the adapters call the same
embedder/decoder code without that guard, so QCIF and cropped frames are
measured rather than skipped (noted in the results).

Detection at a fixed false-positive rate (the peers have no detector of
their own): the soft decoder outputs are averaged over the frames of the
clip (or window), thresholded as the library does, and compared with the
embedded payload; a detection is ``errors <= k`` with k the largest value
such that P[Binomial(n, 1/2) <= k] <= 1e-6 (k = 2 of 32 bits, 13 of 64). The
log10 p-value is the binomial tail at the observed number of errors. On
unmarked clips the comparison is against the payload the clip would carry.

Each peer is optional: ``available()`` says whether its package imports,
and ``unavailable_reason()`` why not.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import threading
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.stats import binom

from kinoseal.watermark.keys import WatermarkKey
from kinoseal.watermark.result import P_VALUE_THRESHOLD, WatermarkResult

__all__ = [
    "PeerMethod",
    "PEERS",
    "binomial_threshold",
    "binomial_log10_p",
    "get_peer",
    "list_peers",
]


# ----------------------------------------------------------------------------
# Fixed-FPR detection from bit errors


@lru_cache(maxsize=None)
def binomial_threshold(n_bits: int, alpha: float = P_VALUE_THRESHOLD) -> int:
    """Largest k with P[Binomial(n, 1/2) <= k] <= alpha (-1 if none)."""
    k = -1
    while k + 1 <= n_bits and binom.cdf(k + 1, n_bits, 0.5) <= alpha:
        k += 1
    return k


def binomial_log10_p(errors: int, n_bits: int) -> float:
    """log10 P[Binomial(n, 1/2) <= errors]: chance that random bits match this well."""
    return float(binom.logcdf(errors, n_bits, 0.5) / math.log(10.0))


def _bits_of(payload_id: int, n: int) -> np.ndarray:
    return np.array([(int(payload_id) >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


# ----------------------------------------------------------------------------
# Colour: I420 <-> the libraries' BGR


def _bgr(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    from kinoseal.mediaio.colour import i420_to_rgb

    return np.ascontiguousarray(i420_to_rgb(y, u, v)[..., ::-1])


def _i420(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from kinoseal.mediaio.colour import rgb_to_i420

    return rgb_to_i420(np.ascontiguousarray(np.clip(np.rint(bgr[..., ::-1]), 0, 255).astype(np.uint8)))


# ----------------------------------------------------------------------------
# Method / embedder / extractor shells


class PeerEmbedder:
    def __init__(self, method: "PeerMethod", payload_id: int):
        self.method = method
        self.payload_id = int(payload_id)
        self.bits = _bits_of(payload_id, method.payload_bits)

    def embed_i420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray):
        return _i420(self.method._embed_bgr(_bgr(y, u, v), self.bits))

    def embed_luma(self, y: np.ndarray) -> np.ndarray:  # pragma: no cover - shape guard
        raise TypeError(f"{self.method.name} marks colour frames: use embed_i420(y, u, v)")


class PeerExtractor:
    """Keeps one soft vector per frame; ``result()`` soft-averages all of them."""

    def __init__(self, method: "PeerMethod", payload_id: int):
        self.method = method
        self.payload_id = int(payload_id)
        self.bits = _bits_of(payload_id, method.payload_bits)
        self.soft: list[np.ndarray] = []

    @property
    def frames(self) -> int:
        return len(self.soft)

    def update_i420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        self.soft.append(np.asarray(self.method._soft_bgr(_bgr(y, u, v)), dtype=np.float64))

    def decide(self, soft_frames: Sequence[np.ndarray]) -> tuple[bool, float, float, int]:
        """(detected, log10 p, bit accuracy, errors) for the soft average of some frames."""
        n = self.method.payload_bits
        hard = self.method._hard(np.mean(np.stack(list(soft_frames)), axis=0))
        errors = int(np.sum(hard != self.bits))
        return errors <= binomial_threshold(n), binomial_log10_p(errors, n), 1.0 - errors / n, errors

    def window_detections(self, size: int) -> list[bool]:
        """Detection per window of ``size`` consecutive decoded frames (the last partial one dropped
        unless it is the only one)."""
        s = self.soft
        if not s:
            return []
        wins = [s[i : i + size] for i in range(0, len(s) - size + 1, size)] or [s]
        return [self.decide(w)[0] for w in wins]

    def result(self) -> WatermarkResult:
        name = self.method.name
        if not self.soft:
            return WatermarkResult(name, False, 1.0, 0.0, None, None, 0, None, [])
        det, lp, acc, _ = self.decide(self.soft)
        per_frame = [self.decide([f])[1] for f in self.soft]
        return WatermarkResult(
            method=name,
            detected=bool(det),
            p_value=float(10.0**lp),
            log10_p_value=float(lp),
            payload_id=self.payload_id if det else None,
            bit_accuracy=float(acc),
            frames_analyzed=len(self.soft),
            key_id=None,
            per_frame_scores=per_frame,  # per-frame log10 p (binomial tail)
        )


class PeerMethod:
    """Base class: subclasses define the package, the embed and the soft decoder."""

    name = "peer"
    package = ""  # import name that must be present
    pip_name = ""
    payload_bits = 32
    kind = "peer"
    #: Frames a suite decodes per attacked clip by default (spread over the clip; None = all).
    default_decode_frames: int | None = None
    #: Largest frame area a suite runs this method on by default (None = any).
    default_max_pixels: int | None = None
    cost_note = ""

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec(self.package) is None:
            return f"{self.pip_name} is not installed (pip install 'kinoseal[peers]')"
        return None

    def embedder(self, key: WatermarkKey | None, payload_id: int, strength: float = 1.0) -> PeerEmbedder:
        if strength != 1.0:
            raise ValueError(f"{self.name} has no strength setting (library defaults)")
        return PeerEmbedder(self, payload_id)

    def extractor(self, keys: Sequence[WatermarkKey] | WatermarkKey | None, payload_id: int) -> PeerExtractor:
        return PeerExtractor(self, payload_id)

    # -- to implement
    def _embed_bgr(self, bgr: np.ndarray, bits: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _soft_bgr(self, bgr: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _hard(self, soft: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# ----------------------------------------------------------------------------
# invisible-watermark: rivaGan


class RivaGan(PeerMethod):
    name = "rivaGan"
    package = "imwatermark"
    pip_name = "invisible-watermark"
    payload_bits = 32
    default_decode_frames = 3
    default_max_pixels = 400_000  # ~7 CPU-s per 720p frame: skipped on 720p by default
    cost_note = "~1 CPU-s per 640x272 frame to embed, ~1.3 CPU-s to decode (ONNX on CPU)"
    threshold = 0.52  # RivaWatermark's default

    def __init__(self) -> None:
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()

    def unavailable_reason(self) -> str | None:
        r = super().unavailable_reason()
        if r is None and importlib.util.find_spec("onnxruntime") is None:
            return "onnxruntime is not installed (pip install 'kinoseal[peers]')"
        return r

    def _session(self, which: str):
        with self._lock:
            s = self._sessions.get(which)
            if s is None:
                import onnxruntime

                model = Path(importlib.util.find_spec("imwatermark").origin).parent / f"rivagan_{which}.onnx"
                opts = onnxruntime.SessionOptions()
                opts.intra_op_num_threads = 2
                opts.inter_op_num_threads = 1
                s = onnxruntime.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
                self._sessions[which] = s
            return s

    @staticmethod
    def _tensor(bgr: np.ndarray) -> np.ndarray:
        # RivaWatermark: frame/127.5 - 1, [1,H,W,3] -> [1,3,1,H,W]
        x = bgr.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None, :, None])

    def _embed_bgr(self, bgr: np.ndarray, bits: np.ndarray) -> np.ndarray:
        out = self._session("encoder").run(
            None, {"frame": self._tensor(bgr), "data": bits.astype(np.float32)[None, :]}
        )[0]
        out = np.clip(out, -1.0, 1.0)
        return ((out[0, :, 0].transpose(1, 2, 0) + 1.0) * 127.5).astype(np.uint8)  # truncation, as the library

    def _soft_bgr(self, bgr: np.ndarray) -> np.ndarray:
        return self._session("decoder").run(None, {"frame": self._tensor(bgr)})[0][0]

    def _hard(self, soft: np.ndarray) -> np.ndarray:
        return (soft > self.threshold).astype(np.uint8)


# ----------------------------------------------------------------------------
# invisible-watermark: dwtDctSvd


class DwtDctSvd(PeerMethod):
    name = "dwtDctSvd"
    package = "imwatermark"
    pip_name = "invisible-watermark"
    payload_bits = 32
    default_decode_frames = 16
    cost_note = "~0.04 CPU-s per 640x272 frame to embed (library); vectorised decoder"
    scales = (0, 36, 0)  # library defaults: U channel only
    block = 4

    def _embed_bgr(self, bgr: np.ndarray, bits: np.ndarray) -> np.ndarray:
        from imwatermark.dwtDctSvd import EmbedDwtDctSvd

        emb = EmbedDwtDctSvd(list(int(b) for b in bits), wmLen=len(bits), scales=list(self.scales), block=self.block)
        return emb.encode(bgr)

    def _soft_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """Fraction of blocks voting 1 per bit (EmbedDwtDctSvd.decode before its threshold)."""
        import cv2
        import pywt

        n, b = self.payload_bits, self.block
        row, col = bgr.shape[:2]
        yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
        votes = [[] for _ in range(n)]
        for ch in range(2):  # the library's loop (only U has a non-zero scale)
            scale = self.scales[ch]
            if scale <= 0:
                continue
            ca, _ = pywt.dwt2(yuv[: row // 4 * 4, : col // 4 * 4, ch], "haar")
            r, c = ca.shape[0] // b, ca.shape[1] // b
            blocks = ca[: r * b, : c * b].reshape(r, b, c, b).transpose(0, 2, 1, 3).reshape(-1, b, b)
            # s[0] of svd(dct(block)) == largest singular value of the block (orthonormal DCT)
            s0 = np.linalg.svd(blocks, compute_uv=False)[:, 0]
            bit = ((s0 % scale) > scale * 0.5).astype(np.float64)
            for i in range(n):
                votes[i].append(bit[i::n])
        return np.array([np.concatenate(v).mean() if v and np.concatenate(v).size else 0.5 for v in votes])

    def _hard(self, soft: np.ndarray) -> np.ndarray:
        return (soft * 255 > 127).astype(np.uint8)  # the library's threshold


# ----------------------------------------------------------------------------
# blind-watermark


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m


class BlindWatermark(PeerMethod):
    name = "blindwm"
    package = "blind_watermark"
    pip_name = "blind-watermark"
    payload_bits = 32
    default_decode_frames = 12
    default_max_pixels = 400_000  # library embed loop ~1.2 CPU-s per 720p frame
    cost_note = "~0.22 CPU-s per 640x272 frame to embed (library loop); vectorised decoder"
    password_wm = 1
    password_img = 1
    d1, d2 = 36, 20

    def _embed_bgr(self, bgr: np.ndarray, bits: np.ndarray) -> np.ndarray:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints a banner
            WaterMark = _import_blind_watermark().WaterMark

            bwm = WaterMark(password_wm=self.password_wm, password_img=self.password_img, mode="common")
        bwm.read_img(img=bgr.astype(np.float32))
        bwm.read_wm(bits.astype(bool), mode="bit")
        return bwm.embed()

    def _soft_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """WaterMarkCore.extract (block average over 3 channels and repeats), de-shuffled."""
        import cv2
        import pywt

        n = self.payload_bits
        img = bgr.astype(np.float32)
        h, w = img.shape[:2]
        yuv = cv2.copyMakeBorder(cv2.cvtColor(img, cv2.COLOR_BGR2YUV), 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT,
                                 value=(0, 0, 0))
        ca_h, ca_w = (h + 1) // 2, (w + 1) // 2
        br, bc = ca_h // 4, ca_w // 4
        nblocks = br * bc
        if nblocks <= n:
            raise ValueError(f"frame {w}x{h} too small for {n} bits")
        shuf = np.random.RandomState(self.password_img).random(size=(nblocks, 16)).argsort(axis=1)
        d = _dct_matrix(4).astype(np.float32)
        bits = np.zeros((3, nblocks))
        for ch in range(3):
            ca, _ = pywt.dwt2(yuv[:, :, ch], "haar")
            ca = ca.astype(np.float32)
            blocks = ca[: br * 4, : bc * 4].reshape(br, 4, bc, 4).transpose(0, 2, 1, 3).reshape(-1, 4, 4)
            dct = np.einsum("ij,njk,lk->nil", d, blocks, d).reshape(-1, 16)
            shuffled = np.take_along_axis(dct, shuf, axis=1).reshape(-1, 4, 4)
            s = np.linalg.svd(shuffled, compute_uv=False)
            wm = (s[:, 0] % self.d1 > self.d1 / 2) * 1.0
            tmp = (s[:, 1] % self.d2 > self.d2 / 2) * 1.0
            bits[ch] = (wm * 3 + tmp) / 4
        avg = np.array([bits[:, i::n].mean() for i in range(n)])
        # WaterMark.extract_decrypt: undo the password_wm shuffle of the payload
        idx = np.arange(n)
        np.random.RandomState(self.password_wm).shuffle(idx)
        out = np.empty(n)
        out[idx] = avg
        return out

    def _hard(self, soft: np.ndarray) -> np.ndarray:
        _import_blind_watermark()
        from blind_watermark.bwm_core import one_dim_kmeans

        return one_dim_kmeans(np.asarray(soft, dtype=np.float64)).astype(np.uint8)


PEERS: dict[str, type[PeerMethod]] = {"rivaGan": RivaGan, "dwtDctSvd": DwtDctSvd, "blindwm": BlindWatermark}
_INSTANCES: dict[str, PeerMethod] = {}


def list_peers() -> list[str]:
    return list(PEERS)


def get_peer(name: str) -> PeerMethod:
    if name not in PEERS:
        raise KeyError(f"unknown peer watermark {name!r}; available: {', '.join(PEERS)}")
    inst = _INSTANCES.get(name)
    if inst is None:
        inst = _INSTANCES[name] = PEERS[name]()
    return inst


def _import_blind_watermark():
    """blind-watermark calls multiprocessing.set_start_method('fork') at import time,
    which raises when the process already chose a start method (pytest plugins,
    servers). Import it with that call made harmless."""
    import importlib
    import multiprocessing

    original = multiprocessing.set_start_method

    def tolerant(method, force=False):
        try:
            original(method, force=force)
        except RuntimeError:
            pass

    multiprocessing.set_start_method = tolerant
    try:
        return importlib.import_module("blind_watermark")
    finally:
        multiprocessing.set_start_method = original
