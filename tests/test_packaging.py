"""The install layout: every package folder is listed under the kinoseal namespace, and
nothing the package imports needs the repository on sys.path."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_installed_under_kinoseal():
    cfg = _config()
    dirs = {prefix: Path(d) for prefix, d in cfg["package-dir"].items()}
    found = set()
    for prefix, d in dirs.items():
        for init in (ROOT / d).rglob("__init__.py"):
            if "node_modules" in init.parts:
                continue
            rel = init.parent.relative_to(ROOT / d)
            found.add(".".join([prefix, *rel.parts]))
    assert sorted(found) == sorted(cfg["packages"])
    assert all(p.startswith("kinoseal") for p in cfg["packages"])


def test_the_installed_package_imports_from_anywhere(tmp_path):
    # Run outside the checkout: the top-level folders are not importable by their own names.
    code = ("import importlib.util, kinoseal.verify.verifier, kinoseal.api.http.app, kinoseal.label.labeler;"
            "assert importlib.util.find_spec('verify') is None and importlib.util.find_spec('api') is None;"
            "print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
