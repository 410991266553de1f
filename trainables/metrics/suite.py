"""The metric suite on one set of codes: MIG, SAP (discrete and continuous), I_m and DCI.

Follows ``Minitechy/lambda_beta_vae`` ``metrics.py::compute_metrics`` (notes/seed-systems.md §3): the
seed encodes 15k random images, calls the first 10k "train" and the last 5k "test", computes MIG and
I_m on the train rows only and fits SAP's classifiers on train, scoring them on test. Here the caller
passes all rows and ``n_train`` says where the split is (default: the first ceil(2N/3) rows, which is
10k of 15k). DCI (disentanglement_lib's, the NeurIPS 2019 challenge's metric, §2) uses the same split:
its trees are fit on train, informativeness is reported on both splits.

Where we differ from the seed: factor values are mapped to class codes over all rows (the seed maps
test values through the train split's unique values); both variants of SAP are reported; inputs are
validated with one-line ValueErrors. Per-metric differences are in mig.py, sap.py, im.py and dci.py.

Speed: discretize.py computes the MI matrix with one ``bincount`` contingency table per factor (values
bit-identical to sklearn's per-pair ``mutual_info_score``); benchmarks/metrics_speed.py times the whole
suite against a plain per-pair reference.
"""

from __future__ import annotations

import math

import numpy as np

from trainables.metrics.dci import dci
from trainables.metrics.discretize import (
    check_codes,
    check_factors,
    discretize,
    factor_class_codes,
    factor_entropies,
    mutual_info_matrix,
)
from trainables.metrics.im import im_from_mi
from trainables.metrics.mig import mig_from_mi
from trainables.metrics.sap import sap, sap_continuous

#: metric name -> which direction is better (the shape of ``Family.metrics``).
METRIC_DIRECTIONS: dict[str, str] = {
    "mig": "max",
    "sap": "max",
    "sap_continuous": "max",
    "im": "max",
    "dci_disentanglement": "max",
    "dci_completeness": "max",
    "dci_informativeness_train": "max",
    "dci_informativeness_test": "max",
}
DCI_KEYS = tuple(key for key in METRIC_DIRECTIONS if key.startswith("dci_"))

#: Smallest test split we accept: one row cannot tell a classifier from a coin.
MIN_TEST_ROWS = 2
#: Smallest training split: SVC fits and ddof=1 variances need two rows.
MIN_TRAIN_ROWS = 2


def default_n_train(n_rows: int) -> int:
    """The contract's default split: the first two thirds of the rows, rounded up."""
    return math.ceil(2 * n_rows / 3)


def _check_n_train(n_train, n_rows: int) -> int:
    if n_train is None:
        n_train = default_n_train(n_rows)
    elif isinstance(n_train, bool) or not isinstance(n_train, int | np.integer):
        raise ValueError(f"n_train must be an integer, got {n_train!r}")
    n_train = int(n_train)
    if n_train < MIN_TRAIN_ROWS or n_rows - n_train < MIN_TEST_ROWS:
        raise ValueError(
            f"n_train={n_train} with {n_rows} rows leaves {n_train} training and {n_rows - n_train} test "
            f"rows; need at least {MIN_TRAIN_ROWS} and {MIN_TEST_ROWS}"
        )
    return n_train


def score_codes(
    codes: np.ndarray,
    factors: np.ndarray,
    n_train: int | None = None,
    num_bins: int = 20,
    n_jobs: int | None = None,
    include_dci: bool = True,
) -> dict[str, float]:
    """Score a representation: every key of :data:`METRIC_DIRECTIONS` -> float.

    ``codes`` (N, L) floats, ``factors`` (N, K) integer values (any integers; mapped to class codes
    per column). Rows before ``n_train`` are the training split (MIG, I_m, continuous SAP, SAP's and
    DCI's fits), the rest is the test split (SAP's score, DCI's test informativeness). ``n_jobs``
    parallelises SAP's and DCI's fits (joblib threads). DCI's gradient-boosted trees cost far more
    than everything else (minutes for 10k rows of dSprites' factors); ``include_dci=False`` leaves
    out the ``dci_*`` keys.
    """
    codes = check_codes(codes)
    factors = factor_class_codes(check_factors(factors, codes.shape[0]))
    n_train = _check_n_train(n_train, codes.shape[0])
    train_codes, test_codes = codes[:n_train], codes[n_train:]
    train_factors, test_factors = factors[:n_train], factors[n_train:]
    # MIG and I_m share one MI matrix. factor_class_codes made the classes 0..n-1, as bincount needs.
    m = mutual_info_matrix(discretize(train_codes, num_bins), train_factors)
    scores = {
        "mig": mig_from_mi(m, factor_entropies(train_factors)),
        "sap": sap(train_codes, train_factors, test_codes, test_factors, n_jobs=n_jobs),
        "sap_continuous": sap_continuous(train_codes, train_factors),
        "im": im_from_mi(m),
    }
    if include_dci:
        scores.update(dci(train_codes, train_factors, test_codes, test_factors, n_jobs=n_jobs))
    return scores
