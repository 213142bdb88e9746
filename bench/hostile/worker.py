"""The campaign's in-process library runner: one long-lived child that verifies many inputs.

``python -m bench.hostile.worker HOME MEMORY_MB`` reads one JSON request a line on stdin
({"path": ..., "tier": "parse" | "full"}) and answers one JSON line on its own channel
(the original stdout; the library's own output goes to stderr). The parent
(``bench.hostile.campaign``) watches it: no answer within the per-input limit is a hang,
the child dying is a crash, and either costs one restart, not the campaign.

Tiers: ``full`` is the verifier as shipped without the classifier (C2PA, decode,
watermark search on up to 8 frames); ``parse`` is the same verifier without watermark
keys, so a decodable input costs a probe, the C2PA validation and the container open
(milliseconds) instead of the watermark's geometry search (about 0.5 s on any clip).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path


def _mem_kb() -> tuple[int, int]:
    rss = hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return rss, hwm


def _reset_peak() -> None:
    # "5" resets VmHWM (Linux >= 4.0), so each input's peak is its own
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def campaign_settings(home: Path):
    from kinoseal.config import Settings

    s = Settings.from_env(home=home, classifier_model="none")
    return replace(s, limits=replace(s.limits, verify_max_frames=8))


def verifiers(home: Path):
    from kinoseal.credentials.home import trust_store
    from kinoseal.verify.verifier import Verifier

    settings = campaign_settings(home)
    full = Verifier.from_settings(settings, load_classifier=False)
    parse = Verifier(settings=settings, trust=trust_store(settings), keyring=None)
    return {"full": full, "parse": parse}


def verify_one(verifier, path: Path) -> dict:
    from kinoseal.errors import KinosealError

    _reset_peak()
    t0 = time.perf_counter()
    try:
        report = verifier.verify(path)
        out = {"outcome": "report", "verdict": str(getattr(report.verdict, "value", report.verdict))}
    except KinosealError as exc:
        out = {"outcome": "clear_error", "kind": getattr(exc, "kind", type(exc).__name__),
               "error": str(exc)[:200]}
    except MemoryError:
        out = {"outcome": "memory_error", "error": traceback.format_exc()[-2000:]}
    except Exception as exc:  # noqa: BLE001 - the point: anything else is a finding
        out = {"outcome": "exception", "error": f"{type(exc).__name__}: {exc}"[:300],
               "traceback": traceback.format_exc()[-4000:]}
    rss, hwm = _mem_kb()
    out.update(seconds=round(time.perf_counter() - t0, 4), rss_kb=rss, peak_rss_kb=hwm)
    return out


def main() -> None:
    home, memory_mb = Path(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints (if any) must not corrupt the answers
    sys.stdout = sys.stderr
    vs = verifiers(home)
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        answers.write(json.dumps(verify_one(vs[req["tier"]], Path(req["path"]))) + "\n")


if __name__ == "__main__":
    main()
