"""Does the denoiser read the motion direction word?

    python -m bench.direction_sensitivity [--weights DIR] [--n 24]

On rendered single-object training clips whose objects start where their motion comes from
(``data._directed_start``), noised to a level t, compare the denoiser's x0 error with the right
caption and with the direction word flipped ("sliding left" <-> "sliding right", "growing" <->
"shrinking", ...). A ratio of 1.000 means the word is ignored. Also the cosine between the pooled
caption states of each flipped pair (1.0 = the text encoder cannot tell them apart).

Then the samples: for each opposite pair of directions ("sliding left" / "sliding right",
"sliding up" / "sliding down", the two bounces) and each of ``--seeds`` seeds, generate the same
scene with each direction from the same noise and score the drawn motion with the held-out
benchmark's analyser. A model that reads the word draws the two the opposite ways; one that
lets the noise choose draws them the same way (kino-tiny 0.3 did for left/right).

And the ceiling of the first number: at t ~ 999 the best x0 guess is the mean latent clip of the
caption, so ``--ideal N`` renders N clips per caption (one scene, the training data's start
positions), and compares the error of predicting held-out clips by their own caption's mean and
by the flipped caption's mean: the flipped / right ratio of an ideal denoiser, for the training
mix (70% directed starts) and for all-directed starts.
Writes bench/results/direction_sensitivity.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

from kinoseal.scenes import procedural as data

FLIP = {"sliding left": "sliding right", "sliding right": "sliding left", "sliding up": "sliding down",
        "sliding down": "sliding up", "bouncing from left to right": "bouncing from right to left",
        "bouncing from right to left": "bouncing from left to right", "growing": "shrinking", "shrinking": "growing"}


#: opposite directions, the axis they move along, and the sign of each along it
PAIRS = (("sliding left", "sliding right", "dx"), ("sliding up", "sliding down", "dy"),
         ("bouncing from right to left", "bouncing from left to right", "dx"))
#: the scenes each pair is drawn in (training colours, shapes and backgrounds)
SCENES = (("red", "ball", "blue"), ("yellow", "square", "black"), ("white", "triangle", "green"))


def same_seed_pairs(pipe, seeds: int, guidance: float | None, steps: int) -> list[dict]:
    """Per direction pair: how often the same noise drew the two directions as their prompts say."""
    from bench.generator_quality import analyse_clip

    rows = []
    for neg, pos, axis in PAIRS:
        n = follow = opposite = same = 0
        for colour, shape, bg in SCENES:
            for seed in range(seeds):
                moves = []
                for motion in (neg, pos):
                    prompt = data.make_spec(colour, shape, bg, motion).caption()
                    frames = np.stack(list(pipe._iter_frames(prompt, seconds=2, fps=8, seed=seed, steps=steps,
                                                             guidance=guidance, out_size=32)))
                    res = analyse_clip(frames)
                    moves.append((res.get(axis, 0.0), res["motion"] == data.MOTION_CLASS[motion]))
                (d_neg, ok_neg), (d_pos, ok_pos) = moves
                n += 1
                follow += ok_neg + ok_pos
                opposite += d_neg < 0 < d_pos
                same += (d_neg > 0) == (d_pos > 0)
        rows.append({"pair": f"{neg} / {pos}", "axis": axis, "pairs": n, "clips_following": follow / (2 * n),
                     "drawn_as_said": opposite / n, "drawn_the_same_way": same / n})
    return rows


def ideal_flip_ratios(pipe, n: int, p_directed: float, scene=("red", "ball", "blue")) -> list[dict]:
    """Per direction pair: x0 MSE of held-out clips against their own caption's mean latent clip
    and against the flipped caption's (the ratio an ideal denoiser reaches at t ~ 999)."""
    from kinoseal.generate.pipeline import frames_to_tensor

    def latents(motion: str, seed: int) -> torch.Tensor:
        rng = np.random.default_rng(seed)
        out = []
        for start in range(0, n, 50):
            clips = []
            for _ in range(min(50, n - start)):
                spec = data.make_spec(*scene, motion, rng)
                clips.append(data._render_training_clip(spec, rng, 16, 32, p_directed)[0])
            out.append(pipe._encode_frames(frames_to_tensor(np.stack(clips))))
        return torch.cat(out)

    rows = []
    for neg, pos, _ in PAIRS[:2]:
        a, b = latents(pos, 1), latents(neg, 2)
        held = a[int(0.8 * n):]
        own, other = a[:int(0.8 * n)].mean(0), b[:int(0.8 * n)].mean(0)
        right, flipped = float(((held - own) ** 2).mean()), float(((held - other) ** 2).mean())
        rows.append({"caption": pos, "flipped": neg, "p_directed": p_directed, "clips": n,
                     "right": right, "flipped_mse": flipped, "flipped_over_right": flipped / right})
    return rows


