"""Run an iterator on a worker thread a few items ahead of its consumer (``read_ahead``), or
consume items on a worker thread a few items behind the thread that makes them (``write_behind``).

Labeling a file decodes a frame, marks it and hands it to libx264, whose threads then
encode while the next frame is decoded and marked; run in turn on one thread, the
decode and the mark wait for the encoder's hand-off and the encoder's threads wait for
them. With the decode and the mark on a worker thread the three overlap (measured in
``bench/results/core_speed.md``).

The worker's error is raised in the consumer, at the item where it happened, so a
decode that fails half way never looks like a clip that ended there; and a consumer
that stops early (an encoder error, a closed generator) stops the worker.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


def read_ahead(items: Iterable[T], depth: int = 4, name: str = "kinoseal-read-ahead") -> Iterator[T]:
    """Yield ``items`` in order, produced on a worker thread at most ``depth`` items ahead."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    it = iter(items)

    def run() -> None:
        try:
            for x in it:
                if not put(x):
                    break
            else:
                put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer below
            failure.append(exc)
            put(_END)
        finally:
            close = getattr(it, "close", None)
            if close is not None:  # a generator's own clean-up (an open container) runs now, here
                close()

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while (x := q.get()) is not _END:
            yield x
        if failure:
            raise failure[0]
    finally:
        stop.set()
        worker.join()


def write_behind(items: Iterable[T], consume: Callable[[T], None], depth: int = 4,
                 name: str = "kinoseal-write-behind") -> int:
    """``for x in items: consume(x)``, with ``consume`` on a worker thread at most ``depth`` items behind;
    the items are made on the calling thread. Returns how many were consumed.

    For a caller's own iterator (a generator model's frames: its state may belong to the calling
    thread), the reverse of ``read_ahead``: the frames are made, converted and marked here while the
    worker hands the previous ones to the encoder. The worker's error is raised here and stops the
    items at the next one; an error of the items is raised after the worker has stopped, with the
    items still queued dropped, so nothing is consumed after it.
    """
    q: queue.Queue = queue.Queue(depth)
    failure: list[BaseException] = []
    count = 0

    def run() -> None:
        nonlocal count
        while (x := q.get()) is not _END:
            if failure:
                continue  # drained, so that the maker never waits on a full queue
            try:
                consume(x)
                count += 1
            except BaseException as exc:  # noqa: BLE001 - raised in the calling thread below
                failure.append(exc)

    def put(x) -> None:
        while True:
            try:
                q.put(x, timeout=0.1)
                return
            except queue.Full:
                if not worker.is_alive():
                    return

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    it = iter(items)
    try:
        for x in it:
            if failure:
                close = getattr(it, "close", None)
                if close is not None:  # a generator's own clean-up (an open container) runs now
                    close()
                break
            put(x)
    except BaseException as exc:
        failure.append(exc)  # the items failed: the worker drops what is still queued
        put(_END)
        worker.join()
        raise
    put(_END)
    worker.join()
    if failure:
        raise failure[0]
    return count


__all__ = ["read_ahead", "write_behind"]
