"""Loss weights of the denoiser's objective."""

from __future__ import annotations


import numpy as np
import torch



def cell_weight(cover: np.ndarray, cells: int, fg_weight: float) -> torch.Tensor:
    """Loss weight per latent cell [B, 1, T, cells, cells]: 1, or 1 + fg_weight where an object touches the cell.

    Max-pooling (any coverage in the cell) rather than the mean: a cell the object only grazes
    still holds its edge and colour in the latent.
    """
    cov = torch.from_numpy(cover)  # [B, T, S, S]
    B, T, S, _ = cov.shape
    touched = torch.nn.functional.max_pool2d(cov.reshape(B * T, 1, S, S), S // cells) > 0.05
    return 1.0 + fg_weight * touched.float().reshape(B, T, cells, cells).unsqueeze(1)


