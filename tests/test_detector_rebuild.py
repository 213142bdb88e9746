"""The one command that rebuilds the default classifier (``training.detector.rebuild``): its plan, its
resume and its report. The training itself is measured by running it (``bench/results/detector_rebuild.md``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kinoseal.training.detector import rebuild


def _plan(tmp_path: Path) -> list[rebuild.Step]:
    versions = {n: rebuild.shipped_version(n) for n in rebuild.MEMBERS}
    return rebuild.plan(tmp_path / "models", tmp_path / "results", versions, threads=2)


def test_plan_builds_every_member_of_the_default_into_the_chosen_folders(tmp_path):
    steps = _plan(tmp_path)
    assert [s.name for s in steps] == ["xgen", "rcnn", "data", "specialist", "ensemble"]
    argv = [list(c) for s in steps for c in s.commands]
    # every model is written under --out, every result under --results: a rebuild elsewhere touches no shipped file
    outs = [a[a.index("--out") + 1] for a in argv if "--out" in a and a[0].endswith((".train_xgen", ".train_rcnn",
                                                                                       ".train_default", ".train_ensemble"))]
    assert sorted(Path(o).name for o in outs) == sorted(rebuild.MEMBERS)
    assert all(Path(o).parent == tmp_path / "models" for o in outs)
    for a in argv:
        if "--results" in a:
            assert a[a.index("--results") + 1] == str(tmp_path / "results")
    # the ensemble is made of the members this rebuild trained, not the shipped ones
    ens = next(list(c) for s in steps if s.name == "ensemble" for c in s.commands)
    assert ens[ens.index("--specialist") + 1] == str(tmp_path / "models" / "kinodet_r10t_64")
    assert ens[ens.index("--generalist") + 1] == str(tmp_path / "models" / "kinodet_xgen_rcnn")
    # the specialist's out-of-fold scores go where the ensemble reads them
    spec = next(list(c) for s in steps if s.name == "specialist" for c in s.commands)
    assert spec[spec.index("--oof-out") + 1] == ens[ens.index("--oof") + 1]


def test_versions_default_to_the_shipped_models(tmp_path):
    shipped = json.loads((rebuild.MODELS / "kinodet_duo" / "config.json").read_text())["version"]
    ens = next(list(c) for s in _plan(tmp_path) if s.name == "ensemble" for c in s.commands)
    assert ens[ens.index("--version") + 1] == shipped


def test_dry_run_prints_the_commands_and_runs_nothing(tmp_path, capsys):
    rebuild.main(["--out", str(tmp_path / "m"), "--dry-run"])
    out = capsys.readouterr().out
    assert "python -m kinoseal.training.detector.train_xgen" in out
    assert "python -m kinoseal.training.detector.train_ensemble" in out
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("argv, words", [
    (["--from", "nope"], "no step 'nope'"),
    (["--only", "train"], "no step 'train'"),
    (["--versions", "kinodet_duo"], "NAME=VERSION"),
    (["--versions", "other=1.0.0"], "NAME=VERSION"),
])
def test_bad_arguments_say_what_is_accepted(tmp_path, argv, words):
    with pytest.raises(SystemExit) as e:
        rebuild.main(["--out", str(tmp_path / "m"), "--dry-run", *argv])
    assert words in str(e.value)


def test_resume_runs_from_the_named_step(tmp_path, capsys):
    rebuild.main(["--out", str(tmp_path / "m"), "--dry-run", "--from", "ensemble"])
    out = capsys.readouterr().out
    assert "[rebuild] ensemble" in out and "[rebuild] xgen" not in out and "[rebuild] specialist" not in out


def test_a_failed_step_stops_the_rebuild_and_says_how_to_resume(tmp_path, monkeypatch):
    calls = []

    class Done:
        def __init__(self, rc):
            self.returncode = rc

    def run(line, cwd):
        calls.append(line)
        return Done(0 if len(calls) == 1 else 3)

    monkeypatch.setattr(rebuild.subprocess, "run", run)
    with pytest.raises(SystemExit) as e:
        rebuild.main(["--out", str(tmp_path / "m")])
    assert "step 'rcnn' failed (exit 3)" in str(e.value) and "--from rcnn" in str(e.value)
    assert len(calls) == 2
    # the step that finished is logged with its time, so a resumed rebuild's report keeps it
    log = json.loads((tmp_path / "m" / "results" / "detector_rebuild.steps.json").read_text())
    assert [s["step"] for s in log] == ["xgen"]


def test_numbers_compare_each_metric_both_folders_report(tmp_path):
    for root, thr, auc in ((tmp_path / "a", 0.9, 0.80), (tmp_path / "b", 0.88, 0.83)):
        d = root / "kinodet_xgen_rcnn"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"threshold": thr, "version": "1.0.0"}))
        (d / "metrics.json").write_text(json.dumps({"metrics": {"held out": {"mean_auc": auc, "note": "x",
                                                                              "ok": True, "nan": float("nan")}}}))
    rows = rebuild.compare(rebuild.numbers_of(tmp_path / "a"), rebuild.numbers_of(tmp_path / "b"))
    got = {r["metric"]: (r["shipped"], r["rebuilt"]) for r in rows}
    assert got == {"threshold": (0.9, 0.88), "held out / mean_auc": (0.80, 0.83)}
    rebuild.write_report(tmp_path / "r", tmp_path / "b", [{"step": "rcnn", "what": "w", "seconds": 90.0}], rows, {}, [])
    md = (tmp_path / "r" / "detector_rebuild.md").read_text()
    assert "| kinodet_xgen_rcnn | held out / mean_auc | 0.8000 | 0.8300 | +0.0300 |" in md
    assert "| rcnn | w | 1.5 |" in md
