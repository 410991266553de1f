"""Mean Correlation Coefficient (MCC) between true sources and learned latents.

Hyvärinen & Morioka's MCC (TCL, NeurIPS 2016) as logged by the IMA-VAE seed (``rpatrik96/ima-vae``,
``ima_vae/metrics/mcc.py::correlation`` called from ``runners/runner.py::_log_mcc``; notes/
seed-systems.md §1): correlate every source with every latent, find the one-to-one pairing that
maximises the total |correlation| (Munkres on ``-|corr|``), and average the |correlation| of the
matched pairs. The seed's sweep target ``Metrics/val/mcc`` is the Pearson variant computed on the
*sampled* latents (the caller chooses what to pass here); it also logs a Spearman variant and
``mcc_cdf`` (:func:`mcc_cdf`).

- Pearson: ``np.corrcoef`` in the seed; here one matrix product of standardised columns.
- Spearman: ``scipy.stats.spearmanr`` in the seed, i.e. Pearson on ranks with ties given their
  average rank; here ``scipy.stats.rankdata(method="average")`` per column, then Pearson.
- Matching: the seed uses the pure-Python ``munkres`` package (TCL code), we use
  ``scipy.optimize.linear_sum_assignment``; both return an optimal assignment, so the MCC is the
  same (with tied optima the chosen pairs may differ, the value cannot).

Where we differ from the seed:
- The number of latents L may differ from the number of sources D: min(D, L) pairs are matched and
  the rest are ignored. The seed slices ``np.corrcoef(latents, sources)[:D, D:]``, which is only the
  latent x source block when L == D (its torchmetrics wrapper asserts equal shapes).
- A constant column (dead latent, or a source constant on the evaluated rows) has correlation 0
  with everything. ``np.corrcoef`` returns NaN there (with a RuntimeWarning) and Munkres then works
  on NaN costs, so the seed's value is undefined; ours is the mean with that column scoring 0.
- All arithmetic is float64 (the seed's inputs are float32 torch tensors converted to numpy).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import ndtr
from scipy.stats import rankdata

from trainables.metrics.discretize import check_codes

_METHODS = ("pearson", "spearman")


class MCCMatching(NamedTuple):
    """The |correlation| matrix and the optimal one-to-one source <-> latent matching.

    ``abs_corr[j, k]`` is |corr(source j, latent k)|, shape (D, L). Source ``source_index[m]`` is
    matched to latent ``latent_index[m]`` for m < min(D, L); ``source_index`` is increasing.
    """

    abs_corr: np.ndarray
    source_index: np.ndarray
    latent_index: np.ndarray

    @property
    def matched(self) -> np.ndarray:
        """|correlation| of each matched pair, shape (min(D, L),); MCC is its mean."""
        return self.abs_corr[self.source_index, self.latent_index]


def _standardise(columns: np.ndarray) -> np.ndarray:
    """Centre each column and scale it to unit Euclidean norm; constant columns become all-zero.

    With unit-norm centred columns, ``a.T @ b`` is exactly the Pearson correlation matrix. A column
    is constant when max == min: testing the centred norm against 0 would miss constant columns
    whose float mean is off by one ulp (their centred values are tiny but not zero).
    """
    centred = columns - columns.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)
    constant = np.ptp(columns, axis=0) == 0
    norms[constant] = 1.0
    centred[:, constant] = 0.0
    return centred / norms


def correlation_matrix(sources: np.ndarray, latents: np.ndarray, method: str = "pearson") -> np.ndarray:
    """Signed (D, L) correlation of every source column with every latent column (float64).

    ``method`` is "pearson" or "spearman" (case-insensitive, so the seed's "Pearson" works). Constant
    columns correlate 0 with everything. Values are clipped to [-1, 1] against rounding.
    """
    sources, latents = _check_pair(sources, latents)
    method = _check_method(method)
    if method == "spearman":
        # Average ranks for ties, as scipy.stats.spearmanr; ranks of a constant column are constant.
        sources = rankdata(sources, method="average", axis=0)
        latents = rankdata(latents, method="average", axis=0)
    corr = _standardise(sources).T @ _standardise(latents)
    return np.clip(corr, -1.0, 1.0)


def mcc_matrix(sources: np.ndarray, latents: np.ndarray, method: str = "pearson") -> MCCMatching:
    """|correlation| matrix (D, L) and the matching maximising the sum of matched |correlation|."""
    abs_corr = np.abs(correlation_matrix(sources, latents, method))
    # Rectangular problems are solved directly: min(D, L) pairs, each row/column used at most once.
    source_index, latent_index = linear_sum_assignment(-abs_corr)
    return MCCMatching(abs_corr, source_index, latent_index)


def mcc(sources: np.ndarray, latents: np.ndarray, method: str = "pearson") -> float:
    """MCC of ``latents`` (N, L) against ``sources`` (N, D): mean |corr| of the optimal matching.

    In [0, 1]; 1 iff each of min(D, L) sources is an exact affine (Pearson) or monotone (Spearman)
    function of its own latent. See the module docstring for the seed and our differences.
    """
    return float(np.mean(mcc_matrix(sources, latents, method).matched))


def mcc_cdf(sources: np.ndarray, latents: np.ndarray) -> float:
    """Pearson MCC after mapping every latent through the standard Normal CDF, Φ(z) in (0, 1).

    The seed logs this as ``mcc_cdf`` for Gaussian-prior models (notes/seed-systems.md §1): a
    N(0, 1) latent becomes U(0, 1) under Φ, so it can be compared linearly with uniform sources.
    The correlation is Pearson: every MCC the seed's runner computes passes ``method="Pearson"``,
    and it is the only choice for which the transform matters (Spearman is invariant under the
    strictly increasing Φ). Caveat: the revisions of the seed's runner we could read predate
    ``mcc_cdf``; this follows the research notes' description, not a line-by-line reading.
    Sources are used as given; the prior is the standard Normal (the seed's defaults
    ``prior_mean=0``, ``prior_var=1``).
    """
    sources, latents = _check_pair(sources, latents)
    return mcc(sources, ndtr(latents), method="pearson")


def _check_method(method: str) -> str:
    if not isinstance(method, str) or method.lower() not in _METHODS:
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    return method.lower()


def _check_pair(sources: np.ndarray, latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as finite float64 (N, ·) arrays with the same N >= 2 (a correlation needs two rows)."""
    sources = check_codes(sources, "sources").astype(np.float64, copy=False)
    latents = check_codes(latents, "latents").astype(np.float64, copy=False)
    if sources.shape[0] != latents.shape[0]:
        raise ValueError(f"sources have {sources.shape[0]} rows but latents have {latents.shape[0]}")
    if sources.shape[0] < 2:
        raise ValueError("MCC needs at least two samples (a correlation of one row is undefined)")
    return sources, latents
