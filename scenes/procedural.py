"""Procedural training data for the kino-tiny text-to-video model.

Every clip is a little scene on a torus (objects leaving one edge re-enter from
the opposite one, so motion can go on for as long as a long clip needs): one to
three flat-coloured shapes moving over a plain or textured background,
optionally with a camera pan. ``ClipSpec.caption()`` describes the clip in a
fixed small grammar, e.g.

    "a red ball bouncing from left to right on a blue background"
    "a green square rotating and a white ring sliding up on a striped black background, camera panning left"

Held-out combinations (for the quality benchmark) are chosen by a fixed,
deterministic rule, :func:`is_held_out`, and ``sample_spec`` never produces
them, so the benchmark measures compositional generalisation.

Rendering is vectorised numpy with analytic anti-aliasing (signed distance
fields), a batch of 16x32x32 clips renders in a few milliseconds.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np


# ----------------------------------------------------------------------------- vocabulary

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 225),
    "yellow": (245, 220, 30),
    "purple": (135, 45, 180),
    "orange": (250, 135, 20),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
}
SHAPES = ("ball", "square", "triangle", "ring")
MOTIONS = (
    "bouncing from left to right",
    "bouncing from right to left",
    "sliding left",
    "sliding right",
    "sliding up",
    "sliding down",
    "rotating",
    "growing",
    "shrinking",
)
TEXTURES = ("plain", "striped", "checkered")
PANS = ("left", "right")
# rotating a rotationally symmetric shape is invisible
ROTATION_INVARIANT = ("ball", "ring")

#: coarse motion class for each motion phrase (what the benchmark analyser scores)
MOTION_CLASS = {
    "bouncing from left to right": "right",
    "bouncing from right to left": "left",
    "sliding left": "left",
    "sliding right": "right",
    "sliding up": "up",
    "sliding down": "down",
    "rotating": "still",
    "growing": "grow",
    "shrinking": "shrink",
}

#: every word the caption grammar can produce (the tokenizer vocabulary is built from this)
CAPTION_WORDS: tuple[str, ...] = tuple(
    sorted(
        set(
            " ".join(
                [*COLOURS, *SHAPES, *MOTIONS, *TEXTURES[1:], *PANS, "a an and on background camera panning ,"]
            ).split()
        )
    )
)


def valid_combo(colour: str, shape: str, background: str, motion: str) -> bool:
    if colour == background:
        return False
    if motion == "rotating" and shape in ROTATION_INVARIANT:
        return False
    return colour in COLOURS and background in COLOURS and shape in SHAPES and motion in MOTIONS


def is_held_out(colour: str, shape: str, background: str, motion: str) -> bool:
    """Deterministic held-out rule: ~1/13 of all (colour, shape, background, motion) tuples."""
    key = f"{colour}|{shape}|{background}|{motion}".encode()
    return int.from_bytes(hashlib.sha1(key).digest()[:4], "big") % 13 == 0


def held_out_combos() -> list[tuple[str, str, str, str]]:
    """All held-out (colour, shape, background, motion) tuples, in a fixed order."""
    out = []
    for c in COLOURS:
        for s in SHAPES:
            for b in COLOURS:
                for m in MOTIONS:
                    if valid_combo(c, s, b, m) and is_held_out(c, s, b, m):
                        out.append((c, s, b, m))
    return out


# ----------------------------------------------------------------------------- specs


@dataclass
class ObjectSpec:
    colour: str
    shape: str
    motion: str
    # scene parameters in units of the frame size (1.0 = frame width), per frame where relevant
    x: float = 0.5
    y: float = 0.5
    radius: float = 0.18
    speed: float = 0.04  # fraction of frame per frame for slides/bounces
    angle: float = 0.0  # initial rotation (radians)
    spin: float = 0.3  # radians per frame when rotating
    bounce_height: float = 0.25
    bounce_period: float = 10.0
    phase: float = 0.0  # sawtooth phase in frames for growing/shrinking
    grow_period: float = 24.0

    def phrase(self) -> str:
        return f"{self.colour} {self.shape} {self.motion}"


@dataclass
class ClipSpec:
    objects: list[ObjectSpec]
    background: str
    texture: str = "plain"
    pan: str | None = None
    pan_speed: float = 0.03
    texture_period: float = 0.25  # stripe/check period as a fraction of the frame
    extra: dict = field(default_factory=dict)

    def caption(self) -> str:
        parts = [f"{_article(o.colour)} {o.phrase()}" for o in self.objects]
        tex = "" if self.texture == "plain" else f"{self.texture} "
        cap = " and ".join(parts) + f" on {_article(tex or self.background)} {tex}{self.background} background"
        if self.pan:
            cap += f", camera panning {self.pan}"
        return cap


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def make_spec(
    colour: str,
    shape: str,
    background: str,
    motion: str,
    rng: np.random.Generator | None = None,
    *,
    texture: str = "plain",
    pan: str | None = None,
) -> ClipSpec:
    """A single-object spec with randomised (or, without rng, canonical) scene parameters."""
    if rng is None:
        obj = ObjectSpec(colour, shape, motion)
        _canonical_start(obj)
        return ClipSpec([obj], background, texture, pan)
    obj = _random_object(rng, colour, shape, motion, n_objects=1)
    return ClipSpec([obj], background, texture, pan, pan_speed=float(rng.uniform(0.025, 0.05)))


def _canonical_start(obj: ObjectSpec) -> None:
    m = obj.motion
    if m in ("sliding right", "bouncing from left to right"):
        obj.x = 0.25
    elif m in ("sliding left", "bouncing from right to left"):
        obj.x = 0.75
    if m == "sliding up":
        obj.y = 0.75
    elif m == "sliding down":
        obj.y = 0.25
    if m.startswith("bouncing"):
        obj.y = 0.75
    obj.speed = 0.035


def _directed_start(obj: ObjectSpec, rng: np.random.Generator) -> None:
    """Start ``obj`` where its motion phrase says it comes from ("sliding right" on the left,
    "growing" small), with jitter.

    Why: with a uniformly random start, the average clip of "sliding left" and of "sliding
    right" is the same uniform blur, so a denoiser trained for the mean (MSE) has no reason to
    read the direction from the caption. kino-tiny 0.2 at step 15,000 ignored it entirely (x0
    error with the direction word flipped / right = 1.000 at every noise level).
    """
    m = obj.motion
    if m in ("sliding right", "bouncing from left to right"):
        obj.x = float(rng.uniform(0.1, 0.35))
    elif m in ("sliding left", "bouncing from right to left"):
        obj.x = float(rng.uniform(0.65, 0.9))
    elif m == "sliding up":
        obj.y = float(rng.uniform(0.65, 0.85))
    elif m == "sliding down":
        obj.y = float(rng.uniform(0.15, 0.35))
    elif m in ("growing", "shrinking"):
        obj.phase = float(rng.uniform(0.0, 3.0))  # the sawtooth starts its ramp, so 16 frames are monotonic


def _random_object(rng: np.random.Generator, colour: str, shape: str, motion: str, n_objects: int) -> ObjectSpec:
    r_lo, r_hi = (0.14, 0.2) if n_objects == 1 else (0.1, 0.14)
    return ObjectSpec(
        colour=colour,
        shape=shape,
        motion=motion,
        x=float(rng.uniform(0.0, 1.0)),
        y=float(rng.uniform(0.2, 0.8)),
        radius=float(rng.uniform(r_lo, r_hi)),
        speed=float(rng.uniform(0.03, 0.055)),
        angle=float(rng.uniform(0, 2 * math.pi)),
        spin=float(rng.uniform(0.2, 0.35)) * (1 if rng.random() < 0.5 else -1),
        bounce_height=float(rng.uniform(0.2, 0.35)),
        bounce_period=float(rng.uniform(8, 12)),
        phase=float(rng.uniform(0, 24)),
        grow_period=float(rng.uniform(20, 28)),
    )


def sample_spec(
    rng: np.random.Generator,
    *,
    max_objects: int = 3,
    textures: bool = True,
    pans: bool = True,
    allow_held_out: bool = False,
) -> ClipSpec:
    """Random training spec; never contains a held-out (colour, shape, background, motion) tuple."""
    background = str(rng.choice(list(COLOURS)))
    u = rng.random()
    n = 1 if (max_objects == 1 or u < 0.7) else (2 if (max_objects == 2 or u < 0.95) else 3)
    objects: list[ObjectSpec] = []
    used: set[tuple[str, str]] = set()
    while len(objects) < n:
        colour = str(rng.choice(list(COLOURS)))
        shape = str(rng.choice(SHAPES))
        motion = str(rng.choice(MOTIONS))
        if not valid_combo(colour, shape, background, motion) or (colour, shape) in used:
            continue
        if not allow_held_out and is_held_out(colour, shape, background, motion):
            continue
        used.add((colour, shape))
        objects.append(_random_object(rng, colour, shape, motion, n))
    if n > 1:  # spread objects vertically so they rarely overlap
        ys = np.linspace(0.25, 0.75, n) + rng.uniform(-0.05, 0.05, n)
        rng.shuffle(ys)
        for o, y in zip(objects, ys):
            o.y = float(y)
            if o.motion.startswith("bouncing"):
                o.bounce_height = min(o.bounce_height, 0.2)
    texture = "plain"
    if textures and rng.random() < 0.3:
        texture = str(rng.choice(TEXTURES[1:]))
    pan = None
    if pans and texture != "plain" and rng.random() < 0.5:
        pan = str(rng.choice(PANS))
    return ClipSpec(
        objects,
        background,
        texture,
        pan,
        pan_speed=float(rng.uniform(0.025, 0.05)),
        texture_period=float(rng.choice([0.25, 1 / 3, 0.5])),
    )


# ----------------------------------------------------------------------------- rendering


def _shade(rgb: np.ndarray) -> np.ndarray:
    """Second colour for textures: darker for light colours, lighter for dark ones."""
    lum = float(rgb @ np.array([0.299, 0.587, 0.114]))
    return rgb * 0.6 if lum > 110 else rgb * 0.6 + 255 * 0.4


def _object_track(o: ObjectSpec, t: np.ndarray):
    """Per-frame (x, y, radius scale, angle) for frames t (float array)."""
    x = np.full_like(t, o.x)
    y = np.full_like(t, o.y)
    scale = np.ones_like(t)
    angle = np.full_like(t, o.angle)
    m = o.motion
    if m in ("sliding right", "bouncing from left to right"):
        x = o.x + o.speed * t
    elif m in ("sliding left", "bouncing from right to left"):
        x = o.x - o.speed * t
    elif m == "sliding up":
        y = o.y - o.speed * t
    elif m == "sliding down":
        y = o.y + o.speed * t
    elif m == "rotating":
        angle = o.angle + o.spin * t
    elif m in ("growing", "shrinking"):
        frac = ((t + o.phase) % o.grow_period) / o.grow_period
        if m == "shrinking":
            frac = 1.0 - frac
        scale = 0.45 + 0.9 * frac
    if m.startswith("bouncing"):
        # ground at y = o.y (bottom of the hop), bounce up by bounce_height
        y = np.minimum(o.y, 0.85) - o.bounce_height * np.abs(np.sin(math.pi * t / o.bounce_period))
    return x, y, scale, angle


def _sdf(shape: str, px: np.ndarray, py: np.ndarray, r: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """Signed distance (pixels) to the shape centred at the origin; px/py/r/ang broadcast."""
    if shape == "ball":
        return np.sqrt(px * px + py * py) - r
    if shape == "ring":
        d = np.sqrt(px * px + py * py)
        return np.abs(d - r * 0.72) - r * 0.28
    c, s = np.cos(ang), np.sin(ang)
    qx = c * px + s * py
    qy = -s * px + c * py
    if shape == "square":
        h = r * 0.85
        dx = np.abs(qx) - h
        dy = np.abs(qy) - h
        outside = np.sqrt(np.maximum(dx, 0) ** 2 + np.maximum(dy, 0) ** 2)
        return outside + np.minimum(np.maximum(dx, dy), 0)
    if shape == "triangle":
        # equilateral triangle pointing up, circumradius r*1.15 (intersection of 3 half planes)
        R = r * 1.15
        d = None
        for k in range(3):
            a = -math.pi / 2 + k * 2 * math.pi / 3 + math.pi  # outward normals point away from vertices
            nx, ny = math.cos(a), math.sin(a)
            dk = qx * nx + qy * ny - R * 0.5
            d = dk if d is None else np.maximum(d, dk)
        return d
    raise ValueError(shape)


def _pan_dx(spec: ClipSpec, t: np.ndarray) -> np.ndarray:
    """How far the scene has moved right at frames t (a camera panning left moves it right)."""
    if spec.pan == "left":
        return spec.pan_speed * t
    if spec.pan == "right":
        return -spec.pan_speed * t
    return np.zeros_like(t)


def object_tracks(spec: ClipSpec, frames: int = 16, start: float = 0.0) -> np.ndarray:
    """Where :func:`render_clip` draws each object: [n_objects, frames, 3] of (x, y, radius) in
    fractions of the frame, camera pan included. x is not wrapped (the scene is a torus, the
    renderer wraps it); what the layout planner learns to predict (generate.layout)."""
    t = np.arange(frames, dtype=np.float64) + start
    out = np.empty((len(spec.objects), frames, 3))
    for i, o in enumerate(spec.objects):
        x, y, scale, _ = _object_track(o, t)
        out[i, :, 0] = x + _pan_dx(spec, t)
        out[i, :, 1] = y
        out[i, :, 2] = o.radius * scale
    return out


def render_clip(spec: ClipSpec, frames: int = 16, size: int = 32, rng: np.random.Generator | None = None,
                start: float = 0.0) -> np.ndarray:
    """Render ``spec`` to a uint8 array [T, H, W, 3]. ``start`` offsets time (in frames).

    ``rng`` is accepted for interface symmetry (rendering itself is deterministic).
    """
    return render_clip_with_coverage(spec, frames, size, start)[0]


def render_clip_with_coverage(spec: ClipSpec, frames: int = 16, size: int = 32,
                              start: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_clip` plus the objects' coverage [T, H, W] in [0, 1] (union over objects).

    Training uses the coverage to weight the loss toward the objects, which are small.
    """
    T, H = frames, size
    t = np.arange(T, dtype=np.float64) + start
    coords = (np.arange(H, dtype=np.float64) + 0.5) / H  # pixel centres in [0, 1)
    X = coords[None, None, :]  # [1,1,W]
    Y = coords[None, :, None]  # [1,H,1]
    pan_dx = _pan_dx(spec, t)
    pan_b = pan_dx[:, None, None]

    bg = np.array(COLOURS[spec.background], dtype=np.float64)
    img = np.empty((T, H, H, 3), dtype=np.float64)
    img[:] = bg
    union = np.zeros((T, H, H))
    if spec.texture != "plain":
        alt = _shade(bg)
        p = spec.texture_period
        u = ((X - pan_b) % p) / p < 0.5  # [T,1,W]
        if spec.texture == "striped":
            m = np.broadcast_to(u, (T, H, H))
        else:
            v = (Y % p) / p < 0.5
            m = u ^ v
        img[m] = alt

    for o in spec.objects:
        x, y, scale, ang = _object_track(o, t)
        x = x + pan_dx
        col = np.array(COLOURS[o.colour], dtype=np.float64)
        r = (o.radius * scale * H)[:, None, None]
        a = ang[:, None, None]
        cov = np.zeros((T, H, H))
        vertical = o.motion in ("sliding up", "sliding down")
        yy = (y % 1.0) if vertical else y
        for ox in (-1.0, 0.0, 1.0):  # torus wrap horizontally (and vertically for vertical slides)
            for oy in ((-1.0, 0.0, 1.0) if vertical else (0.0,)):
                cx = ((x % 1.0) + ox)[:, None, None]
                cy = (yy + oy)[:, None, None]
                px = (X - cx) * H
                py = (Y - cy) * H
                d = _sdf(o.shape, px, py, r, a)
                cov = np.maximum(cov, np.clip(0.5 - d, 0.0, 1.0))
        img = img * (1 - cov[..., None]) + col * cov[..., None]
        union = np.maximum(union, cov)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), union


