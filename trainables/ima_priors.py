"""Latent priors of the IMA-VAE family: log-densities (torch, for the ELBO) and sampling (numpy, for tests
and plots).

Seed: ``rpatrik96/ima-vae`` ``ima_vae/distributions.py`` and ``models/ivae.py::_encode`` (notes/
seed-systems.md §1). The posterior is a diagonal Gaussian over ε; for the uniform and beta priors the
latent is z = sigmoid(ε) in (0, 1), and log q(z|x) gains the change-of-variables term
Σ log 1/(z(1-z)) (dz/dε = z(1-z)). For the gaussian and laplace priors z = ε.

Where we differ from the seed (each with the seed's variant selectable):
- Uniform: U(0, 1) on the sigmoid latent. The seed's ``Uniform.log_pdf(x, low, high)`` is called with
  low = ``prior_mean`` (0) and high = ``prior_var`` (1); we fix (0, 1), the only support a sigmoid latent has.
- Beta: the seed's ``Beta.log_pdf`` replaces the shapes by |α| + 2 and |β| + 2, so its ``prior_alpha=3,
  prior_beta=11`` is really Beta(5, 13). Here the shapes are used as given; ``shape_offset=2`` (config
  ``beta_shape_offset``) reproduces the seed.
- The log-Jacobian: the seed computes log 1/(z(1-z) + 1e-8) on the float32 sigmoid, which saturates for
  |ε| > ~17 (z rounds to 1). ``"exact"`` (default) uses log z = logsigmoid(ε), log(1-z) = logsigmoid(-ε),
  exact at any ε, also inside the Beta log-density; ``"seed_eps"`` is the seed's formula.
- Gaussian: N(``prior_mean``, ``prior_var``) with fixed parameters. The seed's gaussian prior (``fix_prior``)
  takes its variance from a learned "conditioner" MLP of the (constant) segment label, i.e. a learned
  per-dimension variance; that is not implemented. Laplace: Laplace(``prior_mean``, b = ``prior_var``), as
  the seed's ``fix_prior`` branch (which passes ``prior_var`` as the scale b).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

PriorName = Literal["uniform", "beta", "gaussian", "laplace"]
PRIORS: tuple[str, ...] = ("uniform", "beta", "gaussian", "laplace")
SEED_EPS = 1e-8  # the seed's guard inside log 1/(z(1-z) + eps)


@dataclass(frozen=True)
class Prior:
    """One factorised prior over ``latent_dim`` coordinates; log-densities are summed over the last axis."""

    name: str
    mean: float = 0.0  # gaussian mean / laplace location
    var: float = 1.0  # gaussian variance / laplace scale b
    alpha: float = 3.0  # beta shapes (before ``shape_offset``)
    beta: float = 11.0
    shape_offset: float = 0.0  # the seed adds 2 to |α| and |β| (module docstring)
    jacobian: Literal["exact", "seed_eps"] = "exact"

    def __post_init__(self) -> None:
        if self.name not in PRIORS:
            raise ValueError(f"prior: unknown prior {self.name!r}; known: {', '.join(PRIORS)}")

    @property
    def sigmoid(self) -> bool:
        """Whether the latent is sigmoid(ε) (uniform, beta) rather than ε itself."""
        return self.name in ("uniform", "beta")

    @property
    def beta_shapes(self) -> tuple[float, float]:
        if self.shape_offset:
            return abs(self.alpha) + self.shape_offset, abs(self.beta) + self.shape_offset
        return self.alpha, self.beta

    # --- log-densities ---------------------------------------------------------------------------
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) summed over the last axis, for z in the prior's own space (z in (0, 1) if sigmoid)."""
        if self.name == "uniform":
            inside = (z > 0) & (z < 1)
            return torch.zeros_like(z).masked_fill(~inside, -math.inf).sum(-1)
        if self.name == "beta":
            return self._beta_log_prob(torch.log(z), torch.log1p(-z))
        if self.name == "gaussian":
            return (-0.5 * (math.log(2 * math.pi) + math.log(self.var) + (z - self.mean) ** 2 / self.var)).sum(-1)
        return (-math.log(2 * self.var) - (z - self.mean).abs() / self.var).sum(-1)

    def _beta_log_prob(self, log_z: torch.Tensor, log_1mz: torch.Tensor) -> torch.Tensor:
        a, b = self.beta_shapes
        log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        return ((a - 1) * log_z + (b - 1) * log_1mz + log_norm).sum(-1)

    def latent_terms(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """From a posterior sample ε: (latent z, log p(z), the term added to log q(ε|x) to give log q(z|x)).

        For sigmoid priors the added term is Σ log 1/(z(1-z)) (``jacobian`` chooses exact or the seed's
        ε-guarded float form); otherwise z = ε and the term is 0.
        """
        if not self.sigmoid:
            return eps, self.log_prob(eps), torch.zeros(eps.shape[:-1], dtype=eps.dtype, device=eps.device)
        z = torch.sigmoid(eps)
        if self.jacobian == "seed_eps":
            log_det = torch.log(1.0 / (z * (1.0 - z) + SEED_EPS)).sum(-1)
            log_p = self.log_prob(z)
        else:
            log_z, log_1mz = F.logsigmoid(eps), F.logsigmoid(-eps)
            log_det = -(log_z + log_1mz).sum(-1)
            # the uniform density is 0 on all of (0, 1); sigmoid never leaves it
            log_p = self._beta_log_prob(log_z, log_1mz) if self.name == "beta" else torch.zeros_like(log_det)
        return z, log_p, log_det

    def analytic_kl(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mu, exp(logvar)) || N(mean, var)) per row (gaussian prior only)."""
        if self.name != "gaussian":
            raise ValueError(f"kl: an analytic KL exists only for the gaussian prior, not {self.name!r}")
        return 0.5 * ((logvar.exp() + (mu - self.mean) ** 2) / self.var - 1 + math.log(self.var) - logvar).sum(-1)

    # --- sampling ----------------------------------------------------------------------------------
    def sample(self, n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of the ``dim``-dimensional prior (float64), in the latent space of ``log_prob``."""
        if self.name == "uniform":
            return rng.uniform(0.0, 1.0, (n, dim))
        if self.name == "beta":
            a, b = self.beta_shapes
            return rng.beta(a, b, (n, dim))
        if self.name == "gaussian":
            return rng.normal(self.mean, math.sqrt(self.var), (n, dim))
        return rng.laplace(self.mean, self.var, (n, dim))
