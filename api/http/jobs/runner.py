"""Runners: where job attempts execute.

- ``LocalRunner``: a thread pool inside the server process (the embedded default).
- ``RQRunner``: RQ on Redis (``KINOSEAL_QUEUE_URL=redis://...``); ``kinoseal worker`` runs them.

Both share the reaper: a thread that re-queues jobs whose lease expired (their worker
died) and sweeps expired uploads. With RQ the job store, not Redis, is the source of
truth: a job the store holds as queued but Redis does not (Redis restarted without its
data, or was down when the job came in) is sent again by the reaper (``reconcile``).
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from kinoseal.api.http.jobs import tasks
from kinoseal.api.http.jobs.shutdown import STATE, HandBack, install_worker_handlers
from kinoseal.api.http.services import Service
from kinoseal.api.http.store.db import Job

if TYPE_CHECKING:
    from redis import Redis
    from rq.job import Job as RQJob

log = logging.getLogger("kinoseal.jobs")


class Runner:
    backend = "base"

    def __init__(self, service: Service) -> None:
        self.service = service
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.requeued = 0
        self.on_finish = None  # callback(job) for metrics

    # subclasses
    def enqueue(self, job_id: str, attempt: int, kind: str = "verify") -> None:
        raise NotImplementedError

    def submit(self, job: Job) -> None:
        self.enqueue(job.id, job.attempt, job.kind)

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Poll the store until the job finishes or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            job = self.service.store.job(job_id)
            if job is None or job.finished or time.monotonic() >= deadline:
                return job
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    async def wait_async(self, job_id: str, timeout: float) -> Job | None:
        """Like ``wait`` but without holding a thread while waiting (sync requests wait here)."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            job = await run_in_threadpool(self.service.store.job, job_id)
            if job is None or job.finished or time.monotonic() >= deadline:
                return job
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def healthy(self) -> bool:
        return True

    # the reaper
    def start(self) -> None:
        self._reaper = threading.Thread(target=self._reap_loop, name="ks-reaper", daemon=True)
        self._reaper.start()

    def stop(self) -> None:
        self._stop.set()

    def reap_once(self) -> int:
        n = 0
        for job in self.service.store.expired_leases(time.time(), self.backend):
            attempt = self.service.store.requeue(job)
            if attempt is not None:
                log.warning("job %s: worker %s stopped (lease expired); queued attempt %d", job.id, job.worker, attempt)
                self.enqueue(job.id, attempt, job.kind)
                n += 1
        self.requeued += n
        return n

    def _reap_loop(self) -> None:
        last_sweep = 0.0
        while not self._stop.wait(self.service.settings.reaper_interval_s):
            try:
                self.reap_once()
                if time.time() - last_sweep > 60:
                    self.service.uploads.sweep()
                    last_sweep = time.time()
            except Exception:  # noqa: BLE001 - keep reaping (database briefly unavailable...)
                log.exception("reaper pass failed")


