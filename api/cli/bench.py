"""CLI commands of the benchmarks: ``kinoseal bench watermark``.

``api/cli/main.py`` calls ``register(app)``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _split(s: Optional[str]) -> list[str]:
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def _expand_attacks(spec: list[str]) -> list[str]:
    from kinoseal.evaluation.watermark.attacks import list_attacks

    names: list[str] = []
    for s in spec:
        hits = list_attacks(s)
        if not hits:
            err.print(f"[red]error:[/] --attacks: no attack matches {s!r}; see `kinoseal bench watermark --list`",
                      highlight=False)
            raise typer.Exit(2)
        names += [h for h in hits if h not in names]
    return names


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Benchmarks: watermark robustness suite.", no_args_is_help=True)
    app.add_typer(bench, name="bench")

    @bench.command("watermark")
    def watermark(
        methods: Annotated[Optional[str], typer.Option(
            help="Comma-separated methods: kinoseal versions and peers (rivaGan, dwtDctSvd, blindwm). "
                 "Default: every registered kinoseal version plus every installed peer.")] = None,
        attacks: Annotated[Optional[str], typer.Option(
            help="Comma-separated attack names, families or globs (h264, crop_*, none). Default: all.")] = None,
        clips: Annotated[Optional[str], typer.Option(
            help="Comma-separated clip names (carphone, bikes, bikes_720p, bigbuckbunny, generated) or video files. "
                 "Default: carphone, bikes, generated, bigbuckbunny.")] = None,
        frames: Annotated[Optional[int], typer.Option(
            help="Frames per clip (default: 2 s of each clip).", min=2)] = None,
        out_dir: Annotated[Path, typer.Option("--out", help="Result folder.")] = Path("bench/results/wm_suite"),
        quick: Annotated[bool, typer.Option(
            "--quick", help="A few-minute run: small clips, 24 frames, 11 representative attacks.")] = False,
        peer_decode_frames: Annotated[Optional[int], typer.Option(
            help="Frames each peer decodes per attacked clip (default: per peer; rivaGan 3, blindwm 12).",
            min=1)] = None,
        peer_max_pixels: Annotated[Optional[int], typer.Option(
            help="Skip slow peers on larger frames (default: per peer, 400000 for rivaGan/blindwm; 0 = never skip).",
            min=0)] = None,
        frame_tests: Annotated[int, typer.Option(
            help="Single frames tested per clip (spread over it; -1 = all) for frame_tpr / per-frame false positives.",
            min=-1)] = 4,
        window_tests: Annotated[int, typer.Option(
            help="8-frame windows tested per clip (-1 = all) for window_tpr / per-window false positives.",
            min=-1)] = 3,
        seed: Annotated[int, typer.Option(help="Seed of the payloads.")] = 0,
        list_only: Annotated[bool, typer.Option("--list", help="List methods, attacks and clips, then exit.")] = False,
    ) -> None:
        """Run watermark methods over clips and attacks; write report.csv, metrics.json per attack, plots, summary.md."""
        from kinoseal.evaluation.watermark.attacks import get_attack, list_attacks
        from kinoseal.evaluation.watermark.peers import get_peer, list_peers
        from kinoseal.watermark.methods import list_methods
        from kinoseal.evaluation.watermark.clips import CLIP_SOURCES, DEFAULT_CLIPS
        from kinoseal.evaluation.watermark.suite import QUICK_ATTACKS, default_methods, run_suite

        if list_only:
            t = Table(title="methods")
            t.add_column("name")
            t.add_column("kind")
            t.add_column("status")
            for m in list_methods():
                t.add_row(m, "ours", "registered")
            for p in list_peers():
                why = get_peer(p).unavailable_reason()
                t.add_row(p, "peer", why or "available")
            out.print(t)
            t = Table(title="attacks")
            for c in ("name", "family", "description"):
                t.add_column(c)
            for a in list_attacks():
                at = get_attack(a)
                t.add_row(a, at.family, at.description)
            out.print(t)
            t = Table(title="clips")
            for c in ("name", "kind", "description"):
                t.add_column(c)
            for s in CLIP_SOURCES.values():
                t.add_row(s.name, s.kind, s.description)
            out.print(t)
            return

        method_names = _split(methods) or default_methods()
        attack_names = _expand_attacks(_split(attacks)) if attacks else (list(QUICK_ATTACKS) if quick else list_attacks())
        clip_names = _split(clips) or (["carphone", "generated"] if quick else list(DEFAULT_CLIPS))
        if quick and frames is None:
            frames = 24
        peers = [m for m in method_names if m in list_peers()]
        decode = {p: peer_decode_frames for p in peers} if peer_decode_frames else {}
        maxpix = {p: (peer_max_pixels or None) for p in peers} if peer_max_pixels is not None else {}
        # The command line as typed (``kinoseal ...`` or ``python -m api.cli ...``), so results say what made them.
        cmd = "kinoseal " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if "bench" in sys.argv[1:] else None
        try:
            run = run_suite(method_names, clip_names, attack_names, out_dir, frames=frames, progress=True if err.is_terminal else "plain",
                            seed=seed, decode_frames=decode, max_pixels=maxpix,
                            log=lambda s: err.print(f"[yellow]note:[/] {s}", highlight=False),
                            command=cmd or f"kinoseal bench watermark (out {out_dir})", console=err,
                            frame_tests=None if frame_tests < 0 else frame_tests,
                            window_tests=None if window_tests < 0 else window_tests)
        except (KeyError, FileNotFoundError, ValueError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            err.print(f"[red]error:[/] {msg}", highlight=False)
            raise typer.Exit(2) from None
        t = Table(title=f"clip TPR at p < 1e-6 ({len(run['clips'])} clips, {len(attack_names)} attacks)")
        t.add_column("method")
        t.add_column("attacks fully detected")
        t.add_column("clips detected")
        t.add_column("false positives (clips)")
        for m, per in run["aggregates"].items():
            gs = [g for g in per.values() if g["clips"]]
            t.add_row(m, f"{sum(g['clips_detected'] == g['clips'] for g in gs)}/{len(gs)}",
                      f"{sum(g['clips_detected'] for g in gs)}/{sum(g['clips'] for g in gs)}",
                      f"{sum(g['fp_clips'] for g in gs)}/{sum(g['clips'] for g in gs)}")
        out.print(t)
        out.print(f"wrote {out_dir}/summary.md, report.csv, run.json, {len(attack_names)} metrics.json, plots/ "
                  f"in {run['runtime_s'] / 60:.1f} min", highlight=False)
