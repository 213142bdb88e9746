"""Hostile-input campaign: >= 10,000 inputs through the library, the sandbox and the HTTP API.

    nice -n 15 .venv/bin/python -m bench.hostile.campaign --inputs 10000      (hours of idle CPU)
    .venv/bin/python -m bench.hostile.campaign --summarize                    (rewrite the results
                                                                                from the log so far)
    .venv/bin/python -m bench.hostile.campaign --only mut:ours_signed:1234    (reproduce one input)

Inputs (ids are stable: each input is made again from its id):
- ``gen:*``: the generated families of ``bench.hostile.corpus`` (truncations, random bytes behind
  valid headers, decompression bombs, huge counts, nested boxes, not-videos, odd sizes, ...);
- ``seed:*``: the bases themselves: a signed capture and a labeled clip made here, the fuzzer's seed
  corpus (``bench.fuzz.run``'s seeds, plus any files in ``--fuzz-corpus``) and every file of
  ``../shared/data/c2pa_conformance/`` (read in place, never copied);
- ``mut:BASE:K``: mutation K of a base (``bench.hostile.mutate``: box-aware flips and size
  corruption, box drop/dup/swap, bit flips, interesting integers, insert/erase/copy, truncation,
  splices), written into the ignored ``tmp/hostile-campaign/`` folder and deleted after use.

Every input goes through the library in-process, in one long-lived child watched by this process
(``bench.hostile.worker``: a hang or a crash costs a restart, and is counted): the ``parse`` tier
(C2PA, probe, container) for all, the ``full`` tier (plus decode and watermark search) for the
generated families, the bases and every ``--full-every``-th mutation. The sandbox
(``verify.sandbox.verify_isolated``, a child per input with its memory/CPU/wall limits) takes the
generated families, the bases and every ``--sandbox-every``-th mutation; the HTTP API (a real
``kinoseal serve``, ``POST /v1/verify``) every ``--api-every``-th input. The classifier is off
everywhere (``KINOSEAL_CLASSIFIER=none``): it is not what is tested here.

A mutated signed base that still reads as its original verdict (not ``tampered``) is analysed by
``bench.hostile.exclusions``: are all its changed bytes in the hard binding's exclusions, and are
the manifest and the decoded frames identical? An unexplained one is a finding.

Results: bench/results/hostile_campaign.{json,md}; the per-input log is
tmp/hostile-campaign/log.jsonl (resumable: inputs already in it are skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORK = ROOT / "tmp" / "hostile-campaign"
CONFORMANCE = ROOT.parent / "shared" / "data" / "c2pa_conformance"
RESULTS = ROOT / "bench" / "results"
HANG_S = 60.0
CHILD_MEMORY_MB = 6144  # as the sandbox's default address-space limit


# ---------------------------------------------------------------- inputs

def _conformance_files() -> list[Path]:
    if not CONFORMANCE.is_dir():
        return []
    return sorted(p for sub in ("video", "video_unsigned", "image", "audio", "hostile")
                  for p in (CONFORMANCE / sub).glob("*") if p.is_file())


def prepare_bases(work: Path, fuzz_corpus: Path | None) -> tuple[dict[str, Path], list[Path]]:
    """The bases (name -> path) and the generated family files. Made once per work folder."""
    from bench.hostile.corpus import synthetic_frames, encode, make_corpus
    from kinoseal.label import sign_capture
    from kinoseal.credentials.home import ensure_dev_pki, trust_store
    from kinoseal.label import SOFTWARE, GeneratorInfo, Labeler
    from kinoseal.config import Settings
    from testkit.clips import CARPHONE
    from kinoseal.watermark.keyring import load_keyring

    home = work / "home"
    own = work / "bases"
    gen = work / "gen"
    s = Settings(home=home, preset="veryfast", crf=23)
    done = own / ".done"
    if not done.exists():
        own.mkdir(parents=True, exist_ok=True)
        pki = ensure_dev_pki(s)
        load_keyring(s.keys_dir / "watermark")
        sign_capture(CARPHONE, own / "ours_signed.mp4", pki.identity("capture"), software=SOFTWARE,
                     trust=trust_store(s))
        Labeler.from_settings(s).label_frames(synthetic_frames(24, 96, 128, seed=3), own / "ours_labeled.mp4", fps=12,
                                              generator=GeneratorInfo("hostile-bench", "1"))
        # the fuzzer's seed corpus (bench/fuzz/run.py makes the same four)
        encode(own / "fuzz_a.mp4", "libx264", "yuv420p", synthetic_frames(4, 32, 48))
        encode(own / "fuzz_b.mkv", "libx264", "yuv420p", synthetic_frames(3, 32, 32), fmt="matroska")
        encode(own / "fuzz_c.webm", "libvpx-vp9", "yuv420p", synthetic_frames(2, 32, 32), fmt="webm")
        sign_capture(own / "fuzz_a.mp4", own / "fuzz_a_signed.mp4", pki.identity("capture"), software=SOFTWARE,
                     trust=trust_store(s))
        make_corpus(gen, own / "ours_signed.mp4")
        done.touch()
    bases = {p.stem: p for p in sorted(own.glob("*")) if p.is_file() and p.name != ".done"}
    for p in _conformance_files():
        bases[f"c2pa_{p.parent.name}_{p.stem}"] = p
    if fuzz_corpus and fuzz_corpus.is_dir():
        for p in sorted(fuzz_corpus.iterdir())[:500]:
            if p.is_file() and 0 < p.stat().st_size <= 4 * 2**20:
                bases[f"fuzzcorpus_{p.name[:16]}"] = p
    return bases, sorted(p for p in gen.glob("*") if p.is_file())


def _weights(names: list[str]) -> dict[str, float]:
    """Mutation shares: our signed and labeled files and the fuzz seeds are small and fast; each
    conformance video gets a fair share; the rest (images, audio, unsigned) fail fast anyway."""
    w = {}
    for n in names:
        if n in ("ours_signed", "ours_labeled"):
            w[n] = 12.0
        elif n.startswith("fuzz"):
            w[n] = 5.0 if n.startswith("fuzz_") else 0.2
        elif n.startswith("c2pa_video_"):
            w[n] = 3.0
        else:
            w[n] = 1.0
    return w


def _main(bases: dict[str, Path]) -> list[str]:
    """The bases of the main plan; the fuzzer's grown corpus (when present) is planned after it,
    so that adding it changes neither the ids nor the inputs of the main plan."""
    return sorted(n for n in bases if not n.startswith("fuzzcorpus_"))


def plan(bases: dict[str, Path], gen: list[Path], total: int, seed: int = 0, per_fuzz: int = 20) -> list[str]:
    names = _main(bases)
    ids = [f"gen:{p.name}" for p in gen] + [f"seed:{n}" for n in bases if n in names]
    w = _weights(names)
    n_mut = max(0, total - len(ids))
    rnd = random.Random(seed)
    picks = rnd.choices(names, weights=[w[n] for n in names], k=n_mut)
    per: Counter[str] = Counter()
    muts = []
    for n in picks:
        muts.append(f"mut:{n}:{per[n]}")
        per[n] += 1
    rnd.shuffle(muts)  # a run cut short is still a fair sample of every base
    fuzz = sorted(n for n in bases if n not in names)
    return ids + muts + [f"seed:{n}" for n in fuzz] + [f"mut:{n}:{k}" for k in range(per_fuzz) for n in fuzz]


def materialize(input_id: str, bases: dict[str, Path], gen_dir: Path, scratch: Path) -> tuple[Path, dict]:
    """The file of an input, and what it is (base, operators, changed ranges)."""
    from bench.hostile.mutate import mutate

    kind, _, rest = input_id.partition(":")
    if kind == "gen":
        return gen_dir / rest, {}
    if kind == "seed":
        return bases[rest], {"base": rest}
    base, _, k = rest.rpartition(":")
    seed = int.from_bytes(hashlib.sha256(f"{base}:{k}".encode()).digest()[:8], "little")
    names = _main(bases) or sorted(bases)
    other = bases[names[seed % len(names)]].read_bytes()
    m = mutate(bases[base].read_bytes(), seed, other)
    suffix = bases[base].suffix or ".mp4"
    path = scratch / f"in{suffix}"
    path.write_bytes(m.data)
    return path, {"base": base, "ops": m.ops, "changed": m.changed, "bytes": len(m.data)}


# ---------------------------------------------------------------- runners

class LibraryChild:
    """The long-lived in-process runner (bench.hostile.worker), restarted after a hang or crash."""

    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log_path, self.proc = home, log, None
        self.restarts = 0

    def _start(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "KINOSEAL_CLASSIFIER": "none"}
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.hostile.worker", str(self.home),
                                      str(CHILD_MEMORY_MB)], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(self.log_path, "ab"),  # noqa: SIM115
                                     text=True, start_new_session=True, env=env)
        ready = self._read(300)
        if not ready or not ready.get("ready"):
            raise RuntimeError(f"library child did not start; see {self.log_path}")

    def _read(self, timeout: float) -> dict | None:
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"eof": True}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def verify(self, path: Path, tier: str) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps({"path": str(path), "tier": tier}) + "\n")
        self.proc.stdin.flush()
        ans = self._read(HANG_S)
        if ans is None:
            self.stop()
            self.restarts += 1
            return {"outcome": "hang", "seconds": round(time.perf_counter() - t0, 2)}
        if ans.get("eof"):
            code = self.proc.wait()
            self.proc = None
            self.restarts += 1
            return {"outcome": "crash", "returncode": code, "seconds": round(time.perf_counter() - t0, 2)}
        return ans


def sandbox_verify(path: Path, settings) -> dict:
    from kinoseal.errors import KinosealError
    from kinoseal.verify.sandbox import SandboxError, SandboxLimits, verify_isolated

    stats: dict = {}
    limits = SandboxLimits(wall_seconds=HANG_S, cpu_seconds=int(HANG_S * 2), memory_bytes=2048 * 2**20)
    try:
        rep = verify_isolated(path, settings, limits=limits, stats=stats)
        out = {"outcome": "report", "verdict": rep["verdict"]}
    except SandboxError as exc:
        text = str(exc)
        out = {"outcome": "bounded" if ("longer than" in text or "memory" in text) else "crash", "error": text[:200]}
    except KinosealError as exc:
        out = {"outcome": "clear_error", "kind": exc.kind, "error": str(exc)[:200]}
    except Exception as exc:  # noqa: BLE001
        out = {"outcome": "exception", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {**out, "seconds": round(stats.get("seconds", 0.0), 3), "peak_rss_kb": stats.get("peak_rss_kb")}


class Api:
    """A real ``kinoseal serve`` on loopback; its home has no watermark keys (parse path, as the
    library's parse tier) and trusts the campaign's dev root."""

    def __init__(self, work: Path) -> None:
        from kinoseal.credentials.home import ROOT_PEM
        from testkit.service import KINOSEAL, Server

        home = work / "home-api"
        home.mkdir(parents=True, exist_ok=True)
        root = work / "home" / "trust" / ROOT_PEM
        env = {"KINOSEAL_RATE_LIMIT": "100000000", "KINOSEAL_SYNC_TIMEOUT_S": str(int(HANG_S * 2)),
               "KINOSEAL_CLASSIFIER": "none", "KINOSEAL_TRUST": str(root)}
        self.server = Server(home, work / "server.log", env=env, args=("--no-public-verify",))
        out = subprocess.run([str(KINOSEAL), "api-key", "create", "--tenant", "hostile", "--scopes", "verify"],
                             env={**os.environ, "KINOSEAL_HOME": str(home), **env}, capture_output=True,
                             text=True, check=True).stdout
        self.client = self.server.client(out.strip().splitlines()[-1].split()[-1], timeout=HANG_S * 3)
        self.peak_kb = 0

    def verify(self, path: Path, name: str) -> dict:
        import httpx

        from bench.procs import children, memory_kb

        t0 = time.perf_counter()
        try:
            r = self.client.post("/v1/verify", files={"file": (name, path.read_bytes(), "application/octet-stream")})
        except httpx.HTTPError as exc:
            return {"status": -1, "error": type(exc).__name__, "seconds": round(time.perf_counter() - t0, 3)}
        self.peak_kb = max(self.peak_kb, memory_kb(children(self.server.proc.pid)))
        out = {"status": r.status_code, "seconds": round(time.perf_counter() - t0, 3)}
        if r.status_code >= 400:
            out["problem_json"] = r.headers.get("content-type", "").startswith("application/problem+json")
        elif r.status_code == 200:
            out["verdict"] = r.json().get("verdict")
        return out

    def close(self) -> dict:
        health = self.client.get("/healthz").status_code
        alive = self.server.proc.poll() is None
        self.client.close()
        self.server.stop()
        log = self.server.log_path.read_text(errors="replace")
        return {"healthz_at_end": health, "alive_at_end": alive, "tracebacks_in_log": log.count("Traceback"),
                "server_peak_rss_mb": round(self.peak_kb / 1024, 1)}


# ---------------------------------------------------------------- campaign

def tiers_of(input_id: str, index: int, args) -> set[str]:
    t = {"parse"}
    every = not input_id.startswith("mut:")
    if every or index % args.full_every == 0:
        t.add("full")
    if every or index % args.sandbox_every == 0:
        t.add("sandbox")
    if every or index % args.api_every == 0:
        t.add("api")
    return t


def _keep(path: Path, input_id: str) -> str:
    keep = WORK / "findings"
    keep.mkdir(parents=True, exist_ok=True)
    dst = keep / (input_id.replace(":", "_").replace("/", "_") + path.suffix)
    shutil.copy(path, dst)
    return str(dst.relative_to(ROOT))


def run(args) -> None:
    from bench.hostile.worker import campaign_settings

    WORK.mkdir(parents=True, exist_ok=True)
    bases, gen = prepare_bases(WORK, args.fuzz_corpus)
    ids = plan(bases, gen, args.inputs, per_fuzz=args.fuzz_mutations)
    if args.only:
        ids = [i for i in ids if i in args.only] + [i for i in args.only if i not in ids]
    # a reproduction (--only) prints its rows and leaves the campaign's log and results alone
    log_path = WORK / ("only.jsonl" if args.only else "log.jsonl")
    seen = set()
    if log_path.exists() and not args.only:
        seen = {json.loads(line)["id"] for line in log_path.read_text().splitlines() if line.strip()}
    scratch = WORK / "scratch"
    scratch.mkdir(exist_ok=True)
    settings = campaign_settings(WORK / "home")
    child = LibraryChild(WORK / "home", WORK / "worker.log")
    api = Api(WORK) if args.api_every > 0 else None
    # base -> parse-tier verdict of the unmutated file (a mutation that keeps it is analysed)
    originals = {n: child.verify(p, "parse").get("verdict", "") for n, p in bases.items()}
    deadline = time.time() + args.budget_s if args.budget_s else None
    t_start = time.perf_counter()
    with open(log_path, "a") as log:
        for index, input_id in enumerate(ids):
            if deadline and time.time() > deadline:
                print(f"budget over after {index} inputs")
                break
            path, meta = materialize(input_id, bases, WORK / "gen", scratch)
            if input_id in seen:
                continue
            row: dict = {"id": input_id, **{k: v for k, v in meta.items() if k != "changed"},
                         "bytes": path.stat().st_size, "t": round(time.time(), 1)}
            if input_id.startswith("gen:mutated_"):  # the corpus' box flips of our signed capture
                meta = {"base": "ours_signed", "changed": None}
            for tier in sorted(tiers_of(input_id, index, args)):
                if tier in ("parse", "full"):
                    row[tier] = child.verify(path, tier)
                elif tier == "sandbox":
                    row[tier] = sandbox_verify(path, settings)
                elif api is not None:
                    row[tier] = api.verify(path, path.name)
            bad = [t for t in ("parse", "full", "sandbox") if row.get(t, {}).get("outcome")
                   in ("hang", "crash", "exception", "memory_error")]
            if bad or row.get("api", {}).get("status", 0) >= 500 or row.get("api", {}).get("status") == -1:
                row["kept"] = _keep(path, input_id)
            base = meta.get("base")
            orig = originals.get(base or "", "")
            verdict = row["parse"].get("verdict")
            if (input_id.startswith(("mut:", "gen:mutated_")) and orig not in ("", "tampered", "unknown")
                    and verdict == orig):
                from bench.hostile.exclusions import explain

                row["still_valid"] = explain(bases[base], path, meta.get("changed"))
                if not row["still_valid"].get("explained"):
                    row["kept"] = _keep(path, input_id)
            log.write(json.dumps(row) + "\n")
            log.flush()
            if args.only:
                print(json.dumps(row, indent=1))
            if index % 200 == 0:
                print(f"{index}/{len(ids)} {time.perf_counter() - t_start:.0f}s", flush=True)
    child.stop()
    api_end = api.close() if api else {}
    if not args.only:
        (WORK / "api_end.json").write_text(json.dumps(api_end))
        summarize(args)


# ---------------------------------------------------------------- results

def _lat(xs: list[float]) -> dict:
    xs = sorted(xs)
    if not xs:
        return {}
    return {"max": round(xs[-1], 3), "p99": round(xs[int(0.99 * (len(xs) - 1))], 3),
            "p50": round(statistics.median(xs), 3), "mean": round(sum(xs) / len(xs), 4)}


def _category(why: dict) -> str:
    if not why.get("frames_identical"):
        boxes = sorted({sp["box"].rsplit("/", 1)[-1] for sp in why.get("changed", [])}) or ["?"]
        return ("DECODED FRAMES CHANGED, manifest still valid (changed: " + ", ".join(boxes)
                + (f"; {why['hash_assertion']}" if why.get("hash_assertion") else "; hash assertion not in the "
                   "c2pa-python report (v1)") + ")")
    if not why.get("in_place"):
        return "length changed; decoded frames identical"
    if not why.get("hash_assertion"):
        return "frames identical; exclusions not readable (v1 c2pa.hash.bmff, absent from c2pa-python's report)"
    return "frames identical; a changed byte outside the listed exclusions"


def summarize(args) -> None:
    rows = [json.loads(line) for line in (WORK / "log.jsonl").read_text().splitlines() if line.strip()]
    api_end = json.loads((WORK / "api_end.json").read_text()) if (WORK / "api_end.json").exists() else {}
    doc: dict = {"command": args.command, "log": _shown(WORK / "log.jsonl"), "inputs": len(rows),
                 "sources": dict(Counter(r["id"].split(":")[0] for r in rows)),
                 "bases_mutated": dict(Counter(r.get("base") for r in rows if r["id"].startswith("mut:"))),
                 "tiers": {}}
    for tier in ("parse", "full", "sandbox"):
        tr = [r[tier] for r in rows if tier in r]
        if not tr:
            continue
        slow = max((r for r in rows if tier in r), key=lambda r: r[tier].get("seconds", 0))
        peak = max((r for r in rows if tier in r), key=lambda r: r[tier].get("peak_rss_kb") or 0)
        doc["tiers"][tier] = {
            "inputs": len(tr), "outcomes": dict(Counter(t["outcome"] for t in tr)),
            "verdicts": dict(Counter(t["verdict"] for t in tr if t.get("verdict"))),
            "error_kinds": dict(Counter(t.get("kind") for t in tr if t["outcome"] == "clear_error")),
            "seconds": _lat([t.get("seconds", 0) for t in tr]),
            "slowest": {"id": slow["id"], "seconds": slow[tier].get("seconds"), "bytes": slow["bytes"]},
            "peak_rss_mb": round((peak[tier].get("peak_rss_kb") or 0) / 1024, 1), "peak_rss_id": peak["id"],
            "findings": [{"id": r["id"], **{k: r[tier].get(k) for k in ("outcome", "error", "returncode")},
                          "kept": r.get("kept")} for r in rows if tier in r
                         and r[tier]["outcome"] in ("hang", "crash", "exception", "memory_error")],
        }
    ar = [r["api"] for r in rows if "api" in r]
    if ar:
        slow = max((r for r in rows if "api" in r), key=lambda r: r["api"].get("seconds", 0))
        doc["api"] = {
            "requests": len(ar), "status": dict(sorted(Counter(str(a["status"]) for a in ar).items())),
            "server_errors_5xx": sum(1 for a in ar if a["status"] >= 500),
            "hangs": sum(1 for a in ar if a["status"] == -1),
            "errors_not_problem_json": sum(1 for a in ar if a["status"] >= 400 and not a.get("problem_json")),
            "seconds": _lat([a["seconds"] for a in ar]),
            "slowest": {"id": slow["id"], "seconds": slow["api"]["seconds"], "bytes": slow["bytes"]},
            **api_end,
        }
    sv = [r for r in rows if "still_valid" in r]
    doc["mutated_still_valid"] = {
        "count": len(sv), "explained": sum(1 for r in sv if r["still_valid"].get("explained")),
        # per input: the excluded boxes its changed bytes lie in
        "by_excluded_box": dict(Counter("+".join(sorted({sp["excluded_by"] or "not excluded"
                                                         for sp in r["still_valid"].get("changed", [])}) or {"?"})
                                        for r in sv if r["still_valid"].get("explained"))),
        "unexplained": [{"id": r["id"], "ops": r.get("ops"), "verdict": r["parse"].get("verdict"),
                         "category": _category(r["still_valid"]), "why": r["still_valid"], "kept": r.get("kept")}
                        for r in sv if not r["still_valid"].get("explained")],
    }
    doc["mutated_still_valid"]["unexplained_by_category"] = dict(Counter(
        u["category"] for u in doc["mutated_still_valid"]["unexplained"]))
    doc["mutated_authentic"] = sum(1 for r in rows if r["id"].startswith("mut:")
                                   and r["parse"].get("verdict") == "authentic")
    first = WORK / "first_pass_dropped.json"
    if first.exists():  # inputs re-run after a fix: what they did before it
        fp = [r for r in json.loads(first.read_text()) if "still_valid" not in r or r["parse"].get("outcome")
              == "exception" or (r.get("api") or {}).get("status", 0) >= 500]
        doc["first_pass"] = {
            "library_exceptions": dict(Counter(r["parse"]["error"] for r in fp
                                               if r["parse"].get("outcome") == "exception")),
            "api_5xx": [r["id"] for r in fp if (r.get("api") or {}).get("status", 0) >= 500],
            "ids": [r["id"] for r in fp]}
    doc["loadavg_at_summary"] = [round(x, 2) for x in os.getloadavg()]
    ts = [r["t"] for r in rows if "t" in r]
    doc["wall_s"] = round(max(ts) - min(ts)) if ts else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / f"{args.stem}.md").write_text(write_md(doc))
    print(write_md(doc))


def _shown(path: Path) -> str:
    """``path`` relative to the project where it lies inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_md(doc: dict) -> str:
    t = doc["tiers"]
    lines = ["# Hostile-input campaign: library, sandbox and HTTP API", "",
             f"Command: `{doc['command']}` (`bench/hostile/campaign.py`; per-input log in the ignored "
             f"`{doc.get('log', 'tmp/hostile-campaign/log.jsonl')}`).", "",
             f"**{doc['inputs']:,} inputs**: " + ", ".join(f"{k} {v:,}" for k, v in sorted(doc["sources"].items()))
             + " (gen = generated families, seed = the real bases themselves, mut = mutations of them); "
             f"wall time {doc['wall_s']} s.",
             "Mutated bases: " + ", ".join(f"{k} {v}" for k, v in sorted(doc["bases_mutated"].items(),
                                                                          key=lambda kv: -kv[1])) + ".", "",
             "| path | inputs | crashes | hangs | other exceptions | reports / clear errors / stopped at a limit "
             "| time per input p50 / p99 / max (s) | slowest input | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    names = {"parse": "library in-process, parse tier (C2PA, probe, container)",
             "full": "library in-process, full (+ decode, watermark search)",
             "sandbox": "library in the sandbox (`verify_isolated`, a child per input)"}
    for tier, d in t.items():
        o = d["outcomes"]
        s = d["seconds"]
        lines.append(
            f"| {names[tier]} | {d['inputs']:,} | {o.get('crash', 0)} | {o.get('hang', 0)} | "
            f"{o.get('exception', 0) + o.get('memory_error', 0)} | {o.get('report', 0):,} / {o.get('clear_error', 0):,} / "
            f"{o.get('bounded', 0)} | {s.get('p50')} / {s.get('p99')} / {s.get('max')} | "
            f"`{d['slowest']['id']}` ({d['slowest']['seconds']} s) | {d['peak_rss_mb']} (`{d['peak_rss_id']}`) |")
    a = doc.get("api")
    if a:
        s = a["seconds"]
        lines.append(
            f"| HTTP API, `POST /v1/verify` on a real `kinoseal serve` | {a['requests']:,} | "
            f"{a['server_errors_5xx']} 5xx | {a['hangs']} | {a['errors_not_problem_json']} error answers not "
            f"problem+json; {a.get('tracebacks_in_log', '?')} tracebacks in the log | "
            + ", ".join(f"{k}×{v}" for k, v in a["status"].items())
            + f" | {s.get('p50')} / {s.get('p99')} / {s.get('max')} | `{a['slowest']['id']}` ({a['slowest']['seconds']} s) "
            f"| server {a.get('server_peak_rss_mb', '?')} |")
    lines += ["", "Verdicts (parse tier): " + ", ".join(f"{k} {v:,}" for k, v in
                                                        sorted(t.get("parse", {}).get("verdicts", {}).items())) + ".",
              "Clear errors by kind (parse tier): " + ", ".join(
                  f"{k} {v:,}" for k, v in sorted(t.get("parse", {}).get("error_kinds", {}).items())) + "."]
    if a:
        lines.append(f"API: /healthz {a.get('healthz_at_end')} at the end, server alive: {a.get('alive_at_end')}.")
    sv = doc["mutated_still_valid"]
    lines += ["", f"Mutated signed files that still read as their original verdict: {sv['count']}; "
              f"explained (every changed byte inside an exclusion of the `c2pa.hash.bmff` assertion, decoded "
              f"frames identical): {sv['explained']}; the explained ones by excluded box: "
              + (", ".join(f"{k} {v}" for k, v in sorted(sv["by_excluded_box"].items())) or "none") + "."]
    for cat, n in sorted(sv.get("unexplained_by_category", {}).items()):
        ids = [u for u in sv["unexplained"] if u["category"] == cat]
        lines.append(f"- {n} × {cat}: " + ", ".join(f"`{u['id']}` {u['ops']} → {u['verdict']}" for u in ids[:6])
                     + (" …" if len(ids) > 6 else ""))
    fp = doc.get("first_pass")
    if fp:
        lines += ["", f"First pass, before a fix: {sum(fp['library_exceptions'].values())} library exceptions ("
                  + "; ".join(f"{k} ×{v}" for k, v in fp["library_exceptions"].items())
                  + f") and {len(fp['api_5xx'])} HTTP 500s (e.g. {', '.join(fp['api_5xx'][:3])}). Cause: an audio stream "
                  "without a codec context (a mutated sample description) in `mediaio/probe.py`; fixed by one "
                  "line, and those inputs were run again for the figures above "
                  "(`tests/test_hostile_slice.py` regenerates one)."]
    findings = [f for d in t.values() for f in d["findings"]]
    lines += ["", f"Findings (crash, hang, exception): {len(findings)}."]
    for f in findings[:20]:
        lines.append(f"- `{f['id']}`: {f['outcome']} {f.get('error') or ''} {f.get('returncode') or ''} "
                     f"(kept: `{f.get('kept')}`)")
    lines += ["", "Tiers: every input goes through the parse tier; the full tier, the sandbox and the API take the "
              "generated families, the bases and every n-th mutation (see the command). Classifier off "
              "(`KINOSEAL_CLASSIFIER=none`), `verify_max_frames` 8, per-input limit "
              f"{HANG_S:.0f} s, library child address space {CHILD_MEMORY_MB} MB, sandbox 2048 MB. "
              f"Run with `nice -n 15` on the shared 2-core machine (load average at the end "
              f"{doc['loadavg_at_summary'][0]}), so times are upper bounds.", ""]
    return "\n".join(lines)


def main() -> None:
    global WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=10_000)
    ap.add_argument("--full-every", type=int, default=40)
    ap.add_argument("--sandbox-every", type=int, default=200)
    ap.add_argument("--api-every", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=0, help="stop starting new inputs after this many seconds")
    ap.add_argument("--fuzz-corpus", type=Path, default=ROOT / "tmp" / "fuzz-corpus",
                    help="the corpus `python -m bench.fuzz.run` grew (kept there); its files and "
                         "--fuzz-mutations mutations of each are planned after the main inputs")
    ap.add_argument("--fuzz-mutations", type=int, default=20)
    ap.add_argument("--only", nargs="*", help="run only these input ids (reproduce a finding)")
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="start a new log")
    ap.add_argument("--work", type=Path, default=WORK, help="the (ignored) folder for inputs and the log")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where the summary goes")
    ap.add_argument("--stem", default="hostile_campaign", help="the summary's file name, without .json/.md")
    args = ap.parse_args()
    WORK = args.work
    args.command = ("python -m bench.hostile.campaign --inputs {} --full-every {} --sandbox-every {} "
                    "--api-every {}".format(args.inputs, args.full_every, args.sandbox_every, args.api_every)
                    + (f" --budget-s {args.budget_s:.0f}" if args.budget_s else "")
                    + (f" --stem {args.stem}" if args.stem != "hostile_campaign" else "")
                    + (f" --work {_shown(WORK)}" if WORK != ROOT / "tmp" / "hostile-campaign" else ""))
    if args.summarize:
        summarize(args)
        return
    if args.fresh and (WORK / "log.jsonl").exists():
        (WORK / "log.jsonl").unlink()
    run(args)


if __name__ == "__main__":
    main()
