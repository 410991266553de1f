"""Histogram discretisation, the latent x factor mutual-information matrix and factor entropies.

These are the shared building blocks of MIG and I_m (and the input checks of every metric here).
They follow ``disentanglement_lib.evaluation.metrics.utils`` (``_histogram_discretize``,
``discrete_mutual_info``, ``discrete_entropy``), which the λβ-VAE seed (``Minitechy/lambda_beta_vae``,
``metrics.py``) copies verbatim. Our arrays are (rows, columns) = (samples, latents or factors);
both references use the transpose (latents, samples).

Where we differ from the seed: nothing numerical. The seed keeps discretised codes in the input's
float dtype (dlib) or ``np.int_`` (seed); we return ``int64``. Inputs are validated here (finite
codes, integer-valued factors) so a bad representation fails with a clear message instead of
inside numpy or sklearn.
"""

from __future__ import annotations

import math

import numpy as np


def check_codes(codes: np.ndarray, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a finite floating (N, L) array with N >= 1 and L >= 1, or raise ValueError.

    Floating dtypes are kept (float32 encoder means are discretised in float32, as in the seed, so
    values on bin edges land where the seed puts them); other real dtypes become float64.
    """
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x latents), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one sample and one latent, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f" or arr.dtype.itemsize < 4:
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def check_factors(factors: np.ndarray, n_rows: int, name: str = "factors") -> np.ndarray:
    """Return ``factors`` as an int64 (N, K) array of integer values, or raise ValueError.

    Floating arrays are accepted when every value is a finite integer (factors saved as float32 by
    a loader); anything fractional is rejected rather than silently rounded (the seed rounds to 6
    decimals, which hides a wrong file).
    """
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x factors), got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but codes have {n_rows}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one factor, got shape {arr.shape}")
    if arr.dtype.kind in "biu":
        return arr.astype(np.int64)
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must hold integer values, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
        raise ValueError(f"{name} must hold integer values (found non-integer, NaN or inf)")
    return arr.astype(np.int64)


def factor_class_codes(factors: np.ndarray) -> np.ndarray:
    """Map each factor column's values to 0..n_values-1 in sorted order (``np.unique`` per column).

    The seed does the same with ``searchsorted`` into the training split's unique values; we use
    all rows so a value seen only in the test split still gets its own class.
    """
    arr = np.asarray(factors)
    out = np.empty(arr.shape, dtype=np.int64)
    for k in range(arr.shape[1]):
        out[:, k] = np.unique(arr[:, k], return_inverse=True)[1].reshape(-1)
    return out


def discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Histogram-discretise each latent into ``num_bins`` equal-width bins; returns int64 (N, L).

    Per latent, the edges are ``np.histogram(column, num_bins)[1]`` (equal width from the column's
    min to max) and the bin is ``np.digitize(column, edges[:-1])``, exactly as dlib's
    ``_histogram_discretize``. Consequences:
    - values are 1..num_bins; a value exactly on an interior edge goes to the upper bin, the column
      maximum goes to the last bin (bin counts equal ``np.histogram``'s);
    - a constant (dead) latent has edges around its value (numpy widens the range by 0.5) and every
      row lands in one bin, so its mutual information with anything is exactly 0 (no NaN).
    """
    codes = check_codes(codes)
    if isinstance(num_bins, bool) or not isinstance(num_bins, int | np.integer) or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer, got {num_bins!r}")
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        # np.histogram's edges without its counting pass; digitize on increasing edges = searchsorted right
        edges = np.histogram_bin_edges(codes[:, i], int(num_bins))
        out[:, i] = np.searchsorted(edges[:-1], codes[:, i], side="right")
    return out


def mutual_info_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Empirical mutual information (nats) of every discrete latent with every factor; (L, K).

    ``m[i, k] = sklearn.metrics.mutual_info_score(factors[:, k], discrete_codes[:, i])`` (plug-in
    estimate, natural log, clipped at 0 by sklearn), as dlib's ``discrete_mutual_info``, computed from
    one ``bincount`` contingency table per factor with sklearn's arithmetic in sklearn's order, so the
    values are bit-identical (tests/test_score_codes.py checks against per-pair sklearn calls).
    """
    codes = np.asarray(discrete_codes)
    if codes.ndim != 2:
        raise ValueError(f"discrete_codes must be a 2-D array, got shape {codes.shape}")
    # relabelling to 0..n-1 changes no MI value and lets bincount build every latent's table at once
    classes = factor_class_codes(check_factors(factors, codes.shape[0]))
    discrete_codes = factor_class_codes(codes)
    num_latents = discrete_codes.shape[1]
    n_bins = int(discrete_codes.max()) + 1
    m = np.zeros((num_latents, classes.shape[1]))
    for k in range(classes.shape[1]):
        n_classes = int(classes[:, k].max()) + 1
        cell = classes[:, k, np.newaxis] * n_bins + discrete_codes  # (N, L) cell within one table
        cell += np.arange(num_latents) * (n_classes * n_bins)  # each latent its own table
        tables = np.bincount(cell.ravel(), minlength=num_latents * n_classes * n_bins)
        tables = tables.reshape(num_latents, n_classes, n_bins)
        for i in range(num_latents):
            m[i, k] = _mi_from_table(tables[i])
    return m




def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """Empirical entropy (nats) of each factor column; (K,). A constant factor has entropy exactly 0.

    Computed as ``mutual_info_score(y, y)`` like dlib's ``discrete_entropy``, so MIG's normaliser
    is bit-identical to the seed's.
    """
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise ValueError(f"factors must be a 2-D array (samples x factors), got shape {arr.shape}")
    factors = check_factors(arr, arr.shape[0])
    classes = factor_class_codes(factors)
    return np.array([_mi_from_table(np.diag(np.bincount(col))) for col in classes.T])


def _mi_from_table(table: np.ndarray) -> float:
    """sklearn's ``mutual_info_score`` given its contingency table (rows: factor, columns: code).

    Empty rows/columns are allowed (sklearn's table has none, but they only add zeros that are never
    read); the non-zero cells come out in sklearn's row-major order so the final sum is identical.
    """
    rows, cols = np.nonzero(table)
    nz_val = table[rows, cols]
    total = table.sum()
    pi, pj = table.sum(axis=1), table.sum(axis=0)
    if np.count_nonzero(pi) == 1 or np.count_nonzero(pj) == 1:
        return 0.0  # one class on either side: MI is exactly 0 (sklearn's shortcut)
    log_nm = np.log(nz_val)
    nm = nz_val / total
    outer = pi.take(rows) * pj.take(cols)
    log_outer = -np.log(outer) + math.log(pi.sum()) + math.log(pj.sum())
    mi = nm * (log_nm - math.log(total)) + nm * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))
