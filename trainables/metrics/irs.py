"""Interventional Robustness Score (IRS), sampled from a ground-truth dataset.

Suter et al., "Robustly Disentangled Causal Mechanisms: Validating Deep Representations for
Interventional Robustness" (ICML 2019; arXiv:1811.00007), as implemented by
``disentanglement_lib.evaluation.metrics.irs`` (``compute_irs``, ``scalable_disentanglement_score``)
with ``extra_metrics_configs/irs.gin`` / ``unsupervised_study_v1/metric_configs/irs.gin``
(num_train 10000, batch_size 16, 20-bin histogram discretiser), which the NeurIPS 2019 challenge
seed (``mseitzer/neurips2019-disentanglement-challenge``) evaluates with.

Algorithm (dlib's): sample ``num_train`` (factors, observation) pairs and encode them; discretise
each *factor* with the equal-width histogram discretiser (``num_bins`` bins, so a factor with more
than ``num_bins`` values has neighbouring values merged); drop constant latents. For every factor i
and each of its (discretised) values v, take the latents of the rows with g_i = v, their
``diff_quantile`` quantile (linear interpolation) of ``|z - E[z | g_i = v]|`` per latent, and average
over v: that is the expected deviation of each latent when everything but g_i varies. Dividing by
each latent's maximal deviation from its overall mean, ``max |z - E[z]|``, gives the IRS matrix
``1 - deviation / max_deviation`` (latents x factors); each latent's score is its row maximum
(its best-explaining factor), and IRS is the average of the latent scores weighted by their
``max_deviation``. diff_quantile 0.99 is dlib's default (the paper's version is 1.0).

Quirks kept: the weights are the raw maximal deviations, so the score depends on the relative
scale of the latents (a large-range latent dominates); IRS is a property of latents, so a latent
that perfectly copies one factor scores 1 even if other factors are not represented at all. Rows
are sampled, not the full factor grid, despite dlib's docstring assuming one row per combination.

Randomness: factors are drawn ``batch_size`` rows at a time from the RandomState, as dlib's
``generate_batch_factor_code`` does, so for a dataset whose ``sample_observations_from_factors``
draws no randomness the rows are exactly dlib's (``batch_size`` changes which rows are drawn, not
the estimator). Observations are rendered and encoded in chunks of up to ``rows_per_call`` rows.

Where we differ from dlib:
- Keys: dlib returns ``{"IRS", "num_active_dims"}``; we return ``irs`` and ``irs_num_active_dims``.
- ``irs_num_active_dims`` is the number of non-constant latents; dlib returns ``np.sum(active_mus)``,
  the *sum of the codes' values* over the active latents (a bug), not a count.
- A latent is constant when its max equals its min. dlib tests ``var > 0``, which can keep a
  constant float32 latent whose variance is ~1e-15 from rounding (as active with ~zero weight).
- With no active latent IRS is 0.0 (dlib's value too), with 0 active dims.
"""

from __future__ import annotations

import numpy as np

from trainables.metrics.discretize import discretize
from trainables.metrics.factor_vae_score import (
    DEFAULT_ROWS_PER_CALL,
    Representation,
    check_count,
    encode_factors,
)


def irs_from_codes(codes: np.ndarray, factors: np.ndarray, diff_quantile: float = 0.99) -> float:
    """IRS of active (non-constant) ``codes`` (N, L) against discrete ``factors`` (N, K).

    dlib's ``scalable_disentanglement_score(...)["avg_score"]``: no discretisation or pruning here.
    """
    codes = np.asarray(codes)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or codes.shape[0] != factors.shape[0]:
        raise ValueError(f"codes {codes.shape} and factors {factors.shape} must be (N, L) and (N, K)")
    max_deviations = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)
    if not np.all(max_deviations > 0):
        raise ValueError("irs_from_codes needs non-constant latents; drop the constant ones first")
    deviations = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(factors.shape[1]):
        values = np.unique(factors[:, i])
        for v in values:
            group = codes[factors[:, i] == v]
            diffs = np.abs(group - group.mean(axis=0))
            deviations[:, i] += np.percentile(diffs, q=diff_quantile * 100, axis=0)
        deviations[:, i] /= values.size
    irs_matrix = 1.0 - deviations / max_deviations[:, np.newaxis]
    return float(np.average(irs_matrix.max(axis=1), weights=max_deviations))


def irs(
    ground_truth_data,
    representation: Representation,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
    diff_quantile: float = 0.99,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
) -> dict[str, float | int]:
    """IRS: ``{"irs", "irs_num_active_dims"}``; in [0, 1] (1: every latent ignores all but one factor).

    Same dataset and representation contract as :func:`factor_vae_score`. Defaults are irs.gin's
    (num_train 10000, batch_size 16, 20 bins) and dlib's diff_quantile 0.99. See the module docstring.
    """
    num_train = check_count(num_train, "num_train")
    batch_size = check_count(batch_size, "batch_size")
    num_bins = check_count(num_bins, "num_bins")
    if not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must be in [0, 1], got {diff_quantile!r}")

    # dlib samples batch_size rows at a time; same draws, one big array.
    factors = np.concatenate(
        [
            ground_truth_data.sample_factors(min(batch_size, num_train - start), random_state)
            for start in range(0, num_train, batch_size)
        ],
        axis=0,
    )
    codes = encode_factors(ground_truth_data, representation, factors, random_state, rows_per_call)
    active = codes.max(axis=0) > codes.min(axis=0)
    if not active.any():
        return {"irs": 0.0, "irs_num_active_dims": 0}
    score = irs_from_codes(codes[:, active], discretize(factors, num_bins), diff_quantile)
    return {"irs": score, "irs_num_active_dims": int(active.sum())}
