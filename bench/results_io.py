"""Where a bench leaves what it measured: ``<stem>.json`` (everything) and ``<stem>.md`` (the table a
reader opens) side by side, under ``bench/results/`` unless the bench was told otherwise."""

from __future__ import annotations

import json
from pathlib import Path


def write_results(folder: Path, stem: str, res: dict, md: str, indent: int = 2) -> Path:
    """Write ``res`` as JSON (NumPy scalars as floats) and ``md`` beside it; returns the Markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(res, indent=indent, default=float) + "\n")
    (folder / f"{stem}.md").write_text(md)
    return folder / f"{stem}.md"
