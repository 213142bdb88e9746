"""The pure parts of bench.detector_backbone_probe: the ONNX graph edit and the pooled feature vector."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bench import detector_backbone_probe as probe


@pytest.fixture(scope="module")
def session():
    missing = [m for m in ("onnx", "onnxruntime", probe.PACKAGE) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (the backbone: {probe.PIP})")
    return probe.backbone_session(threads=2)


def test_graph_edit_exposes_the_four_stages(session):
    sess, outs = session
    assert len(outs) == 4
    assert [o.name for o in sess.get_outputs()] == outs
    frame = np.random.default_rng(0).integers(0, 256, (224, 224, 3), np.uint8)
    stages = sess.run(outs, {probe.INPUT: probe.preprocess([frame])})
    # NCHW, the widths of ResNet-50 "1by2", each stage halving the resolution from 56
    assert [a.shape for a in stages] == [(1, c, 56 // 2 ** i, 56 // 2 ** i) for i, c in enumerate(probe.STAGE_CHANNELS)]
    assert all(np.isfinite(a).all() and (a >= 0).all() for a in stages)  # stage outputs are ReLUs


def test_pooled_features_have_the_expected_length(session):
    sess, outs = session
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (224, 224, 3), np.uint8), rng.integers(0, 256, (90, 160, 3), np.uint8)]
    f = probe.frame_features(sess, outs, frames)
    assert probe.N_FEATURES == 2304
    assert f.shape == (2, probe.N_FEATURES) and f.dtype == np.float32 and np.isfinite(f).all()


def test_preprocess_takes_the_centre_square_in_bgr_minus_mean():
    frame = np.zeros((100, 300, 3), np.uint8)
    frame[:, 100:200] = (255, 0, 0)  # the centre square is pure red, the sides black
    x = probe.preprocess([frame])
    assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 112, 112], [0 - 104, 0 - 117, 255 - 123])
