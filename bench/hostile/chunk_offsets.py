"""The chunk-offset check (``credentials.chunk_layout``) on the hostile campaign's findings
and on untouched files.

The campaign found mutations of bmff.v2 / legacy-v1 signed files whose decoded frames
changed while c2pa-rs still validated the manifest (chunk offsets are excluded from
those hashes). This rebuilds each of them from its id (as ``campaign --only`` does),
reads it with kinoseal's C2PA reader, and counts how many now carry
``kinoseal.bmffHash.chunkOffsets.mismatch``. It then runs the check on every untouched
MP4/MOV it can find (the conformance and real-world sets in ../shared, test clips) to
count false alarms, and times it.

    .venv/bin/python -m bench.hostile.chunk_offsets

Writes bench/results/chunk_offsets.{json,md}.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from bench.hostile.campaign import WORK, materialize, prepare_bases
from kinoseal.credentials.chunk_layout import CHUNK_OFFSETS_MISMATCH, layout_problem
from kinoseal.credentials.reading import read_c2pa
from kinoseal.credentials.trust import TrustConfig

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results"
FRAMES_CHANGED = "DECODED FRAMES CHANGED"


def findings() -> list[dict]:
    data = json.loads((OUT / "hostile_campaign.json").read_text())
    return [u for u in data["mutated_still_valid"]["unexplained"] if u["category"].startswith(FRAMES_CHANGED)]


def untouched() -> list[Path]:
    roots = [SHARED / "c2pa_conformance", SHARED / "realworld", ROOT / "test-artifacts"]
    out = []
    for r in roots:
        if r.is_dir():
            out += [p for p in sorted(r.rglob("*")) if p.suffix.lower() in (".mp4", ".mov", ".m4v") and p.is_file()]
    return out


def main() -> None:
    if not (SHARED / "c2pa_conformance").is_dir():
        sys.exit(f"{SHARED / 'c2pa_conformance'} is absent: the findings are mutations of those files")
    started = time.time()
    bases, gen = prepare_bases(WORK, None)
    scratch = WORK / "scratch-chunk"
    scratch.mkdir(parents=True, exist_ok=True)
    rows = []
    for f in findings():
        path, info = materialize(f["id"], bases, WORK / "gen", scratch)
        ev = read_c2pa(path, TrustConfig())
        rows.append({"id": f["id"], "ops": info.get("ops"), "verdict_in_campaign": f["verdict"],
                     "caught": CHUNK_OFFSETS_MISMATCH in ev.failure_codes, "problem": ev.binding_problem})
        print(json.dumps(rows[-1]), flush=True)
    clean = []
    for p in untouched():
        t = time.perf_counter()
        problem = layout_problem(p)
        clean.append({"file": str(p.relative_to(p.parents[2])), "problem": problem,
                      "ms": round(1000 * (time.perf_counter() - t), 3)})
    false_alarms = [c for c in clean if c["problem"]]
    result = {
        "command": "python -m bench.hostile.chunk_offsets",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "findings": len(rows), "caught": sum(r["caught"] for r in rows), "rows": rows,
        "untouched_files": len(clean), "false_alarms": false_alarms,
        "max_ms": max((c["ms"] for c in clean), default=None),
        "median_ms": sorted(c["ms"] for c in clean)[len(clean) // 2] if clean else None,
        "wall_s": round(time.time() - started, 1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "chunk_offsets.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [
        "# Chunk offsets left unbound by bmff.v2 / legacy hashes",
        "",
        f"Command: `{result['command']}` ({result['when']}, {result['machine']}).",
        "",
        f"**Campaign findings** (mutations whose decoded frames changed under a manifest c2pa-rs still validates): "
        f"{result['caught']} of {result['findings']} now carry `{CHUNK_OFFSETS_MISMATCH}` (`tampered`).",
        "",
        "| id | mutation | verdict in the campaign | caught | what kinoseal says |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(f"| `{r['id']}` | {', '.join(r['ops'] or [])} | {r['verdict_in_campaign']} | "
                  f"{'yes' if r['caught'] else '**no**'} | {r['problem'] or ''} |")
    md += ["", f"**Untouched files**: {len(clean)} MP4/MOV files (conformance, real-world, test clips): "
               f"{len(false_alarms)} false alarms. Time per file: median {result['median_ms']} ms, "
               f"max {result['max_ms']} ms.", ""]
    for c in false_alarms:
        md.append(f"- false alarm: `{c['file']}`: {c['problem']}")
    (OUT / "chunk_offsets.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
