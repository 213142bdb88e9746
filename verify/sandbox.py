"""Verify untrusted media in a child process with time and memory limits.

The verifier parses hostile files (the whole internet uploads to it). Each clip is
verified in a worker process with RLIMIT_AS / RLIMIT_CPU and a wall-clock limit, so a
decompression bomb, a decoder bug or a hang costs one worker, not the CLI run or the
server. The parent only ever parses JSON.

The workers fork from a fork server that imported the verifier and torch and loaded the
shipped classifier once (:func:`_preload`). Why: a fresh interpreter per clip paid about
3 s of imports and weight loading before its first frame, most of an isolated verify of a
short clip; a fork of the warm server pays only its clip. The server never opens a clip.

    parent --(request + one end of a socketpair)--> server --fork--> keeper --fork--> worker
    parent <------------- {"exitcode", "timed_out", "answer"} ------- keeper <--pipe-- worker

The keeper (a fork of the server; it never touches the clip) enforces the wall-clock limit,
kills the worker's process group when it runs over or when the parent goes away, and sends
the worker's exit status with its answer: as the worker's parent, it is the one process that
can wait for it. The server's own start-up is not counted against a clip's limit; it exits
when its parent closes the socket (or exits).
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from kinoseal.config import Settings
from kinoseal.credentials.trust import TrustConfig
from kinoseal.errors import InputError, KinosealError, LimitExceeded

# A worker's answer is one report (per-frame scores included: a few hundred kB for a long clip);
# a worker that writes more is broken or hostile, and is stopped.
MAX_ANSWER_BYTES = 64 * 1024**2
# The worker's exit status when even its out-of-memory answer could not be written.
EXIT_NO_MEMORY = 75
# How long the parent waits for the keeper beyond the clip's own limit: the server's start-up
# (imports and weights, ~3 s on 2 cores, more on a loaded machine) when it is the first clip.
SERVER_GRACE_SECONDS = 120.0


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 300.0
    cpu_seconds: int = 600
    # Address space a worker may add to what it forks with (the server's preloaded verifier and torch:
    # ~3.5 GB, most of it reserved and never touched); the decoders' thread stacks count too. Until
    # 2026-12-06 each clip had a fresh interpreter and the limit was 6 GB in all, torch included.
    memory_bytes: int = 3 * 1024**3


class SandboxError(InputError):
    kind = "invalid_input"


class _Server:
    """The parent's handle on the fork server: started on first use, started again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._ready: bool | None = None

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", f"from kinoseal.verify.sandbox import _serve; _serve({theirs.fileno()})"],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        theirs.close()
        self._ctrl = ours

    def ensure(self, wait: bool = False) -> bool:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if self._ctrl is not None:
                    self._ctrl.close()
                self._start()
                self._ready = None
            if wait and self._ready is None:
                # The server's one message to the parent: sent once its preload has finished.
                self._ctrl.settimeout(SERVER_GRACE_SECONDS)
                try:
                    self._ready = self._ctrl.recv(64) == b"warm"
                except OSError:
                    self._ready = False
                finally:
                    self._ctrl.settimeout(None)
            return bool(self._ready)

    def submit(self, request: dict) -> socket.socket:
        """Hand ``request`` to the server; the socket on which its keeper will answer."""
        data = json.dumps(request).encode()
        for attempt in (0, 1):
            self.ensure()
            mine, keeper = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                with self._lock:
                    socket.send_fds(self._ctrl, [data], [keeper.fileno()])
                return mine
            except OSError:  # the server died since ensure(): start another once
                mine.close()
                if attempt:
                    raise
            finally:
                keeper.close()
        raise AssertionError("unreachable")

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


_SERVER = _Server()


def warm_up(wait: bool = False) -> bool:
    """Start the fork server now, so that the first isolated verify does not wait for its
    imports (what a server calls at start-up). It loads in the background, or before this
    returns with ``wait``; then the answer says whether it loaded the verifier and classifier."""
    return _SERVER.ensure(wait=wait)


