"""What a suite run writes: per-attack aggregates, ratios to peers, the JSON, the Markdown
summary and the plots."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from kinoseal.evaluation.watermark.attacks import Attack, Planes


from typing import TYPE_CHECKING

from kinoseal.evaluation.watermark.clips import SuiteClip
from kinoseal.evaluation.watermark.metrics import flat_region

if TYPE_CHECKING:  # types only: the suite calls this module
    from kinoseal.evaluation.watermark.suite import SuiteMethod, _Row

CSV_COLUMNS = [
    "method", "attack", "strength", "clip", "bit_accuracy", "clip_tpr", "frame_tpr", "fpr", "log10_p_value",
    "psnr_y", "ssim",
    # extras
    "family", "window_tpr", "fpr_frame", "fpr_window", "fpr_analytic", "payload_ok", "frames_decoded",
    "attacked_size", "note",
]


def _frac(xs: Iterable[bool]) -> float | None:
    xs = list(xs)
    return float(np.mean(xs)) if xs else None


def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (np.floating,)):
        return _num(float(x))
    return x


def _agg(rows: list[_Row]) -> dict[str, Any]:
    ok = [r for r in rows if r.detected is not None]
    fr = [h for r in ok for h in r.frame_hits]
    wi = [h for r in ok for h in r.window_hits]
    fpc = [r.fp_clip for r in ok if r.fp_clip is not None]
    fpf = [h for r in ok for h in r.fp_frames]
    fpw = [h for r in ok for h in r.fp_windows]
    lps = [r.log10_p for r in ok if r.log10_p is not None]
    accs = [r.bit_accuracy for r in ok if r.bit_accuracy is not None]
    pays = [r.payload_ok for r in ok if r.payload_ok is not None]
    return {
        "clips": len(ok),
        "clips_detected": int(sum(bool(r.detected) for r in ok)),
        "clip_tpr": _frac(r.detected for r in ok),
        "frame_tpr": _frac(fr),
        "window_tpr": _frac(wi),
        "bit_accuracy": float(np.mean(accs)) if accs else None,
        "log10_p_value": float(np.median(lps)) if lps else None,
        "payload_ok": _frac(pays),
        "fpr": _frac(fpc),
        "fp_clips": int(sum(fpc)),
        "fpr_frame": _frac(fpf),
        "fp_frames": f"{int(sum(fpf))}/{len(fpf)}",
        "fpr_window": _frac(fpw),
        "fp_windows": f"{int(sum(fpw))}/{len(fpw)}",
        "psnr_y": float(np.mean([r.psnr_y for r in ok])) if ok else None,
        "ssim": float(np.mean([r.ssim for r in ok])) if ok else None,
        "errors": [f"{r.clip}: {r.note}" for r in rows if r.note],
    }


def _row_dict(r: _Row, m: SuiteMethod) -> dict[str, Any]:
    return {
        "method": r.method, "attack": r.attack, "strength": r.strength, "clip": r.clip,
        "bit_accuracy": r.bit_accuracy, "clip_tpr": None if r.detected is None else float(r.detected),
        "frame_tpr": _frac(r.frame_hits), "fpr": None if r.fp_clip is None else float(r.fp_clip),
        "log10_p_value": r.log10_p, "psnr_y": r.psnr_y, "ssim": r.ssim,
        "family": r.family, "window_tpr": _frac(r.window_hits), "fpr_frame": _frac(r.fp_frames),
        "fpr_window": _frac(r.fp_windows), "fpr_analytic": m.fpr_analytic,
        "payload_ok": r.payload_ok, "frames_decoded": r.frames_decoded, "attacked_size": r.attacked_size,
        "note": r.note,
    }


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, float):
        if not math.isfinite(x):
            return ""
        return f"{x:.6g}"
    return str(x)


def write_report(out: Path, rows: list[_Row], run: dict[str, Any], methods: list[SuiteMethod],
                 attacks: list[Attack]) -> None:
    by_m = {m.name: m for m in methods}
    csv_rows: list[dict[str, Any]] = []
    aggregates: dict[str, dict[str, dict[str, Any]]] = {}
    for a in attacks:
        per_attack: dict[str, Any] = {"attack": a.name, "family": a.family, "strength": a.strength,
                                      "description": a.description, "methods": {}}
        for m in methods:
            mr = [r for r in rows if r.attack == a.name and r.method == m.name]
            if not mr:
                continue
            agg = _agg(mr)
            aggregates.setdefault(m.name, {})[a.name] = agg
            per_attack["methods"][m.name] = {
                "aggregate": agg,
                "clips": {r.clip: {**_row_dict(r, m), "frame_hits": f"{sum(r.frame_hits)}/{len(r.frame_hits)}",
                                   "window_hits": f"{sum(r.window_hits)}/{len(r.window_hits)}",
                                   "fp_frames": f"{sum(r.fp_frames)}/{len(r.fp_frames)}",
                                   "fp_windows": f"{sum(r.fp_windows)}/{len(r.fp_windows)}",
                                   "seconds": round(r.seconds, 3)} for r in mr},
            }
            for r in mr:
                csv_rows.append(_row_dict(r, m))
            csv_rows.append({
                "method": m.name, "attack": a.name, "strength": a.strength, "clip": "ALL",
                "bit_accuracy": agg["bit_accuracy"], "clip_tpr": agg["clip_tpr"], "frame_tpr": agg["frame_tpr"],
                "fpr": agg["fpr"], "log10_p_value": agg["log10_p_value"], "psnr_y": agg["psnr_y"], "ssim": agg["ssim"],
                "family": a.family, "window_tpr": agg["window_tpr"], "fpr_frame": agg["fpr_frame"],
                "fpr_window": agg["fpr_window"], "fpr_analytic": m.fpr_analytic, "payload_ok": agg["payload_ok"],
                "frames_decoded": sum(r.frames_decoded for r in mr), "attacked_size": "",
                "note": "; ".join(agg["errors"]),
            })
        d = out / a.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.json").write_text(json.dumps(per_attack, indent=1, default=_num) + "\n")
    with open(out / "report.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in csv_rows:
            w.writerow({k: _fmt(r.get(k)) for k in CSV_COLUMNS})
    run["aggregates"] = aggregates
    run["ratios"] = _ratios(rows, methods)
    plots = _plots(out / "plots", aggregates, methods, attacks)
    run["plots"] = plots
    (out / "run.json").write_text(json.dumps(run, indent=1, default=_num) + "\n")
    (out / "summary.md").write_text(summary_markdown(run, methods, attacks))


def _ratios(rows: list[_Row], methods: list[SuiteMethod]) -> dict[str, dict[str, dict[str, Any]]]:
    """Ours vs each peer on the (attack, clip) pairs both ran on."""
    got = {(r.method, r.attack, r.clip): r for r in rows if r.detected is not None}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for o in (m for m in methods if m.kind == "ours"):
        for p in (m for m in methods if m.kind == "peer"):
            pairs = sorted({(a, c) for (m, a, c) in got if m == o.name} & {(a, c) for (m, a, c) in got if m == p.name})
            if not pairs:
                continue
            det_o = sum(bool(got[(o.name, a, c)].detected) for a, c in pairs)
            det_p = sum(bool(got[(p.name, a, c)].detected) for a, c in pairs)
            atts = sorted({a for a, _ in pairs})
            full = lambda m: sum(all(got[(m, a, c)].detected for aa, c in pairs if aa == a) for a in atts)  # noqa: E731
            acc = lambda m: float(np.mean([got[(m, a, c)].bit_accuracy or 0.0 for a, c in pairs]))  # noqa: E731
            out.setdefault(o.name, {})[p.name] = {
                "pairs": len(pairs), "clips": sorted({c for _, c in pairs}), "attacks": len(atts),
                "ours_detected": det_o, "peer_detected": det_p,
                "tpr_ratio": (det_o / det_p) if det_p else None,
                "ours_full_attacks": full(o.name), "peer_full_attacks": full(p.name),
                "ours_bit_accuracy": acc(o.name), "peer_bit_accuracy": acc(p.name),
            }
    return out


def _plots(d: Path, aggregates: dict, methods: list[SuiteMethod], attacks: list[Attack]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d.mkdir(parents=True, exist_ok=True)
    fams: dict[str, list[Attack]] = {}
    for a in attacks:
        if a.strength is not None and not a.temporal and a.family not in ("reshare", "screen", "none"):
            fams.setdefault(a.family, []).append(a)
    fams = {k: v for k, v in fams.items() if len(v) >= 2}
    made = []
    if fams:
        n = len(fams)
        cols = min(4, n)
        rws = int(math.ceil(n / cols))
        fig, axes = plt.subplots(rws, cols, figsize=(max(7.0, 3.2 * cols), 2.6 * rws + 0.6), squeeze=False)
        for ax, (fam, atts) in zip(axes.ravel(), fams.items()):
            for m in methods:
                xs, ys, det = [], [], []
                for a in sorted(atts, key=lambda a: a.strength):
                    g = aggregates.get(m.name, {}).get(a.name)
                    if g and g["bit_accuracy"] is not None:
                        xs.append(a.strength)
                        ys.append(g["bit_accuracy"])
                        det.append(g["clip_tpr"])
                if xs:
                    line, = ax.plot(xs, ys, marker="o", label=m.name, lw=2.2 if m.kind == "ours" else 1.2)
            ax.set_title(fam, fontsize=9)
            ax.set_ylim(0.3, 1.02)
            ax.axhline(0.5, color="grey", lw=0.5, ls=":")
            ax.tick_params(labelsize=7)
            ax.set_xticks(sorted(a.strength for a in atts))
        for ax in axes.ravel()[len(fams):]:
            ax.axis("off")
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize=8, frameon=False)
        fig.suptitle("bit accuracy (mean over clips) vs attack strength", fontsize=10)
        fig.tight_layout(rect=(0, 0.05, 1, 0.96))
        p = d / "bit_accuracy_vs_strength.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        made.append(str(p.relative_to(d.parent)))
    # clip TPR per attack
    names = [a.name for a in attacks]
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * len(names) * max(1, len(methods)) / 2 + 1.2))
    hgt = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        vals = [aggregates.get(m.name, {}).get(a, {}).get("clip_tpr") for a in names]
        ax.barh(np.arange(len(names)) + i * hgt, [v if v is not None else 0 for v in vals], height=hgt, label=m.name)
    ax.set_yticks(np.arange(len(names)) + 0.4 - hgt / 2)
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("clip TPR at p < 1e-6")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    p = d / "clip_tpr_by_attack.png"
    fig.savefig(p, dpi=80)
    plt.close(fig)
    made.append(str(p.relative_to(d.parent)))
    return made


def diff_figure(clip: SuiteClip, methods: list[SuiteMethod], marked: dict[str, list[Planes]], d: Path) -> str:
    """Zoomed flat-region crop: original, marked, and (marked - original) x 10 around mid-grey, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d.mkdir(parents=True, exist_ok=True)
    y0 = clip.frames[0][0]
    size = 48 if min(y0.shape) >= 96 else 32
    t, l = flat_region(y0, size)
    amp = 10.0
    fig, axes = plt.subplots(len(methods), 3, figsize=(6.3, 2.1 * len(methods)), squeeze=False)
    for i, m in enumerate(methods):
        ym = marked[m.name][0][0]
        o = y0[t : t + size, l : l + size]
        mk = ym[t : t + size, l : l + size]
        diff = mk.astype(np.float32) - o
        show = np.clip(128 + amp * diff, 0, 255)
        for ax, img, title in zip(
            axes[i],
            (o, mk, show),
            ("original Y", f"{m.name}", f"diff x{amp:g} (max |d| {int(np.abs(diff).max())})"),
        ):
            ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{clip.name} frame 0, flattest {size}x{size} block at (x={l}, y={t})", fontsize=8)
    fig.tight_layout()
    p = d / f"flat_diff_{clip.name}.png"
    fig.savefig(p, dpi=80)
    plt.close(fig)
    return str(p.relative_to(d.parent))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}"


