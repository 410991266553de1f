"""Pieces shared by the five CRMNIST models, written once (seed ``core/CRMNIST/model.py``, notes §4).

``width`` scales every convolution's channel count (1.0 = the seed's 96/192 encoder and 64/128/256
decoder); values below 1 exist for CPU runs and are not the seed's architecture.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def channels(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


class ConvFeatures(nn.Sequential):
    """Conv5×5(3→96)+BN+ReLU+MaxPool → Conv5×5(96→192)+BN+ReLU+MaxPool → flatten (192·7·7 = 9408)."""

    def __init__(self, width: float = 1.0) -> None:
        c1, c2 = channels(96, width), channels(192, width)
        super().__init__(nn.Conv2d(3, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten())
        self.out_features = c2 * 7 * 7


class Decoder(nn.Module):
    """p(x|z): Linear(z→64·7·7)+BN1d+ReLU → up×2 → ConvT5(64→128)+BN+ReLU → up×2 → ConvT5(128→256)+BN+ReLU
    → Conv1×1(→3) → sigmoid."""

    def __init__(self, z_dim: int, width: float = 1.0) -> None:
        super().__init__()
        c0, c1, c2 = channels(64, width), channels(128, width), channels(256, width)
        self.c0 = c0
        self.fc = nn.Sequential(nn.Linear(z_dim, c0 * 49), nn.BatchNorm1d(c0 * 49), nn.ReLU())
        self.conv = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.ConvTranspose2d(c0, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.ConvTranspose2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.Conv2d(c2, 3, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(z).view(-1, self.c0, 7, 7))


def mlp(in_dim: int, out_dim: int, hidden: tuple[int, ...] = (64, 64), batchnorm: bool = False) -> nn.Sequential:
    """The seed's classifier heads: Linear(+BN)+ReLU per hidden layer, then a linear output."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), *([nn.BatchNorm1d(h)] if batchnorm else []), nn.ReLU()]
        in_dim = h
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


class ConditionalPrior(nn.Module):
    """p(z|condition) = N(loc, scale): Linear+ReLU, then a loc head and a softplus scale head (+1e-7)."""

    def __init__(self, cond_dim: int, z_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(cond_dim, z_dim), nn.ReLU())
        self.loc, self.scale = nn.Linear(z_dim, z_dim), nn.Linear(z_dim, z_dim)

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(cond)
        return self.loc(h), F.softplus(self.scale(h)) + 1e-7


def gaussian_log_prob(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, scale) summed over the last dimension."""
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.neg() * ctx.lam, None


def grad_reverse(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Identity forward; the backward pass multiplies the gradient by −λ (Ganin & Lempitsky 2015)."""
    return _GradReverse.apply(x, lam)


def dann_schedule(progress: float, gamma: float = 10.0) -> float:
    """λ(p) = 2 / (1 + exp(−γ·p)) − 1 for training progress p in [0, 1] (DANN paper, seed ``dann.py``)."""
    p = min(max(progress, 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def redistribute(total: int, parts: int) -> list[int]:
    """``total`` dimensions over ``parts`` subspaces, the remainder to the first ones (128 → 43, 43, 42)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