def verify_isolated(
    path: Path,
    settings: Settings,
    *,
    extra_trust: list[Path] | tuple[Path, ...] = (),
    limits: SandboxLimits | None = None,
    stats: dict[str, Any] | None = None,
    fragments: list[Path] | tuple[Path, ...] = (),
    trust: TrustConfig | None = None,
) -> dict[str, Any]:
    """The report dict for ``path`` (with its ``fragments``, for a fragmented MP4's init
    segment), computed in a resource-limited worker process. ``trust``: the trust
    configuration to use instead of the one ``settings`` and ``extra_trust`` name (a service
    tenant's, which may replace the installation's roots).

    ``stats`` (optional) receives the worker's peak RSS (kB), wall seconds, exit code, and
    ``warm``: whether it forked from a server with the verifier and the classifier loaded.
    """
    limits = limits or SandboxLimits()
    settings = replace(settings, extra_trust=(*settings.extra_trust, *extra_trust))
    request = _request(path, settings, limits, fragments, trust)
    started = time.perf_counter()
    sock = _SERVER.submit(request)
    lost = False  # no word from the keeper within the limit and the server's grace
    try:
        sock.settimeout(limits.wall_seconds + SERVER_GRACE_SECONDS)
        raw = _read_all(sock, MAX_ANSWER_BYTES + 4096)
    except OSError:  # TimeoutError included
        raw, lost = b"", True
    finally:
        sock.close()
    try:
        outcome = json.loads(raw) if raw else {}
    except ValueError:
        outcome = {}
    if not isinstance(outcome, dict):
        outcome = {}
    answer, code = outcome.get("answer"), outcome.get("exitcode")
    timed_out = lost or bool(outcome.get("timed_out"))
    if stats is not None:
        a = answer if isinstance(answer, dict) else {}
        stats.update(seconds=time.perf_counter() - started, returncode=code,
                     peak_rss_kb=a.get("peak_rss_kb"), warm=a.get("warm"))
    if timed_out:
        raise SandboxError(
            f"{Path(path).name} took longer than {limits.wall_seconds:.0f} s to verify and was stopped"
        )
    if not isinstance(answer, dict):
        if not outcome:
            why = "stopped without an answer (a dead sandbox server is restarted for the next file)"
        elif code in (-9, -6, 137, EXIT_NO_MEMORY):
            why = "ran out of memory"
        else:
            why = f"crashed (exit {code})"
        raise SandboxError(f"{Path(path).name} could not be processed: the decoder {why}")
    if "report" in answer:
        return answer["report"]
    kind = answer.get("kind", "error")
    cls = {"limit_exceeded": LimitExceeded, "invalid_input": InputError}.get(kind, KinosealError)
    raise cls(answer.get("message", "verification failed"))


def _request(path: Path, settings: Settings, limits: SandboxLimits, fragments=(),
             trust: TrustConfig | None = None) -> dict[str, Any]:
    return {
        # The configuration itself, not the files it came from: a tenant's lives in the job store.
        "trust": trust.to_text() if trust is not None else None,
        "path": str(Path(path).resolve()),
        "fragments": [str(Path(f).resolve()) for f in fragments],
        # The whole Settings, so that no option (trust configuration, policies...) is
        # silently dropped on the way into the child.
        "settings": _encode(settings),
        "limits": {f.name: getattr(limits, f.name) for f in fields(limits)},
    }


def _read_all(sock: socket.socket, limit: int) -> bytes:
    chunks, n = [], 0
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
        n += len(chunk)
        if n > limit:
            return b""
    return b"".join(chunks)


# --- the fork server (``_serve``), its keepers and workers ---------------------------------

_PRELOADED: dict[str, Any] = {}


def _preload() -> None:
    """Import what every worker needs and load the shipped classifier, once, in the server.

    A fork copies only the calling thread, so the server must start no thread a worker would
    miss. torch's OpenMP pool is created by its first parallel region: the weights are copied
    with one torch thread, and each worker builds its own pool. (OpenBLAS's idle threads, which
    numpy and scipy start on import, stop themselves before a fork: pthread_atfork.)
    """
    import torch

    from kinoseal.detect import load_detector
    from kinoseal.verify import verifier  # noqa: F401 - imported here so that no worker imports it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _PRELOADED["classifier"] = load_detector()
    except InputError:
        pass  # a broken install: each worker loads the model and reports the error itself
    finally:
        torch.set_num_threads(threads)


