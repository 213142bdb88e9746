"""A picture warped onto a quadrilateral (perspective, a corner pin) with a fill around it: the fill's
outline gives the homography back (``watermark.rectify``), and v5's test also runs on the frames warped
back, each test at half the budget (``BoundParams.rectify``)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from PIL import Image

from kinoseal.watermark import rectify as R
from kinoseal.watermark.result import WatermarkResult
from kinoseal.watermark.v3 import _halved

W, H = 320, 240


def _texture(seed: int, frames: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 220, size=(H // 8, W // 8), dtype=np.uint8)
    big = np.asarray(Image.fromarray(base).resize((W, H), Image.BILINEAR))
    return [np.clip(big.astype(int) + rng.integers(-20, 21, size=big.shape), 20, 235).astype(np.uint8)
            for _ in range(frames)]


def _warp(y: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The whole frame drawn onto the quadrilateral ``dst`` (PIL's convention, pixel edges), black around."""
    h, w = y.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    # PIL's PERSPECTIVE coefficients map output -> input
    Hm = R.homography(dst, src)
    coeffs = tuple(Hm.ravel()[:8])
    return np.asarray(Image.fromarray(y).transform((w, h), Image.PERSPECTIVE, coeffs, Image.BILINEAR, fillcolor=16))


DST = np.array([[30.0, 12.0], [300.0, 30.0], [280.0, 230.0], [8.0, 200.0]])


def test_the_outline_of_a_warped_picture_gives_its_corners_within_a_pixel():
    frames = [_warp(y, DST) for y in _texture(1)]
    fill, mean = R.outline_fill(frames)
    q = R.picture_quad(fill, mean)
    assert q is not None
    # array coordinates put pixel centres on integers: PIL's edge coordinates less half a pixel
    assert np.abs(q - (DST - 0.5)).max() < 0.5, q
    Hm = R.picture_homography(frames)
    assert Hm is not None and R.projective_part(Hm, W, H) > 0.05


