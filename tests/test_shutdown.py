"""Graceful shutdown with real processes and real signals (issue 25).

(An idle `kinoseal serve` stopping with status 0 on SIGTERM is checked at the end of
tests/test_secure_defaults.py, whose servers are up anyway.)

`kinoseal worker` on a real Redis, and `kinoseal serve`: SIGTERM when idle, when busy (the
job finishes within the grace period, or is handed back when the grace period ends), a
second SIGTERM (hand back, exit at once), and SIGTERM to a worker whose Redis is down.
Every case: exit status 0, and no job lost or completed twice. The jobs here fail fast
after the debug delay (their upload does not exist), so a test takes seconds: what is
tested is the life cycle of an attempt, not verification.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testkit.service import KINOSEAL, ROOT, Server, start_redis
from testkit.service import wait_for as _wait

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


def _exit_within(proc: subprocess.Popen, seconds: float, log: Path) -> float:
    """Seconds the process took to exit; fails (and kills it) past ``seconds`` or on a non-zero status."""
    t0 = time.monotonic()
    try:
        rc = proc.wait(seconds)
        print(f"[shutdown] {log.stem}: exit {rc} {time.monotonic() - t0:.2f} s after the wait began")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        raise AssertionError(f"still running {seconds} s after SIGTERM:\n{log.read_text()[-3000:]}") from None
    assert rc == 0, f"exit status {rc}:\n{log.read_text()[-3000:]}"
    return time.monotonic() - t0


class Worker:
    def __init__(self, tmp: Path, env: dict[str, str], name: str = "worker", grace: float | None = None) -> None:
        self.log_path = tmp / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        args = [str(KINOSEAL), "worker"] + (["--grace", str(grace)] if grace is not None else [])
        self.proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        os.kill(self.proc.pid, sig)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._log.close()


@pytest.fixture()
def queue_env(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    proc, url = start_redis(tmp_path)
    home = tmp_path / "home"
    env = {"KINOSEAL_HOME": str(home), "KINOSEAL_QUEUE_URL": url,
           "KINOSEAL_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.sqlite3'}", "KINOSEAL_JOB_LEASE_S": "30",
           "KINOSEAL_REAPER_INTERVAL_S": "0.5"}
    yield env, proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _submit(env: dict[str, str], n: int = 1) -> list[str]:
    """Jobs straight into the store and the queue (what the API does on POST /v1/verify)."""
    from kinoseal.api.http.config import ServiceSettings
    from kinoseal.api.http.jobs.runner import RQRunner
    from kinoseal.api.http.services import Service
    from kinoseal.config import Settings

    settings = ServiceSettings(core=Settings(home=Path(env["KINOSEAL_HOME"])), queue_url=env["KINOSEAL_QUEUE_URL"],
                               database_url=env["KINOSEAL_DATABASE_URL"])
    service = Service(settings)
    runner = RQRunner(service)
    ids = []
    for _ in range(n):
        job = service.store.create_job(tenant="t", kind="verify", params={}, upload_id="0" * 32,
                                       filename="gone.mp4", backend="rq")
        runner.submit(job)
        ids.append(job.id)
    service.close()
    return ids


def _store(env):
    from kinoseal.api.http.store.db import Store

    return Store(env["KINOSEAL_DATABASE_URL"])


def _started(w: Worker) -> None:
    _wait(lambda: "kinoseal worker" in w.log(), 60, f"the worker to start:\n{w.log()}")


@needs_redis
def test_worker_with_redis_down_ends_on_sigterm(queue_env, tmp_path):
    """Redis dies under an idle worker, which keeps reconnecting: one SIGTERM ends it, status 0."""
    env, redis = queue_env
    w = Worker(tmp_path, env)
    try:
        _started(w)
        os.killpg(redis.pid, signal.SIGKILL)
        redis.wait(5)
        _wait(lambda: "could not connect to Redis" in w.log() or "waiting for Redis" in w.log(), 30,
              "the worker to notice")
        w.signal()
        _exit_within(w.proc, 5, w.log_path)
    finally:
        w.close()


@needs_redis
def test_worker_busy_finishes_the_job_within_grace_and_takes_no_more(queue_env, tmp_path):
    env, _ = queue_env
    env = {**env, "KINOSEAL_DEBUG_JOB_DELAY_S": "2"}
    store = _store(env)
    w = Worker(tmp_path, env, grace=20)
    try:
        _started(w)
        first, second = _submit(env, 2)
        _wait(lambda: store.job(first).status == "running", 30, "the job to start")
        w.signal()
        took = _exit_within(w.proc, 15, w.log_path)
        assert took < 10
        j1, j2 = store.job(first), store.job(second)
        assert j1.finished and j1.completions == 1 and j1.attempt == 1, (j1.status, j1.completions, j1.attempt)
        assert j2.status == "queued" and j2.attempt == 1, "a stopping worker took another job"
    finally:
        w.close()
        store.dispose()


@needs_redis
def test_worker_hands_the_job_back_at_end_of_grace_and_on_second_signal(queue_env, tmp_path):
    """A job longer than the grace period is handed back when the grace period ends (exit 0 after
    ~grace); the next worker takes the handed-back attempt from Redis and gets a second SIGTERM:
    it hands the job back at once. A third worker completes the job, exactly once."""
    env, _ = queue_env
    slow = {**env, "KINOSEAL_DEBUG_JOB_DELAY_S": "60"}
    store = _store(env)
    workers: list[Worker] = []
    try:
        (job_id,) = _submit(env)
        for attempt, how in ((1, "grace"), (2, "second-signal")):
            w = Worker(tmp_path, slow, f"slow-{how}", grace=1.5 if how == "grace" else 30)
            workers.append(w)
            _wait(lambda: (j := store.job(job_id)).status == "running" and j.attempt == attempt, 60,
                  f"attempt {attempt} to start")
            t0 = time.monotonic()
            w.signal()
            if how == "second-signal":
                time.sleep(0.3)
                w.signal()
            _exit_within(w.proc, 10, w.log_path)
            took = time.monotonic() - t0
            assert took < (5 if how == "grace" else 3), took
            if how == "grace":
                assert took >= 1.4, f"handed back before the grace period ended ({took:.1f} s)"
            j = store.job(job_id)
            assert j.status == "queued" and j.attempt == attempt + 1 and j.completions == 0, (j.status, j.attempt)
            assert "handed back" in w.log()
        fast = Worker(tmp_path, {**env, "KINOSEAL_DEBUG_JOB_DELAY_S": "0"}, "fast")
        workers.append(fast)
        done = _wait(lambda: (j := store.job(job_id)).finished and j, 60, "the job to finish")
        assert (done.completions, done.attempt) == (1, 3) and str(fast.proc.pid) in done.worker
        fast.signal()  # idle now: it stops within about a second
        assert _exit_within(fast.proc, 5, fast.log_path) < 5
        assert "SIGTERM: stopping; no new jobs, no job running" in fast.log()
    finally:
        for w in workers:
            w.close()
        store.dispose()


# -- kinoseal serve (in-process job pool) ----------------------------------------------------
def _serve(tmp: Path, name: str, env: dict[str, str], *args: str) -> Server:
    return Server(tmp / "serve-home", tmp / f"{name}.log", env={"KINOSEAL_CLASSIFIER": "none", **env},
                  args=("--public-verify", *args))


def test_serve_hands_back_running_job(ai_source, tmp_path):
    """Grace period over (1.5 s) with a job that takes 60 s: the job goes back to the queue and the
    server exits 0; a second SIGTERM hands back at once. (The next start of the server runs the
    queued jobs, as after any restart; test_worker_hands_the_job_back... shows a handed-back
    attempt completing exactly once.)"""
    from kinoseal.api.http.store.db import Store

    (tmp_path / "serve-home").mkdir()
    store = Store(f"sqlite:///{tmp_path / 'serve-home' / 'service.sqlite3'}")
    job_ids = []
    try:
        for how in ("grace", "second-signal"):
            srv = _serve(tmp_path, f"slow-{how}", {"KINOSEAL_DEBUG_JOB_DELAY_S": "60"},
                         "--grace", "1.5" if how == "grace" else "30")
            try:
                with srv.client() as c, open(ai_source, "rb") as fh:
                    r = c.post("/v1/verify", params={"async": "true"}, files={"file": ("a.mp4", fh, "video/mp4")})
                assert r.status_code == 202, r.text
                job_id = r.json()["job_id"]
                job_ids.append(job_id)
                _wait(lambda: store.job(job_id).status == "running", 30, "the job to start")
                t0 = time.monotonic()
                os.kill(srv.proc.pid, signal.SIGTERM)
                if how == "second-signal":
                    time.sleep(0.3)
                    os.kill(srv.proc.pid, signal.SIGTERM)
                _exit_within(srv.proc, 15, srv.log_path)
                took = time.monotonic() - t0
                assert took < (6 if how == "grace" else 3), (how, took)
                j = store.job(job_id)
                assert j.status == "queued" and j.attempt == 2 and j.completions == 0, (how, j.status, j.attempt)
                assert "handed back" in srv.log()
            finally:
                srv.stop()
    finally:
        store.dispose()
