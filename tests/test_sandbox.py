"""Verification of untrusted files in a limited child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kinoseal.errors import LimitExceeded
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
    # 1 MB more than the worker forks with: its first allocations fail. Whichever library fails first
    # (SQLite calls it a disk I/O error), the answer names memory; the parent goes on.
    with pytest.raises((SandboxError, LimitExceeded), match="memory"):
        verify_isolated(labeled, settings, limits=SandboxLimits(memory_bytes=1024**2))
    assert verify_isolated(labeled, settings)["verdict"] == "ai_generated"


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


def test_workers_fork_from_a_warm_server_and_match_the_library(settings, labeled, signed_capture):
    # The preloaded classifier, used in a fork, scores exactly as a verifier loaded in this process.
    from kinoseal.verify.verifier import Verifier

    verifier = Verifier.from_settings(settings)
    for clip in (labeled, signed_capture):
        stats: dict = {}
        isolated = verify_isolated(clip, settings, stats=stats)
        here = verifier.verify(clip).to_dict()
        assert stats["warm"] is True and stats["returncode"] == 0
        assert isolated["verdict"] == here["verdict"]
        assert isolated["classifier"] == here["classifier"] and isolated["watermark"] == here["watermark"]


def test_the_fork_server_starts_no_thread_that_a_fork_would_lose():
    # numpy's and scipy's OpenBLAS threads stop themselves before a fork; anything the preload adds
    # (torch's OpenMP pool, if the weights were copied on several threads) would be missing in each
    # worker, which then waits for it forever.
    code = ("import os, numpy, scipy.ndimage, scipy.sparse\n"
            "n = lambda: len(os.listdir('/proc/self/task'))\n"
            "before = n()\n"
            "from kinoseal.verify import sandbox\n"
            "sandbox._preload()\n"
            "assert 'classifier' in sandbox._PRELOADED\n"
            "print(before, n())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = map(int, out.stdout.split())
    assert after == before


def test_a_timeout_or_a_dead_server_costs_one_clip(settings, labeled):
    from kinoseal.verify import sandbox

    with pytest.raises(SandboxError, match="longer than"):
        verify_isolated(labeled, settings, limits=SandboxLimits(wall_seconds=0.05))
    assert verify_isolated(labeled, settings)["verdict"] == "ai_generated"
    pid = sandbox._SERVER.pid()
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    stats: dict = {}
    assert verify_isolated(labeled, settings, stats=stats)["verdict"] == "ai_generated"
    assert sandbox._SERVER.pid() != pid and stats["warm"] is True


def test_the_fork_server_exits_with_its_parent(labeled, home):
    code = ("import sys; from pathlib import Path\n"
            "from kinoseal.config import Settings\n"
            "from kinoseal.verify import sandbox\n"
            "r = sandbox.verify_isolated(Path(sys.argv[1]), Settings(home=Path(sys.argv[2])))\n"
            "print(sandbox._SERVER.pid(), r['verdict'])\n")
    out = subprocess.run([sys.executable, "-c", code, str(labeled), str(home)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    pid, verdict = out.stdout.split()
    assert verdict == "ai_generated"
    _wait_gone(int(pid))


def _wait_gone(pid: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A server started by this process stays a zombie until reaped: a zombie is gone too.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                return
        except OSError:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs {seconds:.0f} s later")


def test_a_worker_whose_parent_left_is_stopped(settings, labeled):
    # The parent (a server thread, a CLI run) goes away while the worker runs: its keeper stops the
    # worker at once instead of letting it run to the wall-clock limit (300 s by default).
    from kinoseal.verify import sandbox

    assert sandbox.warm_up(wait=True)
    server = sandbox._SERVER.pid()
    for _ in range(5):
        sock = sandbox._SERVER.submit(sandbox._request(labeled, settings, SandboxLimits()))
        caught = _catch_worker(server)
        if caught is not None:
            break
        sock.close()  # the clip was verified before the worker could be caught: again
    else:
        pytest.fail("no worker caught while it ran")
    keeper, worker = caught
    os.kill(worker, signal.SIGSTOP)  # it would finish on its own in a fraction of a second
    sock.close()
    _wait_gone(worker, 10.0)
    _wait_gone(keeper, 10.0)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _catch_worker(server: int, seconds: float = 10.0) -> tuple[int, int] | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for keeper in _children(server):
            for worker in _children(keeper):
                return keeper, worker
        time.sleep(0.002)
    return None
