"""The explanatory CVAE of gce: an encoder to (μ, log σ²) of K causal (α) + L non-causal (β) latents and a
decoder back to images in [0, 1], plus its negative log-likelihood.

Architectures (seed-systems.md §5):
- 28x28 (MNIST, Fashion-MNIST), original ``models/CVAE.py`` = FACT ``models_vae.Encoder/Decoder``:
  encoder Conv(64, k4, s2, p1) → Conv(64, k4, s2, p1) → ZeroPad(1,2,1,2) → Conv(64, k4, s1) → FC heads μ and
  log σ² (3136 → K+L); decoder FC (K+L → 3136) → ConvT(64, k4, s1, p1) → ConvT(64, k4, s2, p2) →
  ConvT(C, k4, s2, p1) → sigmoid.
- 32x32x3 (CIFAR-10), FACT ``models_vae.Encoder_cifar/Decoder_cifar`` (128 filters, 4x4 bottleneck, 512-wide
  FC heads).
The original initialises conv weights N(0, 0.02) (``util.weights_init_normal``; its test for "linear"
never matches ``Linear``, so linear layers keep torch's default): ``init="normal"`` does the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    """Image (B, C, S, S) -> (μ, log σ²), each (B, z_dim); S divisible by 4 (28 for MNIST)."""

    def __init__(self, z_dim: int, channels: int = 1, size: int = 28, filters: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, filters, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(filters, filters, 4, stride=2, padding=1), nn.ReLU(),
            nn.ZeroPad2d((1, 2, 1, 2)),
            nn.Conv2d(filters, filters, 4, stride=1, padding=0), nn.ReLU(),
            nn.Flatten(1),
        )
        width = filters * (size // 4) ** 2
        self.fc_mu = nn.Linear(width, z_dim)
        self.fc_logvar = nn.Linear(width, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x)
        return self.fc_mu(h), self.fc_logvar(h)


class Decoder(nn.Module):
    """Code (B, z_dim) -> image probabilities (B, C, S, S) in (0, 1)."""

    def __init__(self, z_dim: int, channels: int = 1, size: int = 28, filters: int = 64) -> None:
        super().__init__()
        self.filters, self.side = filters, size // 4
        self.fc = nn.Sequential(nn.Linear(z_dim, filters * self.side ** 2), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(filters, filters, 4, stride=1, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(filters, filters, 4, stride=2, padding=2), nn.ReLU(),
            nn.ConvTranspose2d(filters, channels, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(len(z), self.filters, self.side, self.side))


class EncoderCifar(nn.Module):
    def __init__(self, z_dim: int, channels: int = 3, filters: int = 128) -> None:
        super().__init__()
        f, f2 = filters, 2 * filters
        self.net = nn.Sequential(
            nn.Conv2d(channels, f, 3, padding=1, stride=2), nn.ReLU(),  # 32 -> 16
            nn.Conv2d(f, f, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f, f2, 3, padding=1, stride=2), nn.ReLU(),  # 16 -> 8
            nn.Conv2d(f2, f2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f2, f2, 3, padding=1, stride=2), nn.ReLU(),  # 8 -> 4
            nn.Flatten(1),
        )
        self.fc_mu = nn.Sequential(nn.Linear(16 * f2, 512), nn.ReLU(), nn.Linear(512, z_dim))
        self.fc_logvar = nn.Sequential(nn.Linear(16 * f2, 512), nn.ReLU(), nn.Linear(512, z_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x)
        return self.fc_mu(h), self.fc_logvar(h)


class DecoderCifar(nn.Module):
    def __init__(self, z_dim: int, channels: int = 3, filters: int = 128) -> None:
        super().__init__()
        f, f2 = filters, 2 * filters
        self.f2 = f2
        self.fc = nn.Sequential(nn.Linear(z_dim, 512), nn.ReLU(), nn.Linear(512, 16 * f2), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(f2, f2, 3, output_padding=1, padding=1, stride=2), nn.ReLU(),  # 4 -> 8
            nn.Conv2d(f2, f2, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(f2, f, 3, output_padding=1, padding=1, stride=2), nn.ReLU(),  # 8 -> 16
            nn.Conv2d(f, f, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(f, channels, 3, output_padding=1, padding=1, stride=2), nn.Sigmoid(),  # 16 -> 32
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(len(z), self.f2, 4, 4))


def init_normal(module: nn.Module) -> None:
    """The original's ``weights_init_normal``: conv and transposed-conv weights ~ N(0, 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)


def make_explainer(image_shape: tuple[int, int, int], z_dim: int, init: str = "normal") -> tuple[nn.Module, nn.Module]:
    channels, height, width = image_shape
    if (height, width) == (32, 32) and channels == 3:
        encoder, decoder = EncoderCifar(z_dim, channels), DecoderCifar(z_dim, channels)
    elif height == width and height % 4 == 0:
        encoder, decoder = Encoder(z_dim, channels, height), Decoder(z_dim, channels, height)
    else:
        raise ValueError(f"no explainer architecture for images of shape {image_shape}")
    if init == "normal":
        init_normal(encoder)
        init_normal(decoder)
    elif init != "default":
        raise ValueError(f"init must be 'normal' or 'default', got {init!r}")
    return encoder, decoder


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) || N(0, I)) per element, (B, D)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def negative_log_likelihood(x: torch.Tensor, xhat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                            form: str = "mse_kl") -> dict[str, torch.Tensor]:
    """The explainer's NLL term and its parts, as the seeds compute them (batch means of per-image sums).

    - ``mse_kl`` (both seeds on MNIST / Fashion-MNIST, ``VAE_LL_loss``): Σ(x̂ − x)²/B + Σ KL/B, i.e. a
      Gaussian decoder of unit variance without its constant.
    - ``bce_meankl`` (FACT on CIFAR-10): Σ BCE(x̂, x)/B + the KL *averaged* over batch and latents
      (FACT's ``kl_divergence_loss`` takes ``.mean()``), which weights the KL D·B times less than ``mse_kl``.
    """
    batch = len(x)
    kl = kl_to_standard_normal(mu, logvar)
    if form == "mse_kl":
        recon = (xhat - x).pow(2).sum() / batch
        kl_term = kl.sum() / batch
    elif form == "bce_meankl":
        recon = F.binary_cross_entropy(xhat, x, reduction="sum") / batch
        kl_term = kl.mean()
    else:
        raise ValueError(f"nll form must be 'mse_kl' or 'bce_meankl', got {form!r}")
    return {"nll": recon + kl_term, "recon": recon, "kl": kl_term}
