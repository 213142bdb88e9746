"""The service's optional isolated verification (verify.sandbox child process per clip)."""

from __future__ import annotations

import pytest

from kinoseal.api.http.config import ServiceSettings
from kinoseal.api.http.services import Service
from kinoseal.errors import InputError


@pytest.fixture()
def service(settings, tmp_path):
    s = ServiceSettings(core=settings, isolate=True, database_url=f"sqlite:///{tmp_path / 'svc.sqlite3'}")
    svc = Service(s)
    yield svc
    svc.close()


def test_isolated_verify_matches_in_process(service, labeled, signed_capture, tmp_path):
    pytest.importorskip("kinoseal.verify.sandbox")
    assert service.verify_path(labeled, None)["verdict"] == "ai_generated"
    service.store.ensure_tenant("t")
    assert service.verify_path(signed_capture, "t", "cam.mp4")["file"] == "cam.mp4"
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"junk" * 100)
    with pytest.raises(InputError):
        service.verify_path(bad, None)
