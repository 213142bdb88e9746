"""KinoVideoPipeline: the tiny text-to-video diffusion pipeline behind kinoseal's default generator.

Components (all diffusers/transformers classes, saved in diffusers layout):

* ``vae`` -- ``AutoencoderKL`` applied per frame: 32x32x3 -> 8x8x4 latents
  (kino-tiny 0.2). Optional: without it (kino-tiny 0.1) the denoiser works in
  "patch space", each 32x32 frame pixel-unshuffled (lossless) into 8x8x48.
* ``unet`` -- ``UNet3DConditionModel`` denoiser over those 8x8 grids. One extra
  input channel is the known-frame mask used for chunk continuation (see
  below); with ``position_channels`` (kino-tiny 0.4) three more hold the
  frame index and the row and column, as ramps from -1 to 1; with
  ``layout_channels`` (kino-tiny 0.5) two more hold the planned object layout
  of the first chunk (see ``planner``). Predicts v. The pooled caption is added
  to its timestep embedding.
* ``text_encoder`` -- a tiny ``CLIPTextModel`` trained from scratch.
* ``tokenizer`` -- word-level tokenizer built from the caption vocabulary.
* ``scheduler`` -- ``DDIMScheduler`` (cosine betas, v-prediction, trailing spacing).
* ``planner`` -- optional ``generate.layout.LayoutPlanner`` (kino-tiny 0.5): reads
  the caption and draws each object's track for the first chunk, which the
  denoiser gets as its layout channels (why: see ``generate.layout``).

Long clips are generated chunk by chunk: a chunk is ``frames_per_chunk`` (16)
frames; every chunk after the first gets the last ``context_frames`` (4) frames
of the previous chunk as *known* frames (clean values + mask channel, which the
model was trained with), so motion continues across chunk borders. Frames are
yielded as they are produced, memory stays flat in clip length.

Editing (SDEdit): input frames are downscaled to the native size, noised to
``strength`` and denoised toward the prompt, chunk by chunk with the same
continuation mechanism.

Product rule: frame-producing methods are private (``_iter_frames``); the
public entry points that return video go through ``label.Labeler`` and always
watermark + sign what comes out of here.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet3DConditionModel
from PIL import Image
from transformers import CLIPTextConfig, CLIPTextModel

from kinoseal.generate.layout import LAYOUT_CHANNELS, LayoutPlanner, layout_input, layout_map
from kinoseal.generate.tokenizer import EOS_ID, MAX_LENGTH, PAD_ID, build_tokenizer, encode

ProgressFn = Callable[[str, int, int], None]

MODEL_NAME = "kino-tiny"
MODEL_VERSION = "0.5.1"


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class TextCond:
    """What the denoiser is conditioned on: per-token states (cross-attention) and
    their mean over the real tokens (added to the timestep embedding)."""

    hidden: torch.Tensor  # [B, L, D]
    pooled: torch.Tensor  # [B, D]

    def __getitem__(self, idx) -> "TextCond":
        return TextCond(self.hidden[idx], self.pooled[idx])

    def to(self, dtype) -> "TextCond":
        return TextCond(self.hidden.to(dtype), self.pooled.to(dtype))

    @staticmethod
    def cat(parts: list["TextCond"]) -> "TextCond":
        return TextCond(torch.cat([c.hidden for c in parts]), torch.cat([c.pooled for c in parts]))


TEXT_POOLINGS = ("eos", "mean", "eos+mean")


def text_condition(text_encoder: CLIPTextModel, ids: torch.Tensor, pooling: str = "mean") -> TextCond:
    """Encode token ids into per-token states and one pooled vector.

    pooling "eos": the state of the end-of-text token, which (causal attention) has seen the
    whole caption in order, so "a red ball on a blue background" and "a blue ball on a red
    background" differ. "mean": mean over the real tokens (kino-tiny 0.1; near order-free, and
    that model mixed up object and background colours). "eos+mean": both, concatenated (each
    normalised): kino-tiny's end-of-text state had learnt to ignore direction words ("sliding
    left" and "sliding right" pooled to cosine 0.99998) while the words' own token states still
    differed, and the mean carries them to the timestep embedding.
    (CLIP's own pooler picks the highest token id as end-of-text, which is wrong for
    our word-level vocabulary, hence the explicit position.)"""
    hidden = text_encoder(input_ids=ids).last_hidden_state.float()
    if pooling not in TEXT_POOLINGS:
        raise ValueError(f"unknown text pooling {pooling!r} (use one of {', '.join(TEXT_POOLINGS)})")
    parts = []
    if pooling in ("eos", "eos+mean"):
        pos = (ids == EOS_ID).int().argmax(1)
        parts.append(hidden[torch.arange(hidden.shape[0]), pos])
    if pooling in ("mean", "eos+mean"):
        real = (ids != PAD_ID).float().unsqueeze(-1)
        parts.append((hidden * real).sum(1) / real.sum(1).clamp_min(1.0))
    # Unit scale whatever the encoder's final LayerNorm gain is (in the shipped run weight
    # decay had shrunk it to ~0.05, which starved the text pathway of gradient).
    return TextCond(hidden, torch.cat([F.layer_norm(x, x.shape[-1:]) for x in parts], dim=-1))


def pooled_width(text_pooling: str, hidden_size: int) -> int:
    """Width of :func:`text_condition`'s pooled vector (the UNet's ``time_cond_proj_dim``)."""
    return hidden_size * (2 if text_pooling == "eos+mean" else 1)


def denoise(unet: UNet3DConditionModel, x: torch.Tensor, t, cond: TextCond) -> torch.Tensor:
    """One denoiser call; the pooled caption goes in only where the UNet has the input for it."""
    extra = {"timestep_cond": cond.pooled} if unet.config.get("time_cond_proj_dim") else {}
    return unet(x, t, encoder_hidden_states=cond.hidden, **extra).sample


def position_ramps(shape: tuple[int, ...]) -> torch.Tensor:
    """Frame, row and column of every cell of a [B, C, T, h, w] grid, each a ramp over [-1, 1].

    Why: UNet3DConditionModel's temporal layers have no positional embedding, so the
    denoiser can only tell frame 0 from frame 15 through zero padding. "sliding right"
    means "on the left at the first frame, on the right at the last": with these inputs
    that is a function of the input, not something to infer from border effects.
    """
    B, _, T, h, w = shape
    f = torch.linspace(-1, 1, T).view(1, 1, T, 1, 1).expand(B, 1, T, h, w)
    y = torch.linspace(-1, 1, h).view(1, 1, 1, h, 1).expand(B, 1, T, h, w)
    x = torch.linspace(-1, 1, w).view(1, 1, 1, 1, w).expand(B, 1, T, h, w)
    return torch.cat([f, y, x], dim=1)


POSITION_CHANNELS = 3  # position_ramps: frame, row, column


def unet_in_channels(latent_channels: int, position_channels: bool, layout_channels: bool = False) -> int:
    """What :func:`unet_input` stacks: latents, the known-frame mask, the ramps and layout if any."""
    return (latent_channels + 1 + (POSITION_CHANNELS if position_channels else 0)
            + (LAYOUT_CHANNELS if layout_channels else 0))


def unet_input(x: torch.Tensor, mask: torch.Tensor, position_channels: bool,
               layout: torch.Tensor | None = None) -> torch.Tensor:
    """The denoiser's input: latents [B, C, T, h, w], the known-frame mask [B, 1, T, h, w]
    and, for models trained with them, :func:`position_ramps` and the layout channels
    (:func:`generate.layout.layout_input`)."""
    parts = [x, mask.to(x.dtype)]
    if position_channels:
        parts.append(position_ramps(tuple(x.shape)).to(x.dtype))
    if layout is not None:
        parts.append(layout.to(x.dtype))
    return torch.cat(parts, dim=1)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, 3, T, H, W] -> [B, 3*p*p, T, H/p, W/p] (per-frame pixel unshuffle)."""
    B, C, T, H, W = x.shape
    y = F.pixel_unshuffle(x.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W), p)
    return y.reshape(B, T, C * p * p, H // p, W // p).permute(0, 2, 1, 3, 4).contiguous()


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    B, C, T, h, w = x.shape
    y = F.pixel_shuffle(x.permute(0, 2, 1, 3, 4).reshape(B * T, C, h, w), p)
    return y.reshape(B, T, C // (p * p), h * p, w * p).permute(0, 2, 1, 3, 4).contiguous()


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [..., T, H, W, 3] -> float [..., 3, T, H, W] in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0
    return t.movedim(-1, -4)


def tensor_to_frames(px: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`frames_to_tensor` for one clip: float [3, T, H, W] in [-1, 1] -> uint8 [T, H, W, 3]."""
    return ((px.permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


def _temporal_conv_forward(self: torch.nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    # A (3,1,1) Conv3d as a Conv2d over (T, H*W): same maths, but takes PyTorch's fast
    # (oneDNN) CPU path instead of slow_conv3d, which is what small batches on 1 thread get.
    B, C, T, H, W = x.shape
    w = self.weight.squeeze(-1)
    y = F.conv2d(x.reshape(B, C, T, H * W), w, self.bias, padding=(self.padding[0], 0))
    return y.reshape(B, -1, y.shape[2], H, W)


def speed_up_temporal_convs(unet: torch.nn.Module) -> torch.nn.Module:
    for mod in unet.modules():
        if isinstance(mod, torch.nn.Conv3d) and tuple(mod.kernel_size) == (3, 1, 1) \
                and tuple(mod.stride) == (1, 1, 1) and tuple(mod.padding)[1:] == (0, 0) and mod.groups == 1:
            mod.forward = types.MethodType(_temporal_conv_forward, mod)
    return unet


def _to_native(frame: np.ndarray, size: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.stack([frame] * 3, -1)
    frame = frame[..., :3]
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.shape[0] != size or frame.shape[1] != size:
        frame = np.asarray(Image.fromarray(frame).resize((size, size), Image.BICUBIC, reducing_gap=2.0))
    return frame


# ----------------------------------------------------------------------------- component factory


def default_unet_config(patch_size: int = 4, native_size: int = 32, block_out_channels=(48, 96),
                        layers_per_block: int = 1, heads: int = 8, cross_attention_dim: int = 128,
                        pooled_text: bool = True, latent_channels: int | None = None,
                        position_channels: bool = False, layout_channels: bool = False) -> dict:
    """UNet over patch space (latent_channels None: 3*p*p channels) or over VAE latents
    (latent_channels channels); either way the grid is native_size / patch_size (the VAE
    downsamples by 4 = the default patch size)."""
    c = latent_channels or 3 * patch_size * patch_size
    n = len(block_out_channels)
    return dict(
        # The pooled caption is added to the timestep embedding (``timestep_cond``), so every
        # ResNet block sees the prompt; cross-attention alone was ignored by the trained
        # denoiser (see generate/weights/kino-tiny/TRAINING.md).
        time_cond_proj_dim=cross_attention_dim if pooled_text else None,
        sample_size=native_size // patch_size,
        in_channels=unet_in_channels(c, position_channels, layout_channels),
        out_channels=c,
        down_block_types=("DownBlock3D",) + ("CrossAttnDownBlock3D",) * (n - 1),
        up_block_types=("CrossAttnUpBlock3D",) * (n - 1) + ("UpBlock3D",),
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        norm_num_groups=16,
        cross_attention_dim=cross_attention_dim,
        # NB: in UNet3DConditionModel this number is the number of *heads* of the spatial attention
        attention_head_dim=heads,
    )


def default_vae(latent_channels: int = 4, block_out_channels=(32, 64, 64), norm_num_groups: int = 16) -> AutoencoderKL:
    """Per-frame autoencoder: 32x32x3 -> 8x8x4 (two downsamplings)."""
    n = len(block_out_channels)
    return AutoencoderKL(
        norm_num_groups=norm_num_groups,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=1,
        latent_channels=latent_channels,
        sample_size=32,
    )


def default_text_config(vocab_size: int, hidden: int = 128, layers: int = 2, heads: int = 4) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=MAX_LENGTH,
        projection_dim=hidden,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )


def default_scheduler(clip_range: float = 1.0) -> DDIMScheduler:
    """clip_range bounds the x0 estimate: 1.0 for pixels in [-1, 1]; VAE latents (unit std)
    get the range measured on real latents."""
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        clip_sample=True,
        clip_sample_range=float(clip_range),
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )


# ----------------------------------------------------------------------------- pipeline


class KinoVideoPipeline(DiffusionPipeline):
    """Tiny text-to-video pipeline (see module docstring)."""

    model_cpu_offload_seq = "text_encoder->unet->vae"
    _optional_components = ["vae", "planner"]
    supports_edit = True  # SDEdit: _iter_frames(init_frames=..., strength=...)

    def __init__(
        self,
        unet: UNet3DConditionModel,
        text_encoder: CLIPTextModel,
        tokenizer,
        scheduler: DDIMScheduler,
        vae: AutoencoderKL | None = None,
        planner: LayoutPlanner | None = None,
        patch_size: int = 4,
        native_size: int = 32,
        frames_per_chunk: int = 16,
        context_frames: int = 4,
        native_fps: int = 8,
        default_guidance: float = 4.0,
        default_steps: int = 25,
        continuation_guidance: float | None = None,
        model_name: str = MODEL_NAME,
        model_version: str = MODEL_VERSION,
        text_pooling: str = "mean",
        position_channels: bool = False,
        layout_channels: bool = False,
    ):
        super().__init__()
        self.register_modules(unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler, vae=vae,
                              planner=planner)
        self.register_to_config(
            text_pooling=text_pooling,
            position_channels=bool(position_channels),
            layout_channels=bool(layout_channels),
            patch_size=patch_size,
            native_size=native_size,
            frames_per_chunk=frames_per_chunk,
            context_frames=context_frames,
            native_fps=native_fps,
            default_guidance=default_guidance,
            default_steps=default_steps,
            continuation_guidance=continuation_guidance,
            model_name=model_name,
            model_version=model_version,
        )
        expected = unet_in_channels(self._latent_channels(), position_channels, layout_channels)
        if int(unet.config.in_channels) != expected:
            raise ValueError(
                f"the unet takes {unet.config.in_channels} input channels but this pipeline feeds it {expected} "
                f"(latents + known-frame mask{' + 3 position ramps' if position_channels else ''}"
                f"{' + 2 layout channels' if layout_channels else ''}); "
                "model_index.json's position_channels/layout_channels do not match the unet's weights")
        speed_up_temporal_convs(self.unet)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_config_random(cls, *, seed: int = 0, unet_kwargs: dict | None = None,
                           text_kwargs: dict | None = None, vae: AutoencoderKL | None = None,
                           phrase_tokens: bool = False, **pipe_kwargs) -> "KinoVideoPipeline":
        """A randomly initialised pipeline (training start, tests). With ``vae`` (trained or
        random) the denoiser works on its latents, else on pixel-unshuffled frames;
        ``phrase_tokens``: see :mod:`generate.tokenizer`."""
        torch.manual_seed(seed)
        tok = build_tokenizer(phrases=phrase_tokens)
        pk = dict(pipe_kwargs)
        uk = dict(unet_kwargs or {})
        clip_range = 1.0
        if vae is not None:
            uk["latent_channels"] = int(vae.config.latent_channels)
            pk["patch_size"] = 2 ** (len(vae.config.block_out_channels) - 1)
            clip_range = 4.0  # training.generator.train sets the range measured on real latents
        unet_cfg = default_unet_config(patch_size=pk.get("patch_size", 4), native_size=pk.get("native_size", 32),
                                       position_channels=bool(pk.get("position_channels", False)),
                                       layout_channels=bool(pk.get("layout_channels", False)), **uk)
        text_kw = dict(text_kwargs or {})
        text_cfg = default_text_config(len(tok.get_vocab()), **text_kw)
        if "cross_attention_dim" not in (unet_kwargs or {}):
            unet_cfg["cross_attention_dim"] = text_cfg.hidden_size
        if unet_cfg.get("time_cond_proj_dim"):  # the pooled caption's width
            unet_cfg["time_cond_proj_dim"] = pooled_width(pk.get("text_pooling", "mean"), text_cfg.hidden_size)
        unet = UNet3DConditionModel(**unet_cfg)
        te = CLIPTextModel(text_cfg)
        if vae is not None:
            vae.eval()
        return cls(unet=unet, text_encoder=te, tokenizer=tok, scheduler=default_scheduler(clip_range), vae=vae, **pk)

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        # transformers 5 names the fast tokenizer class "TokenizersBackend"; record the
        # long-standing alias so the folder also loads with transformers 4.x.
        import json
        from pathlib import Path

        index = Path(save_directory) / "model_index.json"
        cfg = json.loads(index.read_text())
        if cfg.get("tokenizer", [None, None])[1] == "TokenizersBackend":
            cfg["tokenizer"] = ["transformers", "PreTrainedTokenizerFast"]
            index.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            "KinoVideoPipeline does not hand out unlabeled frames; generate through kinoseal.generate.generate_clip "
            "(watermark + signed manifest)."
        )

    # ------------------------------------------------------------------ info

    def plan(self, *, seconds: float, fps: int | None, height: int | None = None, width: int | None = None) -> dict:
        """The frames and size a request produces: any length (chunked), always 256 x 256."""
        fps = int(fps or self.config.native_fps)
        return {"num_frames": max(1, int(round(float(seconds) * fps))), "fps": fps, "height": 256, "width": 256,
                "notes": []}

    def describe(self) -> dict:
        c = self.config
        n_params = sum(p.numel() for p in self.unet.parameters()) + sum(p.numel() for p in self.text_encoder.parameters())
        return {
            "model": c.model_name,
            "version": c.model_version,
            "native_size": (int(c.native_size), int(c.native_size)),
            "frames_per_chunk": int(c.frames_per_chunk),
            "context_frames": int(c.context_frames),
            "default_fps": int(c.native_fps),
            "output_size": 256,
            "default_steps": int(c.default_steps),
            "default_guidance": float(c.default_guidance),
            **({"continuation_guidance": float(c.get("continuation_guidance"))}
               if c.get("continuation_guidance") is not None else {}),
            "parameters": int(n_params),
            "architecture": (f"UNet3DConditionModel ({self._space()}"
                             f"{', frame/row/column inputs' if self.config.position_channels else ''}"
                             f"{', layout inputs' if self._plans() else ''}, "
                             "v-prediction) + CLIPTextModel + word-level tokenizer, DDIM"
                             f"{' + LayoutPlanner' if self._plans() else ''}"),
        }

    def _plans(self) -> bool:
        """True when the first chunk of a generated clip is drawn on a planned layout."""
        return bool(self.config.get("layout_channels")) and self.planner is not None

    def _space(self) -> str:
        g = int(self.config.native_size) // int(self.config.patch_size)
        if self.vae is not None:
            return f"AutoencoderKL latents {g}x{g}x{int(self.vae.config.latent_channels)}"
        return f"patch space {g}x{g}x{3 * int(self.config.patch_size) ** 2}"

    # ------------------------------------------------------------------ latent codec

    def _latent_channels(self) -> int:
        if self.vae is not None:
            return int(self.vae.config.latent_channels)
        return 3 * int(self.config.patch_size) ** 2

    @torch.no_grad()
    def _encode_frames(self, px: torch.Tensor) -> torch.Tensor:
        """Pixels [B, 3, T, S, S] in [-1, 1] -> what the denoiser works on [B, C, T, h, w]."""
        if self.vae is None:
            return patchify(px, int(self.config.patch_size))
        B, _, T, S, _ = px.shape
        flat = px.permute(0, 2, 1, 3, 4).reshape(B * T, 3, S, S).to(self.vae.dtype)
        z = self.vae.encode(flat).latent_dist.mode().float() * float(self.vae.config.scaling_factor)
        return z.reshape(B, T, *z.shape[1:]).permute(0, 2, 1, 3, 4).contiguous()

    @torch.no_grad()
    def _decode_latents(self, lat: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_encode_frames`: [B, C, T, h, w] -> pixels [B, 3, T, S, S] in [-1, 1]."""
        if self.vae is None:
            return unpatchify(lat, int(self.config.patch_size)).clamp(-1, 1)
        B, C, T, h, w = lat.shape
        flat = lat.permute(0, 2, 1, 3, 4).reshape(B * T, C, h, w) / float(self.vae.config.scaling_factor)
        y = self.vae.decode(flat.to(self.vae.dtype)).sample.float().clamp(-1, 1)
        return y.reshape(B, T, *y.shape[1:]).permute(0, 2, 1, 3, 4).contiguous()

    # ------------------------------------------------------------------ internals

    @torch.no_grad()
    def _encode_text(self, prompts: list[str]) -> "TextCond":
        return text_condition(self.text_encoder, encode(self.tokenizer, prompts, MAX_LENGTH),
                              str(self.config.text_pooling))

    @torch.no_grad()
    def _denoise_chunk(
        self,
        emb_cond: "TextCond",
        emb_uncond: "TextCond",
        generator: torch.Generator,
        steps: int,
        guidance: float,
        context: torch.Tensor | None = None,
        init: torch.Tensor | None = None,
        strength: float | None = None,
        progress: ProgressFn | None = None,
        layout: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Denoise one chunk in patch space. context: [C, k, h, w] known leading frames;
        init: [C, T, h, w] clean frames to SDEdit from; layout: [T, h, w] planned object
        discs (models with layout channels; None: "no layout"). Returns [C, T, h, w]."""
        c = self.config
        T = int(c.frames_per_chunk)
        h = int(c.native_size) // int(c.patch_size)
        C = self._latent_channels()
        sched = type(self.scheduler).from_config(self.scheduler.config)  # per call: thread-safe
        sched.set_timesteps(steps)
        timesteps = sched.timesteps
        noise = torch.randn((1, C, T, h, h), generator=generator, dtype=torch.float32)
        if init is not None:
            s = 1.0 if strength is None else float(strength)
            n_use = max(1, min(len(timesteps), int(round(len(timesteps) * s))))
            timesteps = timesteps[len(timesteps) - n_use:]
            lat = sched.add_noise(init[None].float(), noise, timesteps[:1])
        else:
            lat = noise * sched.init_noise_sigma
        mask = torch.zeros((1, 1, T, h, h))
        known = torch.zeros((1, C, T, h, h))
        if context is not None and context.shape[1] > 0:
            k = context.shape[1]
            mask[:, :, :k] = 1.0
            known[:, :, :k] = context
        dtype = next(self.unet.parameters()).dtype
        use_cfg = guidance is not None and guidance != 1.0
        emb = TextCond.cat([emb_uncond, emb_cond]) if use_cfg else emb_cond
        for i, t in enumerate(timesteps):
            x_in = lat * (1 - mask) + known * mask
            inp = self._denoiser_input(x_in, mask, None if layout is None else layout[None])
            if use_cfg:
                inp = torch.cat([inp, inp])
            out = denoise(self.unet, inp.to(dtype), t, emb.to(dtype)).float()
            if use_cfg:
                u, cnd = out.chunk(2)
                out = u + guidance * (cnd - u)
            lat = sched.step(out, t, lat).prev_sample
            if progress is not None:
                progress("step", i + 1, len(timesteps))
        lat = lat * (1 - mask) + known * mask
        return lat[0]

    def _denoiser_input(self, x: torch.Tensor, mask: torch.Tensor, layout: torch.Tensor | None = None) -> torch.Tensor:
        """:func:`unet_input` with the channels this model's denoiser was trained with; layout
        [B, T, h, w] object discs, or None for "no layout" (also what models with layout
        channels see on continued chunks and edits)."""
        lay = layout_input(layout, tuple(x.shape)) if self.config.get("layout_channels") else None
        return unet_input(x, mask, bool(self.config.position_channels), lay)

    @torch.no_grad()
    def _plan_layout(self, prompt: str, generator: torch.Generator) -> torch.Tensor | None:
        """The planner's object discs [T, h, w] for ``prompt`` (one draw from ``generator``), or
        None for models without a planner."""
        if not self._plans():
            return None
        h = int(self.config.native_size) // int(self.config.patch_size)
        ids = encode(self.tokenizer, [prompt], int(self.planner.config.max_length))
        tracks = self.planner.plan(ids, generator)[0]
        return torch.from_numpy(layout_map(tracks, h))

    def _continuation_guidance(self, guidance: float) -> float:
        """Guidance for a chunk that continues known frames: at most ``continuation_guidance``.

        The known frames already fix colours and motion; a high scale on top pushes the new
        frames away from them, which shows as a jump at every chunk border (bench/generator_quality.py).
        """
        cap = self.config.get("continuation_guidance")
        return float(guidance) if cap is None else min(float(guidance), float(cap))

    def _native_chunks(
        self,
        prompt: str,
        n_frames: int | None,
        generator: torch.Generator,
        steps: int,
        guidance: float,
        source: Iterator[np.ndarray] | None = None,
        strength: float | None = None,
        progress: ProgressFn | None = None,
        n_chunks_hint: int = 0,
    ) -> Iterator[np.ndarray]:
        """Yield native uint8 frames [H, W, 3]; n_frames None means "as many as source has"."""
        c = self.config
        T = int(c.frames_per_chunk)
        K = int(c.context_frames)
        S = int(c.native_size)
        emb = self._encode_text(["", prompt])
        emb_u, emb_c = emb[:1], emb[1:]
        produced = 0
        context: torch.Tensor | None = None
        last_src: np.ndarray | None = None
        chunk_i = 0
        n_chunks = n_chunks_hint
        if n_frames is not None:
            n_chunks = 1 + max(0, math.ceil((n_frames - T) / (T - K)))
        while n_frames is None or produced < n_frames:
            k = 0 if context is None else K
            new = T - k
            init = None
            if source is not None:
                src: list[np.ndarray] = []
                exhausted = False
                for _ in range(new if n_frames is None else min(new, n_frames - produced)):
                    try:
                        last_src = _to_native(next(source), S)
                    except StopIteration:
                        exhausted = True
                        if n_frames is None:
                            break
                        # input shorter than requested: hold the last frame
                    if last_src is None:
                        break
                    src.append(last_src)
                if not src:
                    break
                n_take = len(src)
                while len(src) < new:
                    src.append(src[-1])
                init = self._encode_frames(frames_to_tensor(np.stack(src))[None])[0]  # [C, new, h, w]
                if context is not None:
                    init = torch.cat([context, init], dim=1)
                if exhausted and n_frames is None:
                    n_chunks = chunk_i + 1
            else:
                n_take = new if n_frames is None else min(new, n_frames - produced)
            if progress is not None:
                progress("chunk", chunk_i, max(n_chunks, chunk_i + 1))
            # Only a clip's first chunk is planned: later ones continue their known frames,
            # edits follow their input.
            layout = self._plan_layout(prompt, generator) if context is None and source is None else None
            lat = self._denoise_chunk(emb_c, emb_u, generator, steps,
                                      guidance if context is None else self._continuation_guidance(guidance),
                                      context=context, init=init,
                                      strength=strength, progress=progress, layout=layout)
            px = self._decode_latents(lat[None])[0]  # [3, T, S, S]
            frames = tensor_to_frames(px)
            for f in frames[k:k + n_take]:
                yield f
            produced += n_take
            context = lat[:, T - K:].clone()
            chunk_i += 1
            if source is not None and n_take < new:
                break
        if progress is not None and n_chunks:
            progress("chunk", chunk_i, chunk_i)

    def _iter_frames(
        self,
        prompt: str,
        *,
        seconds: float | None,
        fps: int,
        seed: int,
        steps: int | None = None,
        guidance: float | None = None,
        out_size: int = 256,
        init_frames: Iterable[np.ndarray] | None = None,
        strength: float | None = None,
        progress: ProgressFn | None = None,
    ) -> Iterator[np.ndarray]:
        """Stream generated RGB uint8 frames [out_size, out_size, 3], one per output frame.

        Text-to-video: round(seconds * fps) frames; the model runs at ``native_fps`` and
        frames in between are linearly blended. Editing (init_frames given): one output frame
        per input frame (or round(seconds * fps) if seconds is given), SDEdit at ``strength``.
        PRIVATE: callers must label (watermark + manifest) what this yields.
        """
        c = self.config
        steps = int(steps or c.default_steps)
        guidance = float(c.default_guidance if guidance is None else guidance)
        fps = int(fps) if fps else int(c.native_fps)
        generator = torch.Generator("cpu").manual_seed(int(seed))
        out_size = int(out_size)

        def upscale(f: np.ndarray) -> np.ndarray:
            if f.shape[0] == out_size and f.shape[1] == out_size:
                return np.ascontiguousarray(f)
            return np.asarray(Image.fromarray(f).resize((out_size, out_size), Image.BICUBIC))

        if init_frames is not None:
            if strength is None:
                strength = 0.6
            if not 0.0 < float(strength) <= 1.0:
                raise ValueError("strength must be in (0, 1]")
            n_out = round(seconds * fps) if seconds else None
            hint = 0
            if n_out is None and hasattr(init_frames, "__len__"):
                n_in = len(init_frames)  # type: ignore[arg-type]
                T, K = int(c.frames_per_chunk), int(c.context_frames)
                hint = 1 + max(0, math.ceil((n_in - T) / (T - K)))
            it = self._native_chunks(prompt, n_out, generator, steps, guidance, source=iter(init_frames),
                                     strength=float(strength), progress=progress, n_chunks_hint=hint)
            for f in it:
                yield upscale(f)
            return

        n_out = int(round(float(seconds) * fps))
        if n_out <= 0:
            return
        nf = int(c.native_fps)
        if fps == nf:
            for f in self._native_chunks(prompt, n_out, generator, steps, guidance, progress=progress):
                yield upscale(f)
            return
        # resample the native stream to the requested frame rate (linear blend, streaming)
        last_t = (n_out - 1) * nf / fps
        n_native = int(math.ceil(last_t - 1e-9)) + 1
        native = self._native_chunks(prompt, n_native, generator, steps, guidance, progress=progress)
        window: dict[int, np.ndarray] = {}
        next_idx = 0
        for j in range(n_out):
            s = j * nf / fps
            i0 = int(math.floor(s + 1e-9))
            w = s - i0
            need = i0 + (1 if w > 1e-6 else 0)
            while next_idx <= need:
                window[next_idx] = next(native)
                next_idx += 1
            for key in [kk for kk in window if kk < i0]:
                del window[key]
            if w <= 1e-6:
                f = window[i0]
            else:
                f = ((1 - w) * window[i0].astype(np.float32) + w * window[i0 + 1].astype(np.float32) + 0.5).astype(np.uint8)
            yield upscale(f)
        native.close()
