"""``mediaio.ahead.read_ahead``: labeling decodes and marks on a worker thread while the encoder works."""

from __future__ import annotations

import threading

import pytest

from kinoseal.mediaio.ahead import read_ahead


def _workers() -> list:
    return [t for t in threading.enumerate() if t.name == "kinoseal-read-ahead"]


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
