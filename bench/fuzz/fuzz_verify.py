"""Coverage-guided fuzzing of the media and manifest paths with atheris.

Run (a benchmark, not part of CI; needs the ``fuzz`` extra):
  .venv/bin/python -m bench.fuzz.fuzz_verify -max_total_time=600 -rss_limit_mb=4096 CORPUS_DIR
or through the wrapper that also writes the figures:
  .venv/bin/python -m bench.fuzz.run --seconds 600

Every input is written to a file and verified in-process with the real Verifier
(probe + C2PA validation + decode + watermark). The only acceptable outcomes
are a report or a KinosealError; anything else is a finding and atheris stops
with the crashing input saved.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["mediaio", "credentials", "verify", "watermark"]):
    from kinoseal.config import Limits, Settings
    from kinoseal.errors import KinosealError
    from kinoseal.verify.verifier import Verifier

_HOME = Path(os.environ.get("KINOSEAL_FUZZ_HOME") or tempfile.mkdtemp(prefix="kinoseal-fuzz-home-"))
_SETTINGS = Settings(home=_HOME, limits=Limits(max_file_bytes=8 * 1024**2, max_pixels=1920 * 1088,
                                              max_width=4096, max_height=4096, max_frames=2000, verify_max_frames=16))
_WORK = Path(tempfile.mkdtemp(prefix="kinoseal-fuzz-"))
_VERIFIER = None


def _verifier() -> Verifier:
    global _VERIFIER
    if _VERIFIER is None:
        from kinoseal.credentials.home import ensure_dev_pki
        from kinoseal.watermark.keyring import load_keyring

        ensure_dev_pki(_SETTINGS)
        load_keyring(_SETTINGS.keys_dir / "watermark")
        _VERIFIER = Verifier.from_settings(_SETTINGS)
    return _VERIFIER


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    path = _WORK / "input.mp4"
    path.write_bytes(data)
    try:
        _verifier().verify(path)
    except KinosealError:
        pass


def main() -> None:
    _verifier()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
