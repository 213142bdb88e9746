"""The layering of the README's architecture diagram, checked on the source: no arrow back
up, no circle, and the read side never reaches training, harnesses or the write side."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts import import_graph

ROOT = Path(__file__).resolve().parents[1]


def test_no_arrow_up_and_no_circle():
    edges, problems = import_graph.check()
    assert problems == []
    # what the verifier may reach, transitively
    reach, todo = set(), ["verify"]
    while todo:
        for dst in edges.get(todo.pop(), ()):
            if dst not in reach:
                reach.add(dst)
                todo.append(dst)
    assert reach == {"kinoseal", "mediaio", "credentials", "watermark", "fingerprint", "detect"}


def test_every_installed_package_has_a_layer():
    """A package missing from the layers would pass for ``kinoseal`` itself, unchecked."""
    import tomllib

    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert {d for d in dirs.values()} - {"kinoseal"} <= set(import_graph.RANK)


def test_the_checker_catches_an_arrow_up_and_a_circle():
    up = {"kinoseal.watermark.probe": ({"kinoseal.verify.verifier"}, set())}
    _, problems = import_graph.check(up)
    assert any("watermark may not import verify" in p for p in problems), problems
    circle = {"kinoseal.verify.a": ({"kinoseal.verify.b"}, {"kinoseal.verify.b"}),
              "kinoseal.verify.b": ({"kinoseal.verify.a"}, {"kinoseal.verify.a"})}
    _, problems = import_graph.check(circle)
    assert any("circle" in p and "kinoseal.verify.a" in p for p in problems), problems


def test_the_script_runs():
    proc = subprocess.run([sys.executable, "-m", "scripts.import_graph"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("kinoseal")