def layout_map(tracks: np.ndarray, cells: int) -> np.ndarray:
    """Object discs [T, cells, cells] in [0, 1] (union over objects) for tracks [n, T, 3].

    Positions wrap around the frame, as the training scenes do (a torus); edges are
    anti-aliased over one cell so the map moves smoothly with sub-cell motion.
    """
    tracks = np.asarray(tracks, dtype=np.float64)
    T = tracks.shape[1] if tracks.ndim == 3 else 0
    out = np.zeros((T, cells, cells), np.float32)
    centres = (np.arange(cells) + 0.5) / cells
    for x, y, r in (tracks[i].T for i in range(tracks.shape[0])):
        dx = (centres[None, None, :] - (x % 1.0)[:, None, None] + 0.5) % 1.0 - 0.5
        dy = (centres[None, :, None] - (y % 1.0)[:, None, None] + 0.5) % 1.0 - 0.5
        d = (np.sqrt(dx * dx + dy * dy) - np.abs(r)[:, None, None]) * cells
        out = np.maximum(out, np.clip(0.5 - d, 0.0, 1.0).astype(np.float32))
    return out


def _render_training_clip(spec: ClipSpec, rng: np.random.Generator, frames: int, size: int,
                          p_directed: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render ``spec`` from a random time on the torus or, with probability ``p_directed``,
    from time 0 with its objects where their motion comes from. Returns (clip, coverage,
    object tracks)."""
    start = float(rng.uniform(0, 40))
    if p_directed > 0 and rng.random() < p_directed:
        for o in spec.objects:
            _directed_start(o, rng)
        start = 0.0
    img, cov = render_clip_with_coverage(spec, frames, size, start=start)
    return img, cov, object_tracks(spec, frames, start)


def _per_clip(p: "float | Sequence[float]", i: int) -> float:
    return float(p[i]) if np.ndim(p) else float(p)


def caption_batch(rng: np.random.Generator, n: int, frames: int = 16, size: int = 32, with_coverage: bool = False,
                  p_directed: "float | Sequence[float]" = 0.0, layout_cells: int = 0, **kw):
    """n random clips [n,T,H,W,3] uint8 and their captions (random start time on the torus).

    With probability ``p_directed`` a clip starts at time 0 with its objects where their
    motion says they come from (:func:`_directed_start`); the others start anywhere on the
    torus, as chunk continuations of long clips do. With ``with_coverage`` also the objects'
    coverage [n,T,H,W] (same clips: the random draws do not depend on it). With the default
    ``p_directed=0`` the random draws are those of earlier versions. ``p_directed`` may also be
    one probability per clip (``training.generator.train --directed-unless-context``: 1 for clips without
    known frames, 0 for those with). With ``layout_cells`` also the objects' layout maps
    [n,T,cells,cells] (:func:`layout_map` of their true tracks).
    """
    clips, caps, covs, layouts = [], [], [], []
    for i in range(n):
        spec = sample_spec(rng, **kw)
        img, cov, tracks = _render_training_clip(spec, rng, frames, size, _per_clip(p_directed, i))
        clips.append(img)
        covs.append(cov)
        caps.append(spec.caption())
        if layout_cells:
            layouts.append(layout_map(tracks, layout_cells))
    out = (np.stack(clips), caps)
    if with_coverage:
        out += (np.stack(covs).astype(np.float32),)
    if layout_cells:
        out += (np.stack(layouts),)
    return out


#: motion phrases and their left-right mirror images
MIRRORED_MOTION = {
    "bouncing from left to right": "bouncing from right to left",
    "bouncing from right to left": "bouncing from left to right",
    "sliding left": "sliding right",
    "sliding right": "sliding left",
}
#: motion phrases and what they look like played backwards ("rotating" spins the other way,
#: which no caption says)
REVERSED_MOTION = {**MIRRORED_MOTION, "sliding up": "sliding down", "sliding down": "sliding up",
                   "growing": "shrinking", "shrinking": "growing"}
#: the two ways to make a clip's twin, and the motions each changes
TWINS = {"mirror": MIRRORED_MOTION, "reverse": REVERSED_MOTION}
_OTHER_PAN = {"left": "right", "right": "left"}


def twin_spec(spec: ClipSpec, twin: str) -> ClipSpec | None:
    """The spec that describes ``spec``'s rendering flipped left-right (``twin="mirror"``) or
    played backwards (``"reverse"``): the motions of :data:`TWINS` and the pan change sides.
    None when the caption would not change (nothing in it has a direction) or the twin would
    show a held-out (colour, shape, background, motion) tuple.
    """
    swap = TWINS[twin]
    if spec.pan is None and not any(o.motion in swap for o in spec.objects):
        return None
    objects = [replace(o, motion=swap.get(o.motion, o.motion)) for o in spec.objects]
    if any(is_held_out(o.colour, o.shape, spec.background, o.motion) for o in objects):
        return None
    return replace(spec, objects=objects, pan=_OTHER_PAN.get(spec.pan) if spec.pan else None)


def twin_batch(rng: np.random.Generator, pairs: int, twin: str = "mirror", frames: int = 16, size: int = 32,
               p_directed: "float | Sequence[float]" = 0.0, layout_cells: int = 0, **kw):
    """``pairs`` clips whose caption says a direction, each followed by its twin (flipped
    left-right or played backwards, :func:`twin_spec`) with the twin's caption: clips
    [2*pairs,T,H,W,3] uint8, captions, coverage [2*pairs,T,H,W] (and, with ``layout_cells``,
    layout maps [2*pairs,T,cells,cells], flipped with their clips).

    Why: trained with the same noise and noise level, the two clips of a pair start from
    nearly the same input at high noise, and only the caption tells which way things move.
    kino-tiny 0.3 drew the same trajectory for "sliding left" and "sliding right" from one
    seed: the noise, not the prompt, chose the side.
    """
    flip = (slice(None), slice(None), slice(None, None, -1)) if twin == "mirror" else (slice(None, None, -1),)
    clips, caps, covs, layouts = [], [], [], []
    while len(caps) < 2 * pairs:
        spec = sample_spec(rng, **kw)
        other = twin_spec(spec, twin)
        if other is None:
            continue
        img, cov, tracks = _render_training_clip(spec, rng, frames, size, _per_clip(p_directed, len(caps) // 2))
        clips += [img, img[flip]]
        covs += [cov, cov[flip]]
        caps += [spec.caption(), other.caption()]
        if layout_cells:
            lay = layout_map(tracks, layout_cells)
            layouts += [lay, lay[flip]]
    out = np.ascontiguousarray(np.stack(clips)), caps, np.ascontiguousarray(np.stack(covs)).astype(np.float32)
    if layout_cells:
        out += (np.ascontiguousarray(np.stack(layouts)),)
    return out


def planner_batch(rng: np.random.Generator, n: int, frames: int = 16, max_objects: int = 3, **kw):
    """Captions and their objects' true tracks for training the layout planner: every clip
    starts at time 0 with its objects where their motion comes from (a generated clip's first
    chunk is the start of what its caption says). Returns captions, tracks [n, max_objects,
    frames, 3] (zeros for absent objects) and which slots hold an object [n, max_objects]."""
    caps = []
    tracks = np.zeros((n, max_objects, frames, 3), np.float32)
    exists = np.zeros((n, max_objects), np.float32)
    for i in range(n):
        spec = sample_spec(rng, max_objects=max_objects, **kw)
        for o in spec.objects:
            _directed_start(o, rng)
        k = len(spec.objects)
        tracks[i, :k] = object_tracks(spec, frames, 0.0)
        exists[i, :k] = 1.0
        caps.append(spec.caption())
    return caps, tracks, exists



#: the attributes :func:`caption_attributes` marks, in order (motions, object colours, shapes,
#: background colours, textures, pans)
ATTRIBUTE_NAMES: tuple[str, ...] = (
    *MOTIONS, *(f"object {c}" for c in COLOURS), *SHAPES, *(f"background {c}" for c in COLOURS),
    *TEXTURES[1:], *(f"panning {p}" for p in PANS),
)

_ATTRIBUTE_INDEX = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}


def caption_attributes(caption: str) -> np.ndarray:
    """Multi-hot [len(ATTRIBUTE_NAMES)] float32 of what a caption of :meth:`ClipSpec.caption` says.

    Training uses it as an auxiliary target for the text encoder's pooled state, so no word
    of the grammar (e.g. a motion's direction) can be averaged away. An empty or foreign
    caption gives all zeros.
    """
    out = np.zeros(len(ATTRIBUTE_NAMES), np.float32)
    index = _ATTRIBUTE_INDEX
    head, sep, tail = caption.partition(" on ")
    if not sep:
        return out
    for part in head.split(" and "):
        words = part.split()
        if len(words) < 4:
            continue
        colour, shape, motion = words[1], words[2], " ".join(words[3:])
        for key in (motion, f"object {colour}", shape):
            if key in index:
                out[index[key]] = 1.0
    scene, _, pan = tail.partition(", camera panning ")
    words = scene.split()
    if len(words) >= 2 and f"background {words[-2]}" in index:
        out[index[f"background {words[-2]}"]] = 1.0
    for word in words:
        if word in TEXTURES[1:]:
            out[index[word]] = 1.0
    if f"panning {pan}" in index:
        out[index[f"panning {pan}"]] = 1.0
    return out


def all_training_words() -> Iterable[str]:
    return CAPTION_WORDS
