"""What the command line prints: the two consoles (results on stdout, progress and errors
on stderr), JSON lines, the verdict panel and the progress bars. No command logic."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    )


@contextlib.contextmanager
def busy(text: str) -> Iterator[None]:
    """A spinner with ``text`` on stderr while something slow runs; only on a terminal, so pipes,
    logs and --json consumers get nothing."""
    if not err.is_terminal:
        yield
        return
    with err.status(text):
        yield


def emit_json(obj: dict) -> None:
    """One JSON document on one line of stdout (JSON Lines), results and errors alike."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def error_line(message: str, file: str | None = None) -> None:
    """``error: <message>`` on stderr, naming ``file`` unless the message already does."""
    text = message if not file or file in message else f"{file}: {message}"
    err.print(Text.assemble(("error:", "red"), " ", text))


VERDICT_STYLE = {
    "ai_generated": "bold red",
    "likely_ai_generated": "bold yellow",
    "authentic": "bold green",
    "untrusted_signature": "bold yellow",
    "tampered": "bold magenta",
    "unknown": "bold white",
}


def print_report(report: dict) -> None:
    """One panel per clip, wrapped at the console's width (the terminal's; $COLUMNS or 80 in a
    pipe): long evidence folds onto more lines, it is never cut. Report text is never markup."""
    style = VERDICT_STYLE.get(report["verdict"], "bold")
    head = Text.assemble((report["verdict_label"], style), f" ({report['verdict']}, confidence {report['confidence']:.2f})")
    rows = Table.grid(padding=(0, 1))
    rows.add_column(no_wrap=True)
    rows.add_column(overflow="fold")
    for e in report["evidence"]:
        rows.add_row("•", Text(e))
    for n in report.get("notes", []):
        rows.add_row("", Text(f"note: {n}", style="dim"))
    name = report["file"]
    fits = len(name) + 8 <= out.width
    body = Group(head, "", rows) if fits else Group(Text(name, style="bold", overflow="fold"), head, "", rows)
    out.print(Panel(body, title=Text(name) if fits else None, expand=False), soft_wrap=False)


class GenProgress:
    """Rich bars for chunks, denoising steps and labeled frames."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, int] = {}

    def __call__(self, kind: str, i: int, n: int) -> None:
        label = {"chunk": "chunks", "step": "denoising steps", "frame": "watermark + encode"}.get(kind, kind)
        if kind not in self.tasks:
            self.tasks[kind] = self.bar.add_task(label, total=n or None)
        self.bar.update(self.tasks[kind], completed=i, total=n or None)
