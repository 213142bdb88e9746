"""The layout planner and the layout channels of kino-tiny (tiny models built here; ~1 min on one core)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kinoseal.scenes import procedural as data
from kinoseal.generate.layout import LAYOUT_CHANNELS, LayoutPlanner, layout_input, layout_map
from kinoseal.generate.pipeline import KinoVideoPipeline, denoise, unet_input
from kinoseal.generate.tokenizer import MAX_LENGTH, build_tokenizer, encode

SHIPPED = Path(__file__).resolve().parent.parent / "generate" / "weights" / "kino-tiny"
TINY = dict(unet_kwargs={"block_out_channels": (16, 32), "heads": 4}, text_kwargs={"hidden": 32, "layers": 1, "heads": 2})


def _centre(m: np.ndarray) -> tuple[float, float]:
    """Centroid (x, y) in fractions of the frame of a [cells, cells] map."""
    cells = m.shape[0]
    c = (np.arange(cells) + 0.5) / cells
    return float((m.sum(0) * c).sum() / m.sum()), float((m.sum(1) * c).sum() / m.sum())


def test_layout_map_draws_each_object_where_its_track_is_and_wraps_around():
    tracks = np.array([[[0.3125, 0.5625, 0.15], [0.6875, 0.3125, 0.15]]])  # one object, two frames (cell centres)
    m = layout_map(tracks, 8)
    assert m.shape == (2, 8, 8) and m.dtype == np.float32 and 0 <= m.min() and m.max() == 1.0
    assert _centre(m[0]) == pytest.approx((0.3125, 0.5625), abs=0.02)
    assert _centre(m[1]) == pytest.approx((0.6875, 0.3125), abs=0.02)
    # the scene is a torus: x = 1.25 is x = 0.25, and an object on the edge shows on both sides
    assert np.allclose(layout_map(tracks + [[[1.0, 0, 0]]], 8), m)
    edge = layout_map(np.array([[[0.0, 0.5, 0.15]]]), 8)[0]
    assert edge[4, 0] > 0.5 and edge[4, 7] > 0.5 and edge[4, 3:5].max() == 0
    # two objects: the union
    both = layout_map(np.array([[[0.3125, 0.5625, 0.1]], [[0.8125, 0.5625, 0.1]]]), 8)[0]
    assert both[4, 2] == 1.0 and both[4, 6] == 1.0 and both[4, 4] == 0.0


def test_training_layouts_follow_the_rendered_objects_and_flip_with_twins():
    rng = np.random.default_rng(3)
    clips, caps, cover, lay = data.caption_batch(rng, 6, 16, 32, with_coverage=True, p_directed=0.5, layout_cells=8)
    assert lay.shape == (6, 16, 8, 8)
    pooled = torch.nn.functional.avg_pool2d(torch.from_numpy(cover).reshape(-1, 1, 32, 32), 4).reshape(6, 16, 8, 8)
    assert np.corrcoef(pooled.numpy().ravel(), lay.ravel())[0, 1] > 0.9
    # the layout channels do not change the clips a seed draws
    again = data.caption_batch(np.random.default_rng(3), 6, 16, 32, p_directed=0.5)
    assert np.array_equal(again[0], clips) and again[1] == caps
    for twin, flip in (("mirror", (slice(None), slice(None), slice(None, None, -1))), ("reverse", (slice(None, None, -1),))):
        t_clips, _, t_cover, t_lay = data.twin_batch(np.random.default_rng(4), 2, twin, 16, 32, layout_cells=8)
        assert np.array_equal(t_lay[1], t_lay[0][flip]) and np.array_equal(t_cover[1], t_cover[0][flip])


def test_planner_batch_holds_the_true_tracks_of_captions_that_start_where_their_motion_comes_from():
    caps, tracks, exists = data.planner_batch(np.random.default_rng(0), 200)
    assert tracks.shape == (200, 3, 16, 3) and exists.shape == (200, 3)
    assert all(int(e.sum()) == c.count(" and ") + 1 for c, e in zip(caps, exists))
    assert np.all(tracks[exists == 0] == 0)
    for cap, tr, e in zip(caps, tracks, exists):
        if e.sum() == 1 and "sliding right" in cap and "panning" not in cap:
            assert tr[0, 0, 0] < 0.4 and tr[0, -1, 0] > tr[0, 0, 0]
        if e.sum() == 1 and "growing" in cap:
            assert tr[0, -1, 2] > tr[0, 0, 2]


def test_planner_learns_the_direction_of_a_caption_from_tracks():
    torch.manual_seed(0)
    tok = build_tokenizer(phrases=True)
    planner = LayoutPlanner(vocab_size=len(tok.get_vocab()), width=32, layers=1)
    opt = torch.optim.AdamW(planner.parameters(), lr=3e-3)
    first = None
    for step in range(400):  # ~10 s; single objects on plain backgrounds (what the curriculum starts with)
        caps, tracks, exists = data.planner_batch(np.random.default_rng([1, step]), 32, max_objects=1,
                                                  textures=False, pans=False)
        loss = planner.loss(encode(tok, caps, MAX_LENGTH), torch.from_numpy(tracks), torch.from_numpy(exists))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first - 1.0
    caps = [f"a red ball sliding {d} on a blue background" for d in ("left", "right", "up", "down")]
    (left, right, up, down) = [t[0] for t in planner.plan(encode(tok, caps, MAX_LENGTH))]
    assert left[-1, 0] < left[0, 0] - 0.2 and right[-1, 0] > right[0, 0] + 0.2
    assert up[-1, 1] < up[0, 1] - 0.2 and down[-1, 1] > down[0, 1] + 0.2
    # one draw per seed, the same draw for the same seed
    ids = encode(tok, caps[:1], MAX_LENGTH)
    a, b, c = (planner.plan(ids, torch.Generator().manual_seed(s))[0] for s in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_shipped_planner_moves_every_held_out_caption_the_way_it_says():
    if not (SHIPPED / "planner").is_dir():
        pytest.skip("no shipped planner")
    from transformers import PreTrainedTokenizerFast

    from kinoseal.training.generator.planner import held_out_check

    planner = LayoutPlanner.from_pretrained(str(SHIPPED / "planner"))
    check = held_out_check(planner, PreTrainedTokenizerFast.from_pretrained(str(SHIPPED / "tokenizer")))
    assert check["captions"] >= 100 and check["direction_right"] >= 0.95 * check["captions"]


def _layout_pipe(seed=0) -> KinoVideoPipeline:
    pipe = KinoVideoPipeline.from_config_random(seed=seed, position_channels=True, layout_channels=True, **TINY)
    torch.manual_seed(seed)
    pipe.register_modules(planner=LayoutPlanner(vocab_size=len(pipe.tokenizer.get_vocab()), width=16, layers=1).eval())
    return pipe


def test_widening_to_layout_channels_keeps_the_model_and_the_layout_moves_the_output():
    from kinoseal.training.generator.checkpoint import load_params as _load_params, named_params as _named_params

    old = KinoVideoPipeline.from_config_random(seed=0, position_channels=True, **TINY)
    new = _layout_pipe(seed=1)
    assert new.unet.config.in_channels == old.unet.config.in_channels + LAYOUT_CHANNELS
    assert _load_params(new, {n: p.detach() for n, p in _named_params(old)}) is True
    x = torch.randn(1, 48, 16, 8, 8)
    mask = torch.zeros(1, 1, 16, 8, 8)
    cond = old._encode_text(["a red ball sliding right on a blue background"])
    tracks = np.array([[[0.2 + 0.04 * f, 0.5, 0.15] for f in range(16)]])
    lay = layout_input(torch.from_numpy(layout_map(tracks, 8))[None], tuple(x.shape))
    assert lay.shape == (1, 2, 16, 8, 8) and torch.all(lay[:, 1] == 1)
    assert torch.all(layout_input(None, tuple(x.shape)) == 0)
    with torch.no_grad():
        ref = denoise(old.unet, unet_input(x, mask, True), 500, cond)
        assert torch.allclose(ref, denoise(new.unet, unet_input(x, mask, True, lay), 500, cond), atol=1e-5)
        new.unet.conv_in.weight[:, -2].normal_()
        assert not torch.allclose(ref, denoise(new.unet, unet_input(x, mask, True, lay), 500, cond), atol=1e-3)


def test_only_the_first_chunk_of_a_generated_clip_is_planned_and_the_planner_travels_with_the_weights(tmp_path,
                                                                                                      monkeypatch):
    pipe = _layout_pipe()
    assert "LayoutPlanner" in pipe.describe()["architecture"]
    seen = []
    real = KinoVideoPipeline._denoise_chunk

    def spy(self, *a, layout=None, **kw):
        seen.append(None if layout is None else tuple(layout.shape))
        return real(self, *a, layout=layout, **kw)

    monkeypatch.setattr(KinoVideoPipeline, "_denoise_chunk", spy)
    kw = dict(seconds=3.0, fps=8, seed=0, steps=2, guidance=2.0, out_size=32)
    frames = list(pipe._iter_frames("a red ball sliding right on a blue background", **kw))
    assert len(frames) == 24 and seen == [(16, 8, 8), None]
    seen.clear()
    list(pipe._iter_frames("a red ball", init_frames=iter(frames[:8]), strength=0.5, **kw))
    assert seen and set(seen) == {None}  # an edit follows its input, not a plan
    pipe.save_pretrained(tmp_path / "p")
    assert json.loads((tmp_path / "p" / "model_index.json").read_text())["planner"] == ["kinoseal.generate.layout",
                                                                                       "LayoutPlanner"]
    loaded = KinoVideoPipeline.from_pretrained(tmp_path / "p", local_files_only=True)
    assert isinstance(loaded.planner, LayoutPlanner) and loaded.config.layout_channels is True
    seen.clear()
    again = list(loaded._iter_frames("a red ball sliding right on a blue background", **kw))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))
    # weights without layout channels ignore a planner beside them; a contradicting index fails, saying why
    index = tmp_path / "p" / "model_index.json"
    index.write_text(index.read_text().replace('"layout_channels": true', '"layout_channels": false'))
    with pytest.raises(ValueError, match="layout_channels"):
        KinoVideoPipeline.from_pretrained(tmp_path / "p", local_files_only=True)


def test_train_planner_writes_a_loadable_planner_into_a_pipeline_folder(tmp_path):
    from kinoseal.training.generator import planner as train_planner

    pipe = KinoVideoPipeline.from_config_random(seed=0, phrase_tokens=True, **TINY)
    pipe.save_pretrained(tmp_path / "p")
    record = train_planner.main(["--out", str(tmp_path / "p"), "--steps", "3", "--batch", "4", "--width", "16",
                                 "--layers", "1", "--threads", "1"])
    assert record["steps"] == 3 and record["held_out"]["captions"] >= 100
    assert (tmp_path / "p" / "planner" / "TRAINING.md").read_text().count("--steps 3") == 1
    loaded = KinoVideoPipeline.from_pretrained(tmp_path / "p", local_files_only=True)
    assert isinstance(loaded.planner, LayoutPlanner) and not loaded._plans()  # this denoiser has no layout inputs
    assert not list(tmp_path.glob("p/planner*.part"))
