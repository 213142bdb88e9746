"""Layout planning for kino-tiny: where each object is, frame by frame, before any pixel is drawn.

Why: four model versions learnt colours, shapes and the axis of motion from captions, but
never its sign. The noise picked whether "sliding right" went right (same-seed pairs drawn
as said: 0 of 36, bench/direction_sensitivity.py), because at high noise the denoising
loss barely depends on the sign (an ideal denoiser's x0 error grows only 1.18x when the
direction word is flipped). So the pipeline is split in two, as in LLM-grounded video
diffusion (Lian et al., 2023) and box-conditioned video models (Boximator, TrailBlazer):

* a :class:`LayoutPlanner` reads the caption and predicts, for each object it names, a
  track of (x, y, radius) per frame: a Gaussian whose mean and spread it learns by
  maximum likelihood from the procedural data's true tracks (``training.generator.planner``);
* the denoiser gets the drawn tracks as two extra input channels (:func:`layout_map`: a
  disc per object per frame at the latent grid, and a "layout given" flag), trained with
  the true tracks of its training clips, so it learns to draw the caption's objects there.

The planner is a learnt model too (its own token embedding and transformer), not a parser:
it knows "sliding right" only from the tracks it was trained on.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin  # noqa: F401  ModelMixin: diffusers finds the loader here
from diffusers.configuration_utils import register_to_config
from torch import nn

from kinoseal.scenes.procedural import layout_map  # noqa: F401  the planner's target; scenes draw it

LAYOUT_CHANNELS = 2  # layout_map's object discs, then the "layout given" flag
TRACK_DIMS = 3  # x, y (fractions of the frame, x may leave [0, 1]: the scene wraps), radius


def layout_input(maps: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
    """The denoiser's layout channels [B, 2, T, h, w] for a latent grid of ``shape``
    [B, C, T, h, w]: the maps [B, T, h, w] and a flag of ones, or zeros for "no layout"
    (continued chunks, edits, the planner-less models)."""
    B, _, T, h, w = shape
    if maps is None:
        return torch.zeros(B, LAYOUT_CHANNELS, T, h, w)
    maps = maps.float().reshape(B, 1, T, h, w)
    return torch.cat([maps, torch.ones_like(maps)], dim=1)


class LayoutPlanner(ModelMixin, ConfigMixin):
    """Caption token ids -> per object slot: exists (logit), track mean [T, 3], track log-std [T, 3].

    Object slots follow the caption's order ("a red ball ... and a blue square ..."): the
    slot queries of a small transformer decoder learn to pick the k-th object phrase.
    """

    @register_to_config
    def __init__(self, vocab_size: int, frames: int = 16, max_objects: int = 3, max_length: int = 32,
                 width: int = 64, layers: int = 2, heads: int = 4, pad_id: int = 0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width)
        self.position = nn.Parameter(torch.randn(max_length, width) * 0.02)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True),
            layers, enable_nested_tensor=False)
        self.slots = nn.Parameter(torch.randn(max_objects, width) * 0.02)
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True),
            layers)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 1 + 2 * frames * TRACK_DIMS))

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c = self.config
        pad = ids == int(c.pad_id)
        pad[:, 0] = False  # an all-padding row would make attention NaN
        h = self.encoder(self.embed(ids) + self.position[: ids.shape[1]], src_key_padding_mask=pad)
        q = self.slots.unsqueeze(0).expand(ids.shape[0], -1, -1)
        out = self.head(self.decoder(q, h, memory_key_padding_mask=pad))
        B, K = out.shape[:2]
        T = int(c.frames)
        mean = out[..., 1:1 + T * TRACK_DIMS].reshape(B, K, T, TRACK_DIMS)
        log_std = out[..., 1 + T * TRACK_DIMS:].reshape(B, K, T, TRACK_DIMS).clamp(-6.0, 1.0)
        return out[..., 0], mean, log_std

    def loss(self, ids: torch.Tensor, tracks: torch.Tensor, exists: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the true tracks [B, K, T, 3] (slots with exists [B, K])
        plus the existence cross-entropy."""
        logit, mean, log_std = self(ids)
        missing = logit.shape[1] - exists.shape[1]  # data with fewer objects than slots: the rest are empty
        if missing > 0:
            tracks = nn.functional.pad(tracks, (0, 0, 0, 0, 0, missing))
            exists = nn.functional.pad(exists, (0, missing))
        nll = 0.5 * ((tracks - mean) / log_std.exp()) ** 2 + log_std
        nll = (nll.mean((2, 3)) * exists).sum() / exists.sum().clamp_min(1.0)
        return nll + nn.functional.binary_cross_entropy_with_logits(logit, exists)

    @torch.no_grad()
    def plan(self, ids: torch.Tensor, generator: torch.Generator | None = None) -> list[np.ndarray]:
        """Draw one track set per caption: a list of arrays [n_objects, T, 3].

        One standard-normal draw per object and coordinate is shared by all frames (the
        spread is mostly where the object starts and how big it is, not frame-to-frame
        jitter); without a generator the mean tracks.
        """
        logit, mean, log_std = self(ids)
        eps = torch.zeros(mean.shape[0], mean.shape[1], 1, TRACK_DIMS)
        if generator is not None:
            eps = torch.randn(eps.shape, generator=generator)
        tracks = mean + eps * log_std.exp()
        tracks[..., 2] = tracks[..., 2].clamp(0.03, 0.4)
        out = []
        for b in range(ids.shape[0]):
            keep = logit[b] > 0
            keep[0] = True  # every caption names at least one object
            out.append(tracks[b][keep].double().numpy())
        return out
