"""Information flow from latent factors to a classifier's decision, estimated from the prior: pure functions.

The seeds' estimator (``joint_uncond``, identical in FrisoVerweij/FACT ``utils.py`` and siplab-gt
``causaleffect.py``): draw α_i ~ N(0, I_K) for i = 1..Nα; for each, β_ij ~ N(0, I_L) for j = 1..Nβ; decode
and classify [α_i, β_ij]; p_i = meanⱼ softmax(clf(dec(·))) estimates p(ŷ | α_i); q = meanᵢ p_i estimates
p(ŷ); I(α; Ŷ) = H(q) − meanᵢ H(p_i), with log(· + 1e-8). Samples come from the prior, not the encoder:
the target is the global I(α; Ŷ), independent of p(X) (siplab-gt issue #2).
``joint_uncond_singledim`` is the same with one coordinate z_d as the fixed factor and all the others
resampled: the per-dimension flow I(z_d; Ŷ).

Differences from the seeds: they loop over α in Python (one decoder call of Nβ codes per α) and draw from
numpy's global generator; here all Nα·Nβ codes (and, for the per-dimension flows, all dimensions at once)
are one batched call on the device (or fixed-size chunks when no gradient is needed), drawn from a
generator the caller passes. The estimate is the same function of the samples.

Sample counts: the two codebases swap them. The original (``make_fig3.py`` / ``make_fig5ab.py``) uses
Nα = 25, Nβ = 100; FACT's configs ``alpha_samples: 100, beta_samples: 25``. :data:`SAMPLE_CONVENTIONS`
names both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

EPS = 1e-8
#: (Nα, Nβ): the number of fixed-factor draws and of draws of the other factors per fixed draw
SAMPLE_CONVENTIONS: dict[str, tuple[int, int]] = {"original": (25, 100), "fact": (100, 25)}

#: codes (n, D) -> class probabilities (n, M): the decoder followed by the classifier's softmax
ProbsOf = Callable[[torch.Tensor], torch.Tensor]


def sample_counts(convention: str, n_alpha: int = 0, n_beta: int = 0) -> tuple[int, int]:
    """(Nα, Nβ) of a named convention, or the given counts for ``"custom"``."""
    if convention == "custom":
        if n_alpha < 1 or n_beta < 1:
            raise ValueError(f"custom sample counts must be >= 1, got Nα={n_alpha}, Nβ={n_beta}")
        return n_alpha, n_beta
    if convention not in SAMPLE_CONVENTIONS:
        raise ValueError(f"unknown sample convention {convention!r}; known: custom, {', '.join(SAMPLE_CONVENTIONS)}")
    return SAMPLE_CONVENTIONS[convention]


def entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """−Σ p log(p + 1e-8) along ``dim`` (the seeds' ε)."""
    return -(p * torch.log(p + EPS)).sum(dim)


def flow_from_probs(probs: torch.Tensor) -> torch.Tensor:
    """I = H(q) − meanᵢ H(p_i) from classifier probabilities (..., Nα, Nβ, M); returns shape (...)."""
    p = probs.mean(-2)  # p(ŷ | fixed factor draw i): (..., Nα, M)
    q = p.mean(-2)  # p(ŷ): (..., M)
    return entropy(q) - entropy(p).mean(-1)


def joint_codes(z_dim: int, fixed: Sequence[int], n_outer: int, n_inner: int,
                generator: torch.Generator | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Prior codes (Nα, Nβ, D): the coordinates in ``fixed`` are drawn once per outer index and shared by
    its Nβ inner draws; every other coordinate is drawn afresh for each (outer, inner) pair."""
    device = device if device is not None else (generator.device if generator is not None else "cpu")
    z = torch.randn(n_outer, n_inner, z_dim, generator=generator, device=device)
    fixed = list(fixed)
    if fixed:
        shared = torch.randn(n_outer, 1, len(fixed), generator=generator, device=device)
        z[:, :, fixed] = shared.expand(n_outer, n_inner, len(fixed))
    return z


def per_dimension_codes(z_dim: int, n_outer: int, n_inner: int, generator: torch.Generator | None = None,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """Codes (D, Nα, Nβ, D) for all D single-dimension flows at once: block d fixes coordinate d."""
    device = device if device is not None else (generator.device if generator is not None else "cpu")
    z = torch.randn(z_dim, n_outer, n_inner, z_dim, generator=generator, device=device)
    shared = torch.randn(z_dim, n_outer, 1, generator=generator, device=device)
    dims = torch.arange(z_dim, device=device)
    z[dims, :, :, dims] = shared.expand(z_dim, n_outer, n_inner)
    return z


def classify_codes(probs_of: ProbsOf, codes: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """probs_of over codes (..., D) -> (..., M), in chunks of ``chunk_size`` codes (None: one call)."""
    flat = codes.reshape(-1, codes.shape[-1])
    if chunk_size is None or len(flat) <= chunk_size:
        probs = probs_of(flat)
    else:
        probs = torch.cat([probs_of(flat[i:i + chunk_size]) for i in range(0, len(flat), chunk_size)])
    return probs.reshape(*codes.shape[:-1], probs.shape[-1])


def joint_flow(probs_of: ProbsOf, n_causal: int, z_dim: int, n_alpha: int, n_beta: int,
               generator: torch.Generator | None = None, chunk_size: int | None = None) -> torch.Tensor:
    """I(α; Ŷ) for α = the first ``n_causal`` coordinates (the seeds' ``joint_uncond``, negated); a scalar
    tensor, differentiable through ``probs_of`` when gradients are enabled. With no causal factor it is 0."""
    if n_causal == 0:
        device = generator.device if generator is not None else "cpu"
        return torch.zeros((), device=device)
    codes = joint_codes(z_dim, range(n_causal), n_alpha, n_beta, generator)
    return flow_from_probs(classify_codes(probs_of, codes, chunk_size))


def per_dimension_flow(probs_of: ProbsOf, z_dim: int, n_fixed: int, n_other: int,
                       generator: torch.Generator | None = None, chunk_size: int | None = 4096) -> torch.Tensor:
    """I(z_d; Ŷ) for every d, shape (D,) (the seeds' ``joint_uncond_singledim``): n_fixed draws of z_d, each
    with n_other draws of the remaining coordinates."""
    codes = per_dimension_codes(z_dim, n_fixed, n_other, generator)
    return flow_from_probs(classify_codes(probs_of, codes, chunk_size))
