"""Verification of untrusted files in a limited child process."""

from __future__ import annotations

import json
import os

import pytest

from verify.sandbox import SandboxError, SandboxLimits, verify_isolated


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
