"""The ``kinoseal`` command line (Typer + Rich). Thin: parses, calls the library, prints."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from kinoseal import __version__
from kinoseal.api.cli import bench, detect, service
from kinoseal.api.cli.render import GenProgress, busy, emit_json, err, error_line, out, print_report, progress_bar
from kinoseal.config import Settings
from kinoseal.errors import InputError, KinosealError, ModelLoadError

app = typer.Typer(
    name="kinoseal",
    help="Generate labeled AI video (watermark + signed C2PA) and verify where a clip came from.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Signing certificates, trust anchors and watermark keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

EXIT_CODES = {"invalid_input": 2, "limit_exceeded": 2, "credentials": 3, "output": 4, "error": 1}


def settings() -> Settings:
    return Settings.from_env()


TSA_HELP = ("RFC 3161 time-stamp authority URL, so the signature stays valid after the certificate expires "
            "(default: KINOSEAL_TSA_URL; '' for none).")


@app.command()
def label(
    src: Annotated[Path, typer.Argument(help="A video made by an AI model.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Labeled MP4 to write.")],
    generator: Annotated[str, typer.Option(help="Name of the model that made the video.")] = "unknown-ai-model",
    generator_version: Annotated[str, typer.Option(help="Version of that model.")] = "unknown",
    cert: Annotated[Optional[Path], typer.Option(help="Signing certificate chain (PEM).")] = None,
    key: Annotated[Optional[Path], typer.Option(help="Private key (PEM) of the certificate.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    tsa_url: Annotated[Optional[str], typer.Option(help=TSA_HELP)] = None,
) -> None:
    """Watermark every frame, encode H.264 and sign a C2PA manifest (trainedAlgorithmicMedia)."""
    from kinoseal.label import GeneratorInfo, Labeler

    if (cert is None) != (key is None):
        raise KinosealError("pass both --cert and --key, or neither")
    s = settings() if tsa_url is None else settings().with_(tsa_url=tsa_url)
    labeler = Labeler.from_settings(s, chain=cert, key=key)
    with progress_bar() as bar:
        task = bar.add_task("watermark + encode", total=None)
        result = labeler.label_file(
            src, output, GeneratorInfo(generator, generator_version),
            progress=lambda n, total: bar.update(task, completed=n, total=total or None),
        )
    if json_out:
        emit_json(result.to_dict())
    else:
        out.print(
            f"[green]labeled[/] {output} ({result.frames} frames, watermark payload {result.payload_id}, "
            f"key {result.key_id}, manifest {result.manifest_bytes} bytes)"
        )


@app.command("sign-capture")
def sign_capture_cmd(
    src: Annotated[Path, typer.Argument(help="An authentic camera recording (MP4).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Signed MP4 to write (pixels unchanged).")],
    cert: Annotated[Optional[Path], typer.Option(help="Camera/newsroom certificate chain (PEM).")] = None,
    key: Annotated[Optional[Path], typer.Option(help="Private key (PEM) of the certificate.")] = None,
    device: Annotated[Optional[str], typer.Option(help="Camera or device name to record.")] = None,
    tsa_url: Annotated[Optional[str], typer.Option(help=TSA_HELP)] = None,
) -> None:
    """Sign an authentic recording (digitalCapture) as it is: no re-encode, no watermark."""
    from kinoseal.label import sign_capture
    from kinoseal.credentials.home import ensure_dev_pki, trust_store
    from kinoseal.credentials.identity import SigningIdentity
    from kinoseal.label import SOFTWARE
    from kinoseal.mediaio.probe import probe

    if (cert is None) != (key is None):
        raise KinosealError("pass both --cert and --key, or neither")
    s = settings()
    identity = SigningIdentity.from_files(cert, key) if cert and key else ensure_dev_pki(s).identity("capture")
    probe(src, s.limits)
    sign_capture(src, output, identity, software=SOFTWARE, trust=trust_store(s), device=device,
                 tsa_url=s.tsa_url if tsa_url is None else tsa_url)
    out.print(f"[green]signed[/] {output} as a capture by {identity.subject_cn!r}")


@app.command()
def verify(
    clips: Annotated[list[Path], typer.Argument(help="Clips to check.", metavar="CLIP")],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON report per clip (JSON lines).")] = False,
    trust: Annotated[Optional[list[Path]], typer.Option(help="Extra trusted root certificates (PEM); repeatable.")] = None,
    allowed: Annotated[Optional[list[Path]], typer.Option(
        help="End-entity certificates trusted directly (PEM, or base64 SHA-256 lines); repeatable.")] = None,
    trust_config: Annotated[Optional[list[Path]], typer.Option(
        help="Allowed EKU OIDs of signing certificates (a trust list's store.cfg); repeatable.")] = None,
    cawg_trust: Annotated[Optional[list[Path]], typer.Option(
        help="Trust anchors for CAWG identity assertions (PEM), apart from signer anchors; repeatable.")] = None,
    trust_settings: Annotated[Optional[list[Path]], typer.Option(
        help="A trust-list snapshot in the c2pa-rs settings shape (JSON/TOML, as c2patool reads); repeatable.")] = None,
    isolate: Annotated[bool, typer.Option(help="Decode each clip in a child process with time/memory limits "
                                                "(for untrusted files).")] = False,
    fragment: Annotated[Optional[list[Path]], typer.Option(
        "--fragment", help="A media fragment (.m4s) of a fragmented MP4 whose init segment is the one CLIP; "
                           "repeatable, in playback order.")] = None,
) -> None:
    """Say whether each clip is AI-generated, authentic, tampered or unknown, with the evidence."""
    from kinoseal.credentials.home import trust_store
    from kinoseal.mediaio.probe import check_file
    from kinoseal.verify.sandbox import verify_isolated
    from kinoseal.verify.verifier import Verifier

    s = settings()
    s = s.with_(trust_allowed=(*s.trust_allowed, *(allowed or ())), trust_ekus=(*s.trust_ekus, *(trust_config or ())),
                cawg_trust=(*s.cawg_trust, *(cawg_trust or ())),
                trust_settings=(*s.trust_settings, *(trust_settings or ())))
    trust_store(s, trust or [])  # a wrong trust file fails the command once, before any clip
    if fragment and len(clips) != 1:
        raise InputError("--fragment goes with exactly one CLIP, the init segment")
    verifier = None
    failed = 0

    def clip_error(clip: Path, exc: KinosealError) -> None:
        if json_out:
            emit_json({"file": clip.name, "error": exc.kind, "detail": str(exc)})
        else:
            error_line(str(exc), clip.name)

    for i, clip in enumerate(clips, 1):
        loading = ""
        if not isolate:
            # A missing, empty or oversized file fails here in milliseconds. The classifier
            # (torch and the weights: ~3 s) loads inside the verify of the first clip that
            # turns out to be a video (the one probe of its one pass), not before it.
            try:
                check_file(clip, s.limits)
            except KinosealError as exc:
                failed += 1
                clip_error(clip, exc)
                continue
            if verifier is None:
                with busy("loading the verifier…"):
                    verifier = Verifier.from_settings(s, extra_trust=trust or [], load_classifier=False)
            if verifier.classifier_pending:
                loading = "loading the classifier model, "  # ~3 s, once
        try:
            with busy(f"{loading}checking {clip.name}" + (f" ({i} of {len(clips)})" if len(clips) > 1 else "") + "…"):
                report = (verify_isolated(clip, s, extra_trust=trust or [], fragments=fragment or ()) if isolate
                          else verifier.verify(clip, fragments=fragment or None).to_dict())
        except ModelLoadError:
            raise  # a setup problem, the same for every clip: the command fails once
        except KinosealError as exc:
            failed += 1
            clip_error(clip, exc)
            continue
        if json_out:
            emit_json(report)
        else:
            print_report(report)
    if failed:
        raise typer.Exit(2)


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="What the clip should show.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Labeled MP4 to write.")],
    seconds: Annotated[float, typer.Option(help="Clip length in seconds (up to 60).")] = 4.0,
    fps: Annotated[Optional[int], typer.Option(help="Frames per second (default: the model's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same frames.")] = 0,
    steps: Annotated[Optional[int], typer.Option(help="Denoising steps (default: the model's).")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="Classifier-free guidance scale.")] = None,
    model: Annotated[Optional[Path], typer.Option(help="A diffusers text-to-video pipeline directory.")] = None,
    record_prompt: Annotated[bool, typer.Option(help="Record the prompt in the manifest (default: only its hash).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Text to video. The clip is always watermarked and C2PA-signed (trainedAlgorithmicMedia)."""
    from kinoseal.generate.run import generate_clip

    with progress_bar() as bar:
        result = generate_clip(settings(), prompt, output, seconds=seconds, fps=fps, seed=seed, steps=steps,
                               guidance=guidance, model_dir=model, record_prompt=record_prompt,
                               progress=GenProgress(bar))
    if json_out:
        emit_json(result.to_dict())
    else:
        out.print(f"[green]generated[/] {output} ({result.frames} frames {result.width}x{result.height} at "
                  f"{result.fps:g} fps, watermark payload {result.payload_id})")


