"""TRAINING.md of an exported model: what was trained, on what, with which commands, and
the loss curve, all from the run's own state folder."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np


# One row per invocation that trained: the exact commands that made the weights, in order
# (a resumed run may change --steps, which restarts the cosine schedule's position).
RUNS_CSV = "runs.csv"


def log_run(state_dir: Path, start_step: int, command: str) -> None:
    path = state_dir / RUNS_CSV
    new = not path.exists() or start_step == 0
    with open(path, "w" if new else "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["start_step", "started_at", "command"])
        w.writerow([start_step, time.strftime("%Y-%m-%d %H:%M:%S"), command])


def read_runs(state_dir: Path) -> list[dict]:
    path = state_dir / RUNS_CSV
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _loss_summary(state_dir: Path, buckets: int = 12) -> list[tuple[int, float]]:
    path = state_dir / "loss.csv"
    if not path.exists():
        return []
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            try:
                rows.append((int(r["step"]), float(r["loss"])))
            except (KeyError, ValueError):
                pass
    if not rows:
        return []
    last = rows[-1][0]
    out = []
    edges = np.linspace(0, last, buckets + 1)
    for a, b in zip(edges[:-1], edges[1:]):
        vals = [l for s, l in rows if a < s <= b]
        if vals:
            out.append((int(b), float(np.mean(vals))))
    return out


def _runs_lines(state_dir: Path, last_step: int) -> list[str]:
    runs = read_runs(state_dir)
    if not runs:
        return []
    lines = ["Invocations that trained these weights, in order (each continued from the previous one's state):", "",
             "| steps | started | command |", "|---|---|---|"]
    for i, r in enumerate(runs):
        end = int(runs[i + 1]["start_step"]) if i + 1 < len(runs) else last_step
        lines.append(f"| {r['start_step']}-{end} | {r['started_at']} | `{r['command']}` |")
    return lines + [""]


def write_training_md(dirpath: Path, meta: dict, state_dir: Path):
    summary = _loss_summary(state_dir)
    lines = [
        "# kino-tiny: training record",
        "",
        "Tiny text-to-video diffusion model, trained from scratch on CPU on procedurally rendered clips",
        "(`scenes/procedural.py`). Nothing was downloaded; everything here is reproducible from the repo.",
        "",
        "## Command",
        "",
        "```",
        meta["command"],
        "```",
        "",
        *([f"Then re-exported without training by `{meta['reexport_command']}`.", ""]
          if meta.get("reexport_command") else []),
        "Resume / continue: same command with `--resume` (state in `" + str(meta["state_dir"]) + "`; on a new"
        " machine it warm-starts from these weights). On a 2-core machine shared with other jobs, use"
        " `--threads 1` or set `OMP_WAIT_POLICY=PASSIVE`: two spinning OpenMP threads on a busy machine made steps"
        " take 17-30 s instead of 0.6 s.",
        "",
        "## Run",
        "",
        *_runs_lines(state_dir, meta["step"]),
        f"- seed: {meta['seed']}",
        f"- steps done: {meta['step']} (target {meta['target_steps']}), batch {meta['batch']}, "
        f"lr {meta['lr']} (AdamW, warm-up {meta['warmup']}), EMA {meta['ema']} (exported weights are the EMA)",
        f"- threads: {meta['threads']}; wall time so far: {meta['train_hours']:.2f} h; "
        f"recent speed: {meta['sec_per_step']:.2f} s/step",
        f"- exported: {meta['exported_at']}",
        "",
        "## Model",
        "",
        "- denoiser: diffusers `UNet3DConditionModel`, blocks " + str(meta["blocks"]) +
        f" (conv-only DownBlock3D at 8x8, CrossAttn at 4x4 + mid), {meta['layers_per_block']} layer(s) per block,"
        " v-prediction; the pooled caption (" + {"eos": "state of the end-of-text token",
                                                 "mean": "mean of the token states",
                                                 "eos+mean": "state of the end-of-text token and mean of the token "
                                                             "states, concatenated"}[meta["text_pooling"]] +
        ") is added to the timestep embedding (`time_cond_proj_dim`)",
        ("- input space: " + meta["space"] + ", +1 known-frame mask channel" +
         (", +3 position channels (frame index, row, column as ramps over [-1, 1]; `pipeline.position_ramps`)"
          if meta.get("position_channels") else "") +
         (", +2 layout channels (each object's disc on its track at 8x8 and a 'layout given' flag;"
          " `generate.layout`)" if meta.get("layout_channels") else "") + "; 16 frames per chunk"),
        *(["- layout planner (`planner/`, `generate.layout.LayoutPlanner`, trained apart by"
           " `python -m kinoseal.training.generator.planner`, record in planner/TRAINING.md): reads the caption and draws each"
           " object's track for a clip's first chunk, which the denoiser gets as its layout channels"]
          if meta.get("layout_channels") else []),
        "- text encoder: `CLIPTextModel` (hidden 128, 2 layers, 4 heads) trained jointly; word-level tokenizer "
        "(tokenizer/tokenizer.json, [UNK] for unknown words, fixed length 32" +
        ("; each motion phrase with 'left' or 'right' is one token, e.g. `sliding_left`, see generate/tokenizer.py"
         if meta.get("phrase_tokens") else "") + ")",
        "- scheduler: DDPM cosine (`squaredcos_cap_v2`) for training, `DDIMScheduler` (trailing spacing) for sampling; "
        "classifier-free guidance (10% empty captions in training); sampling defaults: "
        f"{meta['default_steps']} DDIM steps, guidance {meta['default_guidance']}" +
        (f" (at most {meta['continuation_guidance']:g} on chunks that continue known frames)"
         if meta.get("continuation_guidance") is not None else ""),
        "",
        "## Data recipe",
        "",
        "Rendered on the fly, batch for step s depends only on (seed, s): 8 colours (red, green, blue, yellow, purple,"
        " orange, white, black), 4 shapes (ball, square, triangle, ring), 9 motions (bouncing left->right /"
        " right->left, sliding left/right/up/down, rotating, growing, shrinking), plain / striped / checkered"
        " backgrounds, camera pans left/right, 1-3 objects; objects live on a torus so motion can continue"
        " forever. Curriculum: first " + str(meta["curriculum"]) + " steps single object on plain backgrounds."
        " Held-out (colour, shape, background, motion) tuples (`scenes.procedural.is_held_out`, ~1/13 of all)"
        " never appear in training; they are the benchmark set (`bench/generator_quality.py`).",
        f" Noise levels: uniform, plus {meta.get('p_high_noise', 0):.0%} of samples from the top 10%.",
        f" Known-prefix (4 clean frames + mask) on {meta['p_context']:.0%} of samples; {meta['p_uncond']:.0%} empty captions;"
        f" {meta['p_unk']:.0%} word dropout to [UNK].",
        *([f" Loss weight 1 + {meta['fg_weight']:g} on the latent cells an object touches (this invocation; the"
           " loss curve's values from then on are weighted means, not comparable with plain v-MSE rows; the"
           " runs table shows which invocation used it)."] if meta.get("fg_weight") else []),
        *([" Every clip without known frames starts at time 0 with each object where its motion says it comes"
           " from (`data._directed_start`: \"sliding right\" on the left, \"growing\" small), every clip with"
           " known frames anywhere on the torus (`--directed-unless-context`, this invocation)."]
          if meta.get("directed_unless_context") else
          [f" {meta['p_directed']:.0%} of clips start at time 0 with each object where its motion says it comes"
           " from (`data._directed_start`: \"sliding right\" on the left, \"growing\" small), the rest anywhere on"
           " the torus (this invocation)."] if meta.get("p_directed") else []),
        *([f" Each batch starts with {meta.get('mirror_pairs', 0)} clip(s) that say left or right, each followed by"
           f" its left-right mirror image, and {meta.get('reverse_pairs', 0)} clip(s) that say a direction, each"
           " followed by itself played backwards, with the twin's caption (`data.twin_batch`); a clip and its twin"
           " share noise and noise level, so only the caption tells them apart (this invocation)."]
          if meta.get("mirror_pairs") or meta.get("reverse_pairs") else []),
        *([f" {meta.get('p_layout', 0):.0%} of the clips without known frames get their objects' true tracks as"
           " layout channels (discs, `generate.layout.layout_map`; twins get their twin's), the others and every"
           " clip with known frames the empty layout (this invocation)."] if meta.get("layout_channels") else []),
        *([f" Auxiliary loss (weight {meta['text_aux']:g}): a linear head on the pooled caption state predicts the"
           " caption's attributes (`data.caption_attributes`, binary cross-entropy; the head's learning rate"
           f" {meta.get('text_aux_lr_scale', 1.0):g}x the model's); the head is not exported."
           " Added because the pooled states of captions that differ only in a direction word had cosine"
           " similarity 0.99998 at step 15,000."] if meta.get("text_aux") else []),
        "",
        "## History",
        "",
        "kino-tiny 0.1 (patch space, mean-pooled caption, 10k steps in 3.7 CPU-hours, at chance on every attribute"
        " of `bench/generator_quality.py`) taught the following, and 0.2 is built on it:",
        "",
        "- text through cross-attention at 4x4 alone was ignored (x0 error the same with the right, empty or"
        " another prompt); the pooled caption now also enters the timestep embedding, so every ResNet block sees it.",
        "- AdamW weight decay on every parameter shrank the text encoder's LayerNorm gain to ~0.05; gains, biases"
        " and embeddings get no decay.",
        "- the mean colour of a 16-frame clip survives the noise up to t~980 (averaging beats the noise), so the"
        " prompt was never needed in training and colours came out at random: offset noise (a per-clip, per-channel"
        f" constant of std {meta.get('offset_noise', 0)} added to the noise) hides it, and"
        f" {meta.get('p_high_noise', 0):.0%} of samples come from the top 10% of noise levels, where only the prompt"
        " tells the colours.",
        "- the mean-pooled caption is nearly order-free: 0.1 painted 'a red ball on a blue background' red on"
        " blue's place. 0.2 pools the end-of-text state, which has read the caption in order.",
        "- in patch space (8x8x48) the tiny denoiser left per-pixel noise in every sample (x0 error 0.027 at"
        " t=200 where a flat background allows ~0). 0.2 diffuses in 8x8x4 VAE latents; the decoder draws the pixels.",
        "",
        "kino-tiny 0.2 at step 15,000 (colour 72%, motion 32% on held-out prompts) moved its objects, but in a"
        " direction unrelated to the prompt: the denoiser's x0 error with the direction word flipped ('sliding"
        " left' for 'sliding right', 'growing' for 'shrinking') was 1.000x the right prompt's at every noise level,"
        " and the end-of-text states of such caption pairs had cosine 0.99998. Two causes, two changes from step"
        " 15,000:",
        "",
        "- with start positions uniform on the torus, the mean clip of every direction is the same blur, so a"
        " denoiser trained for the mean gains nothing from the direction word: `--p-directed` starts most clips"
        " where their motion comes from.",
        "- the end-of-text attention had learnt to skip the direction words (a fixed point: no attention, no"
        " gradient to attend), while the words' own token states still differed. 1,004 steps with directed starts"
        " and `--text-aux` left the cosine at 0.99998, so from step 16,004 the pooled caption is `eos+mean` (the"
        " token mean concatenated, its projection starting at zero).",
        "",
        "kino-tiny 0.3 at step 19,195 read the direction words in its text encoder (the token mean of 'sliding"
        " left' and 'sliding right' captions 3.0 apart, a colour change 13) but its denoiser barely used them"
        " (x0 error flipped/right 1.003-1.010; held-out motion 36%, the axis mostly right, the sign not the prompt's)."
        " UNet3DConditionModel's temporal layers carry no positional embedding, so the denoiser could tell the"
        " first frame from the last only through zero padding, while a directed start means \"on the left at"
        " the first frame\". From step 19,195 the denoiser gets the frame index, row and column as three more"
        " input channels (`--position-channels`, conv_in widened with zero weights).",
        "",
        "At step 21,337 the first 40 held-out prompts scored as before (motion 32.5%), and one seed at a time"
        " showed why: 'sliding left' and 'sliding right' gave the same trajectory (the seed chose the direction),"
        " while 5 of the 6 'sliding up' and both 'sliding down' prompts moved that way. As single words 'left' and 'right' carry no direction: 'right' is in"
        " 'sliding right' and 'bouncing from left to right' (rightward) and in 'bouncing from right to left' and"
        " 'camera panning right' (leftward); 'up' and 'down' are in one phrase each, and the model followed them."
        " From step 21,933 each phrase with 'left' or 'right' is one token (`--phrase-tokens`, e.g."
        " `sliding_left`; the new embedding rows start as the mean of the words' rows).",
        "",
        "At step 23,954 phrase tokens had not yet separated left from right in same-seed samples, so from then"
        " each batch also holds caption twins that differ only in direction, trained with the same noise and"
        " noise level: `--mirror-pairs` (a left/right clip and its mirror image; 2 per batch to step 24,296, then"
        " 1) and `--reverse-pairs 1` (a clip and the same clip played backwards). kino-tiny 0.4 is step 27,895."
        " On the 127 held-out prompts it is better than 0.3 (colour 80% vs 76%, motion 46% vs 36%), almost"
        " always on the right axis, but the sign still follows the noise: for one seed, 'sliding left' and"
        " 'sliding right' move the same way (`bench/results/direction_sensitivity.md`). Two probes on this"
        " state, not in the weights: replacing the unconditional branch of guidance with the direction-flipped"
        " prompt (a negative prompt, guidance 3 and 8) left 0% of same-seed pairs drawn as said; 600 steps on"
        " mirror pairs of horizontal movers at t >= 700 (lr 2e-4) left the loss flat and 0%, and 300 steps at"
        " t >= 950 (lr 1e-3) reached 2 of 9 pairs. The likely limit is the architecture: the text reaches the"
        " frames only through per-frame spatial cross-attention and an additive bias on the timestep embedding,"
        " while the temporal layers, which make the motion, see no text. Candidates for 0.5: text"
        " cross-attention in the temporal transformers, scale-and-shift (FiLM) conditioning of the ResNet"
        " blocks on the pooled caption.",
        "",
        "After 0.4: the direction word can lower the x0 error only as far as the caption's mean clip differs"
        " from the flipped caption's. For an ideal denoiser at t ~ 999 the flipped/right ratio is 1.17-1.18 with 70%"
        " directed starts and 1.42-1.51 with all (`bench/direction_sensitivity.py --ideal`); 0.4 reached 1.006 at"
        " t = 950. From step 27,895 `--directed-unless-context` starts every clip without known frames where its"
        " motion comes from (continued chunks, which have known frames, start anywhere). At step 32,745 the ratio"
        " had doubled (1.023 at t = 850, 1.018 at 950) but same-seed pairs were still drawn the same way (0 of 36).",
        "",
        *(["kino-tiny 0.5 splits the work, as layout-grounded video diffusion does (LLM-grounded video diffusion,"
           " Boximator): a layout planner (`planner/`, `generate.layout.LayoutPlanner`, 245k parameters, its own"
           " token embedding and transformer, trained apart by `python -m kinoseal.training.generator.planner` in 6 min on the"
           " true tracks of procedural scenes; see planner/TRAINING.md) reads the caption and draws each object's"
           " (x, y, radius) track for the first chunk, and from step 32,745 the denoiser gets that layout as two"
           " more input channels (`--layout-channels`, conv_in widened with zero weights): the objects' discs on"
           " their tracks (the true tracks in training, for 80% of the clips without known frames) and a 'layout"
           " given' flag. The signal is strong where the text's was weak (the layout says where the object is at"
           " every frame): 667 steps later the live weights drew 36 of 36 same-seed pairs of opposite directions"
           " as said. kino-tiny 0.5.0 was step 37,542 (4,797 steps at a constant lr 2.5e-4 from the step-32,745"
           " state); on the 127 held-out prompts: motion 100% (0.4: 46%), colour 88% (80%), shape 41% (28%),"
           " same-seed pairs drawn as said 100% (0%). kino-tiny 0.5.1 is step 39,171, 1,629 steps later with the"
           " same command (numbers in `bench/results/generator_quality.md`). Chunks that continue known frames"
           " and edits get no layout; they follow their known frames.",
           ""] if meta.get("layout_channels") else []),
        "## Loss curve (mean training loss per interval; v-MSE)",
        "",
        "| up to step | loss |",
        "|---:|---:|",
    ]
    lines += [f"| {s} | {l:.4f} |" for s, l in summary]
    lines.append("")
    (dirpath / "TRAINING.md").write_text("\n".join(lines))