def _shown(path: str) -> str:
    """The weights' path relative to the repository when inside it (results do not carry the machine's paths)."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else path


def main(argv=None) -> dict:
    from bench.generator_quality import x0_errors
    from kinoseal.generate.pipeline import KinoVideoPipeline

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(ROOT / "generate" / "weights" / "kino-tiny"))
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=4, help="seeds per scene for the same-seed samples (0 skips them)")
    ap.add_argument("--steps", type=int, default=25, help="denoising steps of the samples")
    ap.add_argument("--ideal", type=int, default=600, help="clips per caption for the ideal ratio (0 skips it)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "direction_sensitivity"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = KinoVideoPipeline.from_pretrained(args.weights, local_files_only=True)
    rng = np.random.default_rng(1)
    specs = []
    while len(specs) < args.n:
        sp = data.sample_spec(rng)
        if len(sp.objects) != 1 or sp.objects[0].motion not in FLIP or sp.pan:
            continue
        data._directed_start(sp.objects[0], rng)
        specs.append(sp)
    caps = [sp.caption() for sp in specs]
    flipped = [cap.replace(sp.objects[0].motion, FLIP[sp.objects[0].motion]) for cap, sp in zip(caps, specs)]
    errors = x0_errors(pipe, specs, {"right": caps, "flipped": flipped}, (300, 500, 700, 850, 950))
    rows = [{"t": level, **e, "flipped_over_right": e["flipped"] / max(e["right"], 1e-12)} for level, e in errors.items()]
    with torch.no_grad():
        pr, pf = pipe._encode_text(caps).pooled, pipe._encode_text(flipped).pooled
    cos = float(torch.nn.functional.cosine_similarity(pr, pf).mean())
    cos_other = float(torch.nn.functional.cosine_similarity(pr, pr.roll(1, 0)).mean())
    d = pipe.describe()
    samples = same_seed_pairs(pipe, args.seeds, None, args.steps) if args.seeds else []
    ideal = [r for p in (0.7, 1.0) for r in ideal_flip_ratios(pipe, args.ideal, p)] if args.ideal else []
    report = {"model": f"{d['model']} {d['version']}", "weights": _shown(args.weights), "clips": args.n, "levels": rows,
              "pooled_cosine_flipped": cos, "pooled_cosine_other_caption": cos_other,
              "same_seed_samples": samples, "seeds": args.seeds, "ideal": ideal, "guidance": float(pipe.config.default_guidance),
              "plans": pipe._plans()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    md = [f"# Direction sensitivity: {report['model']}", "",
          f"{args.n} rendered training clips, objects starting where their motion comes from. x0 error with the "
          "right caption and with the direction word flipped; 1.000 = the word is ignored" +
          ("; without layout channels, so this is what the denoiser takes from the text alone (the samples below"
           " get the layout planner's layout)" if report["plans"] else "") + ".", "",
          "| noise level t | right | flipped | flipped / right |", "|---:|---:|---:|---:|",
          *[f"| {r['t']} | {r['right']:.4f} | {r['flipped']:.4f} | {r['flipped_over_right']:.3f} |" for r in rows], "",
          *([f"The ceiling: an ideal denoiser at t ~ 999 predicts the caption's mean clip ({args.ideal} rendered clips"
             " per caption, a red ball on blue, 80% for the mean, 20% held out; x0 MSE in the same latent space).", "",
             "| caption | flipped | directed starts | own mean | flipped mean | flipped / right |",
             "|---|---|---:|---:|---:|---:|",
             *[f"| {r['caption']} | {r['flipped']} | {r['p_directed']:.0%} | {r['right']:.4f} | {r['flipped_mse']:.4f} |"
               f" {r['flipped_over_right']:.3f} |" for r in ideal], ""] if ideal else []),
          f"Pooled caption cosine, direction-flipped pairs: {cos:.5f} (another clip's caption: {cos_other:.3f}).", "",
          *([f"Samples: each direction of a pair drawn from the same noise ({len(SCENES)} scenes x {args.seeds} seeds,"
             f" 16 frames, {args.steps} steps, guidance {report['guidance']:g}). 'Drawn as said' = the two moved"
             " opposite ways along the axis, each the way its prompt says; 'the same way' = the noise chose.", "",
             "| pair | pairs | clips whose motion class is the prompt's | drawn as said | drawn the same way |",
             "|---|---:|---:|---:|---:|",
             *[f"| {r['pair']} | {r['pairs']} | {r['clips_following']:.0%} | {r['drawn_as_said']:.0%} |"
               f" {r['drawn_the_same_way']:.0%} |" for r in samples], ""] if samples else []),
          f"Command: `python -m bench.direction_sensitivity --n {args.n} --seeds {args.seeds}`", ""]
    out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return report


if __name__ == "__main__":
    main()
