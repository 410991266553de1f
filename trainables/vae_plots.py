"""Image artifacts of autoencoder families: reconstruction grids and latent traversals (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def show_image(ax, image: torch.Tensor) -> None:
    """One (C, H, W) image in [0, 1] (grey or RGB) on ``ax``, without ticks."""
    img = image.clamp(0, 1).cpu()
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(img.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def save_reconstructions(originals: torch.Tensor, recons: torch.Tensor, path: Path) -> Path:
    """Originals (top row) above their reconstructions (bottom row); tensors (B, C, H, W) in [0, 1]."""
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.6), squeeze=False)
    for i in range(n):
        show_image(axes[0, i], originals[i])
        show_image(axes[1, i], recons[i])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("recon")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_traversals(grid: torch.Tensor, path: Path) -> Path:
    """grid (latents, steps, C, H, W): row d varies latent d around one image's code."""
    rows, cols = grid.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(1.0 * cols, 1.0 * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            show_image(axes[r, c], grid[r, c])
        axes[r, 0].set_ylabel(f"z{r}", rotation=0, labelpad=12)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
