"""Frames weighed by their coding type in the watermark test (``watermark.v2.frame_weights``).

After a heavy re-encode the few I-frames carry most of the mark and the many B-frames least; the test
weighs them so (a key-independent rule, so the p-value stays exact). The decoder's picture types must
reach the test in the verifier's decode and in the robustness suite's codec attacks alike.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from kinoseal.evaluation.watermark.attacks import apply_attack, frame_kind
from kinoseal.evaluation.watermark.clips import load_clip
from kinoseal.evaluation.watermark.forgery import fit_clip
from kinoseal.mediaio.stream import stream_frames
from kinoseal.watermark import WatermarkKey, get_method
from kinoseal.watermark.v2 import frame_weights

KEY = WatermarkKey(bytes(range(1, 33)))
V5 = get_method("kinoseal-wm-v5")


def test_frame_weights_follow_the_coding_types_and_can_be_turned_off():
    kinds = ["I"] + ["P"] * 16 + ["B"] * 8 + [None]
    w = frame_weights(kinds, 0.5)
    assert w[0] == pytest.approx(4.0)  # sqrt(16 P / 1 I)
    assert set(w[1:17]) == {1.0} and set(w[17:25]) == {0.5} and w[25] == 1.0
    assert frame_weights(kinds, 0.0) == [1.0] * len(kinds)
    # no P-frame (intra-only) or no I-frame: I-frames are not raised; frames never encoded weigh alike
    assert frame_weights(["I"] * 5, 0.5) == [1.0] * 5
    assert frame_weights(["P", "B", "P"], 0.5) == [1.0, 0.5, 1.0]
    assert frame_weights([None] * 4, 0.5) == [1.0] * 4
    assert frame_weights(["I", "P"], 0.5) == [1.0, 1.0]  # as many I as P: no raise


def read(method, frames, kinds):
    ex = method.extractor([KEY])
    for (y, _, _), k in zip(frames, kinds):
        ex.update(y, k)
    return ex.result()


@pytest.fixture(scope="module")
def mixed():
    """Two marked frames among 30 unmarked ones of the same real scene: the marked ones called I-frames,
    the rest P-frames, as a heavy encode leaves them (the mark strong in the I-frames only)."""
    frames = fit_clip(load_clip("bikes", 32).frames, 320, 240)
    emb = V5.embedder(KEY, 0x1234)
    marked = [(emb.embed_luma(y), u, v) if i in (0, 16) else (y, u, v) for i, (y, u, v) in enumerate(frames)]
    kinds = ["I" if i in (0, 16) else "P" for i in range(len(frames))]
    return marked, kinds


def test_i_frames_that_carry_the_mark_weigh_more(mixed):
    frames, kinds = mixed
    weighed = read(V5, frames, kinds)
    flat = read(dataclasses.replace(V5, params=dataclasses.replace(V5.params, b_frame_weight=0.0)), frames, kinds)
    # sqrt(30 / 2) ~ 3.9 times the weight on the two marked frames: a far stronger test (measured 10^-130 against 10^-84)
    assert weighed.binding_log10_p < flat.binding_log10_p - 20, (weighed.binding_log10_p, flat.binding_log10_p)
    assert weighed.bound
    # unknown types (frames never encoded): every frame alike, exactly the unweighted test
    unknown = read(V5, frames, [None] * len(frames))
    assert unknown.log10_p_value == flat.log10_p_value and unknown.binding_log10_p == flat.binding_log10_p


def test_weighing_keeps_unmarked_frames_unmarked():
    """The rule never looks at the key: on unmarked frames, however typed, no test comes near 1e-6."""
    frames = fit_clip(load_clip("carphone", 32).frames, 320, 240)
    for kinds in (["I"] + ["P"] * 31, ["I", "B", "B", "P"] * 8, ["I"] * 2 + ["B"] * 30):
        r = read(V5, frames, kinds)
        assert not r.detected and r.log10_p_value > -4 and (r.binding_log10_p or 0.0) > -4, (kinds[:4], r)


def test_coding_types_reach_the_test_from_a_real_decode(tmp_path):
    """H.264 (libx264 defaults: B-frames) through the codec attack and through the verifier's decode."""
    clip = load_clip("bikes", 50)
    frames, _ = apply_attack("h264_crf30", clip.frames, clip.fps)
    kinds = [frame_kind(f) for f in frames]
    assert kinds[0] == "I" and {"P", "B"} <= set(kinds), kinds
    from kinoseal.mediaio.writer import H264Writer
    from kinoseal.config import Limits

    path = tmp_path / "c.mp4"
    h, w = clip.frames[0][0].shape
    with H264Writer(path, width=w, height=h, fps=25, crf=23, preset="medium") as wr:
        for f in clip.frames:
            wr.write_i420(*f)

    class Kinds:
        def __init__(self):
            self.kinds = []

        def start(self, info):
            pass

        def wants(self, index, time, kind=None):
            return True

        def needs_every_frame(self, a, b):
            return True

        def feed(self, frame):
            self.kinds.append(frame.kind)

        def finished(self):
            return False

    got = Kinds()
    stream_frames(path, [got], Limits(), allow_skip=False)
    assert got.kinds[0] == "I" and len(got.kinds) == 50 and set(got.kinds) <= {"I", "P", "B"}
    assert math.isclose(sum(k == "I" for k in got.kinds), 1, abs_tol=2)

    # the verifier's watermark scan hands each extractor the type with the frame
    from kinoseal.watermark.scan import WatermarkScan

    class Recorder:
        def __init__(self):
            self.kinds = []

        def update(self, y, kind=None):
            self.kinds.append(kind)

    rec = Recorder()
    scan = WatermarkScan([rec], 96)
    stream_frames(path, [scan], Limits(), allow_skip=False)
    assert rec.kinds == got.kinds


