"""Verification of untrusted files in a limited child process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kinoseal.verify.sandbox import SandboxError, SandboxLimits, verify_isolated


def test_isolated_verify_matches_in_process(run_cli, labeled, signed_capture):
    a = json.loads(run_cli("verify", "--json", labeled).stdout)
    b = json.loads(run_cli("verify", "--json", "--isolate", labeled).stdout)
    assert a["verdict"] == b["verdict"] == "ai_generated"
    assert a["watermark"]["payload_id"] == b["watermark"]["payload_id"]
    c = json.loads(run_cli("verify", "--json", "--isolate", signed_capture).stdout)
    assert c["verdict"] == "authentic"


def test_isolated_bad_file_is_a_clear_error(run_cli, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(5000))
    proc = run_cli("verify", "--isolate", bad)
    assert proc.returncode == 2 and "not a readable video" in proc.stderr and "Traceback" not in proc.stderr


def test_memory_limit_stops_the_child_not_the_parent(settings, labeled):
    with pytest.raises(SandboxError, match="could not be processed|memory"):
        verify_isolated(labeled, settings, limits=SandboxLimits(memory_bytes=150 * 1024**2))


def test_time_limit_stops_the_child(settings, labeled):
    with pytest.raises(SandboxError, match="longer than"):
        verify_isolated(labeled, settings, limits=SandboxLimits(wall_seconds=0.05))


def test_the_child_gets_every_setting():
    # The whole Settings crosses into the child: no option (trust configuration,
    # classifier policy...) is silently dropped on the way.
    from pathlib import Path

    from kinoseal.config import Limits, Settings
    from kinoseal.verify.sandbox import _decode, _encode

    s = Settings(home=Path("/tmp/h"), limits=Limits(verify_max_frames=7), extra_trust=(Path("/a.pem"),),
                 classifier_policy="when_needed", classifier_threshold=0.9)
    assert _decode(json.loads(json.dumps(_encode(s)))) == s


_DASH = Path(__file__).resolve().parents[2] / "shared" / "data" / "c2pa_conformance" / "video"


@pytest.mark.skipif(not (_DASH / "c2pars_dashinit.mp4").is_file(), reason="../shared/data/c2pa_conformance is absent")
def test_isolated_verify_of_an_init_segment_with_its_fragment(settings):
    report = verify_isolated(_DASH / "c2pars_dashinit.mp4", settings, fragments=[_DASH / "c2pars_dash1.m4s"])
    assert report["verdict"] != "tampered" and report["c2pa"]["validation_state"] == "Valid"
    assert report["media"]["frames_decoded"] > 0
