"""What the HTTP handlers and the queue workers call: one ``Service`` per process.

It owns the store, the upload folder and one ``Verifier`` per tenant trust list
(each ``Verifier`` builds its own c2pa ``Context`` from its ``TrustConfig``, so
tenants never see each other's anchors). A tenant's stored trust is a plain PEM bundle
of anchors or a whole ``TrustConfig`` (``TrustConfig.to_text``: anchors, allowed list,
EKU configuration, CAWG and TSA anchors). Handlers stay thin: parse, call, answer.
"""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path
from typing import Any

from kinoseal.api.http.config import ServiceSettings
from kinoseal.api.http.store import Store, UploadStore
from kinoseal.api.http.store.db import Tenant
from kinoseal.credentials.home import trust_store
from kinoseal.credentials.trust import TrustConfig
from kinoseal.errors import InputError, KinosealError

HTTP_STATUS = {"invalid_input": 422, "limit_exceeded": 413, "credentials": 400, "output": 500, "error": 400,
               "unavailable": 501}
TITLES = {
    "invalid_input": "Unreadable or invalid input",
    "limit_exceeded": "Input over a limit",
    "credentials": "Credentials problem",
    "output": "Output could not be written",
    "error": "Request failed",
    "unavailable": "Not available on this server",
}


def user_message(exc: BaseException, names: dict[str, str] | None = None) -> str:
    """The error text with server paths and upload ids replaced by the user's file names."""
    text = str(exc)
    for internal, shown in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(internal, shown)
    return text


