"""The watermark keys of an installation: one active key for embedding, all
known keys for extraction (so clips marked before a key rotation still verify).

Layout: ``<home>/keys/watermark/<key_id>.json`` (0600) and ``ACTIVE`` naming
the key used for new clips.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from kinoseal.mediaio.atomic import directory_lock
from kinoseal.watermark.keys import WatermarkKey, WatermarkKeyError


@dataclass(frozen=True)
class KeyRing:
    active: WatermarkKey
    keys: tuple[WatermarkKey, ...]

    @property
    def key_ids(self) -> list[str]:
        return [k.key_id for k in self.keys]


def _read(directory: Path) -> KeyRing | None:
    active_file = directory / "ACTIVE"
    if not active_file.exists():
        return None
    keys = []
    for f in sorted(directory.glob("*.json")):
        keys.append(WatermarkKey.load(f))
    active_id = active_file.read_text().strip()
    by_id = {k.key_id: k for k in keys}
    if active_id not in by_id:
        raise WatermarkKeyError(f"the active watermark key {active_id} is missing from {directory}")
    return KeyRing(active=by_id[active_id], keys=tuple(keys))


def load_keyring(directory: Path, *, create: bool = True) -> KeyRing:
    """Load the keys in ``directory``; on first use create one (if ``create``)."""
    directory = Path(directory)
    ring = _read(directory) if directory.exists() else None
    if ring is not None:
        return ring
    if not create:
        raise WatermarkKeyError(f"no watermark keys in {directory}")
    with directory_lock(directory):
        ring = _read(directory)
        if ring is None:
            rotate_key(directory, _locked=True)
            ring = _read(directory)
    assert ring is not None
    return ring


def rotate_key(directory: Path, *, _locked: bool = False) -> WatermarkKey:
    """Create a new active key; old keys stay for extraction."""
    return install_key(directory, WatermarkKey.generate(), _locked=_locked)


def install_key(directory: Path, key: WatermarkKey, *, _locked: bool = False) -> WatermarkKey:
    """Make ``key`` the active key of ``directory`` (created if missing); keys already there stay for
    extraction. A fixed key makes a home's labels reproducible (benches, tests). The lock creates a
    missing directory 0700."""
    directory = Path(directory)
    ctx = contextlib.nullcontext() if _locked else directory_lock(directory)
    with ctx:
        key.save(directory / f"{key.key_id}.json")
        tmp = directory / ".ACTIVE.tmp"
        tmp.write_text(key.key_id + "\n")
        os.replace(tmp, directory / "ACTIVE")
    return key
