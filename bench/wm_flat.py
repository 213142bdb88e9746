"""The generator's own output under re-encodes: v5 with the flat-frame cap it had (``min_rms`` 0.5) against
the one it has (0.25), and what the change does to real footage (issue 21 item 4, "flat generated clips").

    nice -n 5 python -m bench.wm_flat [--methods kinoseal-wm-v5:min_rms=0.5,kinoseal-wm-v5] [--prompts 8] [--keys 2]

Clips: kino-tiny's output for ``--prompts`` prompts none of which the cap was chosen on (the prompts of the
screen that chose it are listed in ``SCREENED`` and skipped), 2 s at 8 fps: the generator's frames as the
labeler receives them (``_iter_frames``, which the product hands to nobody else; a bench may read them
because it marks every one), so each clip carries one mark, as a user's clip does (the suite's kino_tiny
clip is the labeled MP4, marked again). Each is marked with every method and key, attacked, and read whole
(16 frames, as the verifier reads a 2 s clip). A clip counts when the mark is bound at p < 1e-6 (what ``ai_generated``
needs). PSNR-Y is of the marked clip against its host, before any attack.

Through the product (``--no-end-to-end`` skips it): ``generate_clip`` for the same prompts (other seeds)
under one installation key, with the labeler's method swapped for each variant; the labeled MP4 decoded,
re-encoded as a platform would (``E2E_CASES``), and verified by the installation's own ``Verifier`` with its
registry: the verdict, whether the watermark bound, and what the registry matched (each clip's payload is
the labeler's random draw, so this part is not bit for bit repeatable). The labeled files' size
at the labeler's CRF against the unmarked frames' is measured on the bench's own marking (key 0).

Real footage: every real clip of ``../shared/data/realworld`` (its first 24 frames) and the suite's
real and CGI clips, marked with each method: the mean and worst PSNR-Y per clip, and how many clips the
change moved at all (the cap binds only where a frame's activity mask leaves little energy).
Writes bench/results/wm_flat.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from kinoseal.config import Settings
from kinoseal.evaluation.watermark.attacks import apply_attack, frame_kind
from kinoseal.evaluation.watermark.clips import decode_i420, load_clip
from kinoseal.evaluation.watermark.metrics import psnr
from kinoseal.evaluation.watermark.suite import method_variant
from kinoseal.watermark import WatermarkKey

from bench.results_io import write_results

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "realworld"
ATTACKS = ["none", "h264_crf23", "h264_crf30", "h265_crf23", "h265_crf30", "vp9_crf35", "av1_crf35",
           "h264_crf40", "reshare"]
METHODS = ["kinoseal-wm-v5:min_rms=0.5", "kinoseal-wm-v5"]
# The screen that chose 0.25 (of 0.5, 0.35, 0.25, 0.15) ran on these and on the suite's kino_tiny clip.
SCREENED = {
    "a red ball bouncing from left to right on a blue background",
    "a green square sliding up on a white background",
    "a yellow triangle rotating on a purple background",
    "a white ring growing on a black background",
    "an orange ball sliding left on a striped green background",
}
PROMPTS = [
    "a blue ball sliding right on a yellow background",
    "a purple square bouncing from right to left on a green background",
    "a red triangle sliding down on a white background",
    "a black ring sliding up on an orange background",
    "a white square shrinking on a blue background",
    "a green ball rotating on a red background",
    "a yellow ring sliding left on a checkered purple background",
    "an orange triangle growing on a black background",
    "a red square sliding right on a striped blue background",
    "a blue triangle bouncing from left to right on a white background",
]
REAL_SUITE = ["carphone", "bikes", "bigbuckbunny"]


def bench_key(i: int) -> WatermarkKey:
    return WatermarkKey(hashlib.sha256(f"kinoseal-bench-flat-{i}".encode()).digest())


def unlabeled_kino_tiny(prompt: str, seed: int, seconds: float = 2.0, fps: int = 8) -> list:
    """The generator's frames for ``prompt`` before the labeler marks them, as 4:2:0 planes."""
    from kinoseal.generate.run import load_model
    from kinoseal.mediaio.colour import rgb_to_i420

    return [rgb_to_i420(f) for f in load_model()._iter_frames(prompt, seconds=seconds, fps=fps, seed=seed)]


def clip_psnr(marked, host) -> float:
    return float(np.mean([psnr(a[0], b[0]) for a, b in zip(marked, host)]))


def _highpass(y: np.ndarray) -> np.ndarray:
    y = y.astype(np.float64)
    return y - ndimage.gaussian_filter(y, 1.5)


