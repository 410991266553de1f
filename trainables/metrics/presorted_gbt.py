"""sklearn's ``GradientBoostingClassifier`` with its regression trees built by ``presorted_tree``.

Everything but the tree builder is sklearn's own code: the loss and its gradient, the initial
prediction, the per-leaf Newton step (``_update_terminal_regions``), prediction and
``feature_importances_``. ``_fit_stage`` below repeats sklearn 1.9.1's (subsample 1, dense X) and
swaps ``DecisionTreeRegressor(...).fit`` for ``build_tree`` fed the same seed (one
``randint(0, RAND_R_MAX)`` from the booster's RandomState per tree, as ``Splitter.init`` draws it),
so the fitted model is the one sklearn fits. Only the parameters whose trees ``build_tree`` ports
are accepted; anything else raises before fitting.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.ensemble._gb import _update_terminal_regions
from sklearn.tree import DecisionTreeRegressor
from sklearn.tree._tree import NODE_DTYPE, Tree

from trainables.metrics.presorted_order import new_root_memo, presort
from trainables.metrics.presorted_tree import RAND_R_MAX, build_tree

#: Deepest trees accepted (the builder preallocates a full binary tree).
MAX_DEPTH = 16
#: Parameters the ported tree builder implements, at the values it implements.
_SUPPORTED = {
    "subsample": 1.0,
    "min_samples_split": 2,
    "min_samples_leaf": 1,
    "min_weight_fraction_leaf": 0.0,
    "min_impurity_decrease": 0.0,
    "max_features": None,
    "max_leaf_nodes": None,
    "ccp_alpha": 0.0,
    "n_iter_no_change": None,
    "init": None,
    "warm_start": False,
}


def sklearn_tree(node_arrays, n_features: int, max_depth: int) -> DecisionTreeRegressor:
    """A fitted ``DecisionTreeRegressor`` holding the nodes ``build_tree`` returned."""
    (count, left, right, feature, threshold, impurity, n_samples, weighted_n, missing_left, value) = node_arrays
    nodes = np.zeros(count, dtype=NODE_DTYPE)
    nodes["left_child"] = left[:count]
    nodes["right_child"] = right[:count]
    nodes["feature"] = feature[:count]
    nodes["threshold"] = threshold[:count]
    nodes["impurity"] = impurity[:count]
    nodes["n_node_samples"] = n_samples[:count]
    nodes["weighted_n_node_samples"] = weighted_n[:count]
    nodes["missing_go_to_left"] = missing_left[:count]
    depth = np.zeros(count, dtype=np.int64)
    for node in range(count):  # sklearn's node order visits a parent before its children
        for child in (left[node], right[node]):
            if child >= 0:
                depth[child] = depth[node] + 1
    tree = Tree(n_features, np.ones(1, dtype=np.intp), 1)
    tree.__setstate__(
        {
            "max_depth": int(depth.max()),  # sklearn stores the depth reached, not the limit
            "node_count": int(count),
            "nodes": nodes,
            "values": np.ascontiguousarray(value[:count].reshape(count, 1, 1)),
        }
    )
    estimator = DecisionTreeRegressor(criterion="squared_error", max_depth=max_depth)
    estimator.tree_ = tree
    estimator.n_outputs_ = 1
    estimator.n_features_in_ = n_features
    estimator.max_features_ = n_features
    return estimator


class PresortedGradientBoostingClassifier(GradientBoostingClassifier):
    """``GradientBoostingClassifier`` (same parameters, same fitted model) with faster trees.

    Each feature is argsorted once per ``fit`` and shared by all (classes x stages) trees.
    ``fit(..., tree_threads=n)`` builds the trees of a stage (one per class, independent given the
    stage's gradients) on n worker threads while this thread runs sklearn's leaf updates in class
    order; ``build_tree`` releases the GIL. The seeds are drawn in sklearn's order before the stage's
    trees are built (nothing else draws from the RandomState in between), so the model does not
    depend on the thread count.
    """

    def fit(self, X, y, sample_weight=None, monitor=None, tree_threads: int = 1):
        unsupported = {
            name: getattr(self, name)
            for name, value in _SUPPORTED.items()
            if getattr(self, name) != value
        }
        if unsupported or sample_weight is not None or monitor is not None:
            raise ValueError(
                "PresortedGradientBoostingClassifier implements sklearn's defaults only; "
                f"got {unsupported or 'sample_weight/monitor'} (use GradientBoostingClassifier)"
            )
        if tree_threads < 1:
            raise ValueError(f"tree_threads must be >= 1, got {tree_threads}")
        if not isinstance(self.max_depth, int) or not 1 <= self.max_depth <= MAX_DEPTH:
            # build_tree allocates 2 ** (max_depth + 1) - 1 nodes up front: depth-limited trees only.
            raise ValueError(f"PresortedGradientBoostingClassifier needs max_depth in 1..{MAX_DEPTH}, got {self.max_depth}")
        self._presorted = None
        self._memos = threading.local()  # the root memo is written: one per building thread
        self._pool = ThreadPoolExecutor(tree_threads) if tree_threads > 1 else None
        try:
            return super().fit(X, y)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
            self._presorted = self._memos = self._pool = None  # scratch of the fit, not of the model

    def _build(self, target: np.ndarray, seed: int):
        memo = getattr(self._memos, "memo", None)
        if memo is None:
            memo = self._memos.memo = new_root_memo(self._presorted)
        return build_tree(self._presorted, memo, target, seed, self.max_depth)

    def _fit_stage(self, i, X, y, raw_predictions, sample_weight, sample_mask, random_state,
                   X_csc=None, X_csr=None):
        if X_csc is not None or X_csr is not None:
            raise ValueError("PresortedGradientBoostingClassifier needs dense X")
        if self._presorted is None:
            self._presorted = presort(X)
        original_y = y
        neg_gradient = -self._loss.gradient(y_true=y, raw_prediction=raw_predictions, sample_weight=None)
        neg_g_view = neg_gradient.reshape((-1, 1)) if neg_gradient.ndim == 1 else neg_gradient
        n_trees = self.n_trees_per_iteration_
        seeds = [random_state.randint(0, RAND_R_MAX) for _ in range(n_trees)]  # what Splitter.init draws
        targets = [np.ascontiguousarray(neg_g_view[:, k], dtype=np.float64) for k in range(n_trees)]
        if self._pool is not None:
            pending = [self._pool.submit(self._build, targets[k], seeds[k]) for k in range(n_trees)]
        for k in range(n_trees):
            if self._loss.is_multiclass:
                y = np.array(original_y == k, dtype=np.float64)
            nodes = pending[k].result() if self._pool is not None else self._build(targets[k], seeds[k])
            tree = sklearn_tree(nodes, X.shape[1], self.max_depth)
            _update_terminal_regions(
                self._loss, tree.tree_, X, y, neg_g_view[:, k], raw_predictions, sample_weight,
                sample_mask, learning_rate=self.learning_rate, k=k,
            )
            self.estimators_[i, k] = tree
        return raw_predictions
