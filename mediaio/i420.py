"""8-bit 4:2:0 planes (Y, U, V), the one representation the watermark, the writer and the
harnesses exchange, and their conversions to and from PyAV frames."""

from __future__ import annotations

import av
import numpy as np

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def _even(n: int) -> int:
    return n + (n % 2)


def frame_planes(frame: av.VideoFrame) -> Planes:
    """Y, U, V of a decoded frame, contiguous; any other pixel format (10-bit, 4:4:4) or an
    odd size goes through one swscale pass to 8-bit 4:2:0 with even dimensions."""
    w, h = _even(frame.width), _even(frame.height)
    if frame.format.name != "yuv420p" or (w, h) != (frame.width, frame.height):
        frame = frame.reformat(width=w, height=h, format="yuv420p")
    i420 = frame.to_ndarray(format="yuv420p")
    chroma = i420[h:].reshape(2, h // 2, w // 2)
    return np.ascontiguousarray(i420[:h]), np.ascontiguousarray(chroma[0]), np.ascontiguousarray(chroma[1])


def pack(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The (3H/2, W) array PyAV's ``from_ndarray(format="yuv420p")`` takes."""
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def to_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(pack(y, u, v), format="yuv420p")


__all__ = ["Planes", "frame_planes", "pack", "to_frame"]