def flat_grain(marked, host) -> dict:
    """Where a mark shows first: the flatter half of each frame (by the host's local high-pass activity).
    The mark's RMS there, and the host's own grain (high-pass RMS) there, grey levels, mean over frames."""
    mark, grain = [], []
    for a, b in zip(marked, host):
        hp = _highpass(b[0])
        activity = ndimage.uniform_filter(np.abs(hp), 9)
        flat = activity <= np.median(activity)
        d = a[0].astype(np.float64) - b[0]
        mark.append(float(np.sqrt(np.mean(d[flat] ** 2))))
        grain.append(float(np.sqrt(np.mean(hp[flat] ** 2))))
    return {"flat_mark_rms": round(float(np.mean(mark)), 3), "flat_host_grain": round(float(np.mean(grain)), 3)}


def write_h264(frames, path: Path, fps: float, crf: int, preset: str) -> Path:
    """4:2:0 planes to an MP4 with the labeler's writer."""
    from kinoseal.mediaio.writer import H264Writer

    h, w = frames[0][0].shape
    with H264Writer(path, width=w, height=h, fps=fps, crf=crf, preset=preset) as wr:
        for y, u, v in frames:
            wr.write_i420(y, u, v)
    return path


def encoded_bytes(frames, fps: float) -> int:
    """Size of ``frames`` as the labeler writes them (libx264 at ``Settings``' CRF and preset)."""
    s = Settings()
    with tempfile.TemporaryDirectory(prefix="kinoseal-flat-") as tmp:
        return write_h264(frames, Path(tmp) / "clip.mp4", fps, s.crf, s.preset).stat().st_size


def read(method, key: WatermarkKey, frames) -> dict:
    ex = method.extractor([key])
    for f in frames:
        ex.update(f[0], frame_kind(f))
    r = ex.result()
    return {"bound": bool(r.detected and r.bound is not False),
            "sync_log10_p": round(float(ex.debug.get("sync_log10_p", r.log10_p_value)), 2),
            "binding_log10_p": None if r.binding_log10_p is None else round(float(r.binding_log10_p), 2)}


def generated_rows(methods: list[str], prompts: list[str], attacks: list[str], keys: int) -> list[dict]:
    rows = []
    for ci, prompt in enumerate(prompts):
        host, fps = unlabeled_kino_tiny(prompt, 100 + ci), 8.0
        plain = encoded_bytes(host, fps)
        for mname in methods:
            m = method_variant(mname)
            for k in range(keys):
                key = bench_key(k)
                emb = m.embedder(key, 0x5EED + k)
                marked = [(emb.embed_luma(y), u, v) for y, u, v in host]
                db = clip_psnr(marked, host)
                grain = flat_grain(marked, host)
                size = round(encoded_bytes(marked, fps) / plain, 3) if k == 0 else None
                for att in attacks:
                    fr, _ = apply_attack(att, marked, fps)
                    row = {"prompt": prompt, "method": mname, "key": k, "attack": att, "psnr_y": round(db, 2),
                           **grain, "size_ratio": size, **read(m, key, fr)}
                    rows.append(row)
                    print(row, flush=True)
    return rows


E2E_CASES = {"h264_crf30": ["h264_crf30"], "crop_0.71 + h264_crf30": ["crop_0.71", "h264_crf30"]}


def end_to_end_rows(methods: list[str], prompts: list[str]) -> list[dict]:
    """Through the product: ``generate_clip`` (the labeler's mark, encode, signature, registry record) under
    one installation key, the clip re-encoded as a platform would (which drops the manifest), then the
    installation's own ``Verifier`` with its registry: the verdict and what gave it."""
    from kinoseal.generate.run import generate_clip
    from kinoseal.label.labeler import Labeler
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark.keyring import install_key

    rows = []
    for mname in methods:
        with tempfile.TemporaryDirectory(prefix="kinoseal-flat-e2e-") as tmp:
            s = Settings(home=Path(tmp) / "home", classifier_model="none")
            install_key(s.keys_dir / "watermark", bench_key(0))
            labeler = Labeler.from_settings(s)
            labeler.method = method_variant(mname)  # the variant under the registered name, as v5 clips carry
            verifier = None
            for ci, prompt in enumerate(prompts):
                src = Path(tmp) / f"clip{ci}.mp4"
                generate_clip(s, prompt, src, seconds=2.0, fps=8, seed=200 + ci, labeler=labeler)
                # built once the first label has made the registry (it then follows the registry's growth)
                verifier = verifier or Verifier.from_settings(s)
                labeled, fps = decode_i420(src, 10**6)
                for case, chain in E2E_CASES.items():
                    frames = labeled
                    for att in chain:
                        frames, _ = apply_attack(att, frames, fps)
                    # already decoded from the attack's encode: stored near lossless
                    dst = write_h264(frames, Path(tmp) / "shared.mp4", fps, 18, "medium")
                    r = verifier.verify(dst)
                    row = {"method": mname, "prompt": prompt, "case": case, "verdict": r.verdict.value,
                           "bound": r.watermark.bound, "via": (r.provenance or {}).get("via")}
                    rows.append(row)
                    print(row, flush=True)
    return rows


