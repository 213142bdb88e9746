"""The development PKI that makes kinoseal work out of the box.

On first use we create, under ``<home>/keys``: a root CA, an intermediate, and
two signing leaves (one for generated media, one for captures), and put the
root into ``<home>/trust`` so this installation's verifier trusts it. Private
keys are written 0600 and never printed. Real deployments pass their own chain
and key (or a signing callback) instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kinoseal.mediaio.atomic import directory_lock, write_private, write_public
from kinoseal.credentials.identity import SigningIdentity
from kinoseal.credentials.pki import chain_pem, make_ca, make_leaf
from kinoseal.credentials.trust import TrustConfig
from kinoseal.config import Settings
from kinoseal.errors import CredentialError

ROOT_PEM = "kinoseal-dev-root.pem"


@dataclass(frozen=True)
class DevPki:
    keys_dir: Path
    trust_dir: Path

    def identity(self, role: str) -> SigningIdentity:
        """``role``: "generator" or "capture"."""
        return SigningIdentity.from_files(self.keys_dir / f"{role}.chain.pem", self.keys_dir / f"{role}.key.pem")


@contextlib.contextmanager
def home_lock(settings: Settings) -> Iterator[None]:
    """Serialise first-use setup between processes (CLI runs, server workers)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(directory_lock(settings.home))
        except OSError as exc:
            raise CredentialError(f"cannot create the kinoseal home {settings.home}: {exc.strerror}",
                                  hint="set KINOSEAL_HOME to a writable directory") from None
        yield


def ensure_dev_pki(settings: Settings) -> DevPki:
    keys, trust = settings.keys_dir, settings.trust_dir
    pki = DevPki(keys, trust)
    needed = [keys / f"{r}.{k}.pem" for r in ("generator", "capture") for k in ("chain", "key")]
    if all(p.exists() for p in needed) and (trust / ROOT_PEM).exists():
        return pki
    with home_lock(settings):
        if all(p.exists() for p in needed) and (trust / ROOT_PEM).exists():
            return pki
        keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        trust.mkdir(parents=True, exist_ok=True)
        root = make_ca("kinoseal development root CA")
        inter = make_ca("kinoseal development intermediate CA", issuer=root)
        gen = make_leaf("kinoseal generator (development)", inter)
        cap = make_leaf("kinoseal capture signer (development)", inter)
        write_private(keys / "root-ca.key.pem", root.key_pem)
        write_public(keys / "root-ca.pem", root.cert_pem)
        write_private(keys / "intermediate.key.pem", inter.key_pem)
        write_public(keys / "intermediate.pem", inter.cert_pem)
        for role, leaf in (("generator", gen), ("capture", cap)):
            write_private(keys / f"{role}.key.pem", leaf.key_pem)
            write_public(keys / f"{role}.chain.pem", chain_pem(leaf, inter))
        write_public(trust / ROOT_PEM, root.cert_pem)
    return pki


def trust_store(
    settings: Settings,
    extra: list[Path] | tuple[Path, ...] = (),
    *,
    allowed: list[Path] | tuple[Path, ...] = (),
    trust_config: list[Path] | tuple[Path, ...] = (),
    cawg: list[Path] | tuple[Path, ...] = (),
    tsa: list[Path] | tuple[Path, ...] = (),
    settings_files: list[Path] | tuple[Path, ...] = (),
) -> TrustConfig:
    """This installation's trust configuration: the roots in ``<home>/trust``, the files the
    settings name (``KINOSEAL_TRUST*``), then the per-call files. Each part adds to the last."""
    anchors: list[Path] = [settings.trust_dir] if settings.trust_dir.is_dir() else []
    config = TrustConfig.from_paths(
        [*anchors, *settings.extra_trust, *extra],
        allowed=[*settings.trust_allowed, *allowed],
        trust_config=[*settings.trust_ekus, *trust_config],
        cawg_anchors=[*settings.cawg_trust, *cawg],
        tsa_anchors=[*settings.tsa_trust, *tsa],
    )
    for f in (*settings.trust_settings, *settings_files):
        config = config + TrustConfig.from_settings_file(Path(f))
    return config
