"""I_m: total mutual information of the best one-to-one latent <-> factor matching.

The λβ-VAE seed's metric (``Minitechy/lambda_beta_vae``, ``metrics.py::compute_Im``): on the
histogram MI matrix m (latents x factors, nats), solve the maximum-weight assignment with
``scipy.optimize.linear_sum_assignment(-m)`` and sum the matched entries. It is unnormalised (a
perfect code reaches the sum of the factor entropies) and is not a dlib metric.

With L != K the assignment matches min(L, K) pairs; the unmatched latents or factors contribute
nothing. Constant factors have MI 0 with everything and need no special case. We do not differ
from the seed.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from trainables.metrics.discretize import check_codes, check_factors, discretize, mutual_info_matrix


def im_from_mi(m: np.ndarray) -> float:
    """I_m from a precomputed (L, K) MI matrix: the largest total MI of a one-to-one matching."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"MI matrix must be a non-empty 2-D array, got shape {m.shape}")
    rows, cols = linear_sum_assignment(-m)
    return float(m[rows, cols].sum())


def im(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """I_m of ``codes`` (N, L floats) against integer ``factors`` (N, K), in nats, on all N rows."""
    codes = check_codes(codes)
    factors = check_factors(factors, codes.shape[0])
    return im_from_mi(mutual_info_matrix(discretize(codes, num_bins), factors))
