"""``kinoseal detect``: train, fine-tune and evaluate the generated-video classifier on folders of clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from kinoseal.errors import InputError, OutputError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _log(msg: str) -> None:
    err.print(f"[dim]{msg}[/]")


def _clips(folder: Path, what: str) -> list[Path]:
    from kinoseal.training.detector.fit import list_clips

    clips = list_clips(folder)
    if not clips:
        raise InputError(f"no video clips found in {folder} ({what})")
    return clips


def register(app: typer.Typer) -> None:
    detect_app = typer.Typer(help="The generated-video classifier: train, fine-tune, evaluate.", no_args_is_help=True)
    app.add_typer(detect_app, name="detect")

    @detect_app.command("train")
    def train(
        real: Annotated[Path, typer.Option("--real", help="Folder of real clips (sub-folders = sources).")],
        generated: Annotated[Path, typer.Option("--generated", help="Folder of generated clips (sub-folders = sources).")],
        output: Annotated[Path, typer.Option("-o", "--output", help="Model folder to write.")],
        base: Annotated[Optional[str], typer.Option(
            "--base", help="Fine-tune this model (a folder, or 'default' for the shipped one): keep its backbone, "
                           "refit the head on these clips plus its stored training features.")] = None,
        arch: Annotated[str, typer.Option(help="Architecture for training from scratch (see `detect models`).")] = "kinodet_r10t_64",
        name: Annotated[Optional[str], typer.Option(help="Model name (default: the architecture or the base's name).")] = None,
        version: Annotated[str, typer.Option(help="Model version to record.")] = "0.1.0",
        backbone_steps: Annotated[Optional[int], typer.Option(help="Backbone training steps (from scratch only).")] = None,
        threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 1,
        force: Annotated[bool, typer.Option(help="Overwrite an existing model folder.")] = False,
    ) -> None:
        """Train a detector on --real and --generated folders, or fine-tune one (--base) from ~20 clips."""
        if output.exists() and (not output.is_dir() or any(output.iterdir())) and not force:
            raise OutputError(f"{output} exists and is not empty (use --force to overwrite)")
        import torch

        from kinoseal.detect import GatedEnsemble, create_model, load_detector
        from kinoseal.training.detector.fit import finetune_detector, fit_detector, groups_for

        torch.set_num_threads(max(1, threads))
        r, g = _clips(real, "--real"), _clips(generated, "--generated")
        clips = r + g
        labels = [0] * len(r) + [1] * len(g)
        groups = groups_for(r, real) + groups_for(g, generated)
        command = "kinoseal detect train --real {} --generated {}{} -o {}".format(
            real, generated, f" --base {base}" if base else "", output)
        ensemble = None
        if base:
            base_det = load_detector(None if base == "default" else Path(base))
            if base_det is None:
                raise InputError("no default detector is installed; pass a model folder to --base")
            ensemble = base_det if isinstance(base_det, GatedEnsemble) else None
            if ensemble is not None:
                # A new generator is the generalist's job: refit it, keep the kino-tiny specialist as it is.
                _log(f"{ensemble.tag} is an ensemble: fine-tuning its generalist {ensemble.generalist.tag}")
                base_det = ensemble.generalist
            det, rec = finetune_detector(base_det, clips, labels, groups, log=_log)
            det.name = name or base_det.name
            det.version = version
            det.card = {"command": command, "base": base_det.tag, "training": rec,
                        "data": {"real_clips": len(r), "generated_clips": len(g), "real_folder": str(real),
                                 "generated_folder": str(generated),
                                 "replay": f"{rec['replay_clips']} clips of the base model's training features"},
                        "threshold_rule": rec["threshold_rule"], "metrics": {"out_of_fold (training)": _short(rec["oof"])}}
        else:
            det = create_model(arch, version=version)
            if name:
                det.name = name
            rec = fit_detector(det, clips, labels, groups, backbone_steps=backbone_steps, log=_log)
            det.card = {"command": command, "training": rec,
                        "data": {"real_clips": len(r), "generated_clips": len(g), "real_folder": str(real),
                                 "generated_folder": str(generated)},
                        "threshold_rule": rec["threshold_rule"], "metrics": {"out_of_fold (training)": _short(rec["oof"])}}
        output.mkdir(parents=True, exist_ok=True)
        if ensemble is not None:
            det = GatedEnsemble(name=name or ensemble.name, version=version, specialist=ensemble.specialist,
                                generalist=det, threshold=max(ensemble.gate, det.threshold),
                                specialist_family=ensemble.specialist_family,
                                card={**det.card, "base": ensemble.tag,
                                      "threshold_rule": "the larger of the members' thresholds"})
        det.save(output)
        m = rec["oof"]
        out.print(f"wrote {output} ({det.tag}): {m['n_real']} real + {m['n_generated']} generated clips, "
                  f"out-of-fold AUC {m['auc']:.4f}, threshold {det.threshold:.4g}")

    @detect_app.command("evaluate")
    def evaluate(
        real: Annotated[Path, typer.Option("--real", help="Folder of real clips.")],
        generated: Annotated[Path, typer.Option("--generated", help="Folder of generated clips.")],
        model: Annotated[Optional[str], typer.Option("--model", help="Model folder (default: the shipped model).")] = None,
        report_dir: Annotated[Path, typer.Option("--report-dir", help="Where to write the ROC PNG and the JSON report.")] = Path("."),
        name: Annotated[str, typer.Option(help="Base name of the report files.")] = "detector_eval",
        threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 1,
        json_out: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    ) -> None:
        """Print ROC AUC, TPR at 1% and 0.1% FPR, accuracy and calibration; write a ROC plot and a JSON report."""
        import torch

        from kinoseal.detect import load_detector
        from kinoseal.training.detector.fit import evaluate_detector

        torch.set_num_threads(max(1, threads))
        det = load_detector(None if model in (None, "default") else Path(model))
        if det is None:
            raise InputError("no default detector is installed; pass --model")
        r, g = _clips(real, "--real"), _clips(generated, "--generated")
        report_dir.mkdir(parents=True, exist_ok=True)
        rep = evaluate_detector(det, r, g, out_dir=report_dir, log=_log, name=name)
        m = rep["metrics"]
        if json_out:
            from kinoseal.api.cli.render import emit_json

            emit_json({"model": det.tag, **{k: v for k, v in m.items()}, "roc_png": rep["roc_png"], "json": rep["json"]})
            return
        t = Table(title=f"{det.tag} on {m['n_real']} real + {m['n_generated']} generated clips", show_header=False)
        for label, key, fmt in [
            ("ROC AUC", "auc", "{:.4f}"), ("TPR at 1% FPR", "tpr_at_1pct_fpr", "{:.3f}"),
            ("TPR at 0.1% FPR", "tpr_at_0.1pct_fpr", "{:.3f}"), ("accuracy (p >= 0.5)", "accuracy_at_0.5", "{:.3f}"),
            ("threshold (likely_ai_generated)", "threshold", "{:.4g}"), ("TPR at threshold", "tpr_at_threshold", "{:.3f}"),
            ("false accusations at threshold", "false_accusations", "{}"), ("highest real-clip probability", "max_real_prob", "{:.4f}"),
            ("calibration: ECE (10 bins)", "ece", "{:.4f}"), ("calibration: Brier score", "brier", "{:.4f}"),
        ]:
            t.add_row(label, fmt.format(m[key]))
        out.print(t)
        rel = Table(title="reliability (calibration bins)")
        for col in ("bin", "clips", "mean probability", "fraction generated"):
            rel.add_column(col)
        for b in m["reliability"]:
            rel.add_row(b["bin"], str(b["n"]), f"{b['mean_prob']:.3f}", f"{b['frac_generated']:.3f}")
        out.print(rel)
        if rep.get("unreadable"):
            out.print(f"[yellow]{rep['unreadable']} clips could not be read and were left out[/]")
        out.print(f"ROC plot: {rep['roc_png']}\nJSON report: {rep['json']}")

    @detect_app.command("models")
    def models() -> None:
        """List the detector architectures and the installed default model."""
        from kinoseal.detect import default_model_dir, list_models, load_detector

        for n in list_models():
            out.print(n)
        det = load_detector()
        out.print(f"default model: {det.tag if det else 'none installed'} ({default_model_dir()})")


def _short(m: dict) -> dict:
    return {k: v for k, v in m.items() if not isinstance(v, (list, dict))}
