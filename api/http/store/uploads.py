"""The upload folder: ``<home>/uploads/<id>``, written while streaming, with a size cap.

A file is written as ``<id>.part`` and renamed to ``<id>`` only once complete, so a
half-received upload is never verified; failed uploads and expired ones are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from pathlib import Path

from kinoseal.api.http.store.db import Store, UploadRecord

_ID = re.compile(r"^[0-9a-f]{32}$")


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class UploadWriter:
    """Append chunks to ``<id>.part``; raises TooLarge beyond ``limit`` bytes (file removed)."""

    def __init__(self, root: Path, limit: int) -> None:
        self.id = uuid.uuid4().hex
        self.limit = limit
        self.size = 0
        self.part = root / f"{self.id}.part"
        self.final = root / self.id
        self._fh = open(self.part, "xb")  # noqa: SIM115 - closed in close()/abort()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(self.limit)
        self._fh.write(chunk)

    def close(self) -> Path:
        self._fh.close()
        os.replace(self.part, self.final)
        return self.final

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(OSError):
            self.part.unlink()


class UploadStore:
    def __init__(self, root: Path, store: Store, *, ttl_s: float) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = store
        self.ttl_s = ttl_s

    def writer(self, limit: int) -> UploadWriter:
        return UploadWriter(self.root, limit)

    def commit(self, w: UploadWriter, *, tenant: str, filename: str, ephemeral: bool) -> UploadRecord:
        w.close()
        now = time.time()
        rec = UploadRecord(w.id, tenant, _safe_name(filename), w.size, now, now + self.ttl_s, ephemeral)
        self.store.add_upload(rec)
        return rec

    def get(self, upload_id: str) -> UploadRecord | None:
        if not _ID.match(upload_id or ""):
            return None
        rec = self.store.upload(upload_id)
        if rec is None or not self.path(upload_id).exists():
            return None
        return rec

    def path(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise ValueError("bad upload id")
        return self.root / upload_id

    def remove(self, upload_id: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.path(upload_id).unlink()
        self.store.delete_upload(upload_id)

    def sweep(self, now: float | None = None, stale_part_s: float = 3600.0) -> int:
        """Delete expired uploads and abandoned ``.part`` files; returns how many files went."""
        now = now or time.time()
        n = 0
        for rec in self.store.expired_uploads(now):
            self.remove(rec.id)
            n += 1
        for p in self.root.glob("*.part"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > stale_part_s:
                    p.unlink()
                    n += 1
        return n

    def file_count(self) -> int:
        return sum(1 for _ in self.root.iterdir())


def _safe_name(name: str) -> str:
    base = os.path.basename((name or "upload").replace("\\", "/")).strip() or "upload"
    base = re.sub(r"[^\w.\- ()+]", "_", base)[:200]
    return base or "upload"
