"""A second core for the watermark's search, where the caller allows it.

After the verifier's decode, the watermark's geometry search (folds, scale sweep, pilot
correlations, the bound test) ran on one core while the other idled once the classifier was
scored. Its pieces are independent (one fold per candidate geometry, one vote per frame), and
numpy's transforms and array arithmetic release the GIL, so two threads share them.

``map_ordered`` returns results in input order and each item is computed exactly as the serial
loop computes it, so the results are bit-identical with one thread or two; only the caller's
``threads(2)`` scope turns the pool on (the verifier's default; not for a clip kept on one
thread, ``KINOSEAL_DECODE_THREADS=1``, where a pool of workers already fills the cores).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_THREADS: contextvars.ContextVar[int] = contextvars.ContextVar("kinoseal_watermark_threads", default=1)
_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()
# The machines this targets have two cores; the calling thread works too, so one helper.
HELPERS = 1


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(HELPERS, thread_name_prefix="kinoseal-watermark")
        return _POOL


def _forget_pool() -> None:
    # A forked child (an RQ worker) inherits the pool object but not its thread.
    global _POOL, _LOCK
    _POOL, _LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork
    os.register_at_fork(after_in_child=_forget_pool)


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Within this scope (this thread only), ``map_ordered`` may use ``n`` threads."""
    token = _THREADS.set(max(1, int(n)))
    try:
        yield
    finally:
        _THREADS.reset(token)


def map_ordered(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]``, the first half of the items on the calling thread and the
    second on the helper when the scope allows two threads. A helper busy with another clip
    leaves the second half to the calling thread too. The helper's own calls run serially (the
    context does not follow them there), so nested calls cannot wait on each other."""
    items = list(items)
    if _THREADS.get() < 2 or len(items) < 2:
        return [fn(x) for x in items]
    half = (len(items) + 1) // 2
    later = _pool().submit(lambda: [fn(x) for x in items[half:]])
    try:
        first = [fn(x) for x in items[:half]]
    except BaseException:
        if not later.cancel():
            futures.wait([later])  # no work of this call left running after it returns
        raise
    if later.cancel():  # the helper is busy with another clip's search: do it here
        return first + [fn(x) for x in items[half:]]
    return first + later.result()


__all__ = ["HELPERS", "map_ordered", "threads"]