def rewrite_summary(out_dir: Path | str) -> Path:
    """Regenerate ``summary.md`` from ``run.json`` (no re-run)."""
    out = Path(out_dir)
    run = json.loads((out / "run.json").read_text())
    p = out / "summary.md"
    p.write_text(summary_markdown(run))
    return p


def summary_markdown(run: dict[str, Any], methods: Sequence[Any] | None = None,
                     attacks: Sequence[Any] | None = None) -> str:
    from types import SimpleNamespace

    if methods is None:
        methods = [SimpleNamespace(name=k, **{f: v[f] for f in ("kind", "payload_bits", "decode_frames", "fpr_analytic",
                                                                  "note")}) for k, v in run["methods"].items()]
    if attacks is None:
        attacks = [SimpleNamespace(name=k, **v) for k, v in run["attacks"].items()]
    agg = run["aggregates"]
    names = [m.name for m in methods]
    ours = [m for m in methods if m.kind == "ours"]
    peers = [m for m in methods if m.kind == "peer"]
    L: list[str] = ["# Watermark robustness suite", ""]
    if run.get("command"):
        L.append(f"Command: `{run['command']}`  ")
    L += [
        f"Date: {run['date']}; machine: {run['machine']}; runtime {run['runtime_s'] / 60:.1f} min "
        f"(embed {run['timing_s']['embed']:.0f} s, attacks {run['timing_s']['attack']:.0f} s, "
        f"extraction {run['timing_s']['extract']:.0f} s); load average at the end "
        f"{', '.join(f'{x:.1f}' for x in (run.get('load_average_end') or []))}"
        + (f"; process CPU time {run['process_cpu_s'] / 60:.1f} min" if run.get("process_cpu_s") else "") + ".",
        "",
        "Wall seconds per method (attacks on its marked clip + all its detections): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in (run.get("seconds_per_method") or {}).items()) + ".",
        "",
        "Clips:",
        "",
        "| clip | kind | size | fps | frames | seconds | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for c, i in run["clips"].items():
        L.append(f"| {c} | {i['kind']} | {i['size']} | {i['fps']:.2f} | {i['frames']} | {i['seconds']:.1f} | {i['source']} |")
    L += ["", "Methods:", "", "| method | kind | payload bits | frames decoded per attacked clip | clip-level false-positive bound | note |",
          "|---|---|---|---|---|---|"]
    for m in methods:
        L.append(f"| {m.name} | {m.kind} | {m.payload_bits} | {m.decode_frames or 'all'} | {m.fpr_analytic:.2g} | {m.note} |")
    L += [
        "",
        "A clip counts as detected at p < 1e-6: kinoseal methods use their analytic p-value; peers have no detector, so "
        "a clip is detected when the soft-averaged payload has <= k bit errors with P[Bin(n,1/2) <= k] <= 1e-6 "
        "(k = 2 of 32). False positives: the same extractor and payload on the unmarked clip after the same attack. "
        "Bit accuracy is each method's own figure (kinoseal: the keyed pilot bits as the method reports them, v2 after "
        "its geometry search; peers: the payload bits after soft averaging), so it is not comparable across methods; "
        "compare clip detection at the fixed false-positive rate.",
        "",
        "## Clip detection side by side",
        "",
        "Cell: clips detected / clips (bit accuracy %, mean over clips). **Bold**: every clip detected. "
        "Content-bound methods (v3-v5) count a clip only when the mark is bound to it (what `ai_generated` needs). "
        "`copy_*` rows are forgeries (the mark's estimate painted on an unrelated real clip): there a detection is "
        "the attacker's success, lower is better, and the totals leave them out.",
        "",
        "| attack | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for a in attacks:
        cells = []
        for n in names:
            g = agg.get(n, {}).get(a.name)
            if not g or not g["clips"]:
                cells.append("-")
                continue
            txt = f"{g['clips_detected']}/{g['clips']} ({_pct(g['bit_accuracy'])})"
            cells.append(f"**{txt}**" if g["clips_detected"] == g["clips"] else txt)
        L.append(f"| {a.name} | " + " | ".join(cells) + " |")
    L += ["", "## Frame and window detection", "",
          f"Cell: single-frame TPR % / 8-frame-window TPR %, over {run.get('frame_tests') or 'all'} frames and "
          f"{run.get('window_tests') or 'all'} windows per clip spread over the decoded frames.", "",
          "| attack | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for a in attacks:
        cells = []
        for n in names:
            g = agg.get(n, {}).get(a.name)
            cells.append("-" if not g or not g["clips"] else f"{_pct(g['frame_tpr'])} / {_pct(g['window_tpr'])}")
        L.append(f"| {a.name} | " + " | ".join(cells) + " |")
    # totals
    L += ["", "## Totals and ratios", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def tot(n: str) -> dict[str, Any]:
        # copy_* attacks are forgeries: a "detection" there is the attacker's success, not robustness
        gs = [g for a, g in agg.get(n, {}).items() if g["clips"] and not a.startswith("copy_")]
        det = sum(g["clips_detected"] for g in gs)
        cl = sum(g["clips"] for g in gs)
        full = sum(1 for g in gs if g["clips_detected"] == g["clips"])
        acc = [g["bit_accuracy"] for g in gs if g["bit_accuracy"] is not None]
        return {"det": det, "clips": cl, "full": full, "attacks": len(gs), "acc": float(np.mean(acc)) if acc else None,
                "tpr": det / cl if cl else None}

    T = {n: tot(n) for n in names}
    L.append("| attacks with every clip detected | " + " | ".join(f"{T[n]['full']}/{T[n]['attacks']}" for n in names) + " |")
    L.append("| clip TPR over all attacks | " + " | ".join(
        f"{T[n]['det']}/{T[n]['clips']} ({_pct(T[n]['tpr'])}%)" if T[n]["clips"] else "-" for n in names) + " |")
    L.append("| mean bit accuracy | " + " | ".join(
        f"{_pct(T[n]['acc'])}%" if T[n]["acc"] is not None else "-" for n in names) + " |")
    ratios = run.get("ratios", {})
    if ours and peers and ratios:
        L += ["", "Ours against each peer on the (attack, clip) pairs both ran on (peers skipped on some clips are "
              "compared on the rest). Cell: clips detected ours vs peer (ratio); attacks with every clip detected "
              "ours vs peer; mean bit accuracy ours vs peer.", ""]
        L.append("| ours \\ peer | " + " | ".join(p.name for p in peers) + " |")
        L.append("|---|" + "---|" * len(peers))
        for o in ours:
            cells = []
            for p in peers:
                r = ratios.get(o.name, {}).get(p.name)
                if not r:
                    cells.append("-")
                    continue
                ratio = "inf" if r["tpr_ratio"] is None else f"{r['tpr_ratio']:.2f}x"
                cells.append(f"{r['ours_detected']} vs {r['peer_detected']} of {r['pairs']} ({ratio}); "
                             f"{r['ours_full_attacks']} vs {r['peer_full_attacks']} of {r['attacks']} attacks; "
                             f"{_pct(r['ours_bit_accuracy'])}% vs {_pct(r['peer_bit_accuracy'])}%")
            L.append(f"| {o.name} | " + " | ".join(cells) + " |")
    # false positives
    L += ["", "## False positives on unmarked clips", "",
          "Every attack applied to the unmarked original, then the method's extractor with the same key/payload.", "",
          "| method | clips FP | frames FP | 8-frame windows FP | empirical clip FPR | analytic clip bound |",
          "|---|---|---|---|---|---|"]
    for m in methods:
        gs = [g for g in agg.get(m.name, {}).values() if g["clips"]]
        fc = sum(g["fp_clips"] for g in gs)
        nc = sum(g["clips"] for g in gs)
        ff = [tuple(map(int, g["fp_frames"].split("/"))) for g in gs]
        fw = [tuple(map(int, g["fp_windows"].split("/"))) for g in gs]
        sf, nf = sum(a for a, _ in ff), sum(b for _, b in ff)
        sw, nw = sum(a for a, _ in fw), sum(b for _, b in fw)
        L.append(f"| {m.name} | {fc}/{nc} | {sf}/{nf} | {sw}/{nw} | {fc / nc if nc else 0:.3g} | {m.fpr_analytic:.2g} |")
    # imperceptibility
    imp = run["imperceptibility"]
    L += ["", "## Imperceptibility (marked vs original, no attack)", "",
          "Cell: PSNR-Y dB / SSIM-Y / PSNR-RGB dB / max |dY|.", "",
          "| clip | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for c in run["clips"]:
        cells = []
        for n in names:
            v = imp.get(n, {}).get(c)
            cells.append("-" if not v else f"{v['psnr_y']:.1f} / {v['ssim_y']:.4f} / {v['psnr_rgb']:.1f} / {v['max_abs_y']}")
        L.append(f"| {c} | " + " | ".join(cells) + " |")
    L += ["", "Flat-region difference images (marked - original, x10): " +
          ", ".join(f"[{Path(p).name}]({p})" for p in run.get("diff_figures", [])), ""]
    L += ["Plots: " + ", ".join(f"[{Path(p).name}]({p})" for p in run.get("plots", [])), ""]
    # targets for ours
    if ours:
        L += ["## Issue 4 targets for our methods", ""]
        for o in ours:
            short = []
            for a in attacks:
                g = agg.get(o.name, {}).get(a.name)
                if g and g["clips"] and (g["clip_tpr"] or 0) < 0.99:
                    short.append(f"{a.name} ({g['clips_detected']}/{g['clips']}, bit acc {_pct(g['bit_accuracy'])}%)")
            L.append(f"- **{o.name}**: clip TPR >= 0.99 at p < 1e-6 on {T[o.name]['full']}/{T[o.name]['attacks']} attacks. "
                     + ("Short of it: " + "; ".join(short) + "." if short else "No attack short of it."))
            real = [c for c, i in run["clips"].items() if i["kind"] == "real"]
            vals = [imp.get(o.name, {}).get(c) for c in real]
            vals = [v for v in vals if v]
            if vals:
                L.append(f"  PSNR-Y on real footage {min(v['psnr_y'] for v in vals):.1f}-{max(v['psnr_y'] for v in vals):.1f} dB "
                         f"(target >= 42), SSIM-Y {min(v['ssim_y'] for v in vals):.4f}-{max(v['ssim_y'] for v in vals):.4f} "
                         "(target >= 0.98).")
        L.append("")
    if run["notes"]:
        L += ["## Notes", ""] + [f"- {n}" for n in run["notes"]] + [""]
    return "\n".join(L)
