"""Scale-out: the same job tasks on RQ workers with a real Redis broker.

The test starts its own redis-server, an API server that only queues, and N=2
`kinoseal worker` processes; it kills a worker in the middle of a job and checks
that the job is retried by the other worker and completes exactly once, with
nothing lost. It runs once with the job store on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from testkit.service import KINOSEAL, ROOT, Server, create_key, start_postgres, start_redis
from testkit.service import wait_for as _wait

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
N_JOBS = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('queue-db') / 'jobs.sqlite3'}"
        return
    started = start_postgres()
    if started is None:
        pytest.skip("PostgreSQL is not installed")
    stop, url = started
    yield url
    stop()


@pytest.fixture()
def redis_url(tmp_path):
    proc, url = start_redis(tmp_path)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)


def _worker(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([str(KINOSEAL), "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_workers_on_redis_kill_one_mid_job(home, labeled, run_cli, redis_url, database_url, tmp_path):
    from kinoseal.api.http.store.db import Store

    env_extra = {
        "KINOSEAL_QUEUE_URL": redis_url, "KINOSEAL_DATABASE_URL": database_url,
        "KINOSEAL_JOB_LEASE_S": "5", "KINOSEAL_REAPER_INTERVAL_S": "0.5", "KINOSEAL_DEBUG_JOB_DELAY_S": "3",
    }
    env = {**os.environ, "KINOSEAL_HOME": str(home), **env_extra}
    server = Server(home, tmp_path / "server.log", env=env_extra, args=("--no-public-verify",))
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]  # noqa: SIM115
    workers = [_worker(env, logs[i]) for i in range(2)]
    store = Store(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        key = create_key(run_cli, "queue-tenant", "verify", "--rate", "100000", env=env_extra)
        with server.client(key) as c:
            assert c.get("/healthz").json()["queue"] == "rq"
            job_ids = []
            for _ in range(N_JOBS):
                with open(labeled, "rb") as fh:
                    r = c.post("/v1/verify", params={"async": "true"}, files={"file": (labeled.name, fh, "video/mp4")})
                assert r.status_code == 202, r.text
                job_ids.append(r.json()["job_id"])

            # the jobs spread: both workers run one at the same time; kill one of them mid-job
            def two_running():
                run = [j for j in (store.job(i) for i in job_ids) if j.status == "running"]
                return run if len({j.worker for j in run}) == 2 else None

            running = _wait(two_running, 60, "both workers running a job")
            victim_job = running[0]
            victim_pid = int(victim_job.worker.split(":")[1])
            victim = next(w for w in workers if w.pid == victim_pid)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(10)

            def all_finished():
                jobs = [store.job(i) for i in job_ids]
                return jobs if all(j.finished for j in jobs) else None

            jobs = _wait(all_finished, 180, "all jobs to finish")
            assert [j.status for j in jobs] == ["done"] * N_JOBS, [(j.id, j.status, j.error) for j in jobs]
            assert all(j.completions == 1 for j in jobs), [(j.id, j.completions) for j in jobs]
            assert all(j.result["verdict"] == "ai_generated" for j in jobs)
            retried = store.job(victim_job.id)
            assert retried.attempt >= 2 and str(victim_pid) not in retried.worker
            # the survivor finished the rest (and the victim's job)
            pids = {int(j.worker.split(":")[1]) for j in jobs}
            assert pids == {next(w.pid for w in workers if w is not victim)}
            # the API answers the same through the queue, synchronously for small clips
            for jid in job_ids:
                assert c.get(f"/v1/jobs/{jid}").json()["status"] == "done"
            with open(labeled, "rb") as fh:
                r = c.post("/v1/verify", files={"file": (labeled.name, fh, "video/mp4")})
            assert r.status_code == 200 and r.json()["verdict"] == "ai_generated"
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                try:
                    w.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(w.pid, signal.SIGKILL)
        for f in logs:
            f.close()
        server.stop()
        store.dispose()


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.mark.parametrize("persistence", ["appendonly", "none"])
def test_redis_restarted_during_load(home, labeled, run_cli, tmp_path, persistence):
    """kill -9 Redis while jobs run and wait, keep submitting while it is down, start it again on
    the same port. With the append-only file (as deploy/docker-compose.yml runs Redis) the queue
    survives, up to its last second; without persistence it is empty after the restart. Either
    way: no job is lost or done twice, the workers stay up, the API answers while Redis is down
    (the job store accepts jobs) and gives no 5xx once /healthz is ok again."""
    from kinoseal.api.http.store.db import Store

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis, url = start_redis(redis_dir, appendonly=persistence == "appendonly")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    db = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    env_extra = {"KINOSEAL_QUEUE_URL": url, "KINOSEAL_DATABASE_URL": db, "KINOSEAL_JOB_LEASE_S": "5",
                 "KINOSEAL_REAPER_INTERVAL_S": "0.5", "KINOSEAL_DEBUG_JOB_DELAY_S": "1"}
    env = {**os.environ, "KINOSEAL_HOME": str(home), **env_extra}
    server = Server(home, tmp_path / "server.log", env=env_extra, args=("--no-public-verify",))
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]  # noqa: SIM115
    workers = [_worker(env, logs[i]) for i in range(2)]
    store = Store(db)
    job_ids: list[str] = []

    def submit(c) -> int:
        with open(labeled, "rb") as fh:
            r = c.post("/v1/verify", params={"async": "true"}, files={"file": (labeled.name, fh, "video/mp4")})
        if r.status_code == 202:
            job_ids.append(r.json()["job_id"])
        return r.status_code

    try:
        key = create_key(run_cli, "restart-tenant", "verify", "--rate", "100000", env=env_extra)
        with server.client(key) as c:
            assert [submit(c) for _ in range(6)] == [202] * 6
            _wait(lambda: any(j.status == "running" for j in map(store.job, job_ids)), 60, "a job to start")
            os.killpg(redis.pid, signal.SIGKILL)
            redis.wait(10)
            at_kill = list(map(store.job, job_ids))
            running = [j.id for j in at_kill if j.status == "running"]
            assert running and any(j.status == "queued" for j in at_kill), "the kill must catch running and waiting jobs"

            # Redis is down: health says so, new jobs are still taken (the store holds them)
            h = c.get("/healthz")
            assert h.status_code == 503 and h.json()["queue_ok"] is False, h.text
            assert [submit(c) for _ in range(2)] == [202, 202]
            # Give the running jobs time to finish while Redis is down (RQ cannot record that: its worker
            # loop ends). Alone they do (93 s for both modes); in full-suite runs on a loaded 2-core VM
            # they did not within 180 s, so this is not asserted here: the checks after recovery (every
            # job done exactly once, no worker exited) are the invariant.
            deadline = time.time() + 30
            while time.time() < deadline and not all(store.job(i).finished for i in running):
                time.sleep(0.5)

            redis, url2 = start_redis(redis_dir, port=port, appendonly=persistence == "appendonly")
            assert url2 == url
            _wait(lambda: c.get("/healthz").status_code == 200, 30, "/healthz to be ok again")

            # after recovery: more jobs, a synchronous verify, polling; nothing may be a 5xx
            statuses = [submit(c) for _ in range(2)]
            with open(labeled, "rb") as fh:
                r = c.post("/v1/verify", files={"file": (labeled.name, fh, "video/mp4")})
            statuses.append(r.status_code)
            assert r.status_code == 200 and r.json()["verdict"] == "ai_generated", r.text

            def all_finished():
                jobs = [store.job(i) for i in job_ids]
                statuses.extend(c.get(f"/v1/jobs/{i}").status_code for i in job_ids[:3])
                return jobs if all(j.finished for j in jobs) else None

            # 90 s was enough alone but not once in a full-suite run on the loaded 2-core VM (2026-12-06)
            jobs = _wait(all_finished, 180, "every job to finish")
            statuses.append(c.get("/healthz").status_code)
        assert len(job_ids) == 10
        assert [j.status for j in jobs] == ["done"] * 10, [(j.id, j.status, j.error) for j in jobs]
        assert all(j.completions == 1 for j in jobs), [(j.id, j.completions) for j in jobs]
        assert all(j.result["verdict"] == "ai_generated" for j in jobs)
        assert all(s < 500 for s in statuses), statuses
        assert all(w.poll() is None for w in workers), "a worker exited when Redis went away"
    finally:
        for w in workers:
            _stop(w)
        for f in logs:
            f.close()
        server.stop()
        store.dispose()
        _stop(redis)


def test_reconcile_resends_a_job_popped_by_a_worker_that_never_started_it(tmp_path):
    """A worker pops the job's id from the queue, then Redis dies before the worker marks it started; the
    append-only file keeps the pop. The RQ job still says "queued" but is in no list: the reconciler sends
    it again (a full-suite run lost one job of ten this way). A job still waiting in the list is left alone."""
    from pathlib import Path

    from kinoseal.api.http.config import ServiceSettings
    from kinoseal.api.http.jobs.runner import RQRunner, rq_job_id
    from kinoseal.api.http.services import Service
    from kinoseal.config import Settings

    proc, url = start_redis(tmp_path)
    settings = ServiceSettings(core=Settings(home=Path(tmp_path / "home")), queue_url=url,
                               database_url=f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    service = Service(settings)
    try:
        runner = RQRunner(service)
        jobs = [service.store.create_job(tenant="t", kind="verify", params={}, upload_id="0" * 32,
                                         filename="x.mp4", backend="rq") for _ in range(2)]
        for job in jobs:
            runner.submit(job)
        later = max(j.created_at for j in jobs) + 60
        assert runner.reconcile(now=later) == 0  # both wait in the list
        popped = rq_job_id(jobs[0].id, jobs[0].attempt)
        assert runner.redis.lrem(runner.queue.key, 0, popped) == 1  # what the dead worker's pop left
        assert runner.reconcile(now=later) == 1
        assert popped in runner.queue.get_job_ids()
        assert runner.queue.get_job_ids().count(rq_job_id(jobs[1].id, jobs[1].attempt)) == 1
    finally:
        service.close()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
