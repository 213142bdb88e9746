"""Train kino-tiny's layout planner (generate.layout) on the procedural data's true tracks (CPU, ~3 min).

    python -m kinoseal.training.generator.planner --out generate/weights/kino-tiny --steps 3000 --seed 0

Writes ``<out>/planner`` (safetensors + config + TRAINING.md) with the tokenizer already in
``<out>/tokenizer`` (so the ids match the denoiser's), and records the component in
``<out>/model_index.json``. The planner only matters to a denoiser trained with layout
channels (``training.generator.train --layout-channels``); others ignore it.

Held-out check (written to TRAINING.md): for every held-out (colour, shape, background,
motion) caption, does the mean track move the way the caption says, and is it drawn where
the motion starts?
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from kinoseal.mediaio.atomic import atomic_dir

from kinoseal.scenes.procedural import MOTION_CLASS, held_out_combos, make_spec, planner_batch
from kinoseal.generate.layout import LayoutPlanner
from kinoseal.generate.tokenizer import MAX_LENGTH, encode

PLANNER_LIBRARY = ["kinoseal.generate.layout", "LayoutPlanner"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="generate/weights/kino-tiny", help="pipeline folder (holds tokenizer/)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    return ap.parse_args(argv)


def held_out_check(planner: LayoutPlanner, tokenizer) -> dict:
    """Direction of the mean track on every held-out single-object caption, scored like the
    generator benchmark's motion classes: left/right/up/down by the sign of the movement,
    grow/shrink by the radius, "still" by moving less than 0.1 of the frame."""
    rows = held_out_combos()
    caps = [make_spec(c, s, b, m).caption() for c, s, b, m in rows]
    ids = encode(tokenizer, caps, int(planner.config.max_length))
    tracks = planner.plan(ids)  # mean tracks
    right = 0
    for (_, _, _, motion), tr in zip(rows, tracks):
        d = tr[0, -1] - tr[0, 0]  # the first object: x, y, radius change over the chunk
        want = MOTION_CLASS[motion]
        got = {"right": d[0] > 0.1, "left": d[0] < -0.1, "down": d[1] > 0.1, "up": d[1] < -0.1,
               "grow": d[2] > 0.02, "shrink": d[2] < -0.02,
               "still": abs(d[0]) < 0.1 and abs(d[1]) < 0.1}[want]
        right += bool(got)
    return {"captions": len(rows), "direction_right": right}


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(out / "tokenizer"))
    planner = LayoutPlanner(vocab_size=len(tokenizer.get_vocab()), frames=16, max_length=MAX_LENGTH,
                            width=args.width, layers=args.layers)
    opt = torch.optim.AdamW(planner.parameters(), lr=args.lr, weight_decay=0.0)
    t0 = time.time()
    losses = []
    for step in range(args.steps):
        rng = np.random.default_rng([args.seed, step])
        caps, tracks, exists = planner_batch(rng, args.batch)
        ids = encode(tokenizer, caps, MAX_LENGTH)
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = planner.loss(ids, torch.from_numpy(tracks), torch.from_numpy(exists))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(planner.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 250 == 0:
            print(f"step {step + 1} loss {np.mean(losses[-250:]):.4f}", flush=True)
    planner.eval()
    check = held_out_check(planner, tokenizer)
    record = dict(command="python -m kinoseal.training.generator.planner " + " ".join(sys.argv[1:] if argv is None else argv),
                  seed=args.seed, steps=args.steps, batch=args.batch, lr=args.lr,
                  final_loss=round(float(np.mean(losses[-250:])), 4), minutes=round((time.time() - t0) / 60, 1),
                  held_out=check)
    with atomic_dir(out / "planner") as tmp:
        planner.save_pretrained(tmp, safe_serialization=True)
        (tmp / "TRAINING.md").write_text(training_md(record))
    index = out / "model_index.json"
    cfg = json.loads(index.read_text())
    cfg["planner"] = PLANNER_LIBRARY
    index.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    print(json.dumps(record), flush=True)
    return record


def training_md(r: dict) -> str:
    h = r["held_out"]
    return (
        "# kino-tiny layout planner\n\n"
        "A `generate.layout.LayoutPlanner`: caption -> per object a Gaussian over its (x, y, radius) track "
        "for the first 16-frame chunk, trained by maximum likelihood on the true tracks of procedurally "
        "sampled scenes (`scenes.procedural.planner_batch`: objects start where their motion comes from; held-out "
        "(colour, shape, background, motion) tuples never drawn).\n\n"
        f"- command: `{r['command']}`\n- seed {r['seed']}, {r['steps']} steps of batch {r['batch']}, "
        f"AdamW lr {r['lr']} (cosine), {r['minutes']} min on CPU\n- final NLL + existence loss: {r['final_loss']}\n"
        f"- held-out captions whose mean track moves as said: {h['direction_right']} / {h['captions']}\n"
    )


if __name__ == "__main__":
    main()
