"""The aligned synthetic pairs that train the cross-generator classifier (training.detector.decoder_sim)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kinoseal.training.detector import decoder_sim  # noqa: E402


def _tubes(seed: int, W: int = 2, C: int = 2, L: int = 3, S: int = 32) -> np.ndarray:
    """Smooth crops, each tile its own flat-ish colour, so a transposed mosaic shows."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, (W, C, 1, 1, 1, 3))
    yy, xx = np.mgrid[0:S, 0:S]
    ramp = (8 * np.sin(yy / 5.0) + 8 * np.cos(xx / 7.0))[None, None, None, :, :, None]
    t = base + ramp + rng.normal(0, 2, (W, C, L, S, S, 3))
    return np.clip(t, 0, 255).astype(np.uint8)


def test_h264_roundtrip_keeps_every_crop_in_place():
    t = _tubes(0)
    out = decoder_sim.h264_roundtrip(t)
    assert out.shape == t.shape and out.dtype == np.uint8
    # each crop comes back where it was (tile means differ by tens of grey levels across crops)
    means, back = t.mean(axis=(2, 3, 4)), out.mean(axis=(2, 3, 4))
    assert np.abs(means - back).max() < 3
    assert np.abs(out.astype(int) - t).mean() < 6
    assert not np.array_equal(out, t)  # it really went through a lossy encode


def test_reconstruct_keeps_shape_and_training_lowers_the_error():
    t = _tubes(1, S=48)
    frames = t[:, :, 1].reshape(-1, 48, 48, 3)
    torch.manual_seed(0)
    untrained = decoder_sim.build_autoencoder().eval()
    r0 = decoder_sim.reconstruct(untrained, t)
    assert r0.shape == t.shape and r0.dtype == np.uint8
    net = decoder_sim.train_autoencoder(frames, seed=0, steps=60)
    r1 = decoder_sim.reconstruct(net, t)
    err = lambda r: float(np.mean((r.astype(float) - t) ** 2))  # noqa: E731
    assert err(r1) < 0.5 * err(r0)


def test_autoencoder_and_pairs_are_cached(tmp_path, monkeypatch):
    real = [_tubes(2, S=48), _tubes(3, S=48)]
    net, f = decoder_sim.autoencoder(real, tmp_path, seed=0, steps=3)
    assert f.exists()

    def no_training(*a, **k):
        raise AssertionError("the cached autoencoder was retrained")

    monkeypatch.setattr(decoder_sim, "train_autoencoder", no_training)
    net2, f2 = decoder_sim.autoencoder(real, tmp_path, seed=0, steps=3)  # loaded, not retrained
    assert f2 == f
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    monkeypatch.undo()
    _, f3 = decoder_sim.autoencoder(real[:1], tmp_path, seed=0, steps=3)  # other frames: another model
    assert f3 != f

    synth, rt = decoder_sim.aligned_pairs(real, ["a", "b"], net, f, tmp_path / "pairs")
    assert [s.shape for s in synth] == [r.shape for r in real] == [r.shape for r in rt]
    for s, r, x in zip(synth, rt, real):
        assert np.abs(r.astype(int) - x).mean() < 6  # the real side is the clip after the same encode
        assert not np.array_equal(s, r)  # the synthetic side is what the decoder painted
    again, _ = decoder_sim.aligned_pairs(real, ["a", "b"], net, f, tmp_path / "pairs")
    assert all(np.array_equal(a, b) for a, b in zip(again, synth))
    assert len(list((tmp_path / "pairs").glob("*.npz"))) == 2
