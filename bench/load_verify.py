"""Load benchmark of the verification service on loopback, and where a verify's CPU goes.

For each mode and worker count (default: 1 and 2) a fresh `kinoseal serve` is started:
- ``local``: the server's in-process pool (``KINOSEAL_POOL_SIZE`` = N threads), SQLite;
- ``redis``: the server queues to N ``kinoseal worker`` processes (RQ) on a Debian
  ``redis-server`` started here, SQLite job store;
- ``isolated``: ``local`` with ``KINOSEAL_VERIFY_ISOLATE=1``: each clip verified in a sandboxed
  worker process forked from the warm fork server (``verify.sandbox``).
Each run measures the single-request latency on the idle service (median of ``--single``
sequential requests after a warm-up), then ``--clients`` concurrent clients upload labeled
5 s 480p clips to POST /v1/verify for ``--seconds``: ``--distinct`` clips with their own textures, sent
in turn, so that no request repeats a clip the service has verified (a long-lived verifier keeps
tables that depend on the content; one repeated clip, as until 2026-12-07, flattered it). Reported: clips/s, latency percentiles,
clips/s per core, scaling efficiency = throughput / (N x single-request throughput), the
ratio to the cost of one in-process verify (N x 1/verify time), CPU seconds per clip in the
server, the workers and the load generator, RSS, and how the workers stop on SIGTERM (the
graceful shutdown: seconds to exit and the exit codes).

``--profile`` also profiles one in-process verify of the clip (CPU time per phase: C2PA,
decode, watermark update and search, classifier collection and scoring, hashing).

    .venv/bin/python -m bench.load_verify [--modes local,isolated,redis] [--workers 1,2] [--clients 8] [--distinct 48]
        [--seconds 60] [--profile]

Writes bench/results/load_verify.json and bench/results/load_verify.md. Run it on a quiet
machine (the files record the 1-minute load average before and after each run).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

from bench.procs import children, memory_kb
from testkit.service import KINOSEAL, Server, start_redis

RESULTS = ROOT / "bench" / "results"
TICK = os.sysconf("SC_CLK_TCK")


def make_clip(home: Path, out: Path, seconds: float = 5.0, fps: int = 24, w: int = 854, h: int = 480,
              seed: int = 0) -> Path:
    """A textured, moving 480p clip, labeled (watermark + C2PA) by the library; ``seed`` picks the texture."""
    from kinoseal.config import Settings
    from kinoseal.evaluation.watermark.clips import block_texture
    from kinoseal.label import GeneratorInfo, Labeler

    labeler = Labeler.from_settings(Settings(home=home, preset="veryfast", crf=23))
    frames = block_texture(int(seconds * fps), seed=seed, height=h, width=w)
    labeler.label_frames(frames, out, fps=fps, generator=GeneratorInfo("bench-model", "1"))
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Sampler(threading.Thread):
    def __init__(self, pids_fn) -> None:
        super().__init__(daemon=True)
        self.pids_fn, self.samples, self.pss, self.stop_ev = pids_fn, [], [], threading.Event()

    def run(self) -> None:
        while not self.stop_ev.wait(0.5):
            pids = self.pids_fn()
            self.samples.append(memory_kb(pids) * 1024)
            self.pss.append(memory_kb(pids, "Pss") * 1024)


def uploads_count(home: Path) -> dict:
    d = home / "uploads"
    names = list(d.iterdir()) if d.exists() else []
    return {"files": len(names), "part_files": sum(1 for p in names if p.name.endswith(".part"))}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (all their threads) so far, and of their children
    that have exited and been waited for (a sandboxed clip's worker and keeper)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / TICK
        except (OSError, IndexError):
            pass
    return total


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def one(client: httpx.AsyncClient, data: bytes, name: str) -> tuple[float, int, str | None]:
    t0 = time.perf_counter()
    try:
        r = await client.post("/v1/verify", files={"file": (name, data, "video/mp4")})
        verdict = r.json().get("verdict") if r.status_code == 200 else None
        return time.perf_counter() - t0, r.status_code, verdict
    except httpx.HTTPError as exc:
        return time.perf_counter() - t0, -1, type(exc).__name__


async def load(url: str, key: str, clips: list[bytes], name: str, clients: int, seconds: float, singles: int,
               cpu_of) -> dict:
    """``clips``: sent in turn, so that no request repeats one while there are more clips than
    requests (a verifier keeps tables that depend on the content, which a repeated clip would reuse)."""
    data = itertools.cycle(clips).__next__

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    lat: list[float] = []
    errors: list[str] = []
    done = 0
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600,
                                 limits=limits, trust_env=False) as client:
        # single-request latency on the idle service (after warm-ups: every worker loads once)
        for _ in range(2):
            await one(client, data(), name)
        single = []
        for _ in range(singles):
            dt, code, verdict = await one(client, data(), name)
            assert code == 200 and verdict == "ai_generated", (code, verdict)
            single.append(dt)
        t_start = time.perf_counter()
        stop_at = t_start + seconds
        cpu0, me0 = cpu_of(), self_cpu()

        async def worker():
            nonlocal done
            while time.perf_counter() < stop_at:
                dt, code, verdict = await one(client, data(), name)
                if code == 200 and verdict == "ai_generated":
                    lat.append(dt)
                    done += 1
                else:
                    errors.append(f"{code}:{verdict}")

        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t_start
        cpu1, me1 = cpu_of(), self_cpu()
    s1 = statistics.median(single)
    return {
        "clients": clients, "duration_s": round(wall, 2), "requests_ok": done, "errors": len(errors),
        "error_samples": errors[:5], "throughput_clips_per_s": round(done / wall, 3),
        "single_request_latency_s": round(s1, 3), "single_request_samples_s": [round(x, 3) for x in single],
        "latency_s": {"p50": round(pct(lat, 50), 3), "p95": round(pct(lat, 95), 3), "p99": round(pct(lat, 99), 3),
                      "max": round(max(lat), 3) if lat else None},
        "cpu_s_per_clip": {k: round((cpu1[k] - cpu0[k]) / max(done, 1), 3) for k in cpu0}
        | {"load generator": round((me1 - me0) / max(done, 1), 3)},
        "cpu_utilisation_cores": round((sum(cpu1.values()) - sum(cpu0.values()) + me1 - me0) / wall, 2),
    }


def stop_workers(workers: list[subprocess.Popen], wait_s: float = 30.0) -> dict:
    """SIGTERM every worker (the orchestrator's stop) and time their exit; SIGKILL only after
    ``wait_s`` (recorded as not stopped, not a crash of the benchmark)."""
    t0 = time.perf_counter()
    for w in workers:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGTERM)
    codes, times = [], []
    for w in workers:
        try:
            codes.append(w.wait(max(0.1, wait_s - (time.perf_counter() - t0))))
            times.append(round(time.perf_counter() - t0, 2))
        except subprocess.TimeoutExpired:
            os.killpg(w.pid, signal.SIGKILL)
            codes.append(f"SIGKILL after {wait_s:.0f} s")
            times.append(None)
    return {"exit_codes": codes, "seconds_to_exit": times}


def run_mode(mode: str, n: int, home: Path, clips: list[Path], args, tmp: Path, verify_s: float) -> dict:
    env_extra = {"KINOSEAL_RATE_LIMIT": "1000000", "KINOSEAL_SYNC_TIMEOUT_S": "600",
                 "KINOSEAL_POOL_SIZE": str(n)}
    if mode == "isolated":
        env_extra["KINOSEAL_VERIFY_ISOLATE"] = "1"
    redis_proc = None
    workers: list[subprocess.Popen] = []
    if mode == "redis":
        redis_proc, rurl = start_redis(tmp)
        env_extra.update({"KINOSEAL_QUEUE_URL": rurl,
                          "KINOSEAL_DATABASE_URL": f"sqlite:///{tmp / f'bench-redis-{n}.sqlite3'}"})
    load_before = os.getloadavg()
    server = Server(home, tmp / f"server-{mode}-{n}.log", env=env_extra, args=("--no-public-verify",))
    stop = {}
    try:
        env = {**os.environ, "KINOSEAL_HOME": str(home), **env_extra}
        if mode == "redis":
            for _ in range(n):
                workers.append(subprocess.Popen([str(KINOSEAL), "worker"], env=env, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL, start_new_session=True))
        out = subprocess.run([str(KINOSEAL), "api-key", "create", "--tenant", f"bench-{mode}-{n}", "--scopes",
                              "verify"], env=env, capture_output=True, text=True, check=True).stdout
        key = out.strip().splitlines()[-1].split()[-1]
        before = uploads_count(home)

        def cpu_of() -> dict:
            d = {"server": cpu_seconds(children(server.proc.pid))}
            if workers:
                d["workers"] = cpu_seconds(sum((children(w.pid) for w in workers), []))
            return d

        all_sampler = Sampler(lambda: children(server.proc.pid) + sum((children(w.pid) for w in workers), []))
        all_sampler.start()
        res = asyncio.run(load(server.url, key, [c.read_bytes() for c in clips], clips[0].name, args.clients, args.seconds,
                               args.single, cpu_of))
        all_sampler.stop_ev.set()
        time.sleep(1.0)
        after = uploads_count(home)
        thr, single = res["throughput_clips_per_s"], res["single_request_latency_s"]
        res.update({
            "mode": mode, "workers": n,
            "label": {"local": f"in-process pool ({n} thread{'s' if n > 1 else ''}), SQLite",
                      "isolated": f"pool ({n} thread{'s' if n > 1 else ''}), each clip in a sandboxed worker "
                                  "(`KINOSEAL_VERIFY_ISOLATE=1`), SQLite"}.get(
                mode, f"RQ on Redis, {n} worker process{'es' if n > 1 else ''}, SQLite job store"),
            "clips_per_s_per_core": round(thr / min(n, os.cpu_count() or n), 3),
            # against the service's own single-request rate, and against one in-process verify
            "scaling_efficiency": round(thr / (n / single), 3),
            "ratio_to_verify_cost": round(thr / (n / verify_s), 3),
            "rss_max_mb": round(max(all_sampler.samples or [0]) / 2**20, 1),
            "pss_max_mb": round(max(all_sampler.pss or [0]) / 2**20, 1),
            "upload_folder_before": before, "upload_folder_after": after,
        })
    finally:
        if workers:
            stop = stop_workers(workers)
        server.stop()
        if redis_proc:
            os.killpg(redis_proc.pid, signal.SIGTERM)
            redis_proc.wait(10)
    res["machine_loadavg_1m_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    if stop:
        res["workers_sigterm"] = stop
    return res


def profile_verify(home: Path, clips: list[Path], policy: str) -> dict:
    """CPU seconds of one in-process verify, by phase: the functions below are wrapped with
    process-CPU clocks (torch's and FFmpeg's own threads count in the call that started them;
    the wrappers cost microseconds, unlike a full profiler's per-call timer). Each timed verify
    reads a clip that process has not verified before (``clips``: 6 or more), after a warm-up
    on another one."""
    from dataclasses import replace

    import kinoseal.detect.features
    import kinoseal.detect.model
    import kinoseal.verify.verifier as vv
    import kinoseal.watermark.scan
    from kinoseal.config import Settings

    spent: dict[str, float] = {}

    def wrap(owner, name: str, label: str):
        fn = getattr(owner, name)

        def timed(*a, **kw):
            c0 = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - c0

        setattr(owner, name, timed)
        return owner, name, fn

    settings = replace(Settings.from_env(home=home), classifier_policy=policy)
    v = vv.Verifier.from_settings(settings)
    v.verify(clips[0])
    walls, cpus = [], []
    for clip in clips[1:4]:
        t0, c0 = time.perf_counter(), time.process_time()
        v.verify(clip)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    # Phases are attributed on one thread per clip: with the analysis overlapping the decode
    # (the default), a phase's process-CPU clock would also count the other thread's work.
    one = vv.Verifier.from_settings(replace(settings, limits=replace(settings.limits, decode_threads=1)))
    one.verify(clips[4])
    saved = [wrap(*w) for w in (
        (vv, "read_c2pa", "C2PA validation (c2pa-rs)"),
        (vv, "stream_frames", "decode pass"),
        (kinoseal.watermark.scan.WatermarkScan, "feed", "watermark sample update (per frame)"),
        (kinoseal.detect.features.TubeCollector, "feed", "classifier window collection (per frame)"),
        (vv.Verifier, "_watermark_evidence", "watermark search (geometry sweep, p-value)"),
        (kinoseal.detect.model.Detector, "score_collected", "classifier scoring"),
        (vv, "sha256_file", "sha256 of the file"),
    )]
    try:
        c0 = time.process_time()
        one.verify(clips[5])
        total = time.process_time() - c0
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    feeds = spent.get("watermark sample update (per frame)", 0) + spent.get("classifier window collection (per frame)", 0)
    spent["decode (open, demux, decode, convert)"] = spent.pop("decode pass", 0) - feeds
    spent["other (report, decision, Python)"] = total - sum(spent.values())
    return {"policy": policy, "wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3),
            "profiled_cpu_s": round(total, 3), "phases_cpu_s": {k: round(x, 3) for k, x in spent.items()}}


def write_md(doc: dict) -> str:
    lines = [
        "# Load: POST /v1/verify on loopback", "",
        f"Command: `{doc['command']}`  ", f"Machine: {doc['machine']}  ",
        f"Clips: {doc['clip'].get('distinct', 1)} of {doc['clip']['description']} ({doc['clip']['bytes']} bytes the "
        "first), each with its own texture, sent in turn (a long-lived verifier keeps tables that depend on the "
        "content, which one repeated clip would reuse); verdict ai_generated each time.  ",
        f"One in-process verify of a clip that process had not seen (library, no HTTP): {doc['verify_s']} s wall "
        f"(= {round(1 / doc['verify_s'], 3)} clips/s on one core).", "",
        "| mode | N | clients | ok | errors | clips/s | clips/s per core | single request (s) | scaling efficiency | ratio to N × verify | p50 / p95 / p99 (s) | CPU s per clip: server / workers / load generator | cores busy | RSS max (MB) | PSS max (MB) | load avg before→after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        c = r["cpu_s_per_clip"]
        lines.append(
            f"| {r['label']} | {r['workers']} | {r['clients']} | {r['requests_ok']} | {r['errors']} | "
            f"{r['throughput_clips_per_s']} | {r['clips_per_s_per_core']} | {r['single_request_latency_s']} | "
            f"{r['scaling_efficiency']} | {r['ratio_to_verify_cost']} | {r['latency_s']['p50']} / "
            f"{r['latency_s']['p95']} / {r['latency_s']['p99']} | {c.get('server')} / {c.get('workers', '-')} / "
            f"{c.get('load generator')} | {r['cpu_utilisation_cores']} | {r['rss_max_mb']} | {r.get('pss_max_mb', '-')} | "
            f"{r['machine_loadavg_1m_before_after'][0]} → {r['machine_loadavg_1m_before_after'][1]} |")
    lines += ["", "Scaling efficiency = clips/s ÷ (N × 1/single-request latency); ratio to N × verify = clips/s ÷ "
              "(N ÷ in-process verify time). Latency is per request from the client, upload and queueing included "
              "(Little's law: about clients ÷ throughput). The load generator runs on the same machine. CPU includes "
              "exited children that were waited for (sandboxed workers). RSS is summed over the processes; PSS "
              "counts the pages they share (a sandboxed worker's with its fork server) once.", ""]
    stops = [r for r in doc["runs"] if r.get("workers_sigterm")]
    if stops:
        lines.append("Workers stopped with SIGTERM after each Redis run (graceful shutdown): " + "; ".join(
            f"N={r['workers']}: exit codes {r['workers_sigterm']['exit_codes']} after "
            f"{r['workers_sigterm']['seconds_to_exit']} s" for r in stops) + ".")
        lines.append("")
    for p in doc.get("profiles", []):
        lines += [f"Where the CPU of one in-process verify goes (`KINOSEAL_CLASSIFIER_POLICY={p['policy']}`; "
                  f"{p['cpu_s']} s CPU, {p['wall_s']} s wall; profiled {p['profiled_cpu_s']} s on one thread per clip, "
                  "so that each phase's CPU clock counts that phase only):", "",
                  "| phase | CPU s | share |", "|---|---|---|"]
        for k, v in p["phases_cpu_s"].items():
            lines.append(f"| {k} | {v} | {v / p['profiled_cpu_s']:.0%} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--single", type=int, default=5)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--modes", default="local,isolated,redis")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--distinct", type=int, default=48,
                    help="labeled clips of the same size and motion, each with its own texture, sent in turn")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinoseal-load-"))
    try:
        home = tmp / "home"
        clips = [make_clip(home, tmp / f"clip480p-{i}.mp4", seed=i) for i in range(max(6, args.distinct))]
        clip = clips[0]
        from kinoseal.mediaio.probe import probe

        info = probe(clip)
        from kinoseal.config import Settings
        from kinoseal.verify.verifier import Verifier

        v = Verifier.from_settings(Settings.from_env(home=home))
        v.verify(clips[0])
        verify_s = statistics.median(  # clips this process has not verified before, as in real traffic
            [(lambda t0: (v.verify(c), time.perf_counter() - t0)[1])(time.perf_counter()) for c in clips[1:4]])
        del v
        profiles = ([profile_verify(home, clips, pol) for pol in ("always", "when_needed")]
                    if args.profile else [])
        runs = []
        for mode in args.modes.split(","):
            if mode == "redis" and shutil.which("redis-server") is None:
                print("redis-server not installed; skipping the Redis runs")
                continue
            for n in (int(x) for x in args.workers.split(",")):
                r = run_mode(mode, n, home, clips, args, tmp, verify_s)
                print(json.dumps(r, indent=1), flush=True)
                runs.append(r)
        doc = {
            "command": "python -m bench.load_verify " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
            "clip": {"description": f"{info.width}x{info.height} {float(info.fps):.0f} fps {info.duration_s:.1f} s "
                                    f"H.264, labeled (watermark + C2PA)", "bytes": info.size_bytes,
                     "distinct": len(clips)},
            "verify_s": round(verify_s, 3), "profiles": profiles, "runs": runs,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "load_verify.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out / "load_verify.md").write_text(write_md(doc))
        print(write_md(doc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
