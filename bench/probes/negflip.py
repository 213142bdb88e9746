"""Probe: does guidance toward the prompt and away from the direction-flipped prompt draw the
direction as said? The unconditional branch of classifier-free guidance is replaced by the flipped
prompt (a negative prompt), then bench/direction_sensitivity's same-seed test runs.

    python -m bench.probes.negflip WEIGHTS GUIDANCES SEEDS     e.g. generate/weights/kino-tiny 3,8 2
"""
import sys, torch
from bench.direction_sensitivity import FLIP, same_seed_pairs
from kinoseal.generate.pipeline import KinoVideoPipeline
torch.set_num_threads(2)
w = sys.argv[1]
pipe = KinoVideoPipeline.from_pretrained(w, local_files_only=True)
orig = pipe._encode_text
def flipped(prompts):
    if len(prompts) == 2 and prompts[0] == "":
        p = prompts[1]
        for a, b in FLIP.items():
            if a in p:
                return orig([p.replace(a, b), p])
    return orig(prompts)
pipe._encode_text = flipped
for g in [float(x) for x in sys.argv[2].split(",")]:
    for r in same_seed_pairs(pipe, int(sys.argv[3]), g, 25):
        print(g, r, flush=True)
