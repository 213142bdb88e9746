"""Fast tests for the kino-tiny generator (tiny random pipelines built here; < 60 s on one core)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from kinoseal.scenes import procedural as data
from kinoseal.generate.pipeline import KinoVideoPipeline, default_vae, frames_to_tensor, patchify, text_condition, unpatchify
from kinoseal.generate.tokenizer import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, build_tokenizer, encode

SHIPPED = Path(__file__).resolve().parent.parent / "generate" / "weights" / "kino-tiny"
PROMPT = "a red ball bouncing from left to right on a blue background"


@pytest.fixture(scope="module", params=["patch", "latent"])
def tiny_pipe(request):
    """Both denoising spaces: pixel-unshuffled frames (kino-tiny 0.1) and VAE latents (0.2)."""
    torch.set_num_threads(1)
    vae = default_vae(block_out_channels=(16, 16, 16)) if request.param == "latent" else None
    return KinoVideoPipeline.from_config_random(
        seed=0,
        unet_kwargs={"block_out_channels": (16, 32), "heads": 4},
        text_kwargs={"hidden": 32, "layers": 1, "heads": 2},
        vae=vae,
        text_pooling="eos" if vae is not None else "mean",
    )


def _frames(pipe, prompt=PROMPT, **kw):
    args = dict(seconds=1.0, fps=8, seed=0, steps=2, guidance=2.0, out_size=32)
    args.update(kw)
    return list(pipe._iter_frames(prompt, **args))


# ----------------------------------------------------------------------------- tokenizer


def test_tokenizer_ids_are_stable_and_unknown_words_map_to_unk():
    tok = build_tokenizer()
    vocab = tok.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [PAD_ID, UNK_ID, BOS_ID, EOS_ID]
    words = sorted(set(data.CAPTION_WORDS))
    assert [vocab[w] for w in words] == list(range(len(SPECIAL_TOKENS), len(SPECIAL_TOKENS) + len(words)))
    assert build_tokenizer().get_vocab() == vocab  # deterministic
    ids = encode(tok, ["A RED ball, zebra!", ""])[0].tolist()
    assert ids[:6] == [BOS_ID, vocab["a"], vocab["red"], vocab["ball"], vocab[","], UNK_ID]
    assert ids[6] == UNK_ID and ids[7] == EOS_ID and set(ids[8:]) == {PAD_ID}
    empty = encode(tok, [""])[0].tolist()
    assert empty[:2] == [BOS_ID, EOS_ID]
    assert encode(tok, ["word " * 100]).shape[1] == 32  # truncated to the fixed length


def test_shipped_tokenizer_matches_builder():
    if not (SHIPPED / "tokenizer" / "tokenizer.json").exists():
        pytest.skip("no shipped weights")
    spec = json.loads((SHIPPED / "tokenizer" / "tokenizer.json").read_text())
    shipped_vocab = spec["model"]["vocab"]
    assert shipped_vocab == build_tokenizer(phrases="sliding_left" in shipped_vocab).get_vocab()


def test_phrase_tokens_make_direction_one_token_and_keep_word_ids(tmp_path):
    from transformers import PreTrainedTokenizerFast

    from kinoseal.generate.tokenizer import PHRASE_TOKENS, has_phrase_tokens

    words, tok = build_tokenizer(), build_tokenizer(phrases=True)
    assert has_phrase_tokens(tok) and not has_phrase_tokens(words)
    vocab = tok.get_vocab()
    assert all(vocab[w] == i for w, i in words.get_vocab().items())  # word ids unchanged, phrases after them
    assert sorted(vocab[t] for t in PHRASE_TOKENS.values()) == list(range(len(words.get_vocab()), len(vocab)))

    def tokens(text):
        return [t for t in tok.convert_ids_to_tokens(encode(tok, [text])[0].tolist()) if t != "[PAD]"]

    assert tokens("A red ball Sliding  LEFT on a blue background, camera panning right") == [
        "[BOS]", "a", "red", "ball", "sliding_left", "on", "a", "blue", "background", ",", "camera", "panning_right",
        "[EOS]"]
    assert tokens("a ring bouncing from right to left")[4] == "from_right_to_left"
    assert tokens("a ball sliding up") == ["[BOS]", "a", "ball", "sliding", "up", "[EOS]"]  # unambiguous: words
    assert tokens("leftovers slidingleft left")[1:4] == ["[UNK]", "[UNK]", "left"]  # whole words only
    # every caption the data makes still tokenizes without [UNK]
    rng = np.random.default_rng(0)
    _, caps = data.caption_batch(rng, 64, 2, 32)
    assert UNK_ID not in encode(tok, caps)
    # the merge rules travel with the saved tokenizer
    tok.save_pretrained(str(tmp_path / "t"))
    loaded = PreTrainedTokenizerFast.from_pretrained(str(tmp_path / "t"))
    assert torch.equal(encode(loaded, caps), encode(tok, caps)) and has_phrase_tokens(loaded)


def test_growing_the_vocabulary_keeps_captions_without_phrases_and_averages_the_new_rows():
    from kinoseal.generate.pipeline import text_condition
    from kinoseal.generate.tokenizer import PHRASE_TOKENS
    from kinoseal.training.generator.checkpoint import load_params as _load_params, named_params as _named_params

    kw = dict(unet_kwargs={"block_out_channels": (16, 32), "heads": 4}, text_kwargs={"hidden": 32, "layers": 1, "heads": 2})
    old = KinoVideoPipeline.from_config_random(seed=0, text_pooling="eos+mean", **kw)
    new = KinoVideoPipeline.from_config_random(seed=1, text_pooling="eos+mean", phrase_tokens=True, **kw)
    assert _load_params(new, {n: p.detach() for n, p in _named_params(old)}) is True
    emb_old, emb_new = old.text_encoder.get_input_embeddings().weight, new.text_encoder.get_input_embeddings().weight
    vocab = new.tokenizer.get_vocab()
    assert emb_new.shape[0] == emb_old.shape[0] + len(PHRASE_TOKENS)
    assert torch.equal(emb_new[:emb_old.shape[0]], emb_old)
    assert torch.allclose(emb_new[vocab["sliding_left"]], (emb_old[vocab["sliding"]] + emb_old[vocab["left"]]) / 2)
    caption = ["a red ball growing on a blue background"]
    with torch.no_grad():
        a = text_condition(old.text_encoder, encode(old.tokenizer, caption), "eos+mean").pooled
        b = text_condition(new.text_encoder, encode(new.tokenizer, caption), "eos+mean").pooled
    assert torch.allclose(a, b, atol=1e-5)


# ----------------------------------------------------------------------------- data


def test_render_and_captions():
    rng = np.random.default_rng(0)
    clip = data.render_clip(data.sample_spec(rng), 16, 32)
    assert clip.shape == (16, 32, 32, 3) and clip.dtype == np.uint8
    spec = data.make_spec("red", "ball", "blue", "bouncing from left to right")
    assert spec.caption() == PROMPT
    assert data.make_spec("orange", "ring", "white", "growing").caption() == "an orange ring growing on a white background"
    for w in " ".join(data.sample_spec(rng).caption() for _ in range(50)).replace(",", " , ").split():
        assert w in data.CAPTION_WORDS


def test_coverage_marks_exactly_the_objects():
    spec = data.make_spec("red", "ball", "blue", "sliding right")
    img, cov = data.render_clip_with_coverage(spec, 8, 32)
    assert np.array_equal(img, data.render_clip(spec, 8, 32))
    background = np.all(img == np.array(data.COLOURS["blue"], dtype=np.uint8), axis=-1)
    assert cov.shape == (8, 32, 32) and 0.02 < (cov > 0).mean() < 0.3
    assert np.all(cov[background] < 0.01) and np.all(cov[~background] > 0)
    # the coverage does not change which clips a seed gives (training batches stay reproducible)
    a, caps_a, cover = data.caption_batch(np.random.default_rng(5), 3, 8, 32, with_coverage=True)
    b, caps_b = data.caption_batch(np.random.default_rng(5), 3, 8, 32)
    assert np.array_equal(a, b) and caps_a == caps_b and cover.shape == (3, 8, 32, 32)


def _first_centroid_x(clip: np.ndarray, background: str) -> float:
    obj = np.any(clip[0] != np.array(data.COLOURS[background], dtype=np.uint8), axis=-1)
    return float(np.nonzero(obj)[1].mean()) / clip.shape[2]


def test_directed_start_puts_objects_where_their_motion_comes_from():
    # without it, "sliding right" clips start anywhere, so their mean is the same as "sliding left"'s
    rng = np.random.default_rng(3)
    xs = {"sliding right": [], "sliding left": []}
    while min(len(v) for v in xs.values()) < 20:
        clips, caps = data.caption_batch(rng, 4, 2, 32, p_directed=1.0, max_objects=1, textures=False, pans=False)
        for clip, cap in zip(clips, caps):
            motion = next((m for m in xs if m in cap), None)
            if motion:
                xs[motion].append(_first_centroid_x(clip, cap.split()[-2]))
    assert max(xs["sliding right"]) < 0.45 and min(xs["sliding left"]) > 0.55
    grow = data.make_spec("red", "ball", "blue", "growing", np.random.default_rng(0))
    data._directed_start(grow.objects[0], np.random.default_rng(0))
    area = (data.render_clip_with_coverage(grow, 16, 32)[1] > 0.5).reshape(16, -1).sum(1)
    assert np.all(np.diff(area) >= -2) and area[-1] > 2 * area[0]  # grows through the chunk
    # p_directed=0 keeps the earlier data stream
    a, caps_a = data.caption_batch(np.random.default_rng(5), 3, 4, 32)
    b, caps_b = data.caption_batch(np.random.default_rng(5), 3, 4, 32, p_directed=0.0)
    assert np.array_equal(a, b) and caps_a == caps_b


def test_directed_unless_context_starts_every_clip_without_known_frames_where_its_motion_comes_from():
    # a first chunk is generated without known frames, so that is where the caption's start must be learnt
    from kinoseal.training.generator import train

    args = train.parse_args(["--batch", "8", "--mirror-pairs", "1", "--p-context", "0.5", "--p-uncond", "0",
                             "--directed-unless-context"])
    at_source: dict[bool, list[bool]] = {False: [], True: []}  # keyed by "has known frames"
    for step in range(40):
        clips, caps, _, ctx, _ = train.training_clips(np.random.default_rng([0, step]), args, 2, 32,
                                                   max_objects=1, textures=False, pans=False)
        assert clips.shape[0] == len(caps) == len(ctx) == 8 and ctx[0] == ctx[1]  # a twin shares its known frames
        for clip, cap, c in zip(clips, caps, ctx):
            x = _first_centroid_x(clip, cap.split()[-2])
            if "sliding right" in cap or "sliding left" in cap:
                at_source[bool(c)].append(x < 0.45 if "sliding right" in cap else x > 0.55)
    assert len(at_source[False]) >= 10 and all(at_source[False])
    assert len(at_source[True]) >= 10 and not all(at_source[True])  # continued chunks start anywhere
    # without the flag the caller draws the known frames later, as earlier runs did
    assert train.training_clips(np.random.default_rng(0), train.parse_args(["--batch", "2"]), 2, 32)[3] is None
    # one probability per clip, or one for all: the same stream
    for p in (0.0, 1.0):
        a = data.caption_batch(np.random.default_rng(5), 3, 4, 32, p_directed=p)
        b = data.caption_batch(np.random.default_rng(5), 3, 4, 32, p_directed=[p] * 3)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_twins_are_mirror_images_or_played_backwards_with_their_captions():
    spec = data.make_spec("red", "ball", "blue", "sliding right", np.random.default_rng(0))
    spec.objects[0].x = 0.3
    mirror = data.twin_spec(spec, "mirror")
    assert mirror.caption() == "a red ball sliding left on a blue background" and spec.objects[0].x == 0.3
    # the mirror spec, rendered from the mirrored start, is the original's pixels flipped left-right
    mirror.objects[0].x = 0.7
    assert np.array_equal(data.render_clip(mirror), data.render_clip(spec)[:, :, ::-1])
    # played backwards: "growing" becomes "shrinking", the same frames in reverse order
    grow = data.make_spec("red", "ball", "green", "growing", np.random.default_rng(0))
    shrink = data.twin_spec(grow, "reverse")
    assert shrink.caption() == "a red ball shrinking on a green background"
    shrink.objects[0].phase = shrink.objects[0].grow_period - grow.objects[0].phase - 15
    assert np.array_equal(data.render_clip(shrink), data.render_clip(grow)[::-1])
    up = data.make_spec("red", "ball", "blue", "sliding up", np.random.default_rng(0))
    assert data.twin_spec(up, "mirror") is None and "sliding down" in data.twin_spec(up, "reverse").caption()
    held = next(c for c in data.held_out_combos() if c[3] in data.MIRRORED_MOTION)
    source = data.make_spec(*held[:3], data.MIRRORED_MOTION[held[3]], np.random.default_rng(0))
    assert data.twin_spec(source, "mirror") is None  # its mirror would show a held-out tuple
    swap = {"left": "right", "right": "left", "up": "down", "down": "up", "growing": "shrinking", "shrinking": "growing"}
    for twin, flip in (("mirror", (slice(None), slice(None), slice(None, None, -1))), ("reverse", (slice(None, None, -1),))):
        clips, caps, cover = data.twin_batch(np.random.default_rng(1), 4, twin, 4, 32, p_directed=0.5)
        assert clips.shape == (8, 4, 32, 32, 3) and cover.shape == (8, 4, 32, 32)
        for i in range(0, 8, 2):
            assert np.array_equal(clips[i + 1], clips[i][flip]) and np.array_equal(cover[i + 1], cover[i][flip])
            words = [(w.rstrip(","), "," * w.endswith(",")) for w in caps[i].split()]
            said = " ".join((swap.get(w, w) if twin == "reverse" or w in ("left", "right") else w) + c for w, c in words)
            assert caps[i + 1] == said != caps[i]
            assert not any(data.is_held_out(*combo) for combo in _combos(caps[i + 1]))


def _combos(caption: str) -> list[tuple[str, str, str, str]]:
    head, _, tail = caption.partition(" on ")
    background = tail.split(" background")[0].split()[-1]
    return [(w[1], w[2], background, " ".join(w[3:])) for w in (part.split() for part in head.split(" and "))]


def test_caption_attributes_name_every_word_of_the_grammar():
    names = data.ATTRIBUTE_NAMES
    on = lambda cap: {n for n, v in zip(names, data.caption_attributes(cap)) if v}  # noqa: E731
    assert on("a red ball sliding left on a blue background") == {"sliding left", "object red", "ball", "background blue"}
    assert on("a red ball sliding right on a blue background") != on("a red ball sliding left on a blue background")
    assert on("a white ring growing and a black square bouncing from right to left on a striped green background, "
              "camera panning left") == {"growing", "bouncing from right to left", "object white", "object black",
                                         "ring", "square", "background green", "striped", "panning left"}
    assert not data.caption_attributes("").any() and not data.caption_attributes("a cat on a mat").any()
    rng = np.random.default_rng(2)
    for _ in range(100):  # every sampled caption names its background and each object's motion
        spec = data.sample_spec(rng)
        got = on(spec.caption())
        assert f"background {spec.background}" in got and all(o.motion in got for o in spec.objects)


def test_cell_weight_marks_latent_cells_an_object_touches():
    from kinoseal.training.generator.losses import cell_weight

    cover = np.zeros((1, 2, 32, 32), np.float32)
    cover[0, 0, 5, 9] = 1.0  # one pixel in cell (1, 2) of an 8x8 grid, first frame only
    w = cell_weight(cover, 8, 4.0)
    assert w.shape == (1, 1, 2, 8, 8)
    assert w[0, 0, 0, 1, 2] == 5.0 and float(w.sum()) == 2 * 64 + 4.0


def test_held_out_combinations_never_sampled():
    held = set(data.held_out_combos())
    assert len(held) >= 100
    rng = np.random.default_rng(1)
    for _ in range(600):
        spec = data.sample_spec(rng)
        for o in spec.objects:
            assert (o.colour, o.shape, spec.background, o.motion) not in held


def test_patchify_roundtrip():
    x = torch.randn(2, 3, 5, 32, 32)
    y = patchify(x, 4)
    assert y.shape == (2, 48, 5, 8, 8)
    assert torch.equal(unpatchify(y, 4), x)


# ----------------------------------------------------------------------------- pipeline


def test_latent_codec_shapes(tiny_pipe):
    px = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    z = tiny_pipe._encode_frames(px)
    c = 4 if tiny_pipe.vae is not None else 48
    assert z.shape == (2, c, 5, 8, 8)
    y = tiny_pipe._decode_latents(z)
    assert y.shape == px.shape and float(y.abs().max()) <= 1.0
    if tiny_pipe.vae is None:
        assert torch.allclose(y, px)


def test_eos_pooling_reads_word_order(tiny_pipe):
    tok = tiny_pipe.tokenizer
    a, b = "a red ball on a blue background", "a blue ball on a red background"
    ids = encode(tok, [a, b])
    hidden = tiny_pipe.text_encoder(input_ids=ids).last_hidden_state
    eos = text_condition(tiny_pipe.text_encoder, ids, "eos").pooled
    pos = (ids == EOS_ID).int().argmax(1)
    assert torch.allclose(eos[0], torch.nn.functional.layer_norm(hidden[0, pos[0]], hidden.shape[-1:]), atol=1e-5)
    assert not torch.allclose(eos[0], eos[1], atol=1e-3)  # same words, other order -> other condition
    with pytest.raises(ValueError):
        text_condition(tiny_pipe.text_encoder, ids, "max")


def test_widening_to_eos_plus_mean_pooling_keeps_the_model_and_adds_the_word_states():
    from kinoseal.generate.pipeline import denoise, text_condition
    from kinoseal.training.generator.checkpoint import load_params as _load_params, named_params as _named_params

    kw = dict(unet_kwargs={"block_out_channels": (16, 32), "heads": 4}, text_kwargs={"hidden": 32, "layers": 1, "heads": 2})
    eos = KinoVideoPipeline.from_config_random(seed=0, text_pooling="eos", **kw)
    both = KinoVideoPipeline.from_config_random(seed=1, text_pooling="eos+mean", **kw)
    assert both.unet.config.time_cond_proj_dim == 64
    assert _load_params(both, {n: p.detach() for n, p in _named_params(eos)}) is True
    ids = encode(eos.tokenizer, ["a red ball sliding left on a blue background",
                                 "a red ball sliding right on a blue background"], 32)
    x = torch.randn(2, 49, 2, 8, 8)
    with torch.no_grad():
        c_eos, c_both = text_condition(eos.text_encoder, ids, "eos"), text_condition(both.text_encoder, ids, "eos+mean")
        assert torch.equal(c_both.pooled[:, :32], c_eos.pooled) and c_both.pooled.shape == (2, 64)
        assert torch.allclose(denoise(eos.unet, x, 500, c_eos), denoise(both.unet, x, 500, c_both), atol=1e-5)
        # the second half is the token mean: a direction word changes it even where the end-of-text state would not
        assert not torch.allclose(c_both.pooled[0, 32:], c_both.pooled[1, 32:])


def test_position_ramps_hold_frame_row_and_column():
    from kinoseal.generate.pipeline import position_ramps, unet_input

    r = position_ramps((2, 4, 16, 8, 8))
    assert r.shape == (2, 3, 16, 8, 8)
    assert torch.equal(r[0, 0, :, 3, 5], torch.linspace(-1, 1, 16))  # frame index, the same in every cell
    assert torch.equal(r[1, 1, 7, :, 2], torch.linspace(-1, 1, 8))  # row
    assert torch.equal(r[1, 2, 0, 4, :], torch.linspace(-1, 1, 8))  # column
    x, mask = torch.randn(2, 4, 16, 8, 8), torch.zeros(2, 1, 16, 8, 8)
    assert unet_input(x, mask, False).shape[1] == 5
    inp = unet_input(x, mask, True)
    assert inp.shape[1] == 8 and torch.equal(inp[:, :4], x) and torch.equal(inp[:, 5:], r)


def test_widening_to_position_channels_keeps_the_model_and_lets_frames_differ(tmp_path):
    from kinoseal.generate.pipeline import denoise, unet_input
    from kinoseal.training.generator.checkpoint import load_params as _load_params, named_params as _named_params

    kw = dict(unet_kwargs={"block_out_channels": (16, 32), "heads": 4}, text_kwargs={"hidden": 32, "layers": 1, "heads": 2})
    old = KinoVideoPipeline.from_config_random(seed=0, **kw)
    new = KinoVideoPipeline.from_config_random(seed=1, position_channels=True, **kw)
    assert new.unet.config.in_channels == old.unet.config.in_channels + 3
    assert _load_params(new, {n: p.detach() for n, p in _named_params(old)}) is True
    # every frame the same: without the ramps the frames of the output can only differ near the clip's ends
    x = torch.randn(1, 48, 1, 8, 8).expand(1, 48, 16, 8, 8).contiguous()
    mask = torch.zeros(1, 1, 16, 8, 8)
    cond = old._encode_text(["a red ball sliding right on a blue background"])
    with torch.no_grad():
        ref = denoise(old.unet, unet_input(x, mask, False), 500, cond)
        assert torch.allclose(ref, denoise(new.unet, unet_input(x, mask, True), 500, cond), atol=1e-5)
        new.unet.conv_in.weight[:, -3].normal_()  # once the frame input has weight, the middle frames differ
        moved = denoise(new.unet, unet_input(x, mask, True), 500, cond)
    assert torch.allclose(ref[:, :, 6], ref[:, :, 9], atol=1e-5)
    assert not torch.allclose(moved[:, :, 6], moved[:, :, 9], atol=1e-3)
    # the setting travels with the weights, and a folder whose setting contradicts them fails to load, saying why
    new.save_pretrained(tmp_path / "p")
    loaded = KinoVideoPipeline.from_pretrained(tmp_path / "p", local_files_only=True)
    assert loaded.config.position_channels is True
    assert len(_frames(loaded)) == 8
    index = tmp_path / "p" / "model_index.json"
    index.write_text(index.read_text().replace('"position_channels": true', '"position_channels": false'))
    with pytest.raises(ValueError, match="position_channels"):
        KinoVideoPipeline.from_pretrained(tmp_path / "p", local_files_only=True)


def test_describe(tiny_pipe):
    info = tiny_pipe.describe()
    assert info["native_size"] == (32, 32)
    assert info["frames_per_chunk"] == 16
    assert info["default_fps"] >= 8
    assert info["output_size"] >= 256
    assert info["model"] and info["version"]


def test_no_public_frame_api(tiny_pipe):
    with pytest.raises(RuntimeError):
        tiny_pipe(PROMPT)


def test_save_load_roundtrip_same_frames(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path / "p")
    assert (tmp_path / "p" / "model_index.json").exists()
    loaded = KinoVideoPipeline.from_pretrained(tmp_path / "p", local_files_only=True)
    assert loaded.describe()["frames_per_chunk"] == 16
    a = _frames(tiny_pipe, seed=3)
    b = _frames(loaded, seed=3)
    assert len(a) == len(b) == 8
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_same_seed_same_frames_different_seed_differs(tiny_pipe):
    a = _frames(tiny_pipe, seed=7)
    b = _frames(tiny_pipe, seed=7)
    c = _frames(tiny_pipe, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("seconds,fps", [(1.0, 8), (1.5, 12), (0.3, 24)])
def test_frame_count_and_shape(tiny_pipe, seconds, fps):
    frames = _frames(tiny_pipe, seconds=seconds, fps=fps, out_size=40)
    assert len(frames) == round(seconds * fps)
    assert all(f.shape == (40, 40, 3) and f.dtype == np.uint8 for f in frames)


def test_chunk_continuity_and_streaming(tiny_pipe, monkeypatch):
    K = tiny_pipe.config.context_frames
    calls = []
    orig = tiny_pipe._denoise_chunk

    def spy(*a, **kw):
        out = orig(*a, **kw)
        calls.append((kw.get("context"), out.clone()))
        return out

    monkeypatch.setattr(tiny_pipe, "_denoise_chunk", spy)
    events = []
    seconds = 4.0  # 32 native frames -> 16 + 12 + 12 = 3 chunks
    it = tiny_pipe._iter_frames(PROMPT, seconds=seconds, fps=8, seed=1, steps=2, out_size=32,
                                progress=lambda kind, i, n: events.append((kind, i, n)))
    first = next(it)
    assert first.shape == (32, 32, 3)
    assert len(calls) == 1  # streaming: only the first chunk was denoised so far
    rest = list(it)
    assert 1 + len(rest) == 32
    assert len(calls) == 3
    assert calls[0][0] is None
    for (ctx_prev, out_prev), (ctx, out) in zip(calls, calls[1:]):
        assert ctx is not None and ctx.shape[1] == K
        assert torch.equal(ctx, out_prev[:, -K:])  # known frames = tail of the previous chunk
        assert torch.equal(out[:, :K], ctx)  # kept exactly
    chunk_events = [e for e in events if e[0] == "chunk"]
    assert chunk_events[0] == ("chunk", 0, 3)
    assert ("step", 2, 2) in events


def test_continuation_chunks_use_at_most_the_continuation_guidance(tiny_pipe, monkeypatch):
    used = []
    orig = tiny_pipe._denoise_chunk

    def spy(emb_c, emb_u, generator, steps, guidance, **kw):
        used.append(guidance)
        return orig(emb_c, emb_u, generator, steps, guidance, **kw)

    monkeypatch.setattr(tiny_pipe, "_denoise_chunk", spy)
    _frames(tiny_pipe, seconds=4.0, guidance=3.0)
    assert used == [3.0, 3.0, 3.0] and "continuation_guidance" not in tiny_pipe.describe()  # not set: one scale
    tiny_pipe.register_to_config(continuation_guidance=1.5)
    try:
        used.clear()
        _frames(tiny_pipe, seconds=4.0, guidance=3.0)
        assert used == [3.0, 1.5, 1.5]
        used.clear()
        _frames(tiny_pipe, seconds=4.0, guidance=1.2)  # a lower scale asked for is kept
        assert used == [1.2, 1.2, 1.2]
        assert tiny_pipe.describe()["continuation_guidance"] == 1.5
    finally:
        tiny_pipe.register_to_config(continuation_guidance=None)


def test_sdedit_runs_and_counts(tiny_pipe):
    rng = np.random.default_rng(0)
    src = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(20)]
    out = list(tiny_pipe._iter_frames(PROMPT, seconds=None, fps=8, seed=0, steps=4, out_size=32,
                                      init_frames=iter(src), strength=0.5))
    assert len(out) == 20
    out2 = list(tiny_pipe._iter_frames(PROMPT, seconds=1.0, fps=8, seed=0, steps=4, out_size=32,
                                       init_frames=src, strength=0.5))
    assert len(out2) == 8
    longer = list(tiny_pipe._iter_frames(PROMPT, seconds=3.0, fps=8, seed=0, steps=2, out_size=32,
                                         init_frames=src, strength=1.0))
    assert len(longer) == 24  # input shorter than requested: last frame held
    with pytest.raises(ValueError):
        list(tiny_pipe._iter_frames(PROMPT, seconds=None, fps=8, seed=0, steps=2, init_frames=src, strength=0.0))


def test_sdedit_low_strength_stays_near_input(tiny_pipe):
    # with strength -> 0 nothing is re-noised much: output must resemble the (flat) input
    if tiny_pipe.vae is not None:
        pytest.skip("a random VAE does not reconstruct its input (the shipped one: test_shipped_vae_reconstructs)")
    src = [np.full((32, 32, 3), (200, 30, 30), np.uint8)] * 16
    out = list(tiny_pipe._iter_frames(PROMPT, seconds=None, fps=8, seed=0, steps=50, out_size=32,
                                      init_frames=src, strength=0.02))
    assert np.abs(np.stack(out).astype(float) - 200 * (np.arange(3) == 0) - 30 * (np.arange(3) != 0)).mean() < 40


def test_shipped_weights_load_and_size():
    if not (SHIPPED / "model_index.json").exists():
        pytest.skip("no shipped weights")
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert total <= 25 * 1024 * 1024
    assert (SHIPPED / "TRAINING.md").exists()
    pipe = KinoVideoPipeline.from_pretrained(SHIPPED, local_files_only=True)
    info = pipe.describe()
    assert info["native_size"] == (32, 32)


def test_shipped_vae_reconstructs_rendered_frames():
    """The shipped decoder must draw what the encoder saw (else no prompt could be followed)."""
    if not (SHIPPED / "vae").is_dir():
        pytest.skip("shipped model has no VAE")
    pipe = KinoVideoPipeline.from_pretrained(SHIPPED, local_files_only=True)
    clips, _ = data.caption_batch(np.random.default_rng(123), 4, 8, 32)
    px = frames_to_tensor(clips)
    y = pipe._decode_latents(pipe._encode_frames(px))
    psnr = 10 * math.log10(4.0 / float(((y - px) ** 2).mean()))
    assert psnr > 22.0
    frames = list(pipe._iter_frames(PROMPT, seconds=0.5, fps=8, seed=0, steps=3, out_size=256))
    assert len(frames) == 4 and frames[0].shape == (256, 256, 3)


def test_decoder_finetune_keeps_the_latent_space(tmp_path):
    """A decoder fine-tune must leave the encoder and scaling factor alone: the shipped denoiser
    was trained on that latent space."""
    from kinoseal.training.generator import vae as train_vae
    from diffusers import AutoencoderKL

    src, dst = tmp_path / "vae", tmp_path / "vae-ft"
    vae = default_vae()
    vae.register_to_config(scaling_factor=0.5)
    vae.save_pretrained(src, safe_serialization=True)
    (src / "TRAINING.md").write_text("# first run\n")
    assert train_vae.main(["--finetune-decoder", str(src), "--out", str(dst), "--steps", "2", "--batch", "4",
                           "--fg-weight", "4", "--threads", "1"]) == 0
    a = AutoencoderKL.from_pretrained(src, local_files_only=True)
    b = AutoencoderKL.from_pretrained(dst, local_files_only=True)
    assert b.config.scaling_factor == 0.5
    sa, sb = a.state_dict(), b.state_dict()
    enc = [k for k in sa if k.startswith(("encoder.", "quant_conv."))]
    dec = [k for k in sa if k.startswith(("decoder.", "post_quant_conv."))]
    assert enc and dec and all(torch.equal(sa[k], sb[k]) for k in enc)
    assert any(not torch.equal(sa[k], sb[k]) for k in dec)
    md = (dst / "TRAINING.md").read_text()
    assert md.startswith("# first run") and "## Decoder fine-tune" in md and "object pixels" in md


def test_train_script_runs_and_resumes(tmp_path):
    from kinoseal.training.generator import train
    from kinoseal.training.generator.report import read_runs

    out, st = tmp_path / "w" / "kino-test", tmp_path / "state"
    common = ["--out", str(out), "--state-dir", str(st), "--blocks", "16,32", "--batch", "2",
              "--log-every", "1", "--warmup", "1"]
    assert train.main(common + ["--steps", "2"]) == 2
    assert (st / "state.pt").exists() and (out / "model_index.json").exists()
    assert (out / "TRAINING.md").exists() and (out / "loss.csv").exists()
    assert train.main(common + ["--steps", "3", "--resume"]) == 3
    rows = (st / "loss.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,loss") and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    # every invocation that trained is on record, with its command, in the export too
    assert [r["start_step"] for r in read_runs(out)] == ["0", "2"]
    assert read_runs(out)[1]["command"].endswith("--steps 3 --resume")
    md = (out / "TRAINING.md").read_text()
    assert "| 0-2 |" in md and "| 2-3 |" in md
    assert train.main(common + ["--steps", "1", "--resume"]) == 3  # nothing to train: re-export, no new run row
    assert len(read_runs(out)) == 2
    md = (out / "TRAINING.md").read_text()
    assert "--steps 3 --resume\n```" in md and "re-exported without training by `python -m kinoseal.training.generator.train" in md
    assert "steps done: 3 (target 3)" in md and "--steps 1 --resume`." in md  # the target of the run that trained
    assert train.main(common + ["--steps", "3", "--resume", "--default-guidance", "6",
                                "--continuation-guidance", "2"]) == 3
    assert train.main(common + ["--steps", "4", "--resume", "--fg-weight", "3"]) == 4  # later runs keep the guidance
    index = json.loads((out / "model_index.json").read_text())
    assert index["default_guidance"] == 6.0 and index["continuation_guidance"] == 2.0
    assert "guidance 6.0 (at most 2 on chunks that continue known frames)" in (out / "TRAINING.md").read_text()
    assert (st / "loss.csv").read_text().strip().splitlines()[-1].endswith(" fg3")
    assert "Loss weight 1 + 3 on the latent cells an object touches" in (out / "TRAINING.md").read_text()
    # directed starts and the text head: on record, the head is trained and kept in the state only
    assert train.main(common + ["--steps", "5", "--resume", "--p-directed", "0.5", "--text-aux", "0.2",
                                "--text-aux-lr-scale", "10"]) == 5
    assert (st / "loss.csv").read_text().strip().splitlines()[-1].endswith(" dir0.5 aux0.2")
    md = (out / "TRAINING.md").read_text()
    assert "50% of clips start at time 0" in md and "Auxiliary loss (weight 0.2)" in md
    state = torch.load(st / "state.pt", map_location="cpu", weights_only=False)
    groups = state["opt"]["param_groups"]
    assert len(groups) == 3 and groups[-1]["lr"] == pytest.approx(10 * groups[0]["lr"])
    head = state["aux_head"]
    assert head["weight"].shape == (len(data.ATTRIBUTE_NAMES), 128) and float(head["weight"].abs().sum()) > 0
    assert not any("aux" in f.name for f in out.rglob("*"))
    # position channels: a resumed run widens conv_in (fresh moments), the export says so, later runs keep them
    assert train.main(common + ["--steps", "6", "--resume", "--position-channels"]) == 6
    assert json.loads((out / "model_index.json").read_text())["position_channels"] is True
    assert train.main(common + ["--steps", "7", "--resume"]) == 7
    assert (st / "loss.csv").read_text().strip().splitlines()[-1].endswith(" pos")
    assert "+3 position channels" in (out / "TRAINING.md").read_text()
    # phrase tokens: the vocabulary grows on resume, the export's tokenizer merges the phrases, later runs keep it
    assert train.main(common + ["--steps", "8", "--resume", "--phrase-tokens"]) == 8
    assert (st / "loss.csv").read_text().strip().splitlines()[-1].endswith(" pos phrases")
    assert "sliding_left" in json.loads((out / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    assert "is one token, e.g. `sliding_left`" in (out / "TRAINING.md").read_text()
    # twin pairs need room in the batch; on record in the loss curve and TRAINING.md
    with pytest.raises(SystemExit):
        train.parse_args(common + ["--mirror-pairs", "1"])
    six = [a if a != "2" else "6" for a in common]
    assert train.main(six + ["--steps", "9", "--resume", "--mirror-pairs", "1", "--reverse-pairs", "1"]) == 9
    assert (st / "loss.csv").read_text().strip().splitlines()[-1].endswith(" mirror1 reverse1 pos phrases")
    assert "Each batch starts with 1 clip(s) that say left or right" in (out / "TRAINING.md").read_text()
    assert train.main(six + ["--steps", "10", "--resume", "--mirror-pairs", "1", "--directed-unless-context"]) == 10
    assert (st / "loss.csv").read_text().strip().splitlines()[-1].endswith(" dir-unless-ctx mirror1 pos phrases")
    assert "Every clip without known frames starts at time 0" in (out / "TRAINING.md").read_text()
    # layout channels: conv_in widened, the planner beside the weights is exported with them, later runs keep both
    from kinoseal.training.generator import planner as train_planner
    from kinoseal.training.generator.report import read_runs

    train_planner.main(["--out", str(out), "--steps", "2", "--batch", "4", "--width", "16", "--layers", "1",
                        "--threads", "1"])
    assert train.main(six + ["--steps", "11", "--resume", "--mirror-pairs", "1", "--directed-unless-context",
                             "--layout-channels"]) == 11
    assert (st / "loss.csv").read_text().strip().splitlines()[-1].endswith(" dir-unless-ctx mirror1 pos layout0.8 phrases")
    index = json.loads((out / "model_index.json").read_text())
    assert index["layout_channels"] is True and index["planner"] == ["kinoseal.generate.layout", "LayoutPlanner"]
    md = (out / "TRAINING.md").read_text()
    assert "+2 layout channels" in md and "80% of the clips without known frames get their objects' true tracks" in md
    # a new machine (no state) warm-starts from the export and keeps its record of runs
    assert train.main([a if a != str(st) else str(tmp_path / "state2") for a in common] + ["--steps", "12", "--resume"]) == 12
    assert [r["start_step"] for r in read_runs(out)] == ["0", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]
    assert (tmp_path / "state2" / "loss.csv").read_text().strip().splitlines()[-1].endswith(" pos layout0.8 phrases")
    pipe = KinoVideoPipeline.from_pretrained(out, local_files_only=True)
    assert len(list(pipe._iter_frames(PROMPT, seconds=0.25, fps=8, seed=0, steps=2, out_size=32))) == 2


class _RenderingModel:
    """Stands in for a generator in the direction benchmark: it renders the prompt's scene, with
    the prompt's direction or (``follow=False``) with the seed's, so the metric's answers are known."""

    def __init__(self, follow: bool):
        from bench.direction_sensitivity import PAIRS, SCENES

        self.follow = follow
        self.specs = {data.make_spec(*scene, m).caption(): (scene, m, pair)
                      for scene in SCENES for pair in PAIRS for m in pair[:2]}

    def _iter_frames(self, prompt, *, seed, **_):
        scene, motion, pair = self.specs[prompt]
        if not self.follow:
            motion = pair[seed % 2]
        spec = data.make_spec(*scene, motion)
        return iter(data.render_clip(spec, frames=16, size=32))


def test_direction_benchmark_tells_a_model_that_reads_the_word_from_one_that_lets_the_noise_choose():
    from bench.direction_sensitivity import PAIRS, SCENES, same_seed_pairs

    reads = same_seed_pairs(_RenderingModel(follow=True), seeds=2, guidance=None, steps=1)
    noise = same_seed_pairs(_RenderingModel(follow=False), seeds=2, guidance=None, steps=1)
    assert [r["pairs"] for r in reads] == [2 * len(SCENES)] * len(PAIRS)
    assert all(r["drawn_as_said"] == 1.0 and r["drawn_the_same_way"] == 0.0 and r["clips_following"] == 1.0
               for r in reads), reads
    assert all(r["drawn_as_said"] == 0.0 and r["drawn_the_same_way"] == 1.0 and r["clips_following"] == 0.5
               for r in noise), noise
