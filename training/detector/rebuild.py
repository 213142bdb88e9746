"""Rebuild the shipped default classifier, ``kinodet_duo``, from the repo plus ``../shared/``, on CPU,
with one command (issue 22):

    .venv/bin/python -m kinoseal.training.detector.rebuild                        # into detect/models and bench/results
    .venv/bin/python -m kinoseal.training.detector.rebuild --out tmp/rebuild      # elsewhere, to compare before shipping
    .venv/bin/python -m kinoseal.training.detector.rebuild --dry-run              # the commands, nothing run
    .venv/bin/python -m kinoseal.training.detector.rebuild --out tmp/rebuild --from ensemble   # resume at a step

The steps are the documented training commands, run one after the other as their own processes (each
script stays the one place its recipe lives; a step that fails stops the rebuild and names itself):

1. ``xgen``: the real footage (``realdata``) and kino-tiny clips it needs, cached under ``tmp/detect/``,
   the residual features, the one-family-out protocol and ``kinodet_xgen`` (the features-only generalist).
2. ``rcnn``: the residual CNN and its blend with the features, ``kinodet_xgen_rcnn`` (the default's
   generalist), and its out-of-fold scores.
3. ``data``: the specialist's clips (``dataset``: the shipped generator's watermark-free frames and
   camera footage) in ``tmp/detect/data2``.
4. ``specialist``: ``kinodet_r10t_64`` (by-source protocol, then the model) and its out-of-fold real scores.
5. ``ensemble``: the gate's protocol and ``kinodet_duo``, from the two members just built.
6. ``check``: the rebuilt ``kinodet_duo`` loaded through the verifier's own loader and run on a clip of
   the shared set; then every metric of the rebuilt models beside the shipped ones'
   (``detector_rebuild.{json,md}`` in the results folder).

Model versions default to the shipped ones (read from their ``config.json``), so a rebuild into
``detect/models`` replaces each folder with the same recipe retrained. CPU training is not
bit-reproducible (thread scheduling, the generator's sampling), so the numbers move a little between
rebuilds; the check step shows by how much. Data caches under ``tmp/detect/`` are reused when present
(delete that folder for a rebuild from nothing).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "detect" / "models"
RESULTS = REPO / "bench" / "results"
TMP = REPO / "tmp" / "detect"
DATA2 = TMP / "data2"
SPECIALIST_OOF = TMP / "oof_kinodet_r10t_64.json"
MEMBERS = ("kinodet_xgen", "kinodet_xgen_rcnn", "kinodet_r10t_64", "kinodet_duo")


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    commands: tuple[tuple[str, ...], ...]  # module + arguments, each run as ``python -m``


def shipped_version(name: str) -> str:
    """The version of a shipped model folder (what a rebuild reproduces)."""
    cfg = MODELS / name / "config.json"
    if not cfg.exists():
        raise SystemExit(f"{cfg} is missing: pass --versions {name}=X.Y.Z")
    return str(json.loads(cfg.read_text())["version"])


def plan(out: Path, results: Path, versions: dict[str, str], threads: int) -> list[Step]:
    mod = "kinoseal.training.detector."
    t = str(threads)
    return [
        Step("xgen", "data, features, one-family-out protocol, kinodet_xgen",
             ((mod + "train_xgen", "--version", versions["kinodet_xgen"], "--out", str(out / "kinodet_xgen"),
               "--results", str(results)),)),
        Step("rcnn", "residual CNN + blend, repository folds, kinodet_xgen_rcnn",
             ((mod + "train_rcnn", "--version", versions["kinodet_xgen_rcnn"],
               "--out", str(out / "kinodet_xgen_rcnn"), "--results", str(results)),)),
        Step("data", "the specialist's clips (kino-tiny's watermark-free frames, camera footage)",
             ((mod + "dataset", "--out", str(DATA2), "--only", "real"),
              (mod + "dataset", "--out", str(DATA2), "--only", "generated", "--n-gen-train", "160",
               "--n-gen-test", "40", "--n-gen-test25", "0", "--threads", t))),
        Step("specialist", "by-source protocol, kinodet_r10t_64, its out-of-fold real scores",
             ((mod + "train_default", "--data", str(DATA2), "--extra-real", str(TMP / "rw"), "--threads", t,
               "--version", versions["kinodet_r10t_64"], "--out", str(out / "kinodet_r10t_64"),
               "--results", str(results), "--oof-out", str(SPECIALIST_OOF)),)),
        Step("ensemble", "the gate's protocol, kinodet_duo",
             ((mod + "train_ensemble", "--version", versions["kinodet_duo"],
               "--specialist", str(out / "kinodet_r10t_64"), "--generalist", str(out / "kinodet_xgen_rcnn"),
               "--oof", str(SPECIALIST_OOF), "--out", str(out / "kinodet_duo"), "--results", str(results)),)),
    ]


def flat_numbers(d: object, prefix: str = "") -> dict[str, float]:
    """Every finite number in a nested dict, keyed by its path ("a / b / c")."""
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flat_numbers(v, f"{prefix} / {k}" if prefix else str(k)))
    elif isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(float(d)):
        out[prefix] = float(d)
    return out


def model_numbers(folder: Path) -> dict[str, float]:
    """A model folder's threshold and its metrics.json's "metrics" (what its model card reports)."""
    nums = {"threshold": float(json.loads((folder / "config.json").read_text())["threshold"])}
    metrics = folder / "metrics.json"
    if metrics.exists():
        nums.update(flat_numbers(json.loads(metrics.read_text()).get("metrics", {})))
    return nums


def numbers_of(folder: Path) -> dict[str, dict[str, float]]:
    """``model_numbers`` of every member folder present under ``folder``."""
    return {n: model_numbers(folder / n) for n in MEMBERS if (folder / n / "config.json").exists()}


def compare(shipped: dict[str, dict[str, float]], rebuilt: dict[str, dict[str, float]]) -> list[dict]:
    """Rows (model, metric, shipped, rebuilt) for every metric both report."""
    return [{"model": name, "metric": key, "shipped": v, "rebuilt": rebuilt[name][key]}
            for name in MEMBERS if name in shipped and name in rebuilt
            for key, v in shipped[name].items() if key in rebuilt[name]]


def smoke(folder: Path) -> dict:
    """The rebuilt default as a user runs a model folder (``KINOSEAL_CLASSIFIER=folder kinoseal verify``):
    the verifier's own loader, one decode, on the first AI clip of the shared set."""
    import tempfile

    from kinoseal.config import Settings
    from kinoseal.training.detector.realdata import SHARED, shared_ai_clips
    from kinoseal.verify.verifier import Verifier

    clip = next(iter(shared_ai_clips()), None)
    if clip is None:
        return {"model": str(folder), "clip": None}
    with tempfile.TemporaryDirectory(prefix="kinoseal-rebuild-") as home:
        report = Verifier.from_settings(Settings(home=Path(home), classifier_model=str(folder))).verify(SHARED / clip["file"])
    c = report.classifier
    if not c.available or c.score is None:
        raise SystemExit(f"the rebuilt model in {folder} did not score {clip['file']}: {c.note}")
    return {"model": str(folder), "clip": clip["file"], "generator": clip["generator"], "probability": float(c.score),
            "family": c.family, "classifier": c.model, "verdict": report.verdict.value}