class LocalRunner(Runner):
    backend = "local"

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.pool = ThreadPoolExecutor(max_workers=max(1, service.settings.pool_size), thread_name_prefix="ks-job")
        # Generation takes minutes: its own single thread, so verification never queues behind it.
        self.gen_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ks-gen")
        self.webhooks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ks-webhook")
        self._events: dict[str, threading.Event] = {}
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}
        self._lock = threading.Lock()

    def _event(self, job_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(job_id, threading.Event())

    def enqueue(self, job_id: str, attempt: int, kind: str = "verify") -> None:
        self._event(job_id)
        pool = self.gen_pool if kind in ("generate", "edit") else self.pool
        pool.submit(self._run, job_id, attempt)

    def _run(self, job_id: str, attempt: int) -> None:
        try:
            outcome = tasks.execute(self.service, job_id, attempt)
            if outcome in ("done", "failed"):
                if self.on_finish:
                    self.on_finish(self.service.store.job(job_id))
                self.webhooks.submit(tasks.notify, self.service, job_id)
        except HandBack:
            pass  # landed outside the job's own handler; the store has the attempt back already
        except Exception:  # noqa: BLE001
            log.exception("job %s: runner error", job_id)
        finally:
            with self._lock:
                ev = self._events.pop(job_id, None)
                waiters = self._waiters.pop(job_id, [])
            if ev:
                ev.set()
            for loop, fut in waiters:
                loop.call_soon_threadsafe(_resolve, fut)

    def wait(self, job_id: str, timeout: float) -> Job | None:
        with self._lock:
            ev = self._events.get(job_id)
        if ev is not None:
            ev.wait(timeout)
        return super().wait(job_id, 0 if ev is not None else timeout)

    async def wait_async(self, job_id: str, timeout: float) -> Job | None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            pending = job_id in self._events
            if pending:
                self._waiters.setdefault(job_id, []).append((loop, fut))
        if not pending:  # finished already, or run by another process: poll the store
            return await super().wait_async(job_id, timeout)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        return await run_in_threadpool(self.service.store.job, job_id)

    def start(self) -> None:
        # Jobs queued by an earlier run of the server: run them (claim() keeps them single).
        for job in self.service.store.jobs(status="queued"):
            if job.backend == "local":
                self.enqueue(job.id, job.attempt, job.kind)
        super().start()

    def stop(self) -> None:
        """Stop taking work, let running jobs finish until the shutdown deadline (the grace
        period from the first SIGTERM), then hand the rest back. Jobs that had not started stay
        queued in the store; the next start of the server runs them."""
        super().stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.gen_pool.shutdown(wait=False, cancel_futures=True)
        state = STATE
        if state.busy():
            until = state.deadline if state.deadline is not None else time.monotonic() + state.grace_s
            log.info("waiting up to %.0f s for %d running job(s)", max(0.0, until - time.monotonic()),
                     len(state.attempts()))
            if not state.wait_idle(until):
                state.hand_back(interrupt=True)
                state.wait_idle(time.monotonic() + 2.0)  # the threads unwind at their next bytecode
        self.webhooks.shutdown(wait=False, cancel_futures=True)


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class RQRunner(Runner):
    backend = "rq"

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(service.settings.queue_url)
        self.queue = Queue(service.settings.queue_name, connection=self.redis)

    def enqueue(self, job_id: str, attempt: int, kind: str = "verify") -> None:
        from redis.exceptions import RedisError

        try:
            self.queue.enqueue(
                "kinoseal.api.http.jobs.tasks.rq_entry", job_id, attempt, job_id=rq_job_id(job_id, attempt),
                job_timeout=3600, result_ttl=3600, failure_ttl=24 * 3600,
            )
        except RedisError as exc:
            # The job is safe in the store as queued; reconcile() sends it once Redis answers again.
            log.warning("job %s: queue unavailable (%s); it stays queued and is sent when Redis is back",
                        job_id, type(exc).__name__)

    def healthy(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001
            return False

    def reap_once(self) -> int:
        return super().reap_once() + self.reconcile()

    def reconcile(self, now: float | None = None) -> int:
        """Send again every job that the store holds as queued and Redis does not hold alive.
        Sending one twice is harmless: only the attempt that claims the job in the store runs it."""
        from redis.exceptions import RedisError
        from rq.job import Job as RQJob

        now = time.time() if now is None else now
        s = self.service.settings
        grace = max(2.0, 2 * s.reaper_interval_s)  # a job being submitted right now is not missing
        pending = [j for j in self.service.store.jobs(status="queued")
                   if j.backend == self.backend and now - j.created_at > grace]
        if not pending:
            return 0
        try:
            held = RQJob.fetch_many([rq_job_id(j.id, j.attempt) for j in pending], connection=self.redis)
            # A job that says "queued" but is not in the queue's list was taken by a worker that never
            # marked it started: Redis was killed between the two, and its append-only file kept the
            # pop. Nobody will run it.
            listed = set(self.queue.get_job_ids()) if any(
                r is not None and r.get_status(refresh=False) == "queued" for r in held) else set()
        except RedisError:
            return 0  # Redis is down: nothing to compare with yet
        n = 0
        for job, rq_job in zip(pending, held):
            if rq_job is not None and _alive(rq_job, now, s.job_lease_s, listed):
                continue
            log.warning("job %s: queued in the store but not in Redis; sending attempt %d again", job.id, job.attempt)
            self.enqueue(job.id, job.attempt, job.kind)
            n += 1
        self.requeued += n
        return n


def rq_job_id(job_id: str, attempt: int) -> str:
    return f"{job_id}-{attempt}"


def _alive(rq_job: RQJob, now: float, lease_s: float, listed: set[str]) -> bool:
    """Will Redis still run this job? Waiting in the queue (``listed``: the queue's job ids): yes.
    Started: only if a worker took it recently (one that died before claiming the job in the store
    left it "started" for good)."""
    status = rq_job.get_status(refresh=False)
    if status == "queued":
        return rq_job.id in listed
    if status in ("deferred", "scheduled"):
        return True
    if status == "started" and rq_job.started_at is not None:
        return now - calendar.timegm(rq_job.started_at.utctimetuple()) < lease_s
    return False


def run_worker(url: str, queue_name: str, *, burst: bool = False, announce: Callable[[str], None] = print,
               requeue: Callable[[str, int, str], None] | None = None, release=None) -> None:
    """An RQ SimpleWorker that outlives Redis restarts and stops gracefully.

    RQ leaves its loop when Redis fails while a job is being finished (and cannot start while
    Redis is down), so this loop starts it again; only a stop request or burst mode ends it.
    Signals are handled here, not by RQ (``shutdown.install_worker_handlers``): the first
    SIGTERM/SIGINT stops taking jobs and lets the running one finish within the grace period;
    the second one, or the end of the grace period, hands the job back (``requeue``/``release``)
    and stops. An idle worker notices within a second, also while Redis is down: it waits for
    jobs (and for Redis) in short steps and checks for a stop request between them."""
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.exceptions import StopRequested

    class GracefulWorker(SimpleWorker):
        def _install_signal_handlers(self) -> None:  # ours stay in place
            pass

        def heartbeat(self, *args, **kwargs):
            # RQ's idle loop beats before every wait (also while it retries a lost Redis):
            # the one place where leaving the loop interrupts nothing.
            if self._polling and STATE.requested:
                raise StopRequested()
            return super().heartbeat(*args, **kwargs)

        def unsubscribe(self) -> None:
            # RQ's unsubscribe waits on the pub/sub connection's lock, which its listener thread
            # can hold for good (seen: 2 of 4 stops hung there, after the job was done). The
            # channel goes with the connection when the process exits: wait a moment, no more.
            t = threading.Thread(target=super().unsubscribe, name="ks-rq-unsubscribe", daemon=True)
            t.start()
            t.join(0.3)

        def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
            self._polling = True
            try:
                while True:
                    step = 1 if timeout is None or timeout > 1 else timeout
                    got = super().dequeue_job_and_maintain_ttl(None if burst else step, max_idle_time=None if burst
                                                              else 1)
                    if got is not None or burst or STATE.requested:
                        return got
            finally:
                self._polling = False

    STATE.requeue, STATE.release = requeue, release
    current: list[SimpleWorker] = []

    def on_first() -> None:
        for w in current:
            w._stop_requested = True  # RQ's flag: leave the loop after the running job

    install_worker_handlers(STATE, on_first)
    conn = Redis.from_url(url)
    try:
        while not STATE.requested:
            _wait_for_redis(conn, STATE)
            if STATE.requested:
                break
            w = GracefulWorker([Queue(queue_name, connection=conn)], connection=conn)
            w._polling = False
            current[:] = [w]
            # An idle RQ worker retries a lost Redis with a doubling wait of up to 60 s; cap it so the
            # queue moves again soon after Redis comes back, and a stop request is seen soon.
            w.max_connection_wait_time = 1.0
            announce(f"kinoseal worker {w.name} on {url} queue {queue_name}")
            try:
                w.work(burst=burst, with_scheduler=False)
            except (StopRequested, HandBack):
                pass
            except Exception as exc:  # noqa: BLE001 - e.g. ConnectionError while registering: go round again
                if not STATE.requested:
                    log.warning("worker %s stopped on %s; restarting", w.name, type(exc).__name__)
            if burst:
                return
            if not STATE.requested:
                log.warning("worker %s lost Redis; reconnecting", w.name)
    except HandBack:
        pass
    finally:
        STATE.cancel_timer()
    log.warning("worker stopped%s", f"; handed back {len(STATE.handed_back)} job(s)" if STATE.handed_back else "")


def _wait_for_redis(conn: Redis, state=None) -> None:
    from redis.exceptions import RedisError

    delay, said = 0.2, False
    while state is None or not state.requested:
        try:
            if conn.ping():
                return
        except RedisError as exc:
            if not said:
                log.warning("waiting for Redis (%s)", exc)
                said = True
        end = time.monotonic() + delay
        while time.monotonic() < end and not (state is not None and state.requested):
            time.sleep(0.05)
        delay = min(delay * 2, 5.0)


def make_runner(service: Service) -> Runner:
    url = service.settings.queue_url
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"KINOSEAL_QUEUE_URL must be a redis:// URL, not {url!r}")
        return RQRunner(service)
    return LocalRunner(service)