def test_the_outline_survives_a_re_encode():
    """A warp is re-encoded after it: the codec rings along the edge and leaves noise in the fill."""
    from kinoseal.evaluation.watermark.attacks import apply_attack

    frames = [_warp(y, DST) for y in _texture(4, 12)]
    grey = np.full((H // 2, W // 2), 128, np.uint8)
    coded, _ = apply_attack("h264_crf30", [(y, grey, grey) for y in frames], 24.0)
    ys = [np.ascontiguousarray(f[0]) for f in coded]
    fill, mean = R.outline_fill(ys)
    q = R.picture_quad(fill, mean)
    assert q is not None and np.abs(q - (DST - 0.5)).max() < 1.0, q


def test_rectify_undoes_the_warp():
    y = _texture(2, 1)[0]
    warped = _warp(y, DST)
    Hm = R.homography(R.frame_corners(W, H), DST - 0.5)
    back = R.rectify([warped], Hm)[0]
    inner = (slice(10, -10), slice(10, -10))
    c = np.corrcoef(back[inner].ravel(), y[inner].astype(np.float32).ravel())[0, 1]
    assert c > 0.9, c
    # the map itself: the frame's corners go to the quadrilateral's
    pts = np.c_[R.frame_corners(W, H), np.ones(4)] @ Hm.T
    assert np.allclose(pts[:, :2] / pts[:, 2:], DST - 0.5)


def test_no_homography_without_a_projective_outline():
    frames = _texture(3)
    assert R.outline_fill(frames)[0] is None and R.picture_homography(frames) is None
    # letterbox: a rectangle, affine (the lattice search covers it)
    boxed = [np.pad(y[30:-30], ((30, 30), (0, 0)), constant_values=16) for y in frames]
    assert R.outline_fill(boxed)[0] is not None and R.picture_homography(boxed) is None
    # a parallelogram (a shear): affine too
    par = np.array([[20.0, 10.0], [300.0, 10.0], [320.0, 230.0], [40.0, 230.0]])
    sheared = [_warp(y, par) for y in frames]
    assert R.picture_quad(*R.outline_fill(sheared)) is not None and R.picture_homography(sheared) is None
    # a round vignette is not a quadrilateral
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (xx - W / 2) ** 2 + (yy - H / 2) ** 2 > 100 ** 2
    round_ = [np.where(disc, np.uint8(16), y) for y in frames]
    fill, mean = R.outline_fill(round_)
    assert fill is not None and R.picture_quad(fill, mean) is None


def test_two_tests_each_pay_half_the_budget():
    r = WatermarkResult("kinoseal-wm-v5", True, 10 ** -6.2, -6.2, 7, 0.8, 10, "k", [1.0], bound=True,
                        binding_log10_p=-6.2, marked_runs=[(0, 9)])
    h = _halved(r, math.log10(2.0))
    assert math.isclose(h.log10_p_value, -6.2 + math.log10(2.0))
    assert not h.bound and not h.detected and h.key_id is None and h.payload_id is None and h.marked_runs == []
    strong = _halved(replace_lp(r, -20.0), math.log10(2.0))
    assert strong.bound and strong.detected and strong.marked_runs == [(0, 9)]


def replace_lp(r: WatermarkResult, lp: float) -> WatermarkResult:
    from dataclasses import replace

    return replace(r, log10_p_value=lp, p_value=10 ** lp, binding_log10_p=lp)


@pytest.fixture(scope="module")
def carphone_marked():
    from kinoseal.evaluation.watermark.clips import load_clip
    from kinoseal.watermark import WatermarkKey, get_method

    clip = load_clip("carphone")
    key = WatermarkKey(hashlib.sha256(b"rectify-test").digest())
    emb = get_method("kinoseal-wm-v5").embedder(key, 777)
    return clip, key, [(emb.embed_luma(y), u, v) for y, u, v in clip.frames]


def _read(method, key, frames):
    from kinoseal.evaluation.watermark.attacks import frame_kind

    ex = method.extractor([key])
    for f in frames:
        ex.update(np.ascontiguousarray(f[0]), frame_kind(f))
    return ex.result(), ex


def test_a_perspective_warp_is_found_by_rectifying_and_missed_without(carphone_marked):
    """carphone (176x144) under the suite's perspective 0.3: the affine search finds no lattice (p ~ 1);
    warped back through the fill's outline it binds. Unmarked, the same warp binds nothing."""
    from kinoseal.evaluation.watermark.attacks import apply_attack
    from kinoseal.evaluation.watermark.suite import method_variant
    from kinoseal.watermark import get_method

    clip, key, marked = carphone_marked
    warped, _ = apply_attack("perspective_0.3", marked, clip.fps)
    r, ex = _read(get_method("kinoseal-wm-v5"), key, warped)
    assert r.bound and r.binding_log10_p < -15, r
    assert ex.debug["rectified"] is not None
    off, _ = _read(method_variant("kinoseal-wm-v5:rectify=False"), key, warped)
    assert not off.bound and off.binding_log10_p > -3, off
    plain, _ = apply_attack("perspective_0.3", clip.frames, clip.fps)
    null, _ = _read(get_method("kinoseal-wm-v5"), key, plain)
    assert not null.detected and null.log10_p_value >= math.log10(2.0) - 3.0


def test_an_unwarped_clip_pays_nothing_for_the_rectified_test(carphone_marked):
    """No fill, or an affine one: one test, the whole budget, the same p-value as without the option."""
    from kinoseal.evaluation.watermark.attacks import apply_attack
    from kinoseal.evaluation.watermark.suite import method_variant
    from kinoseal.watermark import get_method

    clip, key, marked = carphone_marked
    boxed, _ = apply_attack("letterbox_0.25", marked, clip.fps)
    for frames in (marked, boxed):
        on, ex = _read(get_method("kinoseal-wm-v5"), key, frames)
        off, _ = _read(method_variant("kinoseal-wm-v5:rectify=False"), key, frames)
        assert on.bound and on.binding_log10_p == off.binding_log10_p and "rectified" not in ex.debug
