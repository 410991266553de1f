"""The Burgess et al. (2018) convolutional VAE as the λβ-VAE seed builds it, and its losses.

Seed: Minitechy/lambda_beta_vae, models.py / losses.py (notes/seed-systems.md §3).
Encoder: 4 x Conv(k4, s2, p1) C->32->32->64->64 with ReLU, FC 1024->256 (ReLU), heads μ, logvar.
Decoder: FC z->256->1024 (ReLU), 4 x ConvT(k4, s2, p1) 64->64->32->32->C, logits (sigmoid = mean).
Where we differ: the decoder returns logits and the BCE is computed from them (the seed applies
``sigmoid`` and ``F.binary_cross_entropy``, which clamps log(0) at -100; the logit form is the same
value without that clamp and with stabler gradients). The reparameterisation noise is an argument, so
the caller draws it from its own seeded generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
        )
        self.fc = nn.Sequential(nn.Linear(64 * 4 * 4, 256), nn.ReLU())
        self.mu = nn.Linear(256, latent_dim)
        self.logvar = nn.Linear(256, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(self.convs(x).flatten(1))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 64 * 4 * 4), nn.ReLU())
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.fc(z).view(-1, 64, 4, 4))  # logits


class BurgessVAE(nn.Module):
    """One module so that DistributedDataParallel wraps encoder and decoder together."""

    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.encoder = Encoder(channels, latent_dim)
        self.decoder = Decoder(channels, latent_dim)

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mu, logvar = self.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * noise
        return self.decoder(z), mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Analytic KL(q(z|x) || N(0, I)) per sample, summed over latents: (B,)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str) -> torch.Tensor:
    """Per-sample reconstruction term, summed over pixels: (B,).

    bernoulli: binary cross-entropy of sigmoid(logits) (the λβ-VAE seed's ``loss_type='bce'``).
    gaussian: squared error of sigmoid(logits) summed over pixels, the challenge seed's "Gaussian
    likelihood" (likelihoods.py): a Gaussian with variance 1/2 up to its constant, not a full NLL.
    """
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    if likelihood == "gaussian":
        return squared_error(logits, x)
    raise ValueError(f"unknown likelihood {likelihood!r}")


def squared_error(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The λβ-VAE's L2 term per sample: ||x - sigmoid(logits)||² summed over pixels: (B,)."""
    return (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)


def objective(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float,
              lam: float, likelihood: str = "bernoulli", kl_normalisation: str = "sum") -> dict[str, torch.Tensor]:
    """The λβ-VAE objective recon + β·KL' + λ·L2, each term a per-image sum averaged over the batch
    (the seed's ``reduction='sum') / batch_size``); returns scalars ``loss, recon, kl, l2``.

    KL' is the KL summed over latents (``kl_normalisation='sum'``, λβ-VAE seed) or divided by the number
    of latents (``'per_latent'``, the challenge seed's losses); the returned ``kl`` is always the sum.
    λ = 0 and β-only training give the β-VAE; the L2 term uses the same sampled-z reconstruction.
    """
    recon = reconstruction_nll(logits, x, likelihood).mean()
    kl = kl_divergence(mu, logvar).mean()
    if kl_normalisation == "per_latent":
        kl_term = kl / mu.shape[1]
    elif kl_normalisation == "sum":
        kl_term = kl
    else:
        raise ValueError(f"unknown kl_normalisation {kl_normalisation!r}")
    l2 = squared_error(logits, x).mean()
    return {"loss": recon + beta * kl_term + lam * l2, "recon": recon, "kl": kl, "l2": l2}


def cosine_beta(step: int, beta_initial: float, beta_final: float, start: int, end: int) -> float:
    """β annealed from beta_initial to beta_final by a half-cosine between steps ``start`` and ``end``.

    The challenge seed's ``BetaSchedule`` (train_feature_vae.py) ramps over *epochs*; here the ramp is
    over optimisation steps so it does not depend on the dataset size.
    """
    if step <= start:
        return beta_initial
    if step >= end:
        return beta_final
    progress = (step - start) / (end - start)
    return beta_initial + (beta_final - beta_initial) * 0.5 * (1 - math.cos(math.pi * progress))
