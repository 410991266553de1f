"""DCI (trainables/metrics/dci.py): hand-computed importance matrices, perfect / entangled / dead-latent
codes, n_jobs invariance and agreement with a line-by-line dlib-style reimplementation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier

from trainables.metrics.dci import dci, dci_from_importance, gbt_importance_matrix

SIZES = (2, 3, 4)


def _h2(*p: float) -> float:
    return -sum(q * math.log2(q) for q in p)


@pytest.mark.parametrize(
    ("matrix", "d", "c"),
    [
        (np.eye(3), 1.0, 1.0),  # each code used for exactly one factor and vice versa
        (np.ones((3, 3)), 0.0, 0.0),  # every code equally used for every factor
        (np.ones((4, 2)), 0.0, 0.0),
        # One code carries all factors: it is not specific (D = 0), each factor uses one code (C = 1).
        (np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), 0.0, 1.0),
        # Code 0 splits evenly (D_0 = 0), code 1 is specific (D_1 = 1), each weighs 2/4 -> D = 1/2.
        # Factor 0 uses only code 0 (C_0 = 1, weight 1/4); factor 1 uses codes 1:2 (weight 3/4).
        (np.array([[1.0, 1.0], [0.0, 2.0]]), 0.5, 0.25 + 0.75 * (1 - _h2(1 / 3, 2 / 3))),
        (np.array([[3.0], [1.0]]), 1.0, 1 - _h2(3 / 4, 1 / 4)),  # one factor: D_i = 1 by definition
        (np.array([[1.0, 3.0]]), 1 - _h2(1 / 4, 3 / 4), 1.0),  # one latent: C_k = 1 by definition
        (np.zeros((3, 2)), 0.0, 0.0),  # no tree ever split: dlib's uniform fallback
    ],
)
def test_dci_from_importance_known_answers(matrix, d, c):
    scores = dci_from_importance(matrix)
    assert set(scores) == {"dci_disentanglement", "dci_completeness"}
    # 1e-11 smoothing, as dlib: answers hold to about 1e-9.
    assert scores["dci_disentanglement"] == pytest.approx(d, abs=1e-9)
    assert scores["dci_completeness"] == pytest.approx(c, abs=1e-9)


def test_dci_from_importance_is_scale_invariant_and_ignores_dead_rows():
    r = np.array([[0.7, 0.1], [0.05, 0.9], [0.2, 0.2]])
    # Equal up to the 1e-11 smoothing, which does not scale with R.
    assert dci_from_importance(5 * r) == pytest.approx(dci_from_importance(r), abs=1e-9)
    with_dead = dci_from_importance(np.vstack([r, np.zeros((2, 2))]))
    # A zero row has weight 0 in D; in C it only adds the 1e-11 smoothing (and a larger log base).
    assert with_dead["dci_disentanglement"] == pytest.approx(dci_from_importance(r)["dci_disentanglement"])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.ones(3), "2-D"),
        (np.ones((0, 2)), "2-D"),
        (np.array([[1.0, -0.1]]), "non-negative"),
        (np.array([[1.0, np.nan]]), "finite"),
    ],
)
def test_dci_from_importance_rejects_bad_matrices(matrix, message):
    with pytest.raises(ValueError, match=message):
        dci_from_importance(matrix)


@pytest.fixture(scope="module")
def factors():
    """300 rows, a shuffled full grid of three factors with 2, 3 and 4 values."""
    grid = np.array(list(itertools.product(*(range(s) for s in SIZES))))
    return np.repeat(grid, 300 // len(grid) + 1, axis=0)[np.random.default_rng(0).permutation(300)]


@pytest.fixture(scope="module")
def perfect(factors):
    rng = np.random.default_rng(1)
    return factors / np.array(SIZES) + 0.01 * rng.normal(size=factors.shape)


def _split(codes, factors, n_train=200):
    return codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:]


@pytest.fixture(scope="module")
def perfect_scores(perfect, factors):
    return dci(*_split(perfect, factors))


def test_perfect_codes_score_one(perfect_scores):
    assert perfect_scores["dci_disentanglement"] > 0.99
    assert perfect_scores["dci_completeness"] > 0.99
    assert perfect_scores["dci_informativeness_train"] == 1.0
    assert perfect_scores["dci_informativeness_test"] == 1.0


def test_entangled_codes_score_lower(perfect, factors, perfect_scores):
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    scores = dci(*_split(perfect @ rotation, factors))
    # A rotation keeps the information (trees still predict well) but spreads it over all codes.
    assert scores["dci_informativeness_train"] > 0.95
    assert scores["dci_disentanglement"] < 0.8 and scores["dci_completeness"] < 0.8
    assert scores["dci_disentanglement"] < perfect_scores["dci_disentanglement"] - 0.2


def test_dead_latent_gets_zero_importance_and_no_nan(perfect, factors, perfect_scores):
    codes = np.hstack([perfect, np.full((300, 1), 3.0)])
    matrix, train_acc, test_acc = gbt_importance_matrix(*_split(codes, factors))
    assert np.all(matrix[3] == 0.0) and np.all(np.isfinite(matrix))
    scores = dci(*_split(codes, factors))
    assert all(math.isfinite(v) for v in scores.values())
    assert scores["dci_disentanglement"] == pytest.approx(perfect_scores["dci_disentanglement"], abs=1e-6)
    assert scores["dci_informativeness_test"] == 1.0


def test_all_dead_latents_score_zero(factors):
    scores = dci(*_split(np.zeros((300, 2)), factors))
    assert scores["dci_disentanglement"] == pytest.approx(0.0, abs=1e-9)
    assert scores["dci_completeness"] == pytest.approx(0.0, abs=1e-9)


def _dlib_style_dci(mus_train, ys_train, mus_test, ys_test):
    """dlib's compute_importance_gbt / disentanglement / completeness, with its (dims, N) arrays."""
    num_codes, num_factors = mus_train.shape[0], ys_train.shape[0]
    r = np.zeros((num_codes, num_factors))
    train_acc, test_acc = [], []
    for k in range(num_factors):
        model = GradientBoostingClassifier(random_state=0)
        model.fit(mus_train.T, ys_train[k])
        r[:, k] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(mus_train.T) == ys_train[k]))
        test_acc.append(np.mean(model.predict(mus_test.T) == ys_test[k]))
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=num_factors)
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=num_codes)
    return {
        "dci_disentanglement": np.sum(per_code * (r.sum(axis=1) / r.sum())),
        "dci_completeness": np.sum(per_factor * (r.sum(axis=0) / r.sum())),
        "dci_informativeness_train": np.mean(train_acc),
        "dci_informativeness_test": np.mean(test_acc),
    }


