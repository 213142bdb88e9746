"""Jobs, API keys, tenants and upload records in one SQL database (SQLAlchemy Core).

Keys are stored as ``hmac_sha256(salt, secret)`` with a random salt per key; the
secret is shown once at creation. Job state changes are conditional updates, so a
job completes exactly once even when a worker dies and another one retries it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

# "fetch:manifests": the Soft Binding Resolution API (/matches/*, /manifests/*), the scope
# name its OpenAPI description gives.
SCOPES = ("verify", "generate", "sign", "fetch:manifests")
PUBLIC_TENANT = "public"

meta = sa.MetaData()

tenants = sa.Table(
    "ks_tenants", meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("trust_pem", sa.Text, nullable=False, default=""),
    sa.Column("trust_mode", sa.String(16), nullable=False, default="add"),  # add | replace
    sa.Column("created_at", sa.Float, nullable=False),
)

api_keys = sa.Table(
    "ks_api_keys", meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("scopes", sa.String(128), nullable=False),
    sa.Column("webhook_secret", sa.String(128), nullable=False),
    sa.Column("rate_per_min", sa.Integer, nullable=True),
    sa.Column("name", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

jobs = sa.Table(
    "ks_jobs", meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("api_key_id", sa.String(32), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),  # verify | generate | edit
    sa.Column("status", sa.String(16), nullable=False, index=True),  # queued | running | done | failed
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False, default=3),
    sa.Column("completions", sa.Integer, nullable=False, default=0),
    sa.Column("params", sa.Text, nullable=False, default="{}"),
    sa.Column("upload_id", sa.String(32), nullable=True),
    sa.Column("filename", sa.String(255), nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("result_path", sa.Text, nullable=True),
    sa.Column("callback_url", sa.Text, nullable=True),
    sa.Column("webhook", sa.Text, nullable=True),
    sa.Column("worker", sa.String(128), nullable=True),
    sa.Column("backend", sa.String(16), nullable=False, default="local"),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
)

uploads = sa.Table(
    "ks_uploads", meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("ephemeral", sa.Boolean, nullable=False, default=False),  # deleted when its job ends
)


def _hash(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Tenant:
    name: str
    trust_pem: str = ""
    trust_mode: str = "add"


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    scopes: tuple[str, ...]
    webhook_secret: str = field(repr=False)
    rate_per_min: int | None = None
    name: str | None = None
    created_at: float = 0.0
    revoked_at: float | None = None

    def public_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "scopes": list(self.scopes), "name": self.name,
                "rate_per_min": self.rate_per_min, "created_at": self.created_at, "revoked": self.revoked_at is not None}


@dataclass
class Job:
    id: str
    tenant: str
    kind: str
    status: str
    attempt: int
    max_attempts: int
    completions: int
    params: dict[str, Any]
    upload_id: str | None
    filename: str | None
    result: Any
    error: dict[str, Any] | None
    result_path: str | None
    callback_url: str | None
    webhook: dict[str, Any] | None
    worker: str | None
    backend: str
    lease_until: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    api_key_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass(frozen=True)
class UploadRecord:
    id: str
    tenant: str
    filename: str
    size: int
    created_at: float
    expires_at: float
    ephemeral: bool


def _job(row: sa.Row) -> Job:
    m = row._mapping
    return Job(
        id=m["id"], tenant=m["tenant"], kind=m["kind"], status=m["status"], attempt=m["attempt"],
        max_attempts=m["max_attempts"], completions=m["completions"], params=json.loads(m["params"] or "{}"),
        upload_id=m["upload_id"], filename=m["filename"],
        result=json.loads(m["result"]) if m["result"] else None,
        error=json.loads(m["error"]) if m["error"] else None, result_path=m["result_path"],
        callback_url=m["callback_url"], webhook=json.loads(m["webhook"]) if m["webhook"] else None,
        worker=m["worker"], backend=m["backend"], lease_until=m["lease_until"], created_at=m["created_at"],
        started_at=m["started_at"], finished_at=m["finished_at"], api_key_id=m["api_key_id"],
    )


class Store:
    """Thread-safe (one pooled connection per call); safe across processes (SQLite WAL or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = sa.create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
            )

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _rec):  # noqa: ANN001
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        meta.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        with self.engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
        return True

    # -- tenants -------------------------------------------------------------------
    def ensure_tenant(self, name: str) -> Tenant:
        t = self.tenant(name)
        if t is not None:
            return t
        try:
            with self.engine.begin() as c:
                c.execute(tenants.insert().values(name=name, trust_pem="", trust_mode="add", created_at=time.time()))
        except sa.exc.IntegrityError:
            pass
        return self.tenant(name) or Tenant(name)

    def tenant(self, name: str) -> Tenant | None:
        with self.engine.connect() as c:
            r = c.execute(sa.select(tenants).where(tenants.c.name == name)).first()
        return Tenant(r.name, r.trust_pem or "", r.trust_mode) if r else None

    def tenants(self) -> list[Tenant]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(tenants).order_by(tenants.c.name)).all()
        return [Tenant(r.name, r.trust_pem or "", r.trust_mode) for r in rows]

    def set_tenant_trust(self, name: str, pem: str, mode: str = "add") -> Tenant:
        self.ensure_tenant(name)
        with self.engine.begin() as c:
            c.execute(tenants.update().where(tenants.c.name == name).values(trust_pem=pem, trust_mode=mode))
        return self.tenant(name)  # type: ignore[return-value]

    # -- API keys ------------------------------------------------------------------
    def create_key(
        self, tenant: str, scopes: list[str] | tuple[str, ...], *, name: str | None = None,
        rate_per_min: int | None = None,
    ) -> tuple[str, ApiKey]:
        """Returns (the full key, shown once; the stored record)."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValueError(f"unknown scope(s) {bad or scopes}; use some of {', '.join(SCOPES)}")
        self.ensure_tenant(tenant)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        wh = "whsec_" + secrets.token_urlsafe(24)
        now = time.time()
        with self.engine.begin() as c:
            c.execute(api_keys.insert().values(
                id=key_id, tenant=tenant, salt=salt, hash=_hash(salt, secret), scopes=",".join(scopes),
                webhook_secret=wh, rate_per_min=rate_per_min, name=name, created_at=now, revoked_at=None,
            ))
        return f"ks_{key_id}_{secret}", ApiKey(key_id, tenant, tuple(scopes), wh, rate_per_min, name, now)

    @staticmethod
    def _key(r: sa.Row) -> ApiKey:
        return ApiKey(r.id, r.tenant, tuple(s for s in r.scopes.split(",") if s), r.webhook_secret,
                      r.rate_per_min, r.name, r.created_at, r.revoked_at)

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key record for ``ks_<id>_<secret>``, or None (unknown, wrong or revoked)."""
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != "ks" or not parts[1] or not parts[2] or len(presented) > 200:
            return None
        with self.engine.connect() as c:
            r = c.execute(sa.select(api_keys).where(api_keys.c.id == parts[1])).first()
        if r is None or r.revoked_at is not None:
            return None
        if not hmac.compare_digest(_hash(r.salt, parts[2]), r.hash):
            return None
        return self._key(r)

    def key(self, key_id: str) -> ApiKey | None:
        with self.engine.connect() as c:
            r = c.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        return self._key(r) if r else None

    def keys(self, tenant: str | None = None) -> list[ApiKey]:
        q = sa.select(api_keys).order_by(api_keys.c.created_at)
        if tenant:
            q = q.where(api_keys.c.tenant == tenant)
        with self.engine.connect() as c:
            return [self._key(r) for r in c.execute(q).all()]

    def revoke_key(self, key_id: str) -> bool:
        with self.engine.begin() as c:
            n = c.execute(api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                          .values(revoked_at=time.time())).rowcount
        return n == 1

    # -- uploads -------------------------------------------------------------------
    def add_upload(self, rec: UploadRecord) -> None:
        with self.engine.begin() as c:
            c.execute(uploads.insert().values(**rec.__dict__))

    def upload(self, upload_id: str) -> UploadRecord | None:
        with self.engine.connect() as c:
            r = c.execute(sa.select(uploads).where(uploads.c.id == upload_id)).first()
        return UploadRecord(**r._mapping) if r else None

    def delete_upload(self, upload_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(uploads.delete().where(uploads.c.id == upload_id))

    def expired_uploads(self, now: float) -> list[UploadRecord]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(uploads).where(uploads.c.expires_at < now)).all()
        return [UploadRecord(**r._mapping) for r in rows]

    # -- jobs ----------------------------------------------------------------------
    def create_job(
        self, *, tenant: str, kind: str, params: dict[str, Any], api_key_id: str | None = None,
        upload_id: str | None = None, filename: str | None = None, callback_url: str | None = None,
        backend: str = "local", max_attempts: int = 3,
    ) -> Job:
        job_id = uuid.uuid4().hex
        with self.engine.begin() as c:
            c.execute(jobs.insert().values(
                id=job_id, tenant=tenant, api_key_id=api_key_id, kind=kind, status="queued", attempt=1,
                max_attempts=max_attempts, completions=0, params=json.dumps(params), upload_id=upload_id,
                filename=filename, callback_url=callback_url, backend=backend, created_at=time.time(),
            ))
        return self.job(job_id)  # type: ignore[return-value]

    def job(self, job_id: str) -> Job | None:
        with self.engine.connect() as c:
            r = c.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return _job(r) if r else None

    def jobs(self, *, tenant: str | None = None, status: str | None = None, limit: int = 1000) -> list[Job]:
        q = sa.select(jobs).order_by(jobs.c.created_at).limit(limit)
        if tenant:
            q = q.where(jobs.c.tenant == tenant)
        if status:
            q = q.where(jobs.c.status == status)
        with self.engine.connect() as c:
            return [_job(r) for r in c.execute(q).all()]

    def count_by_status(self) -> dict[str, int]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all()
        return {s: int(n) for s, n in rows}

    def claim(self, job_id: str, attempt: int, worker: str, lease_s: float) -> bool:
        """queued -> running for this attempt only; False if someone else has it or it is finished."""
        now = time.time()
        with self.engine.begin() as c:
            n = c.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == "queued", jobs.c.attempt == attempt)
                .values(status="running", worker=worker, lease_until=now + lease_s, started_at=now)
            ).rowcount
        return n == 1

    def renew(self, job_id: str, attempt: int, lease_s: float) -> bool:
        with self.engine.begin() as c:
            n = c.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.attempt == attempt)
                .values(lease_until=time.time() + lease_s)
            ).rowcount
        return n == 1

    def finish(self, job_id: str, attempt: int, *, result: Any = None, error: dict[str, Any] | None = None,
               result_path: str | None = None) -> bool:
        """running -> done/failed, once: the attempt that holds the job is the only one that can finish it."""
        values: dict[str, Any] = {
            "status": "failed" if error else "done", "finished_at": time.time(), "lease_until": None,
            "completions": jobs.c.completions + 1,
        }
        if result is not None:
            values["result"] = json.dumps(result)
        if error is not None:
            values["error"] = json.dumps(error)
        if result_path is not None:
            values["result_path"] = result_path
        with self.engine.begin() as c:
            n = c.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.attempt == attempt)
                .values(**values)
            ).rowcount
        return n == 1

    def fail_queued(self, job_id: str, error: dict[str, Any]) -> bool:
        with self.engine.begin() as c:
            n = c.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(status="failed", error=json.dumps(error), finished_at=time.time())
            ).rowcount
        return n == 1

    def set_webhook(self, job_id: str, state: dict[str, Any]) -> None:
        with self.engine.begin() as c:
            c.execute(jobs.update().where(jobs.c.id == job_id).values(webhook=json.dumps(state)))

    def expired_leases(self, now: float, backend: str | None = None) -> list[Job]:
        q = sa.select(jobs).where(jobs.c.status == "running", jobs.c.lease_until < now)
        if backend:
            q = q.where(jobs.c.backend == backend)
        with self.engine.connect() as c:
            rows = c.execute(q).all()
        return [_job(r) for r in rows]

    def requeue(self, job: Job) -> int | None:
        """An abandoned running attempt -> queued with attempt + 1 (or failed when out of attempts).
        Returns the new attempt number, or None when the job was failed or changed meanwhile."""
        with self.engine.begin() as c:
            if job.attempt >= job.max_attempts:
                c.execute(
                    jobs.update().where(jobs.c.id == job.id, jobs.c.status == "running", jobs.c.attempt == job.attempt)
                    .values(status="failed", finished_at=time.time(), lease_until=None, error=json.dumps({
                        "kind": "error", "status": 500, "title": "Job abandoned",
                        "detail": f"the worker running this job stopped {job.attempt} times; giving up"}))
                )
                return None
            n = c.execute(
                jobs.update().where(jobs.c.id == job.id, jobs.c.status == "running", jobs.c.attempt == job.attempt)
                .values(status="queued", attempt=job.attempt + 1, worker=None, lease_until=None)
            ).rowcount
        return job.attempt + 1 if n == 1 else None

    def release(self, job_id: str, attempt: int) -> int | None:
        """A running attempt handed back by a stopping process -> queued with attempt + 1.
        Unlike ``requeue`` it does not use up an attempt (max_attempts moves up too): the job
        did nothing wrong. The old attempt can no longer finish the job. Returns the new
        attempt, or None when the job finished or moved on meanwhile."""
        with self.engine.begin() as c:
            n = c.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.attempt == attempt)
                .values(status="queued", attempt=attempt + 1, max_attempts=jobs.c.max_attempts + 1, worker=None,
                        lease_until=None)
            ).rowcount
        return attempt + 1 if n == 1 else None
