"""What a reader trusts, in the shape the C2PA SDKs use, and the c2pa ``Context`` built from it.

A ``TrustConfig`` holds, as text (never paths, never URLs):

- ``anchors``: PEM trust anchors for C2PA claim signers (roots or intermediates);
- ``allowed_list``: end-entity certificates trusted directly, as PEM or as lines of
  base64 SHA-256 hashes of the DER certificate (c2pa-rs "private credential store";
  such an entry cannot issue other certificates);
- ``trust_config``: extra allowed EKU OIDs, one per line (the ``store.cfg`` files the
  trust lists publish); C2PA's defaults (emailProtection, timeStamping, OCSPSigning,
  C2PA claim signing) always apply;
- ``cawg_anchors``: PEM anchors for CAWG identity assertions, kept apart from the
  claim-signer anchors;
- ``tsa_anchors``: PEM anchors for time-stamp authorities.

c2pa-rs 0.91 (c2pa-python 0.38) reads these from ``trust.anchors``, a list of
entries with a ``trust_kind`` of ``manifest``, ``cawg`` or ``tsa``; a top-level
``trust.allowed_list`` or a ``cawg_trust`` section is silently ignored by that
version (measured: the EBU/Sony clip stayed untrusted with them), so ``context``
writes only the list form.

Offline by design: remote manifest fetching and OCSP fetching are switched off,
so reading a hostile file never makes the verifier contact anything, and nothing
here downloads a trust list: a user loads a snapshot from a file
(``from_paths`` / ``from_settings_file``).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kinoseal.errors import CredentialError

OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}
_OID = re.compile(r"^[0-2](\.\d+)+$")
_HASH_LINE = re.compile(r"^[A-Za-z0-9+/]{43}=$")  # base64 of a SHA-256 digest


def _pem_certificates(text: str | bytes, source: str) -> str:
    """``text`` re-encoded as PEM certificates (PEM or one DER certificate); raises with the source named."""
    data = text.encode() if isinstance(text, str) else text
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise CredentialError(f"{source} is not a PEM (or DER) file of certificates") from None
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certs)


def _allowed_entries(text: str, source: str) -> str:
    """An allowed list: PEM certificates and/or base64 SHA-256 hash lines."""
    hashes = [ln.strip() for ln in text.splitlines() if _HASH_LINE.match(ln.strip())]
    pem = _pem_certificates(text, source) if "-----BEGIN" in text else ""
    if not pem and not hashes:
        raise CredentialError(f"{source} holds neither PEM certificates nor base64 SHA-256 certificate hashes")
    return pem + "".join(h + "\n" for h in hashes)


def _eku_lines(text: str, source: str) -> str:
    """The OID lines of a ``store.cfg`` (``//`` comments and blank lines dropped)."""
    oids = [ln.strip() for ln in text.splitlines() if _OID.match(ln.strip())]
    bad = [ln.strip() for ln in text.splitlines()
           if ln.strip() and not ln.strip().startswith(("//", "#")) and not _OID.match(ln.strip())]
    if bad:
        raise CredentialError(f"{source} is not an EKU configuration (one dotted OID per line)",
                              hint=f"cannot read line {bad[0][:60]!r}")
    return "".join(o + "\n" for o in oids)


def _read_bytes(path: Path, what: str) -> bytes:
    p = Path(path)
    if not p.exists():
        raise CredentialError(f"{what} file {p} does not exist")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read {what} from {p}", hint=exc.strerror or str(exc)) from None


def _read(path: Path, what: str) -> str:
    try:
        return _read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"{path} is not a text file ({what})") from None


def _pem_files(paths: tuple[Path, ...] | list[Path], what: str) -> str:
    """PEM (or DER) certificate files, or directories of ``*.pem`` / ``*.crt``."""
    out: list[str] = []
    for p in paths:
        p = Path(p)
        files = sorted([*p.glob("*.pem"), *p.glob("*.crt")]) if p.is_dir() else [p]
        out.extend(_pem_certificates(_read_bytes(f, what), str(f)) for f in files)
    return "".join(out)


def _join(a: str, b: str) -> str:
    if not a or not b:
        return a or b
    return a if a.endswith("\n") and b in a else a + ("" if a.endswith("\n") else "\n") + b


