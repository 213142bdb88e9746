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

from tests.service_fixtures import KINOSEAL, ROOT, Server, create_key, start_postgres, start_redis

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


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_workers_on_redis_kill_one_mid_job(home, labeled, run_cli, redis_url, database_url, tmp_path):
    from api.store.db import Store

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
