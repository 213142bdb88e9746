"""Tiny random-weight diffusers text-to-video pipelines, built and saved locally (never downloaded).

Each ``build_*`` function makes the smallest components the diffusers/transformers classes accept
(1-2 layers, 4-32 channels, tiny VAEs), wires them into the real pipeline class and
``save_pretrained``s it into ``root / <name>`` in diffusers layout (model_index.json + one folder per
component, safetensors weights). Tokenizers are built from an in-memory vocabulary:

* CLIP pipelines (TextToVideoSD, AnimateDiff) get a real ``CLIPTokenizer`` (byte-level BPE, the 256
  byte symbols + their ``</w>`` forms, no merges) so the saved dir is what a user's checkpoint looks like.
* T5 pipelines (CogVideoX, LTX, Wan, Latte) get a real ``T5Tokenizer`` (Unigram over letters and a few
  words) -- transformers 5 builds it from a ``(piece, score)`` list, no sentencepiece file needed.

The weights are random, so the videos are noise; the point is to run every pipeline's real code path
(tokenizer -> text encoder -> denoiser -> VAE decode -> postprocess) in a second or two on a CPU.
Configurations follow the ``get_dummy_components()`` patterns of diffusers' own pipeline tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

TEXT_LEN = 16  # tokenizer model_max_length / text-encoder positions for all tiny pipelines


# ----------------------------------------------------------------------------- tokenizers


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clip_tokenizer(max_length: int = TEXT_LEN):
    """A real ``CLIPTokenizer`` with a 514-symbol byte-level vocabulary (every text tokenizes)."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _bytes_to_unicode().values():
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


T5_WORDS = ("cat", "dog", "red", "blue", "ball", "sky", "sea", "a", "the", "on", "in")


def t5_tokenizer(max_length: int = TEXT_LEN):
    """A real ``T5Tokenizer`` (Unigram) over ``<pad> </s> <unk> ▁`` + letters, digits and a few words."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + w, -3.0) for w in T5_WORDS]
    pieces += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


def _t5_encoder(vocab_size: int, d_model: int, umt5: bool = False):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    kw = dict(vocab_size=vocab_size, d_model=d_model, d_kv=4, d_ff=2 * d_model, num_layers=1, num_heads=2,
              relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
              decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    if umt5:
        return UMT5EncoderModel(UMT5Config(**kw))
    return T5EncoderModel(T5Config(**kw))


def _clip_text(vocab_size: int, hidden: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=TEXT_LEN, projection_dim=hidden,
        bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))


def _tiny_vae_2d():
    """AutoencoderKL with 2 blocks of 8 channels: 4 latent channels, spatial factor 2."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=2,
        sample_size=16,
    )


# ----------------------------------------------------------------------------- pipelines


def build_text_to_video_sd(root: Path) -> Path:
    """TextToVideoSDPipeline (ModelScope layout): UNet3DConditionModel + AutoencoderKL + CLIP, DDIM."""
    from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

    torch.manual_seed(0)
    tok = clip_tokenizer()
    te = _clip_text(len(tok), 16)
    unet = UNet3DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 8), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=2,
    )
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False)
    pipe = TextToVideoSDPipeline(vae=_tiny_vae_2d(), text_encoder=te, tokenizer=tok, unet=unet, scheduler=sched)
    return _save(pipe, root / "tiny-modelscope")


def build_animatediff(root: Path, motion_max_seq_length: int = 16) -> Path:
    """AnimateDiffPipeline: UNet2DConditionModel + MotionAdapter (saved as UNetMotionModel) + CLIP, DDIM."""
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter, UNet2DConditionModel

    torch.manual_seed(0)
    tok = clip_tokenizer()
    te = _clip_text(len(tok), 16)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 8), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=2,
    )
    adapter = MotionAdapter(
        block_out_channels=(8, 8), motion_layers_per_block=1, motion_norm_num_groups=2,
        motion_num_attention_heads=2, motion_max_seq_length=motion_max_seq_length,
    )
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False)
    pipe = AnimateDiffPipeline(vae=_tiny_vae_2d(), text_encoder=te, tokenizer=tok, unet=unet,
                               motion_adapter=adapter, scheduler=sched)
    return _save(pipe, root / "tiny-animatediff")


