"""Load test of the verification service on loopback.

32 concurrent clients upload a labeled 5 s 480p clip to POST /v1/verify for 60 s
against one `kinoseal serve` process (in-process pool), then the same against a
server that queues to 2 RQ workers on a real Redis. Records errors, throughput
(clips/s), p50/p95/p99 latency and their ratio to the single-request latency,
server RSS under load (server + workers), and the upload folder before/after.

    .venv/bin/python bench/load_verify.py [--clients 32] [--seconds 60] [--modes local,redis]

Writes bench/results/load_verify.json and bench/results/load_verify.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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
sys.path.insert(0, str(ROOT))

from tests.service_fixtures import KINOSEAL, Server, start_redis  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def make_clip(home: Path, out: Path, seconds: float = 5.0, fps: int = 24, w: int = 854, h: int = 480) -> Path:
    """A textured, moving 480p clip, labeled (watermark + C2PA) by the library."""
    import numpy as np

    from generate.label import GeneratorInfo, Labeler
    from kinoseal.config import Settings

    rng = np.random.default_rng(0)
    base = rng.random((h // 8 + 4, w // 8 + 4, 3))
    big = np.kron(base, np.ones((8, 8, 1)))
    yy, xx = np.mgrid[0:h, 0:w]

    def frames():
        for t in range(int(seconds * fps)):
            img = big[t % 16: t % 16 + h, t % 16: t % 16 + w] * 0.6 + 0.2
            disc = (xx - (60 + 7 * t) % (w - 60)) ** 2 + (yy - h // 2) ** 2 < 40**2
            img[disc] = (0.9, 0.2, 0.1)
            yield (img * 255).astype(np.uint8)

    labeler = Labeler.from_settings(Settings(home=home, preset="veryfast", crf=23))
    labeler.label_frames(frames(), out, fps=fps, generator=GeneratorInfo("bench-model", "1"))
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def children(pid: int) -> list[int]:
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            kids = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            for k in kids:
                out += children(int(k))
    except OSError:
        pass
    return out


class Sampler(threading.Thread):
    def __init__(self, pids_fn) -> None:
        super().__init__(daemon=True)
        self.pids_fn, self.samples, self.stop_ev = pids_fn, [], threading.Event()

    def run(self) -> None:
        while not self.stop_ev.wait(0.5):
            self.samples.append(rss_bytes(self.pids_fn()))


def uploads_count(home: Path) -> dict:
    d = home / "uploads"
    names = list(d.iterdir()) if d.exists() else []
    return {"files": len(names), "part_files": sum(1 for p in names if p.name.endswith(".part"))}


async def one(client: httpx.AsyncClient, data: bytes, name: str) -> tuple[float, int, str | None]:
    t0 = time.perf_counter()
    try:
        r = await client.post("/v1/verify", files={"file": (name, data, "video/mp4")})
        verdict = r.json().get("verdict") if r.status_code == 200 else None
        return time.perf_counter() - t0, r.status_code, verdict
    except httpx.HTTPError as exc:
        return time.perf_counter() - t0, -1, type(exc).__name__


async def load(url: str, key: str, data: bytes, name: str, clients: int, seconds: float) -> dict:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    lat: list[float] = []
    errors: list[str] = []
    done = 0
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600,
                                 limits=limits, trust_env=False) as client:
        # single-request latency on the idle server (after one warm-up)
        await one(client, data, name)
        single = []
        for _ in range(5):
            dt, code, verdict = await one(client, data, name)
            assert code == 200 and verdict == "ai_generated", (code, verdict)
            single.append(dt)
        t_start = time.perf_counter()
        stop_at = t_start + seconds

        async def worker():
            nonlocal done
            while time.perf_counter() < stop_at:
                dt, code, verdict = await one(client, data, name)
                if code == 200 and verdict == "ai_generated":
                    lat.append(dt)
                    done += 1
                else:
                    errors.append(f"{code}:{verdict}")

        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t_start
    s1 = statistics.median(single)
    return {
        "clients": clients, "duration_s": round(wall, 2), "requests_ok": done, "errors": len(errors),
        "error_samples": errors[:5], "throughput_clips_per_s": round(done / wall, 3),
        "single_request_latency_s": round(s1, 3),
        "latency_s": {"p50": round(pct(lat, 50), 3), "p95": round(pct(lat, 95), 3), "p99": round(pct(lat, 99), 3),
                      "max": round(max(lat), 3) if lat else None},
        "latency_ratio_to_single": {p: round(pct(lat, int(p[1:])) / s1, 2) for p in ("p50", "p95", "p99")},
    }


def run_mode(mode: str, home: Path, clip: Path, args, tmp: Path) -> dict:
    env_extra = {"KINOSEAL_RATE_LIMIT": "1000000", "KINOSEAL_SYNC_TIMEOUT_S": "600"}
    redis_proc = None
    workers: list[subprocess.Popen] = []
    if mode == "redis":
        redis_proc, rurl = start_redis(tmp)
        env_extra.update({"KINOSEAL_QUEUE_URL": rurl,
                          "KINOSEAL_DATABASE_URL": f"sqlite:///{tmp / 'bench-redis.sqlite3'}"})
    server = Server(home, tmp / f"server-{mode}.log", env=env_extra, args=("--no-public-verify",))
    try:
        env = {**os.environ, "KINOSEAL_HOME": str(home), **env_extra}
        if mode == "redis":
            for i in range(args.workers):
                workers.append(subprocess.Popen([str(KINOSEAL), "worker"], env=env, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL, start_new_session=True))
            time.sleep(3)
        out = subprocess.run([str(KINOSEAL), "api-key", "create", "--tenant", "bench", "--scopes", "verify"],
                             env=env, capture_output=True, text=True, check=True).stdout
        key = out.strip().splitlines()[-1].split()[-1]
        before = uploads_count(home)
        load_before = os.getloadavg()
        server_sampler = Sampler(lambda: children(server.proc.pid))
        all_sampler = Sampler(lambda: children(server.proc.pid) + sum((children(w.pid) for w in workers), []))
        server_sampler.start()
        all_sampler.start()
        idle_rss = rss_bytes(children(server.proc.pid))
        res = asyncio.run(load(server.url, key, clip.read_bytes(), clip.name, args.clients, args.seconds))
        server_sampler.stop_ev.set()
        all_sampler.stop_ev.set()
        time.sleep(1.0)
        after = uploads_count(home)
        res.update({
            "mode": "in-process pool (2 threads), SQLite" if mode == "local"
            else f"RQ on Redis, {args.workers} workers (SimpleWorker processes), SQLite job store",
            "server_rss_mb": {"idle": round(idle_rss / 2**20, 1),
                              "max_under_load": round(max(server_sampler.samples or [0]) / 2**20, 1)},
            "server_plus_workers_rss_max_mb": round(max(all_sampler.samples or [0]) / 2**20, 1),
            "upload_folder_before": before, "upload_folder_after": after,
            "machine_loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        })
        return res
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(20)
        server.stop()
        if redis_proc:
            os.killpg(redis_proc.pid, signal.SIGTERM)
            redis_proc.wait(10)


def write_md(doc: dict) -> str:
    lines = [
        "# Load: POST /v1/verify on loopback", "",
        f"Command: `{doc['command']}`  ", f"Machine: {doc['machine']}  ",
        f"Clip: {doc['clip']['description']} ({doc['clip']['bytes']} bytes), verdict ai_generated each time.", "",
        "| mode | clients | s | ok | errors | clips/s | single (s) | p50 (s) | p95 (s) | p99 (s) | p50/p95/p99 ÷ single | server RSS idle→max (MB) | server+workers RSS max (MB) | upload files before→after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        ratio = r["latency_ratio_to_single"]
        lines.append(
            f"| {r['mode']} | {r['clients']} | {r['duration_s']} | {r['requests_ok']} | {r['errors']} | "
            f"{r['throughput_clips_per_s']} | {r['single_request_latency_s']} | {r['latency_s']['p50']} | "
            f"{r['latency_s']['p95']} | {r['latency_s']['p99']} | {ratio['p50']} / {ratio['p95']} / {ratio['p99']} | "
            f"{r['server_rss_mb']['idle']} → {r['server_rss_mb']['max_under_load']} | "
            f"{r['server_plus_workers_rss_max_mb']} | "
            f"{r['upload_folder_before']['files']} → {r['upload_folder_after']['files']} "
            f"(.part {r['upload_folder_after']['part_files']}) |")
    lines += ["", "Latency is per request, from the client, including the upload and the wait in the queue: with 32",
              "clients and 2 verification slots, most of it is queueing (Little's law: ≈ clients ÷ throughput).",
              "The load generator (32 async clients) runs on the same 2-core machine as the server and workers.",
              "Load average of the machine (1 min) before/after each run: " + ", ".join(
                  f"{r['mode'].split(',')[0]}: {r.get('machine_loadavg_1m_before_after')}" for r in doc["runs"]) +
              " (other work on the machine, if any, slows both runs).", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--modes", default="local,redis")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinoseal-load-"))
    try:
        home = tmp / "home"
        clip = make_clip(home, tmp / "clip480p.mp4")
        from mediaio.probe import probe

        info = probe(clip)
        runs = []
        for mode in args.modes.split(","):
            if mode == "redis" and shutil.which("redis-server") is None:
                print("redis-server not installed; skipping the Redis run")
                continue
            r = run_mode(mode, home, clip, args, tmp)
            print(json.dumps(r, indent=1))
            runs.append(r)
        doc = {
            "command": "python bench/load_verify.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
            "clip": {"description": f"{info.width}x{info.height} {float(info.fps):.0f} fps {info.duration_s:.1f} s "
                                    f"H.264, labeled (watermark + C2PA)", "bytes": info.size_bytes},
            "runs": runs,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "load_verify.json").write_text(json.dumps(doc, indent=2) + "\n")
        (RESULTS / "load_verify.md").write_text(write_md(doc))
        print(write_md(doc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
