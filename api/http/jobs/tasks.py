"""The job tasks. The same ``execute`` runs in the in-process pool and in RQ workers.

A task claims its job for one attempt (a conditional update), renews a lease while it
runs, and finishes it with another conditional update: a worker that dies leaves an
expired lease, the reaper queues attempt + 1, and only the attempt that holds the job
can complete it, so every job completes exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from kinoseal.api.http.jobs.shutdown import STATE, HandBack
from kinoseal.api.http.services import Service, error_dict
from kinoseal.api.http.store.db import Job
from kinoseal.errors import InputError, KinosealError

log = logging.getLogger("kinoseal.jobs")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def _heartbeat(service: Service, job_id: str, attempt: int, stop: threading.Event) -> None:
    lease = service.settings.job_lease_s
    while not stop.wait(max(0.2, lease / 3)):
        if not service.store.renew(job_id, attempt, lease):
            return


def _debug_delay(seconds: float) -> None:
    # Small steps: a hand-back (an asynchronous exception) lands between two of them.
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.05, left))


def _run(service: Service, job: Job) -> tuple[Any, str | None]:
    from kinoseal.api.http.jobs import generation

    s = service.settings
    if job.kind == "verify":
        if not job.upload_id or service.uploads.get(job.upload_id) is None:
            raise InputError("the uploaded file of this job is no longer available")
        records = [service.uploads.get(i) for i in (job.params or {}).get("fragments") or []]
        if any(r is None for r in records):
            raise InputError("a fragment of this job is no longer available")
        report = service.verify_path(service.uploads.path(job.upload_id), job.tenant, job.filename,
                                     fragments=[service.uploads.path(r.id) for r in records] or None)
        # The fragments were stored under upload ids: name them as the client did.
        for check, rec in zip((report.get("c2pa") or {}).get("fragments") or [], records):
            check["file"] = rec.filename
        return report, None
    if job.kind in ("generate", "edit"):
        dst = s.results_dir / f"{job.id}.mp4"
        if job.kind == "generate":
            result = generation.generate(s.verify_settings, job.params, dst, s.generator_model_dir)
        else:
            if not job.upload_id or service.uploads.get(job.upload_id) is None:
                raise InputError("the source clip of this edit is no longer available")
            result = generation.edit(s.verify_settings, service.uploads.path(job.upload_id), job.params, dst,
                                     s.generator_model_dir)
        if not dst.exists():
            raise KinosealError("the generator did not produce a clip")
        result = {k: v for k, v in result.items() if k != "path"}
        return result, str(dst)
    raise InputError(f"unknown job kind {job.kind!r}")


def execute(service: Service, job_id: str, attempt: int, worker: str | None = None) -> str:
    """Run one attempt of a job. Returns "done", "failed", "skipped" (not ours), "lost" or
    "handed_back" (the process stopped; the next attempt is queued)."""
    s = service.settings
    worker = worker or worker_name()
    # Registered before the claim: a stop request that lands between the two still sees a busy
    # worker (which then finishes or hands back this attempt) instead of an idle one.
    with STATE.running(job_id, attempt, "verify") as current:
        if not service.store.claim(job_id, attempt, worker, s.job_lease_s):
            return "skipped"
        job = service.store.job(job_id)
        assert job is not None
        current.kind = job.kind
        return _execute(service, job, attempt, worker)


def _execute(service: Service, job: Job, attempt: int, worker: str) -> str:
    s, job_id = service.settings, job.id
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(service, job_id, attempt, stop), daemon=True).start()
    result: Any = None
    error: dict[str, Any] | None = None
    result_path: str | None = None
    t0 = time.perf_counter()
    try:
        if s.debug_job_delay_s:
            _debug_delay(s.debug_job_delay_s)
        result, result_path = _run(service, job)
    except HandBack:
        # This process is stopping: the attempt goes back to the queue (idempotent if the
        # shutdown handler released it already) and this thread ends without finishing the job.
        stop.set()
        service.store.release(job_id, attempt)
        log.warning("job %s attempt %d handed back by %s after %.2fs", job_id, attempt, worker,
                    time.perf_counter() - t0)
        return "handed_back"
    except KinosealError as exc:
        names = service.upload_names(job.upload_id, job.filename or "upload") if job.upload_id else {}
        error = error_dict(exc, {**names, str(s.results_dir): "results"})
    except Exception as exc:  # noqa: BLE001 - a bug; the job fails with a generic message, the log has details
        log.exception("job %s attempt %d crashed", job_id, attempt)
        error = {"kind": "error", "status": 500, "title": "Internal error",
                 "detail": f"the job failed unexpectedly ({type(exc).__name__})"}
    finally:
        stop.set()
    finished = service.store.finish(job_id, attempt, result=result, error=error, result_path=result_path)
    log.info("job %s (%s) attempt %d by %s: %s in %.2fs", job_id, job.kind, attempt, worker,
             "failed" if error else "done", time.perf_counter() - t0)
    if not finished:
        return "lost"
    # Uploads made for this job alone (the clip, or an init segment and its fragments) go with it.
    for upload_id in [job.upload_id, *((job.params or {}).get("fragments") or [])]:
        upload = service.uploads.get(upload_id) if upload_id else None
        if upload is not None and upload.ephemeral:
            service.uploads.remove(upload.id)
    return "failed" if error else "done"


def notify(service: Service, job_id: str) -> None:
    """Deliver the job's webhook (if it has a callback_url), and record the outcome."""
    from kinoseal.api.http.jobs.webhooks import deliver
    from kinoseal.api.http.schemas import JobOut

    job = service.store.job(job_id)
    if job is None or not job.callback_url or not job.finished:
        return
    key = service.store.key(job.api_key_id) if job.api_key_id else None
    if key is None:
        service.store.set_webhook(job_id, {"delivered": False, "error": "the API key of this job is gone"})
        return
    s = service.settings
    payload = {"event": "job.finished", "job": JobOut.from_job(job).model_dump(mode="json")}
    state = deliver(job.callback_url, key.webhook_secret, payload, attempts=s.webhook_attempts,
                    backoff_s=s.webhook_backoff_s, timeout_s=s.webhook_timeout_s)
    service.store.set_webhook(job_id, state)


# -- RQ entry point (runs in `kinoseal worker` processes) --------------------------------
_SERVICE: Service | None = None


def _worker_service() -> Service:
    global _SERVICE
    if _SERVICE is None:
        from kinoseal.api.http.config import ServiceSettings

        _SERVICE = Service(ServiceSettings.from_env())
    return _SERVICE


def rq_entry(job_id: str, attempt: int) -> str:
    service = _worker_service()
    outcome = execute(service, job_id, attempt)
    if outcome in ("done", "failed"):
        notify(service, job_id)
    return outcome


def result_file(service: Service, job: Job) -> Path | None:
    if not job.result_path:
        return None
    p = Path(job.result_path)
    return p if p.exists() and p.parent == service.settings.results_dir else None
