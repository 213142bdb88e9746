"""A process tree's memory from /proc, for the benchmarks that run servers and workers."""

from __future__ import annotations

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split():
                out += children(int(k))
    except OSError:
        pass
    return out


def memory_kb(pids: list[int], field: str = "VmRSS") -> int:
    """Summed RSS of ``pids`` (kB), or with ``field="Pss"`` their proportional set size: pages that
    several of them share (a sandboxed worker's with its fork server) counted once in all."""
    total = 0
    source = "status" if field == "VmRSS" else "smaps_rollup"
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total
