"""Sign an authentic recording as it is (no re-encode, no watermark)."""

from __future__ import annotations

from pathlib import Path

from kinoseal.credentials.identity import SigningIdentity
from kinoseal.credentials.manifests import capture_manifest
from kinoseal.credentials.signing import sign_mp4
from kinoseal.credentials.trust import TrustStore
from kinoseal.credentials.tsa import with_tsa
from kinoseal.errors import InputError
from kinoseal.label.labeler import SOFTWARE


def sign_capture(
    src: Path,
    dst: Path,
    identity: SigningIdentity,
    *,
    software: dict[str, str] = SOFTWARE,
    trust: TrustStore | None = None,
    device: str | None = None,
    tsa_url: str | None = None,
) -> bytes:
    """``tsa_url``: an RFC 3161 time-stamp authority, so the signature outlives its certificate."""
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise InputError("the output must be a different file from the input")
    manifest = capture_manifest(title=dst.name, software=software, device=device)
    if tsa_url:
        identity = with_tsa(identity, tsa_url)
    return sign_mp4(src, dst, manifest, identity, trust=trust)