def _scan_sample(kinds: list[str], fps: float = 25.0, intra: bool = True) -> list[int]:
    from types import SimpleNamespace

    from kinoseal.watermark.scan import WatermarkScan

    scan = WatermarkScan([], 96)
    if not intra:
        scan.intra_frames = 0
    scan.start(SimpleNamespace(duration_s=len(kinds) / fps, frame_count=len(kinds)))
    return [i for i, k in enumerate(kinds) if scan.wants(i, i / fps, k)]


def test_the_watermark_sample_takes_the_i_frames_its_even_sample_passes_over():
    kinds = ["P"] * 250
    intra = [1, 47, 101, 170, 224, 248]
    for i in intra:
        kinds[i] = "I"
    even = _scan_sample(["P"] * 250)
    assert set(_scan_sample(kinds)) == set(even) | set(intra)  # the even sample as before, and every I-frame
    assert not set(intra) <= set(_scan_sample(kinds, intra=False))  # the even sample alone misses some

    # a clip of I-frames alone: the even sample plus at most 96 // 8 more, spread over the clip
    every = _scan_sample(["I"] * 250)
    extra = sorted(set(every) - set(even))
    assert len(every) <= len(even) + 12 and len(extra) >= 10
    assert extra[-1] - extra[0] >= 200


def test_the_bench_reads_an_encoded_clip_as_the_verifier_decodes_it(tmp_path):
    from kinoseal.config import Limits
    from kinoseal.evaluation.watermark.attacks import decode_planes, encode_planes, frame_reference
    from kinoseal.evaluation.watermark.reading import verifier_sample
    from kinoseal.verify.verifier import skips_nonreference
    from kinoseal.watermark.scan import WatermarkScan

    rng = np.random.default_rng(3)
    base = rng.integers(40, 200, (72, 96)).astype(np.float64)
    grey = np.full((36, 48), 128, np.uint8)
    frames = []
    for t in range(210):  # more than twice the sample of 96: the verifier skips non-reference frames
        y = np.roll(base, t, axis=1) + rng.normal(0, 2, base.shape)
        frames.append((np.clip(y, 0, 255).astype(np.uint8), grey, grey))
    # key frames every 45 frames: off the even sample's grid, so only the I-frame rule takes some of them
    data = encode_planes(frames, 25.0, "libx264", {"crf": "30", "preset": "medium", "threads": "1",
                                                   "x264-params": "asm=0:keyint=45:min-keyint=45:scenecut=0"})
    coded = decode_planes(data)
    intra = [i for i, f in enumerate(coded) if frame_kind(f) == "I"]
    assert intra == [0, 45, 90, 135, 180]
    assert sum(frame_reference(f) is False for f in coded) > 50

    path = tmp_path / "c.mp4"
    path.write_bytes(data)

    class Recorder:
        def update(self, y, kind=None):
            pass

    scan = WatermarkScan([Recorder()], 96)
    stream_frames(path, [scan], Limits(), allow_skip=lambda i: skips_nonreference(i.frame_count, 96))
    decoded = [int(round(t * 25.0)) for t in scan.times]
    emulated = verifier_sample(coded, 25.0, 96)
    assert decoded == emulated
    assert set(intra) <= set(emulated)
    assert all(frame_reference(coded[i]) for i in emulated)
    assert not set(intra) <= set(verifier_sample(coded, 25.0, 96, intra=False))
