"""C2PA credentials: the development PKI, signing identities, trust stores,
manifest builders and the manifest reader. Used by both the labeling side
(generate) and the checking side (verify)."""

from kinoseal.credentials.identity import SigningIdentity
from kinoseal.credentials.manifests import (
    AI_SOURCE_TYPES,
    CAPTURE_SOURCE_TYPES,
    IPTC,
    capture_manifest,
    generated_manifest,
)
from kinoseal.credentials.reading import C2paEvidence, read_c2pa
from kinoseal.credentials.signing import sign_mp4
from kinoseal.credentials.trust import TrustStore

__all__ = [
    "AI_SOURCE_TYPES",
    "CAPTURE_SOURCE_TYPES",
    "C2paEvidence",
    "IPTC",
    "SigningIdentity",
    "TrustStore",
    "capture_manifest",
    "generated_manifest",
    "read_c2pa",
    "sign_mp4",
]
