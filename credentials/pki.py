"""A small X.509 PKI that meets the c2pa-rs certificate profile.

Profile (verified against c2pa-rs 0.91, see shared research c2pa.md §2): CA certs
with critical basicConstraints CA:true and keyCertSign; leaves with critical
CA:false, critical KeyUsage digitalSignature, EKU emailProtection, SKI and AKI
(c2pa-rs rejects a leaf without AKI or with anyExtendedKeyUsage).

The same functions build the out-of-the-box development PKI and the odd
certificates the tests need (unknown roots, look-alike subjects, expired leaves).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertKey:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def make_ca(
    common_name: str,
    org: str = "kinoseal development",
    *,
    issuer: CertKey | None = None,
    days: int = 3650,
) -> CertKey:
    """A root (issuer=None) or an intermediate CA (pathlen 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name, org)
    issuer_name = issuer.cert.subject if issuer else subject
    signing_key = issuer.key if issuer else key
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
    )
    aki_source = issuer.key.public_key() if issuer else key.public_key()
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_source), critical=False
    )
    return CertKey(builder.sign(signing_key, hashes.SHA256()), key)


def make_leaf(
    common_name: str,
    issuer: CertKey,
    org: str = "kinoseal development",
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 5 * 365,
    eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.EMAIL_PROTECTION,
    eku_critical: bool = False,
) -> CertKey:
    """A C2PA signing certificate (with another ``eku``, a time-stamping unit's). Without a
    time-stamp authority an asset goes Invalid when its leaf expires, hence the long default validity."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or (_now() - dt.timedelta(days=1))
    end = not_after or (_now() + dt.timedelta(days=days))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, org))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=eku_critical)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
        .sign(issuer.key, hashes.SHA256())
    )
    return CertKey(cert, key)


def make_tsa(common_name: str, issuer: CertKey, org: str = "kinoseal development", *, days: int = 3650) -> CertKey:
    """An RFC 3161 time-stamping unit certificate: critical EKU timeStamping only (RFC 3161 2.3)."""
    return make_leaf(common_name, issuer, org, days=days, eku=ExtendedKeyUsageOID.TIME_STAMPING, eku_critical=True)


def chain_pem(leaf: CertKey, *intermediates: CertKey) -> bytes:
    """Leaf first, then intermediates; the root stays out (it is the trust anchor)."""
    return leaf.cert_pem + b"".join(i.cert_pem for i in intermediates)
