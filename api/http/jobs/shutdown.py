"""Graceful shutdown of ``kinoseal worker`` and ``kinoseal serve``.

Orchestrators stop a service with SIGTERM and, a grace period later, SIGKILL. So:

- the first SIGTERM/SIGINT stops taking work; the job being run may finish within the
  grace period (``KINOSEAL_SHUTDOWN_GRACE_S``, default 20 s: under the 30 s Kubernetes
  and 90 s systemd defaults, so the hand-back happens before the SIGKILL);
- at the end of the grace period, or on a second signal, every job this process runs is
  handed back: the store moves it to the next attempt (``Store.release``, which does not
  use up an attempt) and the queue gets it again; the thread running it is interrupted
  (``HandBack``) and its late ``finish`` cannot complete the job (the attempt moved on);
- the process then exits 0.

A job attempt registers itself here (``running``) while ``tasks.execute`` runs it, so the
hand-back knows what to release. Nothing here waits on Redis: a worker whose Redis is down
stops on the first signal.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

log = logging.getLogger("kinoseal.shutdown")

DEFAULT_GRACE_S = 20.0


class HandBack(BaseException):
    """Raised inside a job's thread when its attempt is handed back (not an error of the job).
    A BaseException so that no ``except Exception`` in the verifier swallows it."""


@dataclass
class _Attempt:
    job_id: str
    attempt: int
    kind: str
    thread_id: int


@dataclass
class Shutdown:
    """Process-wide shutdown state (one per process: ``STATE``)."""

    grace_s: float = DEFAULT_GRACE_S
    requested: bool = False
    forced: bool = False
    deadline: float | None = None
    # Called with (job_id, attempt, kind) when a handed-back job needs sending again (the RQ queue).
    requeue: Callable[[str, int, str], None] | None = None
    # Releases one attempt in the store; returns the new attempt (None: finished or moved on).
    release: Callable[[str, int], int | None] | None = None
    _running: dict[tuple[str, int], _Attempt] = field(default_factory=dict)
    # Re-entrant: the signal handler runs in the main thread, maybe while that thread holds it.
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _timer: threading.Timer | None = None
    handed_back: list[tuple[str, int]] = field(default_factory=list)
    handed_back_attempts: list[_Attempt] = field(default_factory=list)

    # -- jobs register here while they run -----------------------------------------
    @contextmanager
    def running(self, job_id: str, attempt: int, kind: str) -> Iterator[_Attempt]:
        a = _Attempt(job_id, attempt, kind, threading.get_ident())
        with self._lock:
            self._running[(job_id, attempt)] = a
        try:
            yield a
        finally:
            with self._lock:
                self._running.pop((job_id, attempt), None)

    def attempts(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._running)

    def busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def wait_idle(self, until: float) -> bool:
        """Wait until no job runs here or ``until`` (monotonic) passes; True when idle."""
        while self.busy() and time.monotonic() < until:
            time.sleep(0.05)
        return not self.busy()

    # -- the signals ------------------------------------------------------------------
    def request(self, reason: str) -> bool:
        """The first stop request: start the grace period. False if one was made already."""
        with self._lock:
            if self.requested:
                return False
            self.requested = True
            self.deadline = time.monotonic() + self.grace_s
        log.warning("%s: stopping; no new jobs, %s", reason,
                    f"the running job may finish within {self.grace_s:g} s" if self.busy() else "no job running")
        self._timer = threading.Timer(self.grace_s, self._grace_over)
        self._timer.daemon = True
        self._timer.start()
        return True

    def _grace_over(self) -> None:
        if self.busy() and not self.forced:
            log.warning("grace period of %g s over", self.grace_s)
            self.hand_back(interrupt=True)

    def hand_back(self, *, interrupt: bool) -> int:
        """Give every running attempt back to the queue; interrupt its thread (``HandBack``)
        unless it is the calling thread (which raises it itself). Returns how many were
        interrupted (``handed_back_attempts``)."""
        self.forced = True
        with self._lock:
            attempts = list(self._running.values())
        me = threading.get_ident()
        interrupted: list[_Attempt] = []
        for a in attempts:
            new, stop_it = None, True
            if self.release is not None:
                try:
                    new = self.release(a.job_id, a.attempt)
                    # None: the attempt finished (or was handed back) meanwhile; its thread is in
                    # bookkeeping now, or unwinding already, and must not be interrupted there.
                    stop_it = new is not None
                except Exception:  # noqa: BLE001 - the store is down: the lease runs out, the reaper re-queues it
                    log.exception("job %s: could not hand back attempt %d; its lease will expire", a.job_id, a.attempt)
            if stop_it:
                interrupted.append(a)
            if new is not None:
                self.handed_back.append((a.job_id, new))
                log.warning("job %s: handed back; attempt %d is queued for another worker", a.job_id, new)
                if self.requeue is not None:
                    try:
                        self.requeue(a.job_id, new, a.kind)
                    except Exception:  # noqa: BLE001 - the store holds it as queued; reconcile sends it later
                        log.warning("job %s: queue unavailable; attempt %d stays queued in the store", a.job_id, new)
            if interrupt and stop_it and a.thread_id != me:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(a.thread_id), ctypes.py_object(HandBack))
        self.handed_back_attempts = interrupted
        return len(interrupted)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


STATE = Shutdown()


def install_worker_handlers(state: Shutdown, on_first: Callable[[], None]) -> None:
    """SIGTERM/SIGINT for a worker whose jobs run in the main thread (RQ SimpleWorker).
    First signal: stop taking work (``on_first``; the worker's loop polls ``state.requested``
    and ends when idle). Second signal (or the grace timer): hand the job back and stop.
    Nothing is raised into library code except ``HandBack`` into the job itself, so no lock of
    Redis' client or the database is left held by an interrupted call."""

    def handler(signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if state.request(name):
            on_first()
            return
        log.warning("%s again: handing the running job back and exiting", name)
        me = threading.get_ident()
        mine = state.hand_back(interrupt=True) and any(a.thread_id == me for a in state.handed_back_attempts)
        if mine:
            raise HandBack()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
