"""Separated Attribute Predictability (SAP), discrete and continuous variants.

Kumar et al., "Variational Inference of Disentangled Latent Concepts from Unlabeled Observations"
(ICLR 2018), Section 3, as implemented by ``disentanglement_lib.evaluation.metrics.sap_score``
(``_compute_score_matrix`` / ``_compute_avg_diff_top_two``) and copied by the λβ-VAE seed
(``Minitechy/lambda_beta_vae``, ``metrics.py``, ``continuous_factors=False``):

- discrete (:func:`sap`): for every (latent i, factor k) a ``LinearSVC(C=0.01,
  class_weight="balanced")`` is fit on the single feature ``train_codes[:, i]`` to predict
  ``train_factors[:, k]``; the score is its accuracy on the test split. SAP is the mean over
  factors of (best - second best score over latents).
- continuous (:func:`sap_continuous`): the score is the R^2 of a linear fit of factor k from
  latent i, ``cov(i, k)^2 / (var(i) var(k))`` with ``ddof=1``, on the TRAIN split only (dlib never
  looks at its test points in this branch); a latent with variance <= 1e-12 scores 0, as in dlib.
  There is no clipping to [0, 1] beyond that (none in dlib either; R^2 cannot exceed 1 but for
  rounding).

Note that discrete SAP cannot reach 1: an uninformative latent still scores about chance accuracy
(roughly 1/n_classes with balanced classes), so the gap of a perfect code is about 1 - chance.

Where we differ from the seed:
- Factors with fewer than two values in the training split are skipped (LinearSVC cannot fit
  them, dlib and the seed crash); in the continuous variant a factor with zero training variance
  is skipped (dlib returns NaN). If every factor is skipped we raise ValueError.
- With a single latent the runner-up is a constant (dead) latent: for the discrete variant we
  really fit the classifiers on an all-zero feature, for the continuous one its score is 0. So
  ``sap(c) == sap([c, 0])``; dlib and the seed raise IndexError.
- ``random_state=0`` is fixed for LinearSVC (the seed passes its run seed); with one feature and
  more than one sample sklearn's ``dual="auto"`` picks the deterministic primal solver, so the
  value does not depend on it.
- The (latent, factor) fits can run on joblib threads (``n_jobs``); liblinear releases the GIL and
  each fit is deterministic, so the result is identical to the sequential loop.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.svm import LinearSVC

from trainables.metrics.discretize import check_codes, check_factors

#: dlib's threshold below which a latent's training variance counts as zero (continuous SAP).
_MIN_CODE_VARIANCE = 1e-12


def _check_split(codes, factors, name: str, integer_factors: bool) -> tuple[np.ndarray, np.ndarray]:
    codes = check_codes(codes, f"{name}_codes")
    if integer_factors:
        factors = check_factors(factors, codes.shape[0], f"{name}_factors")
    else:
        factors = check_codes(factors, f"{name}_factors").astype(np.float64)
        if factors.shape[0] != codes.shape[0]:
            raise ValueError(
                f"{name}_factors has {factors.shape[0]} rows but {name}_codes have {codes.shape[0]}"
            )
    return codes, factors


def _check_same_width(train: np.ndarray, test: np.ndarray, what: str) -> None:
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"train and test {what} differ in width: {train.shape[1]} vs {test.shape[1]}")


def _mean_top_two_gap(matrix: np.ndarray) -> float:
    """Mean over factors of (best - second best) score; NaN columns (skipped factors) are ignored."""
    keep = ~np.all(np.isnan(matrix), axis=0)
    if not np.any(keep):
        raise ValueError("SAP is undefined: no factor takes two or more values in the training split")
    ordered = np.sort(matrix[:, keep], axis=0)
    return float(np.mean(ordered[-1] - ordered[-2]))


def _pair_accuracy(x_train, y_train, x_test, y_test) -> float:
    classifier = LinearSVC(C=0.01, class_weight="balanced", random_state=0)
    classifier.fit(x_train[:, np.newaxis], y_train)
    return float(np.mean(classifier.predict(x_test[:, np.newaxis]) == y_test))


def sap_score_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    n_jobs: int | None = None,
) -> np.ndarray:
    """(L, K) test accuracies of the per-(latent, factor) LinearSVCs; NaN columns are skipped factors.

    ``n_jobs`` follows joblib (None: 1 unless inside ``joblib.parallel_config``; -1: all cores).
    """
    train_codes, train_factors = _check_split(train_codes, train_factors, "train", True)
    test_codes, test_factors = _check_split(test_codes, test_factors, "test", True)
    _check_same_width(train_codes, test_codes, "codes")
    _check_same_width(train_factors, test_factors, "factors")
    num_latents, num_factors = train_codes.shape[1], train_factors.shape[1]
    fitted = [k for k in range(num_factors) if np.unique(train_factors[:, k]).size >= 2]
    pairs = [(i, k) for i in range(num_latents) for k in fitted]
    # Columns are copied once so every fit sees a contiguous 1-D array.
    xs_train = [np.ascontiguousarray(train_codes[:, i]) for i in range(num_latents)]
    xs_test = [np.ascontiguousarray(test_codes[:, i]) for i in range(num_latents)]
    scores = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_pair_accuracy)(xs_train[i], train_factors[:, k], xs_test[i], test_factors[:, k])
        for i, k in pairs
    )
    matrix = np.full((num_latents, num_factors), np.nan)
    for (i, k), score in zip(pairs, scores):
        matrix[i, k] = score
    return matrix


def sap(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    n_jobs: int | None = None,
) -> float:
    """Discrete SAP (dlib ``sap_score`` with ``continuous_factors=False``): classifiers fit on the
    train split, accuracy measured on the test split; integer factors. See the module docstring."""
    train_codes = check_codes(train_codes, "train_codes")
    test_codes = check_codes(test_codes, "test_codes")
    if train_codes.shape[1] == 1 and test_codes.shape[1] == 1:
        # One latent: the runner-up is a dead latent, fit for real so the baseline is its accuracy.
        train_codes = np.hstack([train_codes, np.zeros_like(train_codes)])
        test_codes = np.hstack([test_codes, np.zeros_like(test_codes)])
    matrix = sap_score_matrix(train_codes, train_factors, test_codes, test_factors, n_jobs=n_jobs)
    return _mean_top_two_gap(matrix)


def sap_continuous_matrix(train_codes: np.ndarray, train_factors: np.ndarray) -> np.ndarray:
    """(L, K) R^2 scores ``cov^2 / (var_code var_factor)`` (ddof=1) on the given (train) rows.

    A latent with variance <= 1e-12 scores 0 (dlib); a factor with zero variance gets a NaN column
    (skipped by :func:`sap_continuous`). Vectorised form of dlib's per-pair ``np.cov`` loop.
    """
    codes, factors = _check_split(train_codes, train_factors, "train", False)
    if codes.shape[0] < 2:
        raise ValueError("continuous SAP needs at least two training rows (variance with ddof=1)")
    codes = codes.astype(np.float64)
    codes_c = codes - codes.mean(axis=0)
    factors_c = factors - factors.mean(axis=0)
    denom = codes.shape[0] - 1
    cov = codes_c.T @ factors_c / denom
    var_code = np.einsum("ij,ij->j", codes_c, codes_c) / denom
    var_factor = np.einsum("ij,ij->j", factors_c, factors_c) / denom
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = cov**2 / (var_code[:, np.newaxis] * var_factor[np.newaxis, :])
    matrix[var_code <= _MIN_CODE_VARIANCE, :] = 0.0
    matrix[:, var_factor == 0] = np.nan
    return matrix


def sap_continuous(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray | None = None,
    test_factors: np.ndarray | None = None,
) -> float:
    """Continuous SAP (dlib ``sap_score`` with ``continuous_factors=True``), from the TRAIN split only.

    ``test_codes`` / ``test_factors`` are accepted so the call matches :func:`sap`, checked for
    width when given, and otherwise unused, as in dlib. Factors may be any real values (integer
    class codes are used as ordinal numbers).
    """
    codes, factors = _check_split(train_codes, train_factors, "train", False)
    if test_codes is not None:
        _check_same_width(codes, check_codes(test_codes, "test_codes"), "codes")
    if test_factors is not None:
        _check_same_width(factors, check_codes(test_factors, "test_factors"), "factors")
    matrix = sap_continuous_matrix(codes, factors)
    if matrix.shape[0] == 1:
        matrix = np.vstack([matrix, np.where(np.isnan(matrix), np.nan, 0.0)])
    return _mean_top_two_gap(matrix)