def build_cogvideox(root: Path) -> Path:
    """CogVideoXPipeline: CogVideoXTransformer3DModel + AutoencoderKLCogVideoX (4x time, 8x space) + T5."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel

    torch.manual_seed(0)
    tok = t5_tokenizer()
    te = _t5_encoder(len(tok), 16)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        norm_num_groups=2, temporal_compression_ratio=4,
    )
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=16, num_layers=1, sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=TEXT_LEN,
    )
    sched = CogVideoXDDIMScheduler()
    pipe = CogVideoXPipeline(tokenizer=tok, text_encoder=te, vae=vae, transformer=transformer, scheduler=sched)
    return _save(pipe, root / "tiny-cogvideox")


def build_ltx(root: Path) -> Path:
    """LTXPipeline: LTXVideoTransformer3DModel + AutoencoderKLLTXVideo (4x time, 4x space here) + T5."""
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel

    torch.manual_seed(0)
    tok = t5_tokenizer()
    te = _t5_encoder(len(tok), 16)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, num_layers=1, caption_channels=16,
    )
    sched = FlowMatchEulerDiscreteScheduler()
    pipe = LTXPipeline(scheduler=sched, vae=vae, text_encoder=te, tokenizer=tok, transformer=transformer)
    return _save(pipe, root / "tiny-ltx")


def build_wan(root: Path, rope_max_seq_len: int = 32) -> Path:
    """WanPipeline (2.1 layout): WanTransformer3DModel + AutoencoderKLWan (4x time, 8x space) + UMT5."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(0)
    tok = t5_tokenizer()
    te = _t5_encoder(len(tok), 16, umt5=True)
    vae = AutoencoderKLWan(base_dim=3, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True],
                           latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4,
        text_dim=16, freq_dim=16, ffn_dim=16, num_layers=1, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=rope_max_seq_len,
    )
    sched = FlowMatchEulerDiscreteScheduler(shift=7.0)
    pipe = WanPipeline(tokenizer=tok, text_encoder=te, vae=vae, scheduler=sched, transformer=transformer)
    return _save(pipe, root / "tiny-wan")


def build_latte(root: Path, video_length: int = 4) -> Path:
    """LattePipeline: LatteTransformer3DModel (fixed ``video_length``) + AutoencoderKL + T5, DDIM."""
    from diffusers import DDIMScheduler, LattePipeline, LatteTransformer3DModel

    torch.manual_seed(0)
    tok = t5_tokenizer()
    te = _t5_encoder(len(tok), 16)
    transformer = LatteTransformer3DModel(
        sample_size=8, num_layers=1, patch_size=2, attention_head_dim=8, num_attention_heads=2, caption_channels=16,
        in_channels=4, cross_attention_dim=16, out_channels=8, attention_bias=True,
        activation_fn="gelu-approximate", num_embeds_ada_norm=1000, norm_type="ada_norm_single",
        norm_elementwise_affine=False, norm_eps=1e-6, video_length=video_length,
    )
    sched = DDIMScheduler()
    pipe = LattePipeline(tokenizer=tok, text_encoder=te, vae=_tiny_vae_2d(), transformer=transformer, scheduler=sched)
    return _save(pipe, root / "tiny-latte")


def _save(pipe, path: Path) -> Path:
    path = Path(path)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "TextToVideoSDPipeline": build_text_to_video_sd,
    "AnimateDiffPipeline": build_animatediff,
    "CogVideoXPipeline": build_cogvideox,
    "LTXPipeline": build_ltx,
    "WanPipeline": build_wan,
    "LattePipeline": build_latte,
}
