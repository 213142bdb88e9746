"""Each attack of the robustness suite really does to the video what its name says."""

from __future__ import annotations

import numpy as np
import pytest

from kinoseal.evaluation.watermark.attacks import _even, apply_attack, get_attack, list_attacks, list_families
from kinoseal.evaluation.watermark.clips import load_clip
from kinoseal.evaluation.watermark.metrics import psnr


@pytest.fixture(scope="module")
def clip():
    """40 frames (1.33 s) of real camera footage: carphone, 176x144 at 29.97 fps."""
    c = load_clip("carphone", 40)
    return c.frames, c.fps


@pytest.fixture(scope="module")
def short(clip):
    frames, fps = clip
    return frames[:12], fps


def _y_psnr(a, b) -> float:
    return float(np.mean([psnr(x[0], y[0]) for x, y in zip(a, b)]))


def _shape(frames):
    return frames[0][0].shape


def _check_i420(frames):
    for y, u, v in frames:
        h, w = y.shape
        assert h % 2 == 0 and w % 2 == 0
        assert u.shape == v.shape == (h // 2, w // 2)
        assert y.dtype == u.dtype == v.dtype == np.uint8


def test_registry_has_the_issue_list():
    names = set(list_attacks())
    for n in ["none", "h264_crf23", "h264_crf30", "h264_crf40", "h265_crf23", "h265_crf30", "h265_crf40",
              "vp9_crf35", "av1_crf35", "resize_0.55", "resize_0.71", "crop_0.55", "crop_0.71", "rotate_5",
              "rotate_10", "hflip", "perspective_0.1", "perspective_0.3", "brightness_0.5", "brightness_1.5",
              "contrast_0.5", "contrast_1.5", "saturation_0.5", "saturation_1.5", "hue_0.25", "blur_1.0", "noise_5",
              "jpeg_40", "fps_half", "drop_0.2", "temporal_crop_1s", "letterbox_0.25", "pillarbox_0.25", "reshare",
              "screen_720p"]:
        assert n in names, n
    assert list_attacks("h264") == ["h264_crf23", "h264_crf30", "h264_crf40"]
    assert list_attacks("crop_*") == ["crop_0.55", "crop_0.71"]
    assert "rotate" in list_families()
    with pytest.raises(KeyError):
        get_attack("nope")


def test_attacks_are_pure_and_keep_i420(short):
    frames, fps = short
    before = [tuple(p.copy() for p in f) for f in frames]
    for name in list_attacks():
        if get_attack(name).codec:
            continue
        out, _ = apply_attack(name, frames, fps)
        _check_i420(out)
    for a, b in zip(before, frames):
        for p, q in zip(a, b):
            assert np.array_equal(p, q), "an attack modified its input"


def test_odd_sizes_rejected():
    y = np.zeros((15, 16), np.uint8)
    with pytest.raises(ValueError):
        apply_attack("hflip", [(y, np.zeros((7, 8), np.uint8), np.zeros((7, 8), np.uint8))], 25)


@pytest.mark.parametrize("s", [0.55, 0.71])
def test_crop_is_centre_crop(short, s):
    frames, fps = short
    h, w = _shape(frames)
    out, f2 = apply_attack(f"crop_{s}", frames, fps)
    ch, cw = _even(h * s), _even(w * s)
    assert _shape(out) == (ch, cw) and abs(ch - round(h * s)) <= 1 and abs(cw - round(w * s)) <= 1
    t, l = ((h - ch) // 2) & ~1, ((w - cw) // 2) & ~1
    assert np.array_equal(out[3][0], frames[3][0][t : t + ch, l : l + cw])
    assert np.array_equal(out[3][1], frames[3][1][t // 2 : (t + ch) // 2, l // 2 : (l + cw) // 2])
    assert f2 == fps and len(out) == len(frames)


@pytest.mark.parametrize("s", [0.55, 0.71])
def test_resize_changes_size_keeps_picture(short, s):
    frames, fps = short
    h, w = _shape(frames)
    out, _ = apply_attack(f"resize_{s}", frames, fps)
    assert _shape(out) == (_even(h * s), _even(w * s))
    assert abs(float(out[0][0].mean()) - float(frames[0][0].mean())) < 2.0


def test_hflip_is_fliplr(short):
    frames, fps = short
    out, _ = apply_attack("hflip", frames, fps)
    for a, b in zip(frames, out):
        for p, q in zip(a, b):
            assert np.array_equal(q, np.fliplr(p))


@pytest.mark.parametrize("deg", [5, 10])
def test_rotate_same_canvas_black_corners(short, deg):
    frames, fps = short
    out, _ = apply_attack(f"rotate_{deg}", frames, fps)
    y0, y1 = frames[0][0], out[0][0]
    assert y1.shape == y0.shape
    assert y1[0, 0] == 16 and y1[-1, -1] == 16  # corners rotated out: limited-range black
    h, w = y0.shape
    assert abs(int(y1[h // 2, w // 2]) - int(y0[h // 2, w // 2])) <= 12  # the centre stays put
    assert _y_psnr(frames, out) < 25
    ten = apply_attack("rotate_10", frames, fps)[0]
    if deg == 5:
        assert np.sum(ten[0][0] == 16) > np.sum(y1 == 16)


def test_perspective_grows_with_strength(short):
    frames, fps = short
    black = []
    for d in (0.1, 0.2, 0.3):
        out, _ = apply_attack(f"perspective_{d}", frames, fps)
        assert _shape(out) == _shape(frames)
        assert out[0][0][0, 0] == 16
        black.append(int(np.sum(out[0][0] == 16)))
    assert black[0] < black[1] < black[2]


def test_codecs_lose_more_at_higher_crf(short):
    frames, fps = short
    p = {}
    for n in ("h264_crf23", "h264_crf40", "h265_crf23", "h265_crf40"):
        out, f2 = apply_attack(n, frames, fps)
        assert len(out) == len(frames) and _shape(out) == _shape(frames) and f2 == fps
        p[n] = _y_psnr(frames, out)
        assert 20 < p[n] < 50, (n, p[n])
    assert p["h264_crf40"] < p["h264_crf23"] - 3
    assert p["h265_crf40"] < p["h265_crf23"] - 3


@pytest.mark.parametrize("name", ["vp9_crf35", "vp9_crf50", "av1_crf35", "av1_crf50"])
def test_vp9_av1_round_trip(short, name):
    frames, fps = short
    out, _ = apply_attack(name, frames, fps)
    assert len(out) == len(frames) and _shape(out) == _shape(frames)
    assert 20 < _y_psnr(frames, out) < 50


def test_h264_is_deterministic(short):
    frames, fps = short
    a, _ = apply_attack("h264_crf30", frames, fps)
    apply_attack("av1_crf35", frames, fps)  # once changed x264's multi-threaded output in the same process
    b, _ = apply_attack("h264_crf30", frames, fps)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))


def test_brightness_contrast_saturation(short):
    frames, fps = short
    y = np.stack([f[0] for f in frames]).astype(np.float64)
    c = np.stack([np.stack(f[1:]) for f in frames]).astype(np.float64)
    get = lambda n: apply_attack(n, frames, fps)[0]  # noqa: E731
    yb = np.stack([f[0] for f in get("brightness_1.5")]).astype(np.float64)
    yd = np.stack([f[0] for f in get("brightness_0.5")]).astype(np.float64)
    assert yb.mean() > y.mean() + 15 and yd.mean() < y.mean() - 15
    yc = np.stack([f[0] for f in get("contrast_1.5")]).astype(np.float64)
    yl = np.stack([f[0] for f in get("contrast_0.5")]).astype(np.float64)
    assert yc.std() > 1.2 * y.std() and yl.std() < 0.7 * y.std()
    sat = lambda fr: np.abs(np.stack([np.stack(f[1:]) for f in fr]).astype(np.float64) - 128).mean()  # noqa: E731
    s0 = np.abs(c - 128).mean()
    assert sat(get("saturation_1.5")) > 1.3 * s0 and sat(get("saturation_0.5")) < 0.7 * s0
    hue = get("hue_0.25")
    assert np.abs(np.stack([np.stack(f[1:]) for f in hue]).astype(np.float64) - c).mean() > 3
    assert np.array_equal(np.stack([f[0] for f in get("none")]), y.astype(np.uint8))


def test_blur_noise_jpeg(short):
    frames, fps = short
    lap = lambda a: float(np.abs(np.diff(a.astype(np.float64), 2, axis=1)).mean())  # noqa: E731
    b1 = apply_attack("blur_1.0", frames, fps)[0]
    b2 = apply_attack("blur_2.0", frames, fps)[0]
    assert lap(b2[0][0]) < lap(b1[0][0]) < 0.8 * lap(frames[0][0])
    n1 = apply_attack("noise_5", frames, fps)[0]
    n2 = apply_attack("noise_5", frames, fps)[0]
    d = np.concatenate([(a[0].astype(np.float64) - b[0]).ravel() for a, b in zip(n1, frames)])
    assert 4.3 < d.std() < 5.3 and abs(d.mean()) < 0.3
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(n1, n2))
    j = apply_attack("jpeg_40", frames, fps)[0]
    assert 25 < _y_psnr(frames, j) < 45


def test_frame_rate_halving(clip):
    frames, fps = clip
    out, f2 = apply_attack("fps_half", frames, fps)
    assert len(out) == (len(frames) + 1) // 2 and f2 == pytest.approx(fps / 2)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(out, frames[::2]))


def test_drop_20_percent(clip):
    frames, fps = clip
    out, f2 = apply_attack("drop_0.2", frames, fps)
    again, _ = apply_attack("drop_0.2", frames, fps)
    assert len(out) == len(frames) - round(0.2 * len(frames)) and f2 == fps
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(out, again))  # seeded
    # survivors are input frames, in order
    idx = [next(i for i, f in enumerate(frames) if np.array_equal(f[0], o[0])) for o in out]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)


def test_temporal_crop_one_second_from_the_middle(clip):
    frames, fps = clip
    out, f2 = apply_attack("temporal_crop_1s", frames, fps)
    k = round(fps)
    assert len(out) == k and f2 == fps
    start = (len(frames) - k) // 2
    assert np.array_equal(out[0][0], frames[start][0]) and np.array_equal(out[-1][0], frames[start + k - 1][0])


def test_letterbox_pillarbox(short):
    frames, fps = short
    h, w = _shape(frames)
    lb, _ = apply_attack("letterbox_0.25", frames, fps)
    pb, _ = apply_attack("pillarbox_0.25", frames, fps)
    assert _shape(lb) == (h + _even(0.25 * h), w) and _shape(pb) == (h, w + _even(0.25 * w))
    _check_i420(lb + pb)
    assert (lb[0][0][:4] == 16).all() and (lb[0][0][-4:] == 16).all() and (lb[0][1][:2] == 128).all()
    assert (pb[0][0][:, :4] == 16).all() and (pb[0][0][:, -4:] == 16).all()
    t = (_even(0.25 * h) // 2) & ~1
    assert np.array_equal(lb[0][0][t : t + h], frames[0][0])


def test_reshare_chain(short):
    frames, fps = short
    h, w = _shape(frames)
    out, _ = apply_attack("reshare", frames, fps)
    assert _shape(out) == (_even(_even(0.9 * h) * 0.75), _even(_even(0.9 * w) * 0.75))
    assert np.mean([f[0].mean() for f in out]) > np.mean([f[0].mean() for f in frames]) + 5  # brightness 1.2


def test_screen_recording_rescale(short):
    frames, fps = short
    out, _ = apply_attack("screen_720p", frames, fps)
    assert _shape(out) == _shape(frames) and len(out) == len(frames)
    assert 25 < _y_psnr(frames, out) < 50


def test_forgery_attacks_paint_the_estimate_on_another_clip(short):
    """copy_* returns an unrelated real clip carrying the clip's estimated mark; removal_* the clip minus it."""
    frames, fps = short
    for n in ["copy_g1", "copy_g2", "copy_g4", "copy_1.5x_crf18_g2", "removal_g1", "removal_g4"]:
        assert n in list_attacks()
    out, _ = apply_attack("copy_g2", frames, fps)
    _check_i420(out)
    assert _shape(out) == _shape(frames) and len(out) == len(frames)
    assert _y_psnr(frames, out) < 20  # another scene, not the marked clip
    big, _ = apply_attack("copy_1.5x_crf18_g2", frames, fps)
    assert _shape(big) == (_even(_shape(frames)[0] * 1.5), _even(_shape(frames)[1] * 1.5))
    r1, _ = apply_attack("removal_g1", frames, fps)
    r4, _ = apply_attack("removal_g4", frames, fps)
    assert _y_psnr(frames, r4) < _y_psnr(frames, r1) < 50  # the estimate carries host detail too


def test_the_platform_encode_puts_a_key_frame_at_least_every_two_seconds():
    from kinoseal.evaluation.watermark.attacks import frame_kind
    from kinoseal.evaluation.watermark.clips import load_clip

    clip = load_clip("carphone", 120)  # 4 s at 29.97 fps
    out, fps = apply_attack("h264_crf40_gop2s", clip.frames, clip.fps)
    intra = [i for i, f in enumerate(out) if frame_kind(f) == "I"]
    assert len(out) == 120 and intra[0] == 0
    assert np.diff(intra + [len(out)]).max() <= round(2 * fps)  # no stretch of 2 s without one
    assert len(intra) >= 2


def test_the_perspective_draw_can_be_undone_by_its_inverse():
    """``perspective_corners`` is the attack's own draw: warping the attacked picture back with the
    inverse homography (what ``bench.wm_search_oracle``'s oracle does) recovers the picture inside the
    quadrilateral, up to two bilinear resamplings; the wrong inverse does not."""
    from PIL import Image

    from kinoseal.evaluation.watermark.attacks import apply_attack, perspective_coeffs, perspective_corners

    h, w = 144, 176
    yy, xx = np.mgrid[0:h, 0:w]
    y = (60 + 0.6 * xx + 0.4 * yy + 20 * np.sin(xx / 9.0) * np.cos(yy / 7.0)).astype(np.uint8)
    u = v = np.full((h // 2, w // 2), 128, np.uint8)
    (attacked, _, _), = apply_attack("perspective_0.3", [(y, u, v)], 25.0)[0]
    src, dst = perspective_corners(0.3, w, h)

    def back(a, b):
        return np.asarray(Image.fromarray(attacked).transform((w, h), Image.PERSPECTIVE, perspective_coeffs(a, b),
                                                              Image.BILINEAR, fillcolor=16)).astype(float)

    inner = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    err = np.abs(back(dst, src)[inner] - y[inner]).mean()
    assert err < 3.0, err
    assert np.abs(back(src, dst)[inner] - y[inner]).mean() > 3 * err  # the forward map again is not the inverse
