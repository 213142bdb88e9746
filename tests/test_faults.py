"""Faults while writing: a full disk during `kinoseal label` and `kinoseal generate`.

Two ways to fill a disk, both usable as root (CI runs as root, so a read-only
directory proves nothing there):
- RLIMIT_FSIZE on the child process: every write past the limit fails with EFBIG
  (SIGXFSZ is ignored so it is an OSError, not a kill). Needs no privilege.
- a real size-limited tmpfs as the output directory (ENOSPC), when mount is allowed.

Each failure must give exit code 4 (output error), one `error:` line on stderr that
names the output the user asked for and the reason, no traceback, and leave the
output directory exactly as it was: no output, no hidden temp files, an existing
file at the target untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.clips import synthetic_frames, write_clip
from tests.conftest import KINOSEAL

EXIT_OUTPUT = 4


@pytest.fixture(scope="module")
def fault_home(tmp_path_factory) -> Path:
    """A home of its own: its provenance registry stays small, so only the output can hit a limit."""
    return tmp_path_factory.mktemp("fault-home")


def run(home: Path, *args: object, fsize: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KINOSEAL_HOME": str(home), "COLUMNS": "200"}
    env.pop("KINOSEAL_DEBUG", None)

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death by signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([str(KINOSEAL), *map(str, args)], capture_output=True, text=True, env=env, timeout=600,
                          preexec_fn=limit_file_size if fsize is not None else None)


@pytest.fixture(scope="module")
def source(fault_home, tmp_path_factory) -> tuple[Path, int]:
    """A clip whose labeled output is large enough to split into "fits" and "does not fit",
    and the size of that output (a normal run, which also creates the keys)."""
    d = tmp_path_factory.mktemp("fault-src")
    src = write_clip(d / "src.mp4", synthetic_frames(48, h=288, w=384))
    out = d / "ok.mp4"
    proc = run(fault_home, "label", src, "-o", out)
    assert proc.returncode == 0, proc.stderr
    return src, out.stat().st_size


def assert_clean_failure(proc: subprocess.CompletedProcess, target: Path, reason: str,
                         before: dict[str, bytes]) -> None:
    assert proc.returncode == EXIT_OUTPUT, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    # (model loading draws tqdm bars on stderr; they are not messages)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not re.search(r"\d+%\|", ln)]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and str(target) in lines[0] and reason in lines[0], lines[0]
    assert proc.stdout.strip() == ""
    # nothing new (no output, no hidden temp file) and nothing changed
    after = {p.name: p.read_bytes() for p in target.parent.iterdir()}
    assert after == before


@contextlib.contextmanager
def small_filesystem(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``path``; skips when this machine does not allow mounting."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a size-limited tmpfs needs root; test_label_past_file_size_limit covers the same path")
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here ({proc.stderr.strip()}); "
                    "test_label_past_file_size_limit covers the same path")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_label_past_file_size_limit(fault_home, source, tmp_path):
    src, labeled_size = source
    limit = 64 * 1024  # above the home's SQLite files, far below the clip
    assert labeled_size > 2 * limit
    target = tmp_path / "out.mp4"
    proc = run(fault_home, "label", src, "-o", target, fsize=limit)
    assert_clean_failure(proc, target, "File too large", before={})


def test_label_with_a_full_home_is_a_clear_error(fault_home, source, tmp_path):
    # 16 KiB: the provenance registry's shared-memory file (32 KiB) cannot be created
    src, _ = source
    target = tmp_path / "out.mp4"
    proc = run(fault_home, "label", src, "-o", target, fsize=16 * 1024)
    assert proc.returncode == EXIT_OUTPUT and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "provenance registry" in lines[0] and "disk" in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("step", ["encode", "sign"])
def test_label_on_a_full_filesystem(fault_home, source, tmp_path, step):
    """encode: half the clip fits. sign: the unsigned temp file fits, the signed copy beside it does not
    (the C2PA library used to report that as "not a valid MP4", exit 2).

    The labeled size depends on the random payload (126-330 KB for one source over 28 runs), so a disk of
    1.5x another run's output now and then holds both files: that run must then have written a whole,
    verifiable clip, and the test tries again for a run that meets the full disk."""
    src, labeled_size = source
    size = labeled_size // 2 if step == "encode" else labeled_size * 3 // 2
    for attempt in range(4):
        with small_filesystem(tmp_path / f"disk{attempt}", size) as disk:
            target = disk / "out.mp4"
            before: dict[str, bytes] = {}
            if step == "sign":
                target.write_bytes(b"precious")  # an existing output survives a failed run
                before = {"out.mp4": b"precious"}
            proc = run(fault_home, "label", src, "-o", target)
            if step == "sign" and proc.returncode == 0:
                check = run(fault_home, "verify", target, "--json")
                assert json.loads(check.stdout)["verdict"] == "ai_generated", check.stdout + check.stderr
                continue
            assert_clean_failure(proc, target, "No space left on device", before)
            return
    pytest.fail("four labeled outputs all fit twice on a disk of 1.5x the first one's size")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from kinoseal.generate.pipeline import KinoVideoPipeline

    d = tmp_path_factory.mktemp("fault-model")
    KinoVideoPipeline.from_config_random(seed=0).save_pretrained(d)
    return d


def test_generate_on_a_full_filesystem(fault_home, source, tiny_model, tmp_path):
    # random weights make noisy frames: one second is far more than 64 KiB
    with small_filesystem(tmp_path / "disk", 64 * 1024) as disk:
        target = disk / "gen.mp4"
        proc = run(fault_home, "generate", "a red ball", "-o", target, "--model", tiny_model, "--seconds", "1",
                   "--steps", "1")
        assert_clean_failure(proc, target, "No space left on device", before={})


def test_generate_past_file_size_limit(fault_home, source, tiny_model, tmp_path):
    target = tmp_path / "gen.mp4"
    proc = run(fault_home, "generate", "a red ball", "-o", target, "--model", tiny_model, "--seconds", "1",
               "--steps", "1", fsize=64 * 1024)
    assert_clean_failure(proc, target, "File too large", before={})


def test_model_folder_swap_is_all_or_nothing(tmp_path):
    """Exports (training.generator.train, training.generator.vae) replace a model folder whole: a failure
    while writing keeps the previous folder intact and leaves no temp folder behind."""
    from kinoseal.mediaio.atomic import atomic_dir

    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "weights.bin").write_bytes(b"v1")
    assert (target / "weights.bin").read_bytes() == b"v1"
    with pytest.raises(RuntimeError), atomic_dir(target) as d:
        (d / "weights.bin").write_bytes(b"half")
        raise RuntimeError("disk full")
    assert (target / "weights.bin").read_bytes() == b"v1"
    with atomic_dir(target) as d:
        (d / "other.bin").write_bytes(b"v2")
    assert sorted(p.name for p in target.iterdir()) == ["other.bin"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o755)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