def test_matches_dlib_style_reimplementation_and_is_n_jobs_invariant(factors):
    rng = np.random.default_rng(3)
    codes = (factors @ rng.normal(size=(3, 4)) + rng.normal(size=(300, 4))).astype(np.float32)
    x_train, y_train, x_test, y_test = _split(codes, factors, 150)
    ours = dci(x_train, y_train, x_test, y_test)
    reference = _dlib_style_dci(x_train.T, y_train.T, x_test.T, y_test.T)
    assert ours.keys() == reference.keys()
    assert ours == reference  # same fits, same arithmetic in the same order: bit-identical
    assert 0.1 < ours["dci_disentanglement"] < 0.9  # a genuinely mixed case, not a trivial one
    assert dci(x_train, y_train, x_test, y_test, n_jobs=2) == ours


def test_constant_factor_is_skipped(perfect, factors, perfect_scores):
    with_constant = np.hstack([factors, np.full((300, 1), 7)])
    matrix, train_acc, _ = gbt_importance_matrix(*_split(perfect, with_constant))
    assert np.all(np.isnan(matrix[:, 3])) and np.isnan(train_acc[3])
    assert dci(*_split(perfect, with_constant)) == perfect_scores


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"importance": "lasso"}, "importance must be one of"),
        ({"train_factors": np.zeros((200, 3), dtype=int)}, "no factor takes two or more values"),
        ({"test_codes": np.zeros((100, 2))}, "codes differ in width"),
        ({"train_factors": np.full((200, 1), 0.5)}, "integer"),
        ({"train_codes": np.full((200, 3), np.nan)}, "NaN"),
    ],
)
def test_invalid_inputs_raise(perfect, factors, kwargs, message):
    args = dict(zip(("train_codes", "train_factors", "test_codes", "test_factors"), _split(perfect, factors)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        dci(**args)
