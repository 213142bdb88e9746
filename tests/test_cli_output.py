"""The CLI as people use it: text that wraps (in a terminal and in a pipe) instead of being cut,
JSON Lines for results and errors, usage mistakes as usage errors (exit 2), one mention of the
file per error line, progress on a terminal only, no stray library progress bars."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import KINOSEAL

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _pty(cols: int) -> tuple[int, int]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    return master, slave


def _drain(fds: list[int], proc: subprocess.Popen, timeout: float = 300) -> dict[int, bytes]:
    got = {fd: b"" for fd in fds}
    open_fds = list(fds)
    deadline = time.monotonic() + timeout
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(open_fds, [], [], 0.2)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed its end (EIO on Linux)
                data = b""
            if data:
                got[fd] += data
            else:
                open_fds.remove(fd)
        if not ready and proc.poll() is not None:
            break
    proc.wait(30)
    return got


def _panel_text(text: str) -> tuple[list[str], str]:
    """The lines of the panels, and their content joined back into one line of words."""
    lines = [ln for ln in ANSI.sub("", text).replace("\r", "").splitlines() if ln.strip()]
    inner = [ln.strip("│╭╮╰╯─ ") for ln in lines]
    return lines, " ".join(" ".join(inner).split())


# Evidence of a labeled clip that runs past 60 columns; before the fix the panel cut each at the width.
LONG_EVIDENCE = ("source type trainedAlgorithmicMedia", "(issued by 'kinoseal development'): trusted",
                 "resolves to original Content Credentials")


def test_text_wraps_in_a_terminal_and_progress_shows_while_the_model_loads(home, labeled):
    """stdout on a 60-column terminal, stderr on another: the panel wraps at 60 columns with every
    word kept, and stderr shows what is loading (the classifier takes ~3 s)."""
    out_m, out_s = _pty(60)
    err_m, err_s = _pty(100)
    env = {**os.environ, "KINOSEAL_HOME": str(home), "TERM": "xterm-256color"}
    for k in ("COLUMNS", "LINES", "KINOSEAL_DEBUG", "KINOSEAL_CLASSIFIER"):
        env.pop(k, None)
    proc = subprocess.Popen([str(KINOSEAL), "verify", str(labeled)], stdout=out_s, stderr=err_s, env=env)
    os.close(out_s)
    os.close(err_s)
    got = _drain([out_m, err_m], proc)
    assert proc.returncode == 0, got
    lines, words = _panel_text(got[out_m].decode())
    assert max(len(ln) for ln in lines) <= 60, lines
    for phrase in LONG_EVIDENCE:
        assert phrase in words, (phrase, lines)
    progress = ANSI.sub("", got[err_m].decode())
    assert "loading the classifier model" in progress and f"checking {labeled.name}" in progress


def test_text_wraps_in_a_pipe_without_progress(run_cli, labeled, signed_capture):
    proc = run_cli("verify", labeled, signed_capture, env={"COLUMNS": "50", "KINOSEAL_CLASSIFIER": "none"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", "no spinner or progress bar in a pipe"
    lines, words = _panel_text(proc.stdout)
    assert max(len(ln) for ln in lines) <= 50, lines
    for phrase in (*LONG_EVIDENCE[:2], "A trusted signer states this is a camera recording"):
        assert phrase in words, (phrase, proc.stdout)
    assert "\x1b[" not in proc.stdout


def test_errors_are_json_lines_and_name_the_file_once(run_cli, tmp_path, labeled):
    garbage = tmp_path / "holiday.mp4"
    garbage.write_bytes(b"not a video" * 100)
    missing = tmp_path / "missing.mp4"
    env = {"KINOSEAL_CLASSIFIER": "none"}
    proc = run_cli("verify", "--json", missing, labeled, garbage, env=env)
    assert proc.returncode == 2
    rows = [json.loads(line) for line in proc.stdout.splitlines()]  # every line is one JSON document
    assert [r["file"] for r in rows] == ["missing.mp4", "labeled.mp4", "holiday.mp4"]
    assert rows[0]["error"] == rows[2]["error"] == "invalid_input" and rows[1]["verdict"] == "ai_generated"

    text = run_cli("verify", missing, garbage, env=env)
    assert text.returncode == 2 and text.stdout == ""
    lines = text.stderr.splitlines()
    assert len(lines) == 2 and all(ln.startswith("error: ") for ln in lines), lines
    assert lines[0].count("missing.mp4") == 1 and lines[1].count("holiday.mp4") == 1, lines


@pytest.mark.parametrize("args, what", [
    (("verify",), "Missing argument"),
    (("verify", "--bogus", "x.mp4"), "No such option: --bogus"),
    (("frobnicate",), "No such command 'frobnicate'"),
])
def test_usage_mistakes_print_usage_and_exit_2(run_cli, args, what):
    proc = run_cli(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("Usage: kinoseal") and what in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_usage_mistake_with_json_is_a_json_line(run_cli):
    proc = run_cli("verify", "--json")
    assert proc.returncode == 2 and "Usage: kinoseal verify" in proc.stderr
    assert json.loads(proc.stdout) == {"error": "usage", "detail": "Missing argument 'CLIP'."}


def test_loading_the_generator_prints_no_library_progress_bar(capfd):
    """transformers 5 draws a "Loading weights" tqdm bar on stderr while it loads the text encoder
    (seen in every `kinoseal generate`); load_model turns it off."""
    import transformers

    from kinoseal.generate import run

    if not run.default_model_available():
        pytest.skip("the shipped generator weights are not in this checkout")
    transformers.utils.logging.enable_progress_bar()  # as in a fresh process
    run._cache.pop(str(run.DEFAULT_MODEL_DIR.resolve()), None)
    run.load_model()
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "it/s" not in err, err
