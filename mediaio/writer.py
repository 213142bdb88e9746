"""H.264 (yuv420p) MP4 encoding with PyAV, with audio carried over from a source file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kinoseal.errors import InputError, OutputError
from kinoseal.mediaio.i420 import to_frame

# Audio codecs that MP4 can hold as they are; others are transcoded to AAC.
_MP4_AUDIO_COPY = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


class H264Writer:
    """Write frames given as I420 planes (or RGB) to ``path``.

    Use as a context manager; the file is finalised on a clean exit. The caller
    is expected to pass a temporary path (see ``mediaio.atomic``) so a failure
    leaves nothing behind.
    """

    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        fps: Fraction | float | int,
        crf: int = 18,
        preset: str = "medium",
        audio_from: Path | None = None,
        x264_params: dict[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"H.264 yuv420p needs even, positive dimensions, got {width}x{height}")
        self.path = Path(path)
        # What to call the file in error messages: the caller's target, not our hidden temp file.
        self.name = name or str(self.path)
        self.width, self.height = width, height
        self.fps = Fraction(fps).limit_denominator(1001 * 1000)
        self.crf, self.preset = crf, preset
        self.audio_from = audio_from
        self.x264_params = x264_params or {}
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._last_pts = -1
        self.frames_written = 0
        self._audio_src = self._audio_in = self._audio_out = None
        self._audio_packets = None
        self._audio_pending = None
        self._audio_transcode = False

    def __enter__(self) -> "H264Writer":
        try:
            self._container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"})
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot create {self.name}: {_reason(exc)}") from None
        options = {"crf": str(self.crf), "preset": self.preset}
        if self.x264_params:
            options["x264-params"] = ":".join(f"{k}={v}" for k, v in self.x264_params.items())
        stream = self._container.add_stream("libx264", rate=self.fps, options=options)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1) / self.fps
        self._stream = stream
        self._open_audio(self._container)
        return self

    def _pts_for(self, time_s: float | None) -> int:
        pts = self._last_pts + 1 if time_s is None else int(round(time_s * self.fps))
        pts = max(pts, self._last_pts + 1)  # strictly increasing, even for odd VFR inputs
        self._last_pts = pts
        return pts

    def write_i420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, time_s: float | None = None) -> None:
        h, w = self.height, self.width
        if y.shape != (h, w) or u.shape != (h // 2, w // 2) or v.shape != (h // 2, w // 2):
            raise ValueError(f"plane shapes {y.shape}/{u.shape}/{v.shape} do not match {w}x{h}")
        frame = to_frame(y, u, v)
        self._encode(frame, time_s)

    def write_rgb(self, rgb: np.ndarray, time_s: float | None = None) -> None:
        from kinoseal.mediaio.colour import rgb_to_i420

        self.write_i420(*rgb_to_i420(rgb), time_s=time_s)

    def _encode(self, frame: av.VideoFrame, time_s: float | None) -> None:
        assert self._container is not None and self._stream is not None, "use H264Writer as a context manager"
        frame.pts = self._pts_for(time_s)
        frame.time_base = self._stream.codec_context.time_base
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot write {self.name}: {_reason(exc)}") from None
        self.frames_written += 1
        try:
            self._pump_audio(float(frame.pts / self.fps))
        except av.FFmpegError as exc:
            raise self._audio_error(exc) from None

    def _audio_error(self, exc: av.FFmpegError) -> OutputError:
        # Muxing audio writes the output too: a full disk there is a write error, not an audio problem.
        if isinstance(exc, OSError) and exc.errno is not None:
            return OutputError(f"cannot write {self.name}: {_reason(exc)}")
        return OutputError(f"could not carry the audio track over: {exc}")

    def _open_audio(self, container: av.container.OutputContainer) -> None:
        """Add the audio stream before anything is muxed (MP4 writes its header on the first packet)."""
        if self.audio_from is None:
            return
        try:
            src = av.open(str(self.audio_from), mode="r")
        except av.FFmpegError:
            return
        if not src.streams.audio:
            src.close()
            return
        ain = src.streams.audio[0]
        if ain.codec_context.name in _MP4_AUDIO_COPY:
            aout = container.add_stream_from_template(ain)
            self._audio_transcode = False
        else:
            aout = container.add_stream("aac", rate=ain.codec_context.sample_rate or 48000)
            self._audio_transcode = True
        self._audio_src, self._audio_in, self._audio_out = src, ain, aout
        self._audio_packets = src.demux(ain)

    def _pump_audio(self, until_s: float | None) -> None:
        """Mux source audio up to ``until_s`` seconds (all of it for None), interleaved with video."""
        if self._audio_packets is None or self._container is None:
            return
        container = self._container
        try:
            while True:
                if self._audio_pending is None:
                    self._audio_pending = next(self._audio_packets)
                packet = self._audio_pending
                if until_s is not None and packet.pts is not None and packet.time_base is not None:
                    if float(packet.pts * packet.time_base) > until_s:
                        return
                self._audio_pending = None
                if not self._audio_transcode:
                    if packet.dts is None:
                        continue
                    packet.stream = self._audio_out
                    container.mux(packet)
                else:
                    for frame in packet.decode():
                        frame.pts = None
                        for out in self._audio_out.encode(frame):
                            container.mux(out)
        except StopIteration:
            self._audio_packets = None
            if self._audio_transcode:
                for out in self._audio_out.encode(None):
                    container.mux(out)

    def __exit__(self, exc_type, exc, tb) -> None:
        container = self._container
        if container is None:
            return
        try:
            if exc_type is None:
                for packet in self._stream.encode(None):
                    container.mux(packet)
                if self.frames_written == 0:
                    raise InputError("no frames to encode: the input produced zero frames")
                try:
                    self._pump_audio(None)
                except av.FFmpegError as exc_audio:
                    raise self._audio_error(exc_audio) from None
        finally:
            self._container = None
            if self._audio_src is not None:
                self._audio_src.close()
            try:
                container.close()
            except (av.FFmpegError, OSError) as exc_close:
                if exc_type is None:
                    raise OutputError(f"cannot write {self.name}: {_reason(exc_close)}") from None


def _reason(exc: BaseException) -> str:
    """"No space left on device", not "[Errno 28] No space left on device: '/out/.x.mp4.tmp'"."""
    return getattr(exc, "strerror", None) or str(exc)


def sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