def real_clips(limit: int | None) -> list[tuple[str, list]]:
    out = [(name, load_clip(name, 24).frames) for name in REAL_SUITE]
    if not (SHARED / "manifest.json").is_file():
        print(f"{SHARED} not found: the shared real clips are left out", flush=True)
        return out
    items = [c for c in json.loads((SHARED / "manifest.json").read_text()) if c.get("label") != "ai"]
    for c in items[:limit]:
        out.append((Path(c["file"]).name, decode_i420(SHARED / c["file"], 24)[0]))
    return out


def real_rows(methods: list[str], limit: int | None) -> list[dict]:
    rows = []
    key = bench_key(0)
    for name, host in real_clips(limit):
        row = {"clip": name, "size": f"{host[0][0].shape[1]}x{host[0][0].shape[0]}"}
        for mname in methods:
            emb = method_variant(mname).embedder(key, 0x5EED)
            marked = [(emb.embed_luma(y),) for y, _, _ in host]
            per = [psnr(a[0], b[0]) for a, b in zip(marked, host)]
            row[mname] = {"mean": round(float(np.mean(per)), 3), "min": round(float(np.min(per)), 3),
                          **flat_grain(marked, host)}
        rows.append(row)
        print(row, flush=True)
    return rows


def _median(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(float(np.median(xs)), 1) if xs else None


def markdown(res: dict) -> str:
    methods, rows = res["methods"], res["generated"]
    n = len(res["prompts"]) * res["keys"]
    L = ["# The generator's own output under re-encodes: v5's flat-frame cap (issue 21 item 4)", "",
         f"Command: `{res['command']}` ({res['date']}, {res['host']}, {res['minutes']} min).", "",
         f"Clips: kino-tiny's output for {len(res['prompts'])} prompts that the cap was not chosen on, 2 s at 8 fps "
         f"(16 frames, 256x256), the generator's frames before the labeler marks them, marked with "
         f"{res['keys']} keys: {n} marked clips per method. Read whole; counted when bound at p < 1e-6.", "",
         "PSNR-Y of the marked clips (mean over clips, worst clip): " + "; ".join(
             f"`{m}` {np.mean([r['psnr_y'] for r in rows if r['method'] == m and r['attack'] == 'none']):.2f} dB, "
             f"worst {min(r['psnr_y'] for r in rows if r['method'] == m and r['attack'] == 'none'):.2f} dB"
             for m in methods) + ".", "",
         "Where a mark shows first, the flatter half of each frame (by the host's local high-pass activity): the "
         "mark's RMS there, against the host's own grain there (high-pass RMS, sigma 1.5), grey levels, mean over "
         "clips: " + "; ".join(
             f"`{m}` {np.mean([r['flat_mark_rms'] for r in rows if r['method'] == m and r['attack'] == 'none']):.2f} "
             f"against {np.mean([r['flat_host_grain'] for r in rows if r['method'] == m and r['attack'] == 'none']):.2f}"
             for m in methods) + ".", "",
         "Labeled file size, key 0, as the labeler encodes (libx264 CRF " + str(res.get("crf")) + "), against the same "
         "frames encoded unmarked (mean ratio over clips): " + "; ".join(
             f"`{m}` {np.mean([r['size_ratio'] for r in rows if r['method'] == m and r['attack'] == 'none' and r['size_ratio']]):.2f}x"
             for m in methods) + ".", "",
         "Cell: bound / marked clips (median binding log10 p; median sync-layer log10 p).", "",
         "| attack | " + " | ".join(f"`{m}`" for m in methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for att in res["attacks"]:
        cells = []
        for m in methods:
            sel = [r for r in rows if r["method"] == m and r["attack"] == att]
            cells.append(f"{sum(r['bound'] for r in sel)}/{len(sel)} ({_median(r['binding_log10_p'] for r in sel)}; "
                         f"{_median(r['sync_log10_p'] for r in sel)})")
        L.append(f"| {att} | " + " | ".join(cells) + " |")
    tot = {m: sum(r["bound"] for r in rows if r["method"] == m and r["attack"] != "none") for m in methods}
    att_n = sum(1 for r in rows if r["method"] == methods[0] and r["attack"] != "none")
    L += ["", "Attacked clips bound: " + ", ".join(f"`{m}` {tot[m]}/{att_n}" for m in methods) + ".", ""]
    e2e = res.get("end_to_end") or []
    if e2e:
        L += ["## Through the product (issue 21: the verdict a platform's upload gets)", "",
              f"`generate_clip` under one installation key for the same {len(res['prompts'])} prompts (other seeds), "
              "the labeled MP4 decoded, attacked (which drops the manifest), stored at CRF 18, then `kinoseal verify`'s "
              "`Verifier` with the installation's registry (no classifier). Cell: `ai_generated` / clips (of them: "
              "bound by the watermark; found through the registry by payload, by fingerprint). The labeler draws each "
              "clip's payload at random, so these cells move a little from run to run.", "",
              "| re-encode | " + " | ".join(f"`{m}`" for m in methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for case in E2E_CASES:
            cells = []
            for m in methods:
                sel = [r for r in e2e if r["method"] == m and r["case"] == case]
                cells.append(f"{sum(r['verdict'] == 'ai_generated' for r in sel)}/{len(sel)} (bound "
                             f"{sum(bool(r['bound']) for r in sel)}; registry by payload "
                             f"{sum(r['via'] == 'watermark' for r in sel)}, by fingerprint "
                             f"{sum(r['via'] == 'fingerprint' for r in sel)})")
            L.append(f"| {case} | " + " | ".join(cells) + " |")
        L.append("")
    real = res["real"]
    if real:
        base, new = methods[0], methods[-1]
        moved = [r for r in real if abs(r[base]["mean"] - r[new]["mean"]) > 0.005]
        L += [f"## Real footage ({len(real)} clips: the suite's {', '.join(REAL_SUITE)} and the shared real clips, "
              "first 24 frames, one key)", "",
              f"Mean PSNR-Y over clips: `{base}` {np.mean([r[base]['mean'] for r in real]):.2f} dB, `{new}` "
              f"{np.mean([r[new]['mean'] for r in real]):.2f} dB; lowest clip mean {min(r[new]['mean'] for r in real):.2f} dB "
              f"and lowest frame {min(r[new]['min'] for r in real):.2f} dB with `{new}`. Clips the change moved: "
              f"{len(moved)} of {len(real)}. Mark RMS in the flatter half of the frame (as above): " + "; ".join(
                  f"`{m}` {np.mean([r[m]['flat_mark_rms'] for r in real]):.2f} against the host's grain "
                  f"{np.mean([r[m]['flat_host_grain'] for r in real]):.2f} (mean over clips)" for m in (base, new)) + ".", ""]
        if moved:
            L += ["| clip | size | " + " | ".join(f"`{m}` mean / worst frame" for m in (base, new)) + " |",
                  "|---|---|---|---|"]
            for r in moved:
                L.append(f"| {r['clip']} | {r['size']} | " + " | ".join(
                    f"{r[m]['mean']:.2f} / {r[m]['min']:.2f}" for m in (base, new)) + " |")
            L.append("")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--keys", type=int, default=2)
    ap.add_argument("--real", type=int, default=None, help="at most this many shared real clips (default: all)")
    ap.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                    help="skip the run through generate_clip and the Verifier")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    prompts = [p for p in PROMPTS if p not in SCREENED][: args.prompts]
    attacks = args.attacks.split(",")
    t0 = time.time()
    gen = generated_rows(methods, prompts, attacks, args.keys)
    e2e = end_to_end_rows(methods, prompts) if args.end_to_end else []
    real = real_rows(methods, args.real)
    res = {"command": " ".join(["python -m bench.wm_flat", *(argv if argv is not None else sys.argv[1:])]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "host": f"{platform.machine()}, {platform.python_version()}", "minutes": round((time.time() - t0) / 60, 1),
           "crf": Settings().crf, "methods": methods, "prompts": prompts, "attacks": attacks, "keys": args.keys,
           "generated": gen, "end_to_end": e2e, "real": real}
    print(write_results(args.out, "wm_flat", res, markdown(res)))


if __name__ == "__main__":
    main()
