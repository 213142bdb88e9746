"""Secret watermark keys.

The secret alone determines every keyed sequence of the watermark (cell
layout, chips, pilots, whitening), so whoever holds it can both embed and
detect; it is never printed. ``key_id`` is a one-way tag that is safe to log
and lets a verifier say *which* key matched during key rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from kinoseal.mediaio.atomic import write_private
from kinoseal.errors import CredentialError

__all__ = ["WatermarkKey", "WatermarkKeyError", "SECRET_BYTES"]

SECRET_BYTES = 32
_KEY_FILE_VERSION = 1


class WatermarkKeyError(CredentialError, ValueError):
    """A watermark key file or secret is malformed. Never carries secret bytes."""


def _key_id(secret: bytes) -> str:
    return hashlib.sha256(b"kinoseal-wm-keyid" + secret).digest()[:8].hex()


@dataclass(frozen=True, eq=False)
class WatermarkKey:
    """A 32-byte watermark secret. ``repr`` and ``str`` show only ``key_id``."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, (bytes, bytearray)) or len(self.secret) != SECRET_BYTES:
            raise WatermarkKeyError(f"a watermark key secret must be {SECRET_BYTES} bytes")
        object.__setattr__(self, "secret", bytes(self.secret))

    @classmethod
    def generate(cls) -> "WatermarkKey":
        return cls(secrets.token_bytes(SECRET_BYTES))

    @property
    def key_id(self) -> str:
        return _key_id(self.secret)

    def __repr__(self) -> str:
        return f"WatermarkKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WatermarkKey):
            return NotImplemented
        return secrets.compare_digest(self.secret, other.secret)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": _KEY_FILE_VERSION,
                "key_id": self.key_id,
                "secret_b64": base64.b64encode(self.secret).decode("ascii"),
            }
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the key file atomically, readable by the owner only (0600).

        The temporary file is created with 0600 from the start (``os.open``)
        so the secret is never on disk with wider permissions, and
        ``os.replace`` makes a half-written key file impossible.
        """
        return write_private(Path(path), (self.to_json() + "\n").encode("ascii"))

    @classmethod
    def from_json(cls, text: str, *, source: str = "key data") -> "WatermarkKey":
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise WatermarkKeyError(f"{source} is not valid JSON") from None
        if not isinstance(obj, dict):
            raise WatermarkKeyError(f"{source} is not a JSON object")
        if obj.get("version") != _KEY_FILE_VERSION:
            raise WatermarkKeyError(f"{source} has unsupported version {obj.get('version')!r}")
        b64 = obj.get("secret_b64")
        if not isinstance(b64, str):
            raise WatermarkKeyError(f"{source} has no 'secret_b64' string")
        try:
            secret = base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise WatermarkKeyError(f"{source} has an invalid base64 secret") from None
        if len(secret) != SECRET_BYTES:
            raise WatermarkKeyError(f"{source} secret must be {SECRET_BYTES} bytes, got {len(secret)}")
        key = cls(secret)
        kid = obj.get("key_id")
        if kid is not None and kid != key.key_id:
            raise WatermarkKeyError(f"{source}: key_id does not match the secret (file corrupted?)")
        return key

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "WatermarkKey":
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise WatermarkKeyError(f"watermark key file not found: {path}") from None
        except OSError as exc:
            raise WatermarkKeyError(f"cannot read watermark key file {path}: {exc.strerror}") from None
        if len(raw) > 64 * 1024:
            raise WatermarkKeyError(f"watermark key file {path} is too large")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WatermarkKeyError(f"watermark key file {path} is not UTF-8 text") from None
        return cls.from_json(text, source=f"watermark key file {path}")
