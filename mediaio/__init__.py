"""Video I/O with PyAV: probe with limits, stream frames, encode H.264, write atomically.

Shared by the labeling side (generate) and the checking side (verify, detect).
"""

from kinoseal.mediaio.atomic import atomic_dir, atomic_output, atomic_path
from kinoseal.mediaio.colour import i420_to_rgb, rgb_to_i420
from kinoseal.mediaio.probe import VideoInfo, probe
from kinoseal.mediaio.reader import DecodeReport, iter_frames, sample_stride
from kinoseal.mediaio.writer import H264Writer

__all__ = [
    "DecodeReport",
    "H264Writer",
    "VideoInfo",
    "atomic_dir",
    "atomic_output",
    "atomic_path",
    "i420_to_rgb",
    "iter_frames",
    "probe",
    "rgb_to_i420",
    "sample_stride",
]