def error_dict(exc: KinosealError, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A KinosealError as the problem fields stored with a failed job."""
    return {"kind": exc.kind, "status": HTTP_STATUS.get(exc.kind, 400), "title": TITLES.get(exc.kind, "Error"),
            "detail": user_message(exc, names)}


# The route of routers/manifests.py (kept beside the service that fills it in).
MANIFEST_BY_WATERMARK = "/v1/manifests/by-watermark/{payload_id}"


class Service:
    def __init__(self, settings: ServiceSettings) -> None:
        from kinoseal.verify.verifier import check_watermark_names

        check_watermark_names(settings.verify_settings)  # a misconfigured server stops here, not at each request
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = Store(settings.db_url)
        self.uploads = UploadStore(settings.uploads_dir, self.store, ttl_s=settings.upload_ttl_s)
        settings.results_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._verifiers: dict[tuple, Any] = {}
        self._trusts: dict[tuple, TrustConfig] = {}  # the installation's, by home state

    def upload_names(self, upload_id: str, filename: str) -> dict[str, str]:
        return {str(self.uploads.path(upload_id)): filename, upload_id: filename}

    def close(self) -> None:
        self.store.dispose()

    # -- verification ----------------------------------------------------------------
    def _home_state(self) -> tuple:
        core = self.settings.core
        wm = core.keys_dir / "watermark"
        keys = tuple(sorted(p.name for p in wm.glob("*.json"))) if wm.is_dir() else ()
        trust = core.trust_dir
        trust_state = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in trust.glob("*.pem"))) if trust.is_dir() else ()
        return keys, (core.home / "provenance.sqlite3").exists(), trust_state

    def _tenant_trust(self, tenant: str | Tenant | None) -> tuple[tuple, TrustConfig | None, str]:
        """(cache key, the tenant's own trust or None, its mode "add" or "replace")."""
        t = tenant if isinstance(tenant, Tenant) else (self.store.tenant(tenant) if tenant else None)
        pem, mode = (t.trust_pem, t.trust_mode) if t else ("", "add")
        tenant_trust = TrustConfig.from_text(pem) if pem else None
        return (self._home_state(), tenant_trust.fingerprint if tenant_trust else "", mode), tenant_trust, mode

    def trust(self, tenant: str | Tenant | None) -> TrustConfig:
        """The tenant's trust: the installation's plus (or replaced by) the tenant's own."""
        return self._trust(*self._tenant_trust(tenant))

    def _trust(self, key: tuple, tenant_trust: TrustConfig | None, mode: str) -> TrustConfig:
        if tenant_trust is not None and mode == "replace":
            return tenant_trust
        with self._lock:
            base = self._trusts.get(key[0])
            if base is None:
                if len(self._trusts) > 8:
                    self._trusts.clear()
                base = self._trusts[key[0]] = trust_store(self.settings.verify_settings)
        return base + tenant_trust if tenant_trust is not None else base

    def verifier(self, tenant: str | Tenant | None):
        """The tenant's Verifier, with :meth:`trust`."""
        from kinoseal.verify.verifier import Verifier

        cache_key, tenant_trust, _ = found = self._tenant_trust(tenant)
        with self._lock:
            v = self._verifiers.get(cache_key)
        if v is not None:
            return v
        trust = self._trust(*found) if tenant_trust is not None else None  # else the base verifier's own
        with self._lock:
            v = self._verifiers.get(cache_key)
            if v is None:
                base = self._verifiers.get(cache_key[:1]) or Verifier.from_settings(self.settings.verify_settings)
                self._verifiers[cache_key[:1]] = base
                v = base if tenant_trust is None else Verifier(settings=base.settings, trust=trust,
                                                               keyring=base.keyring, registry=base.registry)
                if len(self._verifiers) > 64:
                    self._verifiers.clear()
                self._verifiers[cache_key] = v
        return v

    def _verify_isolated(self, path: Path, tenant: str | None, fragments: list[Path] | None = None) -> dict[str, Any]:
        from kinoseal.verify.sandbox import verify_isolated

        return verify_isolated(path, self.settings.verify_settings, fragments=tuple(fragments or ()),
                               trust=self.trust(tenant))

    def verify_path(self, path: Path, tenant: str | None, filename: str | None = None,
                    fragments: list[Path] | None = None) -> dict[str, Any]:
        """``fragments``: ``path`` is a fragmented MP4's init segment and these its fragments."""
        if self.settings.isolate:
            report = self._verify_isolated(path, tenant, fragments)
        else:
            report = self.verifier(tenant).verify(path, fragments=fragments or None).to_dict()
        if filename:
            report["file"] = filename
        prov = report.get("provenance") or {}
        if prov.get("found") and prov.get("payload_id"):
            # Where this service serves the recorded manifest: the HTTP layer's URL, not the verifier's.
            prov["link"] = MANIFEST_BY_WATERMARK.format(payload_id=prov["payload_id"])
        return report

    def probe(self, path: Path):
        from kinoseal.mediaio.probe import probe

        return probe(path, self.settings.limits)

    # -- other tasks -----------------------------------------------------------------
    def sign_capture(self, src: Path, dst: Path, *, device: str | None = None) -> str:
        """Sign an authentic recording with the server-held capture (newsroom) key."""
        from kinoseal.label import sign_capture
        from kinoseal.credentials.home import ensure_dev_pki
        from kinoseal.label import SOFTWARE

        core = self.settings.verify_settings
        identity = ensure_dev_pki(core).identity("capture")
        self.probe(src)
        sign_capture(src, dst, identity, software=SOFTWARE, trust=trust_store(core), device=device,
                     tsa_url=core.tsa_url or None)
        return identity.subject_cn

    def manifest_by_watermark(self, payload_id: str) -> dict[str, Any] | None:
        from kinoseal.credentials.provenance import default_registry

        if not (self.settings.home / "provenance.sqlite3").exists():
            return None
        rec = default_registry(self.settings.home).lookup(payload_id)
        return rec.to_dict() if rec else None

    def keyframes(self, path: Path, n: int | None = None, width: int = 200) -> list[dict[str, Any]]:
        """Up to ``n`` JPEG thumbnails spread evenly over the clip (base64)."""
        from PIL import Image

        from kinoseal.mediaio.reader import iter_frames

        n = n or self.settings.thumbnails
        info = self.probe(path)
        total = max(1, info.frame_count)
        wanted = sorted({min(total - 1, round(i * (total - 1) / max(1, n - 1))) for i in range(n)}) if n > 1 else [0]
        want = set(wanted)
        out: list[dict[str, Any]] = []
        for f in iter_frames(path, self.settings.limits, fmt="rgb24", select=lambda i: i in want, tolerant=True):
            img = Image.fromarray(f.planes[0])
            h = max(1, round(img.height * width / max(1, img.width)))
            img = img.resize((width, h), Image.BILINEAR)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=75)
            out.append({"index": f.index, "time": round(float(f.time), 3), "width": width, "height": h,
                        "jpeg_base64": base64.b64encode(buf.getvalue()).decode()})
            if len(out) >= n:
                break
        if not out:
            raise InputError("no frame of this clip could be decoded")
        return out
