"""The provenance registry: watermark payload id -> the manifest recorded at labeling time.

This is C2PA "soft-binding resolution": when a clip's manifest was stripped but
its watermark is still found, the payload id leads back to the original
Content Credentials, and the content fingerprint recorded beside it (``fingerprint``) says
whether the clip in hand is the one the mark was made for. The default store is one SQLite file in the kinoseal home
(``<home>/provenance.sqlite3``); the service can use another database URL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinoseal.errors import OutputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS provenance (
    payload_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    method TEXT NOT NULL,
    manifest_label TEXT,
    file_sha256 TEXT,
    title TEXT,
    created_at TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    manifest_c2pa BLOB
)
"""
# Registries made before the C2PA bytes (the fingerprint) were kept get the column (NULL for their rows).
_ADD_C2PA = "ALTER TABLE provenance ADD COLUMN manifest_c2pa BLOB"
_ADD_FINGERPRINT = "ALTER TABLE provenance ADD COLUMN fingerprint BLOB"
_ADD_VIEWS = "ALTER TABLE provenance ADD COLUMN views BLOB"
_COLUMNS = "payload_id, key_id, method, manifest_label, file_sha256, title, created_at, manifest_json, fingerprint, views"


@dataclass(frozen=True)
class ProvenanceRecord:
    payload_id: str
    key_id: str
    method: str
    manifest_label: str | None
    file_sha256: str | None
    title: str | None
    created_at: str
    manifest: dict[str, Any]
    # The labeled clip's content fingerprint (``fingerprint.Fingerprint.to_bytes``); None for records
    # made before fingerprints were kept.
    fingerprint: bytes | None = None
    # Its views (``fingerprint.views.Views.to_bytes``): read only with the record, never by a search
    # (a column of their own keeps ``fingerprints`` small); None for records made before views were kept.
    views: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload_id": self.payload_id, "key_id": self.key_id, "method": self.method,
            "manifest_label": self.manifest_label, "file_sha256": self.file_sha256, "title": self.title,
            "created_at": self.created_at, "manifest": self.manifest,
        }


class SqliteRegistry:
    """Thread-safe; one connection per call keeps it safe across processes too."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)
            columns = {r[1] for r in db.execute("PRAGMA table_info(provenance)")}
            if "manifest_c2pa" not in columns:
                db.execute(_ADD_C2PA)
            if "fingerprint" not in columns:
                db.execute(_ADD_FINGERPRINT)
            if "views" not in columns:
                db.execute(_ADD_VIEWS)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction. A full disk or a read-only home shows up here as a
        bare sqlite3 error ("disk I/O error"); say which file, once, as a user error."""
        try:
            db = sqlite3.connect(self.path, timeout=30)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                with db:
                    yield db
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise OutputError(f"cannot use the provenance registry {self.path}: {exc}",
                              hint="is the disk full or the kinoseal home read-only?") from None

    def record(
        self, *, payload_id: str, key_id: str, method: str, manifest: dict[str, Any],
        manifest_label: str | None = None, file_sha256: str | None = None, title: str | None = None,
        manifest_c2pa: bytes | None = None, fingerprint: bytes | None = None, views: bytes | None = None,
    ) -> None:
        """``manifest_c2pa``: the signed manifest store as embedded (``application/c2pa``), which
        the Soft Binding Resolution API serves at /manifests/{manifest_label}; ``fingerprint``: the
        labeled clip's content fingerprint (``Fingerprint.to_bytes``); ``views``: its views (``Views.to_bytes``)."""
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        with self._lock, self._connect() as db:
            db.execute(
                f"INSERT OR REPLACE INTO provenance ({_COLUMNS}, manifest_c2pa) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (payload_id, key_id, method, manifest_label, file_sha256, title, now, json.dumps(manifest),
                 fingerprint, views, manifest_c2pa),
            )

    def lookup(self, payload_id: str) -> ProvenanceRecord | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM provenance WHERE payload_id = ?",
                (payload_id.lower(),),
            ).fetchone()
        if row is None:
            return None
        return _record(row)

    def lookup_label(self, manifest_label: str) -> tuple[ProvenanceRecord, bytes | None] | None:
        """The record whose active manifest has this label, with its ``application/c2pa`` bytes
        (None for records made before they were kept)."""
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS}, manifest_c2pa FROM provenance WHERE manifest_label = ?",
                             (manifest_label,)).fetchone()
        if row is None:
            return None
        return _record(row), row[10]

    def fingerprints(self, after_rowid: int = 0) -> list[tuple[int, str, bytes]]:
        """(row id, payload id, fingerprint) of every record that kept a fingerprint, added after
        ``after_rowid``, oldest first: what a search by content indexes, and what it adds when the
        registry grows (the manifests stay unread: a search needs only these)."""
        with self._connect() as db:
            rows = db.execute("SELECT rowid, payload_id, fingerprint FROM provenance "
                              "WHERE fingerprint IS NOT NULL AND rowid > ? ORDER BY rowid", (int(after_rowid),)).fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    def payloads_of_key(self, key_id: str, method: str, limit: int) -> list[str]:
        """The payload ids of the newest ``limit`` records made with this key and watermark method:
        the candidates for a mark found without its payload (``TiledExtractor.payload_t``)."""
        with self._connect() as db:
            rows = db.execute("SELECT payload_id FROM provenance WHERE key_id = ? AND method = ? "
                              "ORDER BY rowid DESC LIMIT ?", (key_id, method, int(limit))).fetchall()
        return [str(r[0]) for r in rows]

    def version(self) -> tuple[int, int]:
        """(records, highest row id): changes whenever a record is added or replaced, so a cache
        built from the registry knows when to rebuild."""
        with self._connect() as db:
            n, top = db.execute("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM provenance").fetchone()
        return int(n), int(top)

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM provenance").fetchone()[0])


def _record(row) -> ProvenanceRecord:
    return ProvenanceRecord(*row[:7], manifest=json.loads(row[7]),
                            fingerprint=bytes(row[8]) if row[8] else None, views=bytes(row[9]) if row[9] else None)


def default_registry(home: Path) -> SqliteRegistry:
    return SqliteRegistry(Path(home) / "provenance.sqlite3")