@app.command()
def edit(
    src: Annotated[Path, typer.Argument(help="The video to edit.")],
    prompt: Annotated[str, typer.Argument(help="What the edited clip should show.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Labeled MP4 to write.")],
    strength: Annotated[float, typer.Option(help="How far to re-noise the input (0-1; higher = more change).")] = 0.6,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    steps: Annotated[Optional[int], typer.Option(help="Denoising steps (default: the model's).")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model directory (default: the shipped model).")] = None,
    record_prompt: Annotated[bool, typer.Option(help="Record the prompt in the manifest.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """AI video editing (SDEdit), labeled compositeWithTrainedAlgorithmicMedia with the input as parent."""
    from kinoseal.generate.run import edit_clip

    with progress_bar() as bar:
        result = edit_clip(settings(), src, prompt, output, strength=strength, seed=seed, steps=steps,
                           model_dir=model, record_prompt=record_prompt, progress=GenProgress(bar))
    if json_out:
        emit_json(result.to_dict())
    else:
        out.print(f"[green]edited[/] {output} ({result.frames} frames, watermark payload {result.payload_id})")


@keys_app.command("show")
def keys_show() -> None:
    """Where the keys live and which ones are active (never prints secrets)."""
    from kinoseal.credentials.home import ensure_dev_pki, trust_store
    from kinoseal.watermark.keyring import load_keyring

    s = settings()
    pki = ensure_dev_pki(s)
    ring = load_keyring(s.keys_dir / "watermark")
    out.print(f"home: {s.home}")
    out.print(f"generator signer: {pki.identity('generator').subject_cn}")
    out.print(f"capture signer: {pki.identity('capture').subject_cn}")
    out.print(f"trusted roots: {len(trust_store(s).certificates)} in {s.trust_dir}")
    out.print(f"watermark keys: {', '.join(ring.key_ids)} (active {ring.active.key_id})")


@keys_app.command("rotate-watermark")
def keys_rotate() -> None:
    """Make a new active watermark key; clips marked with older keys still verify."""
    from kinoseal.watermark.keyring import load_keyring, rotate_key

    s = settings()
    load_keyring(s.keys_dir / "watermark")
    key = rotate_key(s.keys_dir / "watermark")
    out.print(f"new active watermark key {key.key_id}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo clips.")] = Path("out/demo"),
) -> None:
    """The main job on the embedded defaults: make a labeled AI clip, sign a real camera
    clip as an authentic recording, verify both."""
    from kinoseal.api.cli.demo import run_demo

    run_demo(settings(), out_dir, console=out, progress=progress_bar)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"kinoseal {__version__}")
        raise typer.Exit()


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's usage errors (a missing argument, an unknown option or command), as this Typer raises
    them: Typer >= 0.16 vendors click as typer._click, whose exceptions derive from TyperException."""
    import click

    kinds: list[type[BaseException]] = [click.ClickException]
    with contextlib.suppress(ImportError):
        from typer.exceptions import TyperException

        kinds.append(TyperException)
    return tuple(kinds)


def main() -> None:
    """Entry point: turn every error into one clear line and a non-zero exit (no tracebacks).
    With --json, errors are also one JSON line on stdout (JSON Lines, like the results)."""
    as_json = "--json" in sys.argv[1:]

    def fail(kind: str, message: str, code: int) -> None:
        if as_json:
            emit_json({"error": kind, "detail": message})
        sys.exit(code)

    try:
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except KinosealError as exc:
        error_line(str(exc))
        fail(exc.kind, str(exc), EXIT_CODES.get(exc.kind, 1))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("[red]aborted[/]")
        fail("aborted", "aborted", 130)
    except _usage_errors() as exc:
        exc.show()  # the usage line, "Try 'kinoseal CMD --help'", and what was wrong
        code = getattr(exc, "exit_code", 2)
        fail("usage", exc.format_message() if hasattr(exc, "format_message") else str(exc), code)
    except Exception as exc:  # noqa: BLE001 - the user gets one line, developers set KINOSEAL_DEBUG=1
        if os.environ.get("KINOSEAL_DEBUG"):
            raise
        err.print(Text.assemble(("internal error:", "red"),
                                f" {type(exc).__name__}: {str(exc)[:300]} (set KINOSEAL_DEBUG=1 for details)"))
        fail("internal", f"{type(exc).__name__}: {str(exc)[:300]}", 70)


# The HTTP service's commands (serve, worker, api-key, tenant), the benchmarks and the detector's.
for _register in (service.register, bench.register, detect.register):
    _register(app)


if __name__ == "__main__":
    main()
