"""Run the atheris harness for a fixed budget on a seed corpus and write the figures.

Run: .venv/bin/python -m bench.fuzz.run --seconds 600   (writes bench/results/fuzz.{json,md})
Seeds: small valid clips (signed, labeled, plain MP4/MKV/WebM) from the hostile corpus generator.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--rss-mb", type=int, default=4096)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    from bench.hostile.corpus import synthetic_frames, encode

    tmp = Path(tempfile.mkdtemp(prefix="kinoseal-fuzzrun-"))
    seeds = tmp / "seeds"
    seeds.mkdir()
    # small seeds keep each execution fast (the fuzzer mutates them)
    encode(seeds / "a.mp4", "libx264", "yuv420p", synthetic_frames(4, 32, 48))
    encode(seeds / "b.mkv", "libx264", "yuv420p", synthetic_frames(3, 32, 32), fmt="matroska")
    encode(seeds / "c.webm", "libvpx-vp9", "yuv420p", synthetic_frames(2, 32, 32), fmt="webm")
    from kinoseal.label import sign_capture
    from kinoseal.credentials.home import ensure_dev_pki, trust_store
    from kinoseal.label import SOFTWARE
    from kinoseal.config import Settings

    home = tmp / "home"
    s = Settings(home=home)
    sign_capture(seeds / "a.mp4", seeds / "a.signed.mp4", ensure_dev_pki(s).identity("capture"), software=SOFTWARE,
                 trust=trust_store(s))
    crashes = tmp / "crashes"
    crashes.mkdir()
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz" / "fuzz_verify.py"), f"-max_total_time={args.seconds}",
         f"-rss_limit_mb={args.rss_mb}", "-timeout=60", f"-artifact_prefix={crashes}/", str(seeds)],
        capture_output=True, text=True, env={**os.environ, "KINOSEAL_FUZZ_HOME": str(home)},
    )
    elapsed = time.perf_counter() - t0
    log = proc.stderr
    execs = [int(m) for m in re.findall(r"#(\d+)\s", log)]
    cov = [int(m) for m in re.findall(r"cov: (\d+)", log)]
    rss = [int(m) for m in re.findall(r"rss: (\d+)Mb", log)]
    found = sorted(p.name for p in crashes.iterdir())
    res = {
        "command": f"python -m bench.fuzz.run --seconds {args.seconds}",
        "seconds": round(elapsed, 1), "executions": max(execs) if execs else 0,
        "coverage_edges": max(cov) if cov else 0, "exit_code": proc.returncode,
        "findings": found, "peak_rss_mb": max(rss) if rss else None,
        "atheris_version": importlib.metadata.version("atheris"),
        # the machine is shared: executions per second depend on what else ran
        "loadavg_1m_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "log_tail": log[-3000:],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fuzz.json").write_text(json.dumps(res, indent=2))
    md = [
        "# Coverage-guided fuzzing (atheris) of verify: probe + C2PA + decode + watermark",
        "",
        f"Command: `{res['command']}`; seeds: 4 small clips (MP4, signed MP4, MKV, WebM).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| budget | {args.seconds} s |",
        f"| inputs executed | {res['executions']} |",
        f"| coverage (edges, Python-instrumented) | {res['coverage_edges']} |",
        f"| crashes / uncaught exceptions / timeouts / OOM | {len(found)} {('(' + ', '.join(found) + ')') if found else ''} |",
        f"| fuzzer exit code | {proc.returncode} |",
        f"| peak RSS of the fuzzing process | {res['peak_rss_mb']} MB (limit {args.rss_mb} MB) |",
        "",
        f"atheris {res['atheris_version']}; 1-min load average at start/end {res['loadavg_1m_start_end']} "
        "(2 CPUs, shared: executions per second fall when other work runs).",
    ]
    (args.out / "fuzz.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    # the corpus the fuzzer grew (its seeds folder): kept in the ignored tmp/ for the hostile
    # campaign (bench/hostile/campaign.py --fuzz-corpus, the default folder)
    corpus_keep = ROOT / "tmp" / "fuzz-corpus"
    corpus_keep.mkdir(parents=True, exist_ok=True)
    for p in seeds.iterdir():
        if p.is_file():
            shutil.copy(p, corpus_keep / p.name)
    if found:
        keep = ROOT / "bench" / "results" / "fuzz_findings"
        keep.mkdir(exist_ok=True)
        for p in crashes.iterdir():
            shutil.copy(p, keep / p.name)


if __name__ == "__main__":
    main()
