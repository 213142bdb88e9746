from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kinoseal.config import Settings

ROOT = Path(__file__).resolve().parents[1]
KINOSEAL = Path(sys.executable).with_name("kinoseal")


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kinoseal-home")


@pytest.fixture(scope="session")
def settings(home) -> Settings:
    return Settings(home=home)


@pytest.fixture(scope="session")
def run_cli(home):
    """Run the installed ``kinoseal`` console script as a user would."""

    def run(*args: str, check: bool = False, env: dict | None = None, cwd: Path | None = None):
        e = {**os.environ, "KINOSEAL_HOME": str(home), "COLUMNS": "200", **(env or {})}
        e.pop("KINOSEAL_DEBUG", None)
        proc = subprocess.run([str(KINOSEAL), *map(str, args)], capture_output=True, text=True, env=e, cwd=cwd, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"kinoseal {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def ai_source(workdir) -> Path:
    from testkit.clips import generated_like_frames, write_clip

    return write_clip(workdir / "ai_source.mp4", generated_like_frames(48))


@pytest.fixture(scope="session")
def labeled(run_cli, ai_source, workdir) -> Path:
    out = workdir / "labeled.mp4"
    run_cli("label", ai_source, "-o", out, "--generator", "test-model", "--generator-version", "9.9", check=True)
    return out


@pytest.fixture(scope="session")
def capture_src(workdir) -> Path:
    from testkit.clips import CARPHONE

    dst = workdir / "carphone.mp4"
    shutil.copyfile(CARPHONE, dst)
    return dst


@pytest.fixture(scope="session")
def signed_capture(run_cli, capture_src, workdir) -> Path:
    out = workdir / "carphone.signed.mp4"
    run_cli("sign-capture", capture_src, "-o", out, check=True)
    return out
