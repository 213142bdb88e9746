"""Verify untrusted media in a child process with time and memory limits.

The verifier parses hostile files (the whole internet uploads to it). Decoding
runs in ``python -m verify.sandbox`` with RLIMIT_AS / RLIMIT_CPU and a wall-clock
timeout, so a decompression bomb, a decoder bug or a hang costs one child, not
the CLI run or the server. The parent only ever parses the child's JSON.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from kinoseal.config import Settings
from kinoseal.errors import InputError, KinosealError, LimitExceeded


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 300.0
    cpu_seconds: int = 600
    memory_bytes: int = 6 * 1024**3  # address space; the decoders' thread stacks count too


class SandboxError(InputError):
    kind = "invalid_input"


def _limit(limits: SandboxLimits):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setsid()  # own process group: a timeout kills the child and anything it started

    return apply


def verify_isolated(
    path: Path,
    settings: Settings,
    *,
    extra_trust: list[Path] | tuple[Path, ...] = (),
    limits: SandboxLimits | None = None,
    stats: dict[str, Any] | None = None,
    fragments: list[Path] | tuple[Path, ...] = (),
) -> dict[str, Any]:
    """The report dict for ``path`` (with its ``fragments``, for a fragmented MP4's init
    segment), computed in a resource-limited child process.

    ``stats`` (optional) receives the child's peak RSS (kB), wall seconds and exit code.
    """
    limits = limits or SandboxLimits()
    settings = replace(settings, extra_trust=(*settings.extra_trust, *extra_trust))
    request = {
        "path": str(Path(path).resolve()),
        "fragments": [str(Path(f).resolve()) for f in fragments],
        # The whole Settings, so that no option (trust configuration, policies...) is
        # silently dropped on the way into the child.
        "settings": _encode(settings),
    }
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    import time

    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kinoseal.verify.sandbox"],
            input=json.dumps(request), capture_output=True, text=True, timeout=limits.wall_seconds,
            preexec_fn=_limit(limits), env=env,
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(
            f"{Path(path).name} took longer than {limits.wall_seconds:.0f} s to verify and was stopped"
        ) from None
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
    except (ValueError, IndexError):
        answer = None
    if stats is not None:
        stats.update(seconds=time.perf_counter() - started, returncode=proc.returncode,
                     peak_rss_kb=(answer or {}).get("peak_rss_kb") if isinstance(answer, dict) else None)
    if not isinstance(answer, dict):
        why = "ran out of memory" if proc.returncode in (-9, -6, 137) or "MemoryError" in proc.stderr else (
            f"crashed (exit {proc.returncode})")
        raise SandboxError(f"{Path(path).name} could not be processed: the decoder {why}")
    if "report" in answer:
        return answer["report"]
    kind = answer.get("kind", "error")
    cls = {"limit_exceeded": LimitExceeded, "invalid_input": InputError}.get(kind, KinosealError)
    raise cls(answer.get("message", "verification failed"))


def _encode(value: Any) -> Any:
    """Settings -> JSON, tagging what JSON cannot say (paths, tuples, nested dataclasses)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__name__,
                "fields": {f.name: _encode(getattr(value, f.name)) for f in fields(value)}}
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    from kinoseal import config

    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__path__" in value:
        return Path(value["__path__"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dataclass__" in value:
        cls = getattr(config, value["__dataclass__"])  # only kinoseal.config's own classes
        return cls(**{k: _decode(v) for k, v in value["fields"].items()})
    return {k: _decode(v) for k, v in value.items()}


def _child() -> None:
    from kinoseal.verify.verifier import Verifier

    request = json.loads(sys.stdin.read())
    try:
        settings = _decode(request["settings"])
        assert isinstance(settings, Settings)
        fragments = [Path(f) for f in request.get("fragments") or []]
        report = Verifier.from_settings(settings, load_classifier=False).verify(
            Path(request["path"]), fragments=fragments or None).to_dict()
        print(json.dumps({"report": report, "peak_rss_kb": _peak()}))
    except KinosealError as exc:
        print(json.dumps({"kind": exc.kind, "message": str(exc), "peak_rss_kb": _peak()}))
    except MemoryError:
        print(json.dumps({"kind": "limit_exceeded", "message": "the file needs more memory than allowed to decode",
                          "peak_rss_kb": _peak()}))


def _peak() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    _child()
