"""DCI: Disentanglement, Completeness and Informativeness from gradient-boosted-tree importances.

Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled Representations"
(ICLR 2018), as implemented by ``disentanglement_lib.evaluation.metrics.dci`` (the metric the NeurIPS
2019 disentanglement challenge reports; notes/seed-systems.md §2):

- per factor k, a ``GradientBoostingClassifier`` with sklearn's defaults (100 depth-3 trees per
  class, learning rate 0.1) is fit on all latents of the train split; column k of the importance
  matrix R (L latents x K factors) is ``|feature_importances_|``; informativeness is its accuracy on
  the train and on the test split, averaged over factors (dlib calls these "errors"; they are
  accuracies, higher is better);
- disentanglement: per latent i, ``D_i = 1 - H_K(R[i] / sum R[i])`` (entropy with log base K),
  averaged with weights ``sum R[i] / sum R``;
- completeness: per factor k, ``C_k = 1 - H_L(R[:, k] / sum R[:, k])`` (log base L), averaged with
  weights ``sum R[:, k] / sum R``.
As in dlib, 1e-11 is added to every entry before the rows/columns are normalised, and an all-zero R
is replaced by ones for the weights. dlib keeps codes as (L, N) and factors as (K, N); here both are
(N, columns), and R has dlib's (L, K) orientation.

Dead (constant) latents: no tree can split on them, so their row of R is exactly 0; the 1e-11 makes
that row uniform (``D_i = 0``) but its weight is 0, so D is unaffected and nothing is NaN. They do
dilute completeness slightly (each adds about 1e-11 to every column). If every latent is dead (or no
tree ever splits), R is all zero and D = C = 0, again as in dlib.

Where we differ from dlib:
- ``random_state=0`` is fixed for every classifier. dlib leaves it ``None`` (numpy's global RNG);
  the trees only use it to order features when searching splits, so it matters only for exact ties,
  but with it fixed the result is reproducible and independent of ``n_jobs``.
- Factors with fewer than two values in the training split are skipped (no classifier can be fit;
  dlib crashes): they get no column in R and no informativeness term. If every factor is skipped
  we raise ValueError.
- With one factor (K = 1) the entropy base is 1 and dlib returns NaN; a latent then cannot spread
  its importance over factors, so we set every ``D_i = 1``. Likewise with one latent (L = 1) every
  ``C_k = 1``.
- The per-factor fits can run on joblib threads (``n_jobs``; the tree builder releases the GIL),
  and with the presorted trees each factor also builds the trees of a boosting stage on ``n_jobs``
  threads; each fit is deterministic, so the result is identical to the sequential loop.

Speed, not a difference: by default (``trees="presorted"``) the classifier is
``presorted_gbt.PresortedGradientBoostingClassifier`` -- sklearn's GradientBoostingClassifier with
its regression trees built by a numba port of sklearn 1.9.1's tree builder that sorts each latent
once per fit instead of in every node of every tree. It fits the same trees, node for node and bit
for bit (tests/test_presorted_gbt.py compares them), so R and the accuracies are sklearn's.
``trees="sklearn"`` fits sklearn's own class.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.ensemble import GradientBoostingClassifier

from trainables.metrics.discretize import check_codes, check_factors
from trainables.metrics.presorted_gbt import PresortedGradientBoostingClassifier

#: dlib's smoothing of the importance matrix before normalising rows / columns.
_ENTROPY_EPS = 1e-11
IMPORTANCE_METHODS = ("gbt",)
#: Which implementation fits the gradient-boosted trees; both give the same model (module docstring).
TREE_BUILDERS = {"presorted": PresortedGradientBoostingClassifier, "sklearn": GradientBoostingClassifier}


def _per_row_specificity(matrix: np.ndarray) -> np.ndarray:
    """``1 - entropy`` of each row of ``matrix`` (smoothed, normalised), log base = number of columns."""
    if matrix.shape[1] == 1:
        return np.ones(matrix.shape[0])  # one column: all mass necessarily on it (dlib: 0/0)
    # scipy normalises along axis 0, hence the transpose (as dlib does).
    return 1.0 - scipy.stats.entropy(matrix.T + _ENTROPY_EPS, base=matrix.shape[1])


def dci_from_importance(importance_matrix: np.ndarray) -> dict[str, float]:
    """Disentanglement and completeness from an (L latents, K factors) non-negative importance matrix.

    Returns ``{"dci_disentanglement": D, "dci_completeness": C}``, both in [0, 1] (up to the 1e-11
    smoothing). Identity-like R gives D = C = 1; a uniform R gives D = C = 0.
    """
    # C order as dlib's np.zeros matrix: numpy's sums (and so the last bits) depend on memory layout.
    r = np.ascontiguousarray(importance_matrix, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 1 or r.shape[1] < 1:
        raise ValueError(
            f"importance matrix must be a non-empty 2-D array (latents x factors), got {r.shape}"
        )
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("importance matrix must hold finite non-negative numbers")
    per_code = _per_row_specificity(r)
    per_factor = _per_row_specificity(r.T)
    weights = r if r.sum() > 0 else np.ones_like(r)  # dlib: all-zero importance -> uniform weights
    total = weights.sum()
    return {
        "dci_disentanglement": float(np.sum(per_code * (weights.sum(axis=1) / total))),
        "dci_completeness": float(np.sum(per_factor * (weights.sum(axis=0) / total))),
    }


def _fit_factor(x_train, y_train, x_test, y_test, trees: str, threads: int) -> tuple[np.ndarray, float, float]:
    model = TREE_BUILDERS[trees](random_state=0)
    if trees == "presorted":
        model.fit(x_train, y_train, tree_threads=threads)
    else:
        model.fit(x_train, y_train)
    importance = np.abs(model.feature_importances_)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    test_acc = float(np.mean(model.predict(x_test) == y_test))
    return importance, train_acc, test_acc


def gbt_importance_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    n_jobs: int | None = None,
    trees: str = "presorted",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-factor gradient-boosted trees: ``(R (L, K), train accuracy (K,), test accuracy (K,))``.

    Skipped factors (fewer than two training values) have a NaN column and NaN accuracies.
    ``n_jobs`` follows joblib (None: 1 unless inside ``joblib.parallel_config``; -1: all cores).
    ``trees`` picks the implementation (``TREE_BUILDERS``); the fitted models are the same.
    """
    if trees not in TREE_BUILDERS:
        raise ValueError(f"trees must be one of {sorted(TREE_BUILDERS)}, got {trees!r}")
    train_codes = check_codes(train_codes, "train_codes")
    test_codes = check_codes(test_codes, "test_codes")
    train_factors = check_factors(train_factors, train_codes.shape[0], "train_factors")
    test_factors = check_factors(test_factors, test_codes.shape[0], "test_factors")
    if train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(
            f"train and test codes differ in width: {train_codes.shape[1]} vs {test_codes.shape[1]}"
        )
    if train_factors.shape[1] != test_factors.shape[1]:
        raise ValueError(
            f"train and test factors differ in width: {train_factors.shape[1]} vs {test_factors.shape[1]}"
        )
    num_latents, num_factors = train_codes.shape[1], train_factors.shape[1]
    n_classes = [np.unique(train_factors[:, k]).size for k in range(num_factors)]
    # Largest first: a fit costs about one tree per class and stage, so this balances the threads.
    fitted = sorted((k for k in range(num_factors) if n_classes[k] >= 2), key=lambda k: -n_classes[k])
    # Both levels of threads: measured on 2 cores (10k rows, dSprites' factors), factor threads alone
    # 59.5 s, stage threads alone 45.1 s, both 43.6 s; a factor's leaf updates hold the GIL meanwhile.
    threads = effective_n_jobs(n_jobs)
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_factor)(train_codes, train_factors[:, k], test_codes, test_factors[:, k], trees, threads)
        for k in fitted
    )
    importance = np.full((num_latents, num_factors), np.nan)
    train_acc = np.full(num_factors, np.nan)
    test_acc = np.full(num_factors, np.nan)
    for k, (column, acc_train, acc_test) in zip(fitted, results):
        importance[:, k], train_acc[k], test_acc[k] = column, acc_train, acc_test
    return importance, train_acc, test_acc


def dci(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    importance: str = "gbt",
    n_jobs: int | None = None,
    trees: str = "presorted",
) -> dict[str, float]:
    """DCI of codes (N, L floats) against integer factors (N, K): fit on train, informativeness on both.

    Returns ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness_train`` and
    ``dci_informativeness_test``. ``importance`` names how R is estimated; only ``"gbt"`` (dlib's
    gradient-boosted trees) exists; ``trees`` picks who fits them (same model either way). See the
    module docstring for dead latents and skipped factors.
    """
    if importance not in IMPORTANCE_METHODS:
        raise ValueError(f"importance must be one of {IMPORTANCE_METHODS}, got {importance!r}")
    matrix, train_acc, test_acc = gbt_importance_matrix(
        train_codes, train_factors, test_codes, test_factors, n_jobs=n_jobs, trees=trees
    )
    keep = ~np.isnan(train_acc)
    if not np.any(keep):
        raise ValueError("DCI is undefined: no factor takes two or more values in the training split")
    scores = dci_from_importance(matrix[:, keep])
    scores["dci_informativeness_train"] = float(np.mean(train_acc[keep]))
    scores["dci_informativeness_test"] = float(np.mean(test_acc[keep]))
    return scores