def _num(x: float, signed: bool = False) -> str:
    """Counts as integers, rates and scores to 4 decimals."""
    if float(x).is_integer():
        return f"{int(x):+d}" if signed else str(int(x))
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def write_report(results: Path, out: Path, steps: list[dict], rows: list[dict], probe: dict, argv: list[str]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    out = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    doc = {"command": "python -m kinoseal.training.detector.rebuild " + " ".join(argv),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.machine()}, python {platform.python_version()}",
           "models": str(out), "steps": steps, "smoke": probe, "metrics": rows}
    (results / "detector_rebuild.json").write_text(json.dumps(doc, indent=2) + "\n")
    total = sum(s["seconds"] for s in steps)
    L = ["# The default classifier rebuilt with one command (issue 22)", "",
         f"Command: `{doc['command']}` ({doc['date']}, {doc['machine']}); models written to `{out}`; "
         f"{total / 60:.1f} min for the steps"
         + "".join(f"; steps run by `{r}`" for r in sorted({s['run'] for s in steps if s.get('run') and s['run'] != doc['command']}))
         + ".", "",
         "| step | what | minutes |", "|---|---|---|"]
    L += [f"| {s['step']} | {s['what']} | {s['seconds'] / 60:.1f} |" for s in steps]
    L += ["", "The rebuilt default through the verifier's loader: "
          + (f"`{probe.get('clip')}` ({probe.get('generator')}) scored {probe['probability']:.3f} by "
             f"{probe.get('classifier')}, family {probe.get('family') or 'unknown'}, verdict {probe.get('verdict')}."
             if probe.get("clip") else "not run (no shared clip to score).")
          if probe else "not checked.", "",
          "Shipped beside rebuilt (each model's threshold and its metrics.json; CPU training is not bit-reproducible):", "",
          "| model | metric | shipped | rebuilt | change |", "|---|---|---|---|---|"]
    L += [f"| {r['model']} | {r['metric']} | {_num(r['shipped'])} | {_num(r['rebuilt'])} | {_num(r['rebuilt'] - r['shipped'], True)} |"
          for r in rows]
    (results / "detector_rebuild.md").write_text("\n".join(L) + "\n")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None,
                    help="a folder for the models (default: detect/models, replacing the shipped ones)")
    ap.add_argument("--results", type=Path, default=None,
                    help="the bench results folder (default: bench/results, or OUT/results with --out)")
    ap.add_argument("--from", dest="start", default="xgen", help="the first step to run (resume)")
    ap.add_argument("--only", default=None, help="run this step alone")
    ap.add_argument("--threads", type=int, default=2, help="threads for the data and the specialist")
    ap.add_argument("--versions", nargs="*", default=[], metavar="NAME=VERSION",
                    help="versions of the rebuilt models (default: the shipped ones)")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)

    out = (args.out or MODELS).resolve()
    results = (args.results or (out / "results" if args.out else RESULTS)).resolve()
    versions = {n: shipped_version(n) for n in MEMBERS}
    for kv in args.versions:
        name, _, ver = kv.partition("=")
        if name not in versions or not ver:
            raise SystemExit(f"--versions takes NAME=VERSION with NAME one of {', '.join(MEMBERS)}; got {kv!r}")
        versions[name] = ver
    steps = plan(out, results, versions, args.threads)
    names = [s.name for s in steps] + ["check"]
    for want in (args.start, args.only):
        if want is not None and want not in names:
            raise SystemExit(f"no step {want!r}: the steps are {', '.join(names)}")
    first = names.index(args.only or args.start)
    last = names.index(args.only) if args.only else len(names) - 1
    todo = names[first:last + 1]

    # The shipped numbers, read before a rebuild in place replaces them.
    shipped_numbers = numbers_of(MODELS)
    # Step timings survive a failed or resumed rebuild: kept beside the results as each step ends.
    log_path = results / "detector_rebuild.steps.json"
    done = {}
    if first > 0 and log_path.exists():
        done = {s["step"]: s for s in json.loads(log_path.read_text())}
    for s in steps:
        if s.name not in todo:
            continue
        print(f"[rebuild] {s.name}: {s.what}", flush=True)
        t0 = time.time()
        for cmd in s.commands:
            line = [sys.executable, "-m", *cmd]
            print("  $ python " + " ".join(line[1:]), flush=True)
            if args.dry_run:
                continue
            rc = subprocess.run(line, cwd=REPO).returncode
            if rc != 0:
                raise SystemExit(f"step {s.name!r} failed (exit {rc}) running `python -m {' '.join(cmd)}`; "
                                 f"fix it, then resume with --from {s.name}")
        if args.dry_run:
            continue
        done[s.name] = {"step": s.name, "what": s.what, "seconds": round(time.time() - t0, 1),
                        "run": " ".join(["python -m kinoseal.training.detector.rebuild", *argv]),
                        "commands": ["python -m " + " ".join(c) for c in s.commands]}
        results.mkdir(parents=True, exist_ok=True)
        log_path.write_text(json.dumps([done[n] for n in names if n in done], indent=2) + "\n")
    if "check" not in todo or args.dry_run:
        return
    print("[rebuild] check: the rebuilt default in the verifier; metrics beside the shipped ones", flush=True)
    probe = smoke(out / "kinodet_duo") if (out / "kinodet_duo" / "config.json").exists() else {}
    rows = compare(shipped_numbers, numbers_of(out))
    write_report(results, out, [done[n] for n in names if n in done], rows, probe, argv)
    print(f"[rebuild] wrote {results / 'detector_rebuild.md'}")


if __name__ == "__main__":
    main()