@dataclass(frozen=True)
class TrustConfig:
    """A reader's trust configuration (see the module docstring). Immutable and hashable,
    so a server can keep one c2pa ``Context`` per tenant configuration."""

    anchors: str = ""
    allowed_list: str = ""
    trust_config: str = ""
    cawg_anchors: str = ""
    tsa_anchors: str = ""

    # -- building -------------------------------------------------------------
    @classmethod
    def from_paths(
        cls,
        anchors: list[Path] | tuple[Path, ...] = (),
        *,
        allowed: list[Path] | tuple[Path, ...] = (),
        trust_config: list[Path] | tuple[Path, ...] = (),
        cawg_anchors: list[Path] | tuple[Path, ...] = (),
        tsa_anchors: list[Path] | tuple[Path, ...] = (),
    ) -> "TrustConfig":
        """Files (or directories of ``*.pem``) for each part; every file is checked here,
        so a wrong file fails once with its name instead of at every read."""
        return cls(
            anchors=_pem_files(anchors, "trust anchors"),
            allowed_list="".join(_allowed_entries(_read(Path(p), "allowed list"), str(p)) for p in allowed),
            trust_config="".join(_eku_lines(_read(Path(p), "EKU configuration"), str(p)) for p in trust_config),
            cawg_anchors=_pem_files(cawg_anchors, "CAWG trust anchors"),
            tsa_anchors=_pem_files(tsa_anchors, "time-stamp trust anchors"),
        )

    @classmethod
    def from_settings_file(cls, path: Path) -> "TrustConfig":
        """A snapshot in the c2pa-rs settings shape (JSON or TOML, as c2patool reads it):
        ``trust.trust_anchors`` / ``trust.user_anchors`` / ``trust.allowed_list`` /
        ``trust.trust_config`` (legacy), ``trust.anchors[]`` entries with ``trust_kind``
        (c2pa-rs 0.91), and ``cawg_trust.*``. Values are file contents, as in c2pa-rs."""
        text = _read(Path(path), "trust settings")
        try:
            doc = tomllib.loads(text) if Path(path).suffix.lower() == ".toml" else json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise CredentialError(f"{path} is not a c2pa settings file (JSON or TOML)", hint=str(exc)[:200]) from None
        return cls.from_settings_dict(doc, str(path))

    @classmethod
    def from_settings_dict(cls, doc: Any, source: str = "trust settings") -> "TrustConfig":
        if not isinstance(doc, dict):
            raise CredentialError(f"{source}: expected an object with a 'trust' section")
        trust = doc.get("trust") or {}
        cawg = doc.get("cawg_trust") or {}
        if not isinstance(trust, dict) or not isinstance(cawg, dict):
            raise CredentialError(f"{source}: 'trust' and 'cawg_trust' must be objects")
        parts: dict[str, list[str]] = {f.name: [] for f in fields(cls)}

        def add(name: str, value: Any) -> None:
            if value in (None, ""):
                return
            if not isinstance(value, str):
                raise CredentialError(f"{source}: {name} must hold the file's contents as a string")
            check = {"allowed_list": _allowed_entries, "trust_config": _eku_lines}.get(name, _pem_certificates)
            parts[name].append(check(value, f"{source} ({name})"))

        for key in ("trust_anchors", "user_anchors"):
            add("anchors", trust.get(key))
        add("allowed_list", trust.get("allowed_list"))
        add("trust_config", trust.get("trust_config"))
        kinds = {"manifest": ("anchors", "allowed_list"), "cawg": ("cawg_anchors", None), "tsa": ("tsa_anchors", None)}
        for entry in trust.get("anchors") or []:
            kind = entry.get("trust_kind", "manifest") if isinstance(entry, dict) else None
            if kind not in kinds:
                raise CredentialError(f"{source}: trust.anchors entries need trust_kind manifest, cawg or tsa")
            anchors_field, allowed_field = kinds[kind]
            add(anchors_field, entry.get("trust_anchors"))
            if allowed_field:
                add(allowed_field, entry.get("allowed_list"))
            add("trust_config", entry.get("trust_config"))
        add("cawg_anchors", cawg.get("trust_anchors"))
        add("cawg_anchors", cawg.get("user_anchors"))
        return cls(**{k: "".join(v) for k, v in parts.items()})

    @classmethod
    def from_text(cls, text: str) -> "TrustConfig":
        """The inverse of ``to_text``; a plain PEM bundle (the older single-field form) is anchors."""
        if text.lstrip().startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError:
                raise CredentialError("the stored trust configuration is not valid JSON") from None
            known = {f.name for f in fields(cls)}
            return cls(**{k: str(v) for k, v in doc.items() if k in known and v})
        return cls(anchors=text)

    def to_text(self) -> str:
        """One string for a database column: plain PEM when only anchors are set (readable
        by older code), else JSON of the non-empty parts."""
        parts = {k: v for k, v in asdict(self).items() if v}
        return self.anchors if set(parts) <= {"anchors"} else json.dumps(parts, sort_keys=True)

    def __add__(self, other: "TrustConfig") -> "TrustConfig":
        return TrustConfig(**{f.name: _join(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)})

    # -- reading ----------------------------------------------------------------
    @property
    def pem(self) -> str:
        """The claim-signer anchors (the name the single-list ``TrustStore`` had)."""
        return self.anchors

    @property
    def certificates(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.anchors.encode()) if self.anchors else []

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for f in fields(self):
            h.update(f.name.encode() + b"\0" + getattr(self, f.name).encode() + b"\0")
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, int]:
        """How many entries of each part (for ``kinoseal doctor``, reports and logs)."""
        count = lambda pem: pem.count("-----BEGIN CERTIFICATE-----")  # noqa: E731
        return {
            "anchors": count(self.anchors),
            "allowed": count(self.allowed_list) + sum(bool(_HASH_LINE.match(ln)) for ln in self.allowed_list.splitlines()),
            "ekus": len([ln for ln in self.trust_config.splitlines() if ln.strip()]),
            "cawg_anchors": count(self.cawg_anchors),
            "tsa_anchors": count(self.tsa_anchors),
        }

    def settings_dict(self) -> dict[str, Any]:
        """The c2pa-rs settings for reading and signing: claim-signer anchors (with the
        allowed list), TSA anchors and the EKU configuration - not the CAWG anchors.

        c2pa-rs 0.91.3 pools all ``trust.anchors`` entries whatever their ``trust_kind``
        (measured: a claim signer chaining only to a ``cawg`` entry read Trusted), so the
        CAWG anchors go only into ``identity_context``, read separately
        (``credentials.reading``). The TSA anchors cannot be separated that way (the
        time-stamp is checked in the same pass as the signer): a TSA root loaded here can
        also vouch for a claim signer, and the README says so.
        """
        entries: list[dict[str, str]] = []
        if self.anchors or self.allowed_list:
            entry = {"trust_kind": "manifest", "trust_uri": "kinoseal:manifest", "trust_anchors": self.anchors}
            if self.allowed_list:
                entry["allowed_list"] = self.allowed_list
            entries.append(entry)
        if self.tsa_anchors:
            entries.append({"trust_kind": "tsa", "trust_uri": "kinoseal:tsa", "trust_anchors": self.tsa_anchors})
        return self._settings(entries)

    def identity_settings_dict(self) -> dict[str, Any]:
        """Settings whose only anchors are the CAWG identity anchors (see ``settings_dict``)."""
        entries = [{"trust_kind": "cawg", "trust_uri": "kinoseal:cawg", "trust_anchors": self.cawg_anchors}] \
            if self.cawg_anchors else []
        return self._settings(entries)

    def snapshot_dict(self) -> dict[str, Any]:
        """Every part, in the c2pa-rs settings shape, for a file (``from_settings_file``
        reads it back). Not for a Context: it pools the CAWG anchors with the others."""
        doc = self.settings_dict()
        if self.cawg_anchors:
            doc.setdefault("trust", {}).setdefault("anchors", []).extend(self.identity_settings_dict()["trust"]["anchors"])
        return doc

    def _settings(self, entries: list[dict[str, str]]) -> dict[str, Any]:
        settings: dict[str, Any] = {"verify": dict(OFFLINE)}
        # With no entries the library's default applies, which trusts nothing (an empty
        # anchor string with nothing else is rejected by c2pa-rs as an unparsable certificate).
        trust: dict[str, Any] = {}
        if entries:
            trust["anchors"] = entries
        if self.trust_config:
            trust["trust_config"] = self.trust_config
        if trust:
            settings["trust"] = trust
        return settings

    def context(self) -> c2pa.Context:
        return self._context(self.settings_dict())

    def identity_context(self) -> c2pa.Context:
        return self._context(self.identity_settings_dict())

    @staticmethod
    def _context(settings: dict[str, Any]) -> c2pa.Context:
        try:
            return c2pa.Context.from_dict(settings)
        except c2pa.C2paError as exc:
            raise CredentialError("the trust configuration was rejected by the C2PA library",
                                  hint=str(exc)[:200]) from None


# The single-list name other modules import; a TrustStore(pem) is a TrustConfig with anchors only.
TrustStore = TrustConfig
