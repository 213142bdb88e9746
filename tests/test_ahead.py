"""``mediaio.ahead``: labeling a file decodes and marks on a worker thread while the encoder works
(``read_ahead``); labeling a generator's frames makes and marks them on the caller's thread while a
worker encodes (``write_behind``)."""

from __future__ import annotations

import threading

import pytest

from kinoseal.mediaio.ahead import read_ahead, write_behind


def _workers() -> list:
    return [t for t in threading.enumerate() if t.name in ("kinoseal-read-ahead", "kinoseal-write-behind")]


def test_items_come_in_order_and_all_of_them():
    assert list(read_ahead(range(1000), depth=3)) == list(range(1000))
    assert list(read_ahead([])) == []
    assert not _workers()


def test_the_workers_error_reaches_the_consumer_after_the_items_before_it():
    def source():
        yield from range(3)
        raise ValueError("the decoder failed at frame 3")

    got = []
    with pytest.raises(ValueError, match="frame 3"):
        for x in read_ahead(source()):
            got.append(x)
    assert got == [0, 1, 2] and not _workers()


def test_a_consumer_that_stops_early_stops_the_worker_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = read_ahead(source(), depth=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()
    assert closed.is_set() and not _workers()


def test_a_decode_that_fails_half_way_leaves_no_labeled_file(settings, ai_source, tmp_path, monkeypatch):
    """The decode runs on the worker: its error must still stop the label, with nothing written,
    not end the clip early as if the file stopped there."""
    import kinoseal.label.labeler as labeler_mod
    from kinoseal.errors import InputError
    from kinoseal.label import GeneratorInfo, Labeler

    real = labeler_mod.iter_frames

    def failing(src, limits=None):
        for i, f in enumerate(real(src, limits)):
            if i == 10:
                raise InputError(f"{src.name}: the video stream is corrupt at frame 10")
            yield f

    monkeypatch.setattr(labeler_mod, "iter_frames", failing)
    dst = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="corrupt at frame 10"):
        Labeler.from_settings(settings).label_file(ai_source, dst, GeneratorInfo("test", "1"))
    assert list(tmp_path.iterdir()) == [] and not _workers()


def test_write_behind_consumes_every_item_in_order_on_another_thread():
    got, threads = [], set()

    def consume(x):
        got.append(x)
        threads.add(threading.get_ident())

    assert write_behind(range(1000), consume, depth=3) == 1000
    assert got == list(range(1000)) and threading.get_ident() not in threads and not _workers()
    assert write_behind([], consume) == 0 and not _workers()


def test_write_behind_raises_the_consumers_error_and_stops_making_items():
    made = []

    closed = threading.Event()

    def items():
        try:
            for i in range(10_000):
                made.append(i)
                yield i
        finally:
            closed.set()

    def consume(x):
        if x == 5:
            raise OSError("No space left on device")

    gen = items()  # held here, so only write_behind's own close can run its clean-up
    with pytest.raises(OSError, match="No space left"):
        write_behind(gen, consume, depth=2)
    # the maker stopped within a few items of the failure, and its clean-up ran
    assert len(made) < 100 and closed.is_set() and not _workers()


def test_write_behind_raises_the_items_error_once_the_worker_has_stopped():
    """A generator that fails half way: its error reaches the caller after the worker has stopped
    (items still queued may be dropped: the caller discards the whole output)."""
    got = []

    def items():
        yield from range(20)
        raise ValueError("the model ran out of memory at frame 20")

    with pytest.raises(ValueError, match="frame 20"):
        write_behind(items(), got.append, depth=4)
    assert got == list(range(len(got))) and len(got) <= 20 and not _workers()


def test_a_generator_that_fails_half_way_leaves_no_labeled_file(settings, tmp_path):
    """``label_frames`` encodes on a worker while the caller's iterator runs here: the iterator's
    error still stops the label with nothing written, and its frames were made on this thread."""
    import numpy as np

    from kinoseal.label import GeneratorInfo, Labeler

    makers = set()

    def frames():
        for i in range(30):
            makers.add(threading.get_ident())
            if i == 12:
                raise RuntimeError("the model failed at frame 12")
            yield np.full((64, 96, 3), 40 + 5 * i, np.uint8)

    dst = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="frame 12"):
        Labeler.from_settings(settings).label_frames(frames(), dst, fps=8, generator=GeneratorInfo("test", "1"))
    assert list(tmp_path.iterdir()) == [] and not _workers() and makers == {threading.get_ident()}
