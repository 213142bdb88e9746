"""The model card (MODEL_CARD.md) written beside every saved detector."""

from __future__ import annotations

import json


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _arch_lines(det) -> list[str]:
    c = det.config
    inp = (f"- input: {c['n_windows']} windows x {c['win_len']} consecutive frames x {c['n_crops']} crops of "
           f"{c['crop']}x{c['crop']} px at native resolution (any size/aspect; cost bounded whatever the clip length)")
    if c.get("features") == "resid":
        fams = det.family_head.names if det.family_head is not None else []
        cnn = c.get("cnn")
        lines = [f"- architecture: `{c.get('arch', det.name)}`; " + ("" if cnn else "no CNN: ")
                 + "generator-agnostic features (`detect.resid`: noise residual, flat-area noise, radial spectrum, "
                 "2/4/8-pixel decoder periodicity, colour, temporal consistency)", inp,
                 "- head: standardiser + L2 logistic regression per window, clip logit = mean of windows"
                 + ("" if cnn else ", Platt calibration on out-of-fold (by source) clip logits")
                 + "; classes balanced and every generator family weighted equally"]
        if cnn and det.cnn is not None:
            n = sum(p.numel() for p in det.cnn.parameters())
            lines.append(f"- second view: a residual CNN (`detect.rcnn`, {n:,} parameters, widths {cnn.get('widths')}) on the "
                         f"high-pass residual of the first {cnn.get('crops')} crop(s) of each window; its clip logit and the "
                         "head's, each standardised by its own training clips, are averaged and Platt-calibrated on "
                         "out-of-fold blended logits (`blend.stats`)")
        return lines + [
            f"- family attribution: multinomial logistic regression over {len(fams)} known families; below "
            f"{det.family_head.threshold if det.family_head else 0.5:.2f} confidence the answer is 'unknown family'"
            + (f" (families: {', '.join(fams)})" if fams else "")]
    return [f"- architecture: `{c.get('arch', det.name)}`; backbone timm `{c['backbone']}` "
            f"{json.dumps(c.get('backbone_kwargs', {}))}, created with `pretrained=False` and trained here", inp,
            "- features per window: hand-made spatial (residual energy, spectrum band ratios, kurtosis) and temporal "
            "(frame-difference energy, residual-difference ratio, residual correlation, duplicate frames) plus "
            "backbone logit statistics and the temporal consistency of backbone embeddings",
            "- head: standardiser + L2 logistic regression per window (scikit-learn), clip logit = mean of windows, "
            "Platt calibration fitted on out-of-fold (by source) clip logits"]


def render_card(det) -> str:
    c = det.card or {}
    lines = [
        f"# {det.name} {det.version}: generated-video classifier",
        "",
        "Third line of evidence in `kinoseal verify` (after the C2PA manifest and the watermark). Its output "
        "alone never makes a clip `ai_generated` or `authentic`; at or above the threshold below it makes a "
        "clip `likely_ai_generated`.",
        "",
        "## Model",
        "",
        *(_arch_lines(det)),
        f"- threshold for `likely_ai_generated`: **{det.threshold:.4g}**"
        + (f" ({c['threshold_rule']})" if c.get("threshold_rule") else ""),
        "",
    ]
    if c.get("command"):
        lines += ["## Training command", "", "```", str(c["command"]), "```", ""]
    if c.get("data"):
        lines += ["## Training data", ""]
        d = c["data"]
        if isinstance(d, dict):
            for k, v in d.items():
                lines.append(f"- {k}: {_fmt(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
        else:
            lines.append(str(d))
        lines.append("")
    if c.get("base"):
        lines += [f"Fine-tuned from `{c['base']}` (backbone kept, head refitted on the new clips plus the base "
                  "model's stored training features).", ""]
    if c.get("metrics"):
        lines += ["## Metrics", ""]
        for split, m in c["metrics"].items():
            if isinstance(m, dict):
                lines.append(f"- **{split}**: " + ", ".join(f"{k} {_fmt(v)}" for k, v in m.items()
                                                           if not isinstance(v, (list, dict))))
            else:
                lines.append(f"- **{split}**: {_fmt(m)}")
        lines.append("")
    if c.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in c["notes"]] + [""]
    lines += [
        "## Limits",
        "",
        "- Trained on a small set of sources (see data); detectors of this kind are known to lose accuracy on "
        "generators they never saw. Fine-tune with `kinoseal detect train --base` on ~20 clips of a new generator.",
        "- Probabilities are calibrated on the training distribution (out-of-fold); on other footage treat them "
        "as scores.",
        "- Never use the classifier alone to call a clip AI-generated or authentic.",
        "",
    ]
    return "\n".join(lines)
