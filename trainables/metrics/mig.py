"""Mutual Information Gap (MIG), discrete histogram estimator.

Chen et al., "Isolating Sources of Disentanglement in VAEs" (NeurIPS 2018), as implemented by
``disentanglement_lib.evaluation.metrics.mig`` and copied by the λβ-VAE seed
(``Minitechy/lambda_beta_vae``, ``metrics.py``): histogram-discretise each latent (20 bins), take
the latent x factor MI matrix m, and average over factors k of (top1 - top2 of m[:, k]) / H(k).

Where we differ from the seed:
- Factors with a single value (H = 0) are skipped: the mean runs over the other factors. dlib
  divides by zero there (NaN/inf); the seed uses ``np.divide(..., where=ent != 0)`` without ``out``,
  which leaves uninitialised memory in those slots and averages it in. If every factor is
  constant, MIG is undefined and we raise ValueError.
- With a single latent there is no runner-up; we take the runner-up's MI as 0, which is exactly
  what a constant (dead) second latent would get, so ``mig(c) == mig([c, const])``. dlib and the
  seed raise IndexError there.
"""

from __future__ import annotations

import numpy as np

from trainables.metrics.discretize import (
    check_codes,
    check_factors,
    discretize,
    factor_entropies,
    mutual_info_matrix,
)


def mig_from_mi(m: np.ndarray, entropies: np.ndarray) -> float:
    """MIG from a precomputed (L, K) MI matrix and the (K,) factor entropies (both in nats)."""
    m = np.asarray(m, dtype=np.float64)
    entropies = np.asarray(entropies, dtype=np.float64)
    if m.ndim != 2 or entropies.shape != (m.shape[1],):
        raise ValueError(f"MI matrix {m.shape} and entropies {entropies.shape} do not match")
    if m.shape[0] < 1:
        raise ValueError("MIG needs at least one latent")
    keep = entropies > 0
    if not np.any(keep):
        raise ValueError("MIG is undefined: every factor takes a single value (entropy 0)")
    # Descending per factor; a missing runner-up (one latent) counts as a dead latent's MI, 0.
    ordered = np.sort(m[:, keep], axis=0)[::-1]
    runner_up = ordered[1] if ordered.shape[0] > 1 else np.zeros(ordered.shape[1])
    return float(np.mean((ordered[0] - runner_up) / entropies[keep]))


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """MIG of ``codes`` (N, L floats) against integer ``factors`` (N, K); in [0, 1] up to estimator bias.

    All N rows are used (the seed passes its 10k training rows). Constant factors are skipped,
    a single latent is compared against a dead runner-up (see the module docstring).
    """
    codes = check_codes(codes)
    factors = check_factors(factors, codes.shape[0])
    m = mutual_info_matrix(discretize(codes, num_bins), factors)
    return mig_from_mi(m, factor_entropies(factors))
