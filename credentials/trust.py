"""The set of root certificates a reader trusts, and the c2pa ``Context`` built from it.

Offline by design: remote manifest fetching and OCSP are switched off, so
reading a hostile file never makes the verifier contact anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509

from kinoseal.errors import CredentialError

_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}


@dataclass(frozen=True)
class TrustStore:
    """A PEM bundle of trust anchors (roots or intermediates)."""

    pem: str = ""

    @classmethod
    def from_paths(cls, paths: list[Path] | tuple[Path, ...]) -> "TrustStore":
        chunks: list[str] = []
        for p in paths:
            p = Path(p)
            files = sorted(p.glob("*.pem")) if p.is_dir() else [p]
            for f in files:
                try:
                    text = f.read_text()
                except (OSError, UnicodeDecodeError) as exc:
                    raise CredentialError(f"cannot read trust anchors from {f}", hint=str(exc)) from None
                try:
                    certs = x509.load_pem_x509_certificates(text.encode())
                except ValueError:
                    raise CredentialError(f"{f} is not a PEM file of certificates") from None
                chunks.extend(c.public_bytes(encoding=_PEM).decode() for c in certs)
        return cls("".join(chunks))

    def __add__(self, other: "TrustStore") -> "TrustStore":
        return TrustStore(self.pem + other.pem)

    @property
    def certificates(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.pem.encode()) if self.pem else []

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.pem.encode()).hexdigest()[:16]

    def context(self) -> c2pa.Context:
        settings: dict[str, object] = {"verify": dict(_OFFLINE)}
        if self.pem:
            settings["trust"] = {"trust_anchors": self.pem}
        # With no anchors the library's default applies, which trusts nothing
        # (an empty anchor string is rejected by c2pa-rs as an unparsable certificate).
        try:
            return c2pa.Context.from_dict(settings)
        except c2pa.C2paError as exc:
            raise CredentialError("the trust anchors were rejected by the C2PA library", hint=str(exc)[:200]) from None


from cryptography.hazmat.primitives.serialization import Encoding as _Enc  # noqa: E402

_PEM = _Enc.PEM