def _serve(fd: int) -> None:
    """The fork server's loop: one keeper per request, until the parent closes its end."""
    ctrl = socket.socket(fileno=fd)
    try:
        _preload()
    except Exception:  # noqa: BLE001 - the workers import what they need and report what fails
        _PRELOADED.clear()
    ctrl.send(b"warm" if "classifier" in _PRELOADED else b"cold")
    # Keepers are reaped here rather than by the kernel (SIG_IGN): a reaped child's CPU time, its
    # worker's included, then counts in this process's (what `time` and load benchmarks read).
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctrl, 1 << 22, 1)
        except InterruptedError:
            continue
        if not data:
            break  # the parent exited or closed the server
        if not fds:
            continue
        if os.fork() == 0:
            try:
                ctrl.close()
                _keep(json.loads(data), fds[0])
            finally:
                os._exit(0)
        os.close(fds[0])


def _reap(*_) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _keep(request: dict, fd: int) -> None:
    """The keeper: fork the worker, enforce its wall-clock limit, report its exit and answer."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # this process waits for its worker itself
    out = socket.socket(fileno=fd)
    limits = SandboxLimits(**request.get("limits", {}))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        out.close()
        _work(request, w, limits)  # never returns
    os.close(w)
    deadline = time.monotonic() + limits.wall_seconds
    buf, timed_out, too_big = bytearray(), False, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready = select.select([r, out], [], [], left)[0]
        if out in ready:  # the parent went away (it never writes): the answer has no reader
            timed_out = True
            break
        if not ready:
            continue
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_ANSWER_BYTES:
            too_big = True
            break
    if timed_out or too_big:
        _kill_group(pid)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    try:
        os.killpg(pid, signal.SIGKILL)  # anything the worker started and left behind (not the pid: reaped)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        answer = json.loads(bytes(buf)) if buf and not too_big else None
    except ValueError:
        answer = None
    if too_big:
        answer = {"kind": "limit_exceeded", "message": f"the report is larger than {MAX_ANSWER_BYTES >> 20} MB"}
    try:
        out.sendall(json.dumps({"exitcode": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
                                "answer": answer}).encode())
    except OSError:
        pass  # the parent went away
    out.close()


def _kill_group(pid: int) -> None:
    """SIGKILL the worker and its process group. Both: a worker stopped before its setsid() leads
    no group yet (found by a test that stops one early)."""
    for kill in (os.kill, os.killpg):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _work(request: dict, w: int, limits: SandboxLimits) -> None:
    """The worker: its own process group, no stdio, the limits, the verify, one JSON answer."""
    code = 0
    try:
        os.setsid()  # a timeout kills the worker and anything it started
        # The server's stdio leads to the parent's (a server's log): a decoder's or a crash's
        # messages about a hostile file stay out of it.
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(devnull, std)
        os.close(devnull)
        cap = _address_space() + limits.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        data = json.dumps(_answer(request)).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
    except MemoryError:
        code = EXIT_NO_MEMORY
    except BaseException:  # noqa: BLE001 - a bug: the parent reports a crash, without a traceback
        code = 1
    finally:
        os._exit(code)


def _answer(request: dict) -> dict[str, Any]:
    from kinoseal.verify.verifier import Verifier

    warm = "classifier" in _PRELOADED
    try:
        settings = _decode(request["settings"])
        assert isinstance(settings, Settings)
        fragments = [Path(f) for f in request.get("fragments") or []]
        shipped = _PRELOADED.get("classifier") if settings.classifier_model == "" else None
        trust = TrustConfig.from_text(request["trust"]) if request.get("trust") is not None else None
        verifier = Verifier.from_settings(settings, load_classifier=False, classifier=shipped, trust=trust)
        report = verifier.verify(Path(request["path"]), fragments=fragments or None).to_dict()
        return {"report": report, "peak_rss_kb": _peak(), "warm": warm}
    except KinosealError as exc:
        if not _near_memory_limit():
            return {"kind": exc.kind, "message": str(exc), "peak_rss_kb": _peak(), "warm": warm}
    except MemoryError:
        pass
    except Exception:
        if not _near_memory_limit():
            raise  # a bug: the parent reports a crash
    # Out of address space, whatever the failing library called it (SQLite says "disk I/O error",
    # a thread that cannot get its stack an OSError).
    return {"kind": "limit_exceeded", "message": "the file needs more memory than allowed to decode",
            "peak_rss_kb": _peak(), "warm": warm}


def _near_memory_limit() -> bool:
    """Whether the worker's address space is within 64 MB of its limit."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    return limit != resource.RLIM_INFINITY and _address_space() > limit - 64 * 1024**2


def _address_space() -> int:
    """This process's address space in bytes (VmSize), or 0 where /proc cannot say."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return 0


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


def _peak() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

