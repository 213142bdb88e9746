"""Who signs: a certificate chain plus either a private key or a signing callback.

The callback form lets deployments keep keys in an HSM/KMS: kinoseal only ever
sees the certificate chain and a function that signs bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import c2pa
from cryptography import x509

from kinoseal.errors import CredentialError

_ALGS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}


@dataclass(frozen=True)
class SigningIdentity:
    chain_pem: bytes
    key_pem: bytes | None = field(default=None, repr=False)
    sign_callback: Callable[[bytes], bytes] | None = field(default=None, repr=False)
    alg: str = "es256"
    ta_url: str | None = None

    def __post_init__(self) -> None:
        if (self.key_pem is None) == (self.sign_callback is None):
            raise CredentialError("a signing identity needs exactly one of a private key or a signing callback")
        if self.alg not in _ALGS:
            raise CredentialError(f"unknown signing algorithm {self.alg!r}; use one of {sorted(_ALGS)}")
        try:
            certs = x509.load_pem_x509_certificates(self.chain_pem)
        except ValueError as exc:
            raise CredentialError("the certificate chain is not valid PEM", hint=str(exc)) from None
        if not certs:
            raise CredentialError("the certificate chain PEM holds no certificate")

    @classmethod
    def from_files(cls, chain: Path, key: Path, alg: str = "es256") -> "SigningIdentity":
        try:
            chain_pem = Path(chain).read_bytes()
            key_pem = Path(key).read_bytes()
        except OSError as exc:
            raise CredentialError(f"cannot read signing credentials: {exc.strerror}: {exc.filename}") from None
        return cls(chain_pem=chain_pem, key_pem=key_pem, alg=alg)

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    @property
    def subject_cn(self) -> str:
        attrs = self.leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else self.leaf.subject.rfc4514_string()

    def signer(self) -> c2pa.Signer:
        alg = _ALGS[self.alg]
        try:
            if self.sign_callback is not None:
                return c2pa.Signer.from_callback(self.sign_callback, alg, self.chain_pem.decode(), self.ta_url)
            info = c2pa.C2paSignerInfo(alg, self.chain_pem, self.key_pem, self.ta_url)
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            # The library's message never contains key material, but keep ours generic.
            raise CredentialError(
                "the signing key or certificate was rejected by the C2PA library",
                hint=type(exc).__name__,
            ) from None
