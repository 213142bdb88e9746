"""Sign an MP4 with a C2PA manifest, file to file, all or nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import c2pa

from kinoseal.credentials.identity import SigningIdentity
from kinoseal.credentials.trust import TrustStore
from kinoseal.credentials.tsa import is_tsa_failure
from kinoseal.errors import CredentialError, InputError, OutputError
from kinoseal.mediaio.atomic import atomic_output


class _OutputStream:
    """The output file as the C2PA library sees it. The library turns a failed write (a full
    disk) into a generic "Io: Other" error; this remembers the real OSError so we can say so."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def read(self, size: int = -1) -> bytes:
        return self.fh.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        try:
            self.fh.flush()
        except OSError as exc:
            self.error = exc
            raise


def sign_mp4(
    src: Path,
    dst: Path,
    manifest: dict[str, Any],
    identity: SigningIdentity,
    *,
    trust: TrustStore | None = None,
    parent: Path | None = None,
    parent_label: str = "parent",
) -> bytes:
    """Embed a signed manifest into a copy of ``src`` written to ``dst``.

    The bytes of ``src`` are kept as they are (only the C2PA box is inserted
    and chunk offsets rewritten), so a capture keeps its exact pixels.
    ``parent``: a file whose manifest (if any) becomes a ``parentOf``
    ingredient; the Builder's context carries the trust list so the
    ingredient's recorded validation results say whether it was trusted.
    Returns the manifest bytes.
    """
    ctx = (trust or TrustStore()).context()
    try:
        builder = c2pa.Builder(manifest, context=ctx)
    except c2pa.C2paError as exc:
        raise CredentialError("the manifest was rejected by the C2PA library", hint=str(exc)) from None
    try:
        if parent is not None:
            with open(parent, "rb") as p:
                builder.add_ingredient(
                    {"title": Path(parent).name, "relationship": "parentOf", "label": parent_label},
                    "video/mp4",
                    p,
                )
        signer = identity.signer()
        with open(src, "rb") as source, atomic_output(Path(dst), mode="w+b") as fh:
            out = _OutputStream(fh)
            try:
                return builder.sign(signer, "video/mp4", source, out)
            except c2pa.C2paError:
                if out.error is not None:
                    raise out.error from None
                raise
    except c2pa.C2paError as exc:
        name = type(exc).__name__
        text = str(exc)
        if is_tsa_failure(identity, text):
            raise CredentialError(
                f"no time stamp: the time-stamp authority {identity.ta_url} did not answer",
                hint=f"{text[:200]}; set another TSA URL (--tsa-url / KINOSEAL_TSA_URL) or none",
            ) from None
        # (the library's class names carry a prefix: "_C2paSignature"; a key that does not match
        # the certificate reads "Signature: the signature does not match ...")
        if "certificate" in text or "Signature" in name or text.startswith("Signature"):
            raise CredentialError("signing failed: the certificate or key was refused", hint=text) from None
        raise InputError(f"cannot sign {Path(src).name}: the file is not a valid MP4 for C2PA", hint=text) from None
    except OSError as exc:
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from None
    finally:
        try:
            builder.close()
        except Exception:  # noqa: BLE001 - closing twice after sign is harmless
            pass


def file_size(path: Path) -> int:
    return os.stat(path).st_size
