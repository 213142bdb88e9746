"""RFC 3161 time stamps for signatures: which TSA to ask, and what a failed request means.

A time-stamp from a time-stamp authority (TSA) proves when the claim was signed, so
a validator checks the signing certificate at that time rather than now: a clip
signed with a time stamp stays valid after its certificate expires. Without one,
c2pa-rs reports ``signingCredential.expired`` once the leaf expires.

The TSA is the only network call kinoseal makes when signing; reading never
fetches anything. c2pa-python sends the request itself (``ta_url`` of the signer).
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from kinoseal.credentials.identity import SigningIdentity
from kinoseal.errors import CredentialError


def check_tsa_url(url: str | None) -> str | None:
    """``None``/empty means no time stamp; otherwise an http(s) URL without credentials."""
    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CredentialError(f"the time-stamp authority URL must be http(s)://host/..., not {url!r}")
    if parts.username or parts.password:
        raise CredentialError("the time-stamp authority URL must not carry a user name or password")
    return url


def with_tsa(identity: SigningIdentity, url: str | None) -> SigningIdentity:
    """The same identity, signing with time stamps from ``url`` (or without, for ``None``)."""
    return dataclasses.replace(identity, ta_url=check_tsa_url(url))


def is_tsa_failure(identity: SigningIdentity, library_message: str) -> bool:
    """c2pa-python reports an unreachable or refusing TSA as a signature error
    ("internal error (... http resolver: error sending request ...)")."""
    if not identity.ta_url:
        return False
    text = library_message.lower()
    return any(s in text for s in ("http", "timestamp", "time stamp", "tsa", "resolver"))
