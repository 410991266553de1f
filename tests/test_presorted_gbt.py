"""The numba port of sklearn's tree builder fits sklearn's trees exactly; DCI gives sklearn's numbers.

Everything is compared bit for bit (np.array_equal), not within a tolerance: the point of the port
is that nothing changes but the speed.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils._sorting import _py_simultaneous_sort

from trainables.metrics.dci import dci
from trainables.metrics.presorted_gbt import PresortedGradientBoostingClassifier
from trainables.metrics.presorted_order import _introsort_3way, new_root_memo, presort
from trainables.metrics.presorted_tree import RAND_R_MAX, build_tree

NODE_FIELDS = (
    "children_left", "children_right", "feature", "threshold", "impurity", "n_node_samples",
    "weighted_n_node_samples",
)


def _awkward_columns(rng, n_rows: int, n_cols: int, kind: str) -> np.ndarray:
    x = rng.normal(size=(n_rows, n_cols))
    if kind == "ties":
        x = np.round(x, 1)  # many equal values: sklearn's sort order of equal values matters
    elif kind == "dead":
        x[:, 0] = 0.0
    elif kind == "duplicated" and n_cols > 1:
        x[:, 1] = x[:, 0]  # every split has an exact twin: the tie-break must be sklearn's
    elif kind == "signed_zero":
        x[: n_rows // 2, 0] = -0.0
        x[n_rows // 2 :, 0] = 0.0
    elif kind == "discrete":
        x = rng.integers(0, 4, size=(n_rows, n_cols)).astype(float)
    return x.astype(np.float32)


def _assert_same_tree(ours_nodes, sk_tree):
    count = ours_nodes[0]
    assert count == sk_tree.node_count
    for name, ours in zip(NODE_FIELDS, ours_nodes[1:8]):
        assert np.array_equal(ours[:count], getattr(sk_tree, name)), name
    assert np.array_equal(ours_nodes[9][:count], sk_tree.value[:, 0, 0])


def _assert_same_boosted_trees(ours, ref):
    assert ours.estimators_.shape == ref.estimators_.shape
    for ours_tree, ref_tree in zip(ours.estimators_.ravel(), ref.estimators_.ravel()):
        assert ours_tree.tree_.max_depth == ref_tree.tree_.max_depth
        for name in NODE_FIELDS + ("value",):
            assert np.array_equal(getattr(ours_tree.tree_, name), getattr(ref_tree.tree_, name)), name


@pytest.mark.parametrize("kind", ["plain", "ties", "dead", "duplicated", "signed_zero", "discrete"])
def test_build_tree_is_sklearns_tree(kind):
    rng = np.random.default_rng(["plain", "ties", "dead", "duplicated", "signed_zero", "discrete"].index(kind))
    for _case in range(12):
        n_rows, n_cols = int(rng.integers(2, 300)), int(rng.integers(1, 7))
        x = _awkward_columns(rng, n_rows, n_cols, kind)
        presorted = presort(x)
        memo = new_root_memo(presorted)  # shared by the trees on one x, as in a fit: hits after the first
        for tree in range(4):
            depth = int(rng.integers(1, 5))
            y = rng.normal(size=n_rows) if tree % 2 else (rng.random(n_rows) < 0.2) - 0.2
            sk = DecisionTreeRegressor(max_depth=depth, random_state=np.random.RandomState(tree))
            sk.fit(x, y, sample_weight=np.ones(n_rows))  # GradientBoosting passes ones
            seed = np.random.RandomState(tree).randint(0, RAND_R_MAX)
            _assert_same_tree(build_tree(presorted, memo, y.astype(np.float64), seed, depth), sk.tree_)


def test_build_tree_on_ten_thousand_rows_with_a_few_float32_ties():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(10_000, 6)).astype(np.float32)  # float32 rounding leaves a few equal pairs
    x[:, 5] = 0.0
    assert any(np.unique(x[:, j]).size < x.shape[0] for j in range(5))
    y = rng.normal(size=10_000)
    presorted = presort(x)
    memo = new_root_memo(presorted)
    for seed in (3, 4, 3):  # the second 3 reads the root's orders from the memo
        sk = DecisionTreeRegressor(max_depth=3, random_state=np.random.RandomState(seed)).fit(x, y, np.ones(10_000))
        ours = build_tree(presorted, memo, y, np.random.RandomState(seed).randint(0, RAND_R_MAX), 3)
        _assert_same_tree(ours, sk.tree_)
    assert memo[3][0] > 1  # root orders were remembered


@pytest.mark.parametrize("n", [1, 2, 15, 16, 17, 200, 3000])
def test_introsort_port_leaves_equal_values_where_sklearns_sort_does(n):
    rng = np.random.default_rng(n)
    values = rng.integers(0, max(2, n // 10), size=n).astype(np.float32)
    indices = rng.permutation(n).astype(np.intp)
    sk_values, sk_indices = values.copy(), indices.copy()
    _py_simultaneous_sort(sk_values, sk_indices, n, use_three_way_partition=True)
    ours_values, ours_indices = values.copy(), indices.astype(np.int64)
    every_position = np.arange(n + 1, dtype=np.int64)  # all positions "tied": a full sort
    _introsort_3way(ours_values, ours_indices, 0, n, every_position, 0)
    assert np.array_equal(ours_values, sk_values)
    assert np.array_equal(ours_indices, sk_indices)


@pytest.mark.parametrize("n_classes, kind", [(2, "plain"), (3, "dead"), (5, "duplicated"), (4, "ties")])
def test_presorted_booster_is_sklearns_booster(n_classes, kind):
    rng = np.random.default_rng(n_classes)
    x = _awkward_columns(rng, 600, 4, kind)
    y = (np.abs(x[:, 0]) * 3 + rng.integers(0, n_classes, 600)).astype(int) % n_classes
    x_test = _awkward_columns(rng, 200, 4, kind)
    ours = PresortedGradientBoostingClassifier(random_state=0, n_estimators=20).fit(x, y)
    ref = GradientBoostingClassifier(random_state=0, n_estimators=20).fit(x, y)
    _assert_same_boosted_trees(ours, ref)
    assert np.array_equal(ours.feature_importances_, ref.feature_importances_)
    assert np.array_equal(ours.predict_proba(x_test), ref.predict_proba(x_test))
    threaded = PresortedGradientBoostingClassifier(random_state=0, n_estimators=20).fit(x, y, tree_threads=3)
    assert np.array_equal(threaded.feature_importances_, ref.feature_importances_)
    assert np.array_equal(threaded.predict_proba(x_test), ref.predict_proba(x_test))


def test_presorted_booster_refuses_what_it_does_not_port():
    x, y = np.zeros((10, 2), dtype=np.float32), np.arange(10) % 2
    for params in ({"subsample": 0.5}, {"max_features": 1}, {"min_samples_leaf": 2}, {"n_iter_no_change": 3}):
        with pytest.raises(ValueError, match="defaults only"):
            PresortedGradientBoostingClassifier(**params).fit(x, y)
    with pytest.raises(ValueError, match="defaults only"):
        PresortedGradientBoostingClassifier().fit(x, y, sample_weight=np.ones(10))
    with pytest.raises(ValueError, match="tree_threads"):
        PresortedGradientBoostingClassifier().fit(x, y, tree_threads=0)
    with pytest.raises(ValueError, match="max_depth"):
        PresortedGradientBoostingClassifier(max_depth=None).fit(x, y)


def test_dci_with_presorted_trees_equals_dci_with_sklearns_trees():
    rng = np.random.default_rng(11)
    factors = np.stack([rng.integers(0, 3, 900), rng.integers(0, 6, 900)], axis=1)
    codes = np.hstack([factors + 0.3 * rng.normal(size=(900, 2)), rng.normal(size=(900, 1)), np.zeros((900, 1))])
    codes = codes.astype(np.float32)
    args = (codes[:600], factors[:600], codes[600:], factors[600:])
    ours = dci(*args, n_jobs=2)
    assert ours == dci(*args, trees="sklearn")
    with pytest.raises(ValueError, match="trees must be one of"):
        dci(*args, trees="xgboost")


def test_presorted_booster_with_deeper_trees_is_sklearns():
    rng = np.random.default_rng(5)
    x = _awkward_columns(rng, 400, 3, "ties")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    ours = PresortedGradientBoostingClassifier(random_state=1, n_estimators=5, max_depth=6).fit(x, y)
    ref = GradientBoostingClassifier(random_state=1, n_estimators=5, max_depth=6).fit(x, y)
    assert max(tree.tree_.max_depth for tree in ref.estimators_.ravel()) > 3
    _assert_same_boosted_trees(ours, ref)
