"""scikit-learn 1.9.1's regression tree, compiled with numba, reusing one presort of the features.

Why this exists: DCI fits one ``GradientBoostingClassifier`` per factor, i.e. (classes x 100) depth-3
regression trees on the *same* codes, and sklearn's builder re-sorts every feature in every node of
every tree (27 ms a tree on 10,000 x 10 codes; 99% of the metric suite's time). Here each feature is
argsorted once per fit, and a node's samples in feature order are read off that presort in O(n).

The result is the tree sklearn builds, split for split, bit for bit: this is a line-by-line port of
``sklearn/tree/_splitter.pyx::node_split_best`` (DensePartitioner, no missing values, no monotonic
constraints), ``_criterion.pyx::MSE`` (including ``Criterion.update``'s choice between adding from
the left and subtracting from the right, which decides the rounding of the sums),
``_tree.pyx::DepthFirstTreeBuilder`` and the ``rand_r`` feature permutation of
``sklearn/utils/_random.pxd`` seeded exactly as ``Splitter.init`` seeds it. sklearn's own sort
(``utils/_sorting.pyx::introsort_3way``) is ported too and used whenever a node holds two equal
values of the feature: there the order of equal values is the sort's choice and it changes the
order in which sums are accumulated. Where a node's values of a feature are distinct their sorted
order is unique and is read off the presort; the sort is replayed only on the parts of the array
that hold equal values (float32 codes of 10,000 rows have a few equal pairs per latent). At the
root, where every tree of a fit starts from the same samples in the same order, the resulting
orders are remembered across trees (all in ``presorted_order``).

Supported: sklearn's defaults as ``GradientBoosting*`` sets them (squared error, best splitter,
``max_features=None``, ``min_samples_split=2``, ``min_samples_leaf=1``, no sample weights other than
ones, no ``min_impurity_decrease``, no ``max_leaf_nodes``). ``tests/test_presorted_gbt.py`` compares
every node array with sklearn's on data with ties, constant and duplicated columns. The port is
tied to the pinned sklearn version: the test fails if sklearn's trees change.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from trainables.metrics.presorted_order import sort_node_feature, sort_root_feature

RAND_R_MAX = 2147483647  # sklearn/tree/_utils.pxd
FEATURE_THRESHOLD = np.float32(1e-7)  # sklearn/tree/_partitioner.pxd, a float32 constant
EPSILON = np.finfo(np.float64).eps  # sklearn/tree/_tree.pyx
TREE_LEAF = -1
TREE_UNDEFINED = -2


@njit(cache=True, nogil=True)
def _rand_int(low, high, state):
    """``rand_int`` of sklearn/tree/_utils.pyx: xorshift ``our_rand_r`` on a uint32 kept in state[0]."""
    seed = state[0]
    if seed == 0:
        seed = 1  # DEFAULT_SEED
    seed = (seed ^ (seed << 13)) & 0xFFFFFFFF
    seed = seed ^ (seed >> 17)
    seed = (seed ^ (seed << 5)) & 0xFFFFFFFF
    state[0] = seed
    return low + (seed % (RAND_R_MAX + 1)) % (high - low)


@njit(cache=True, nogil=True)
def _partition_segments(
    segments, segment_values, start, end, feature, threshold, go_left, scratch, scratch_values, skip
):
    """Stable-partition the features' presorted segments [start, end) into left then right child.

    Features with ``skip[f]`` (constant in this node, so never sorted again below it) are left as they are.
    """
    for p in range(start, end):
        go_left[segments[feature, p]] = segment_values[feature, p] <= threshold
    for f in range(segments.shape[0]):
        if skip[f]:
            continue
        left = start
        n_right = 0
        for p in range(start, end):
            # Branch-free: write to both sides, advance one (left <= p, so nothing unread is overwritten).
            sample = segments[f, p]
            value = segment_values[f, p]
            to_left = go_left[sample]
            segments[f, left] = sample
            segment_values[f, left] = value
            scratch[n_right] = sample
            scratch_values[n_right] = value
            left += to_left
            n_right += 1 - to_left
        for q in range(n_right):
            segments[f, left + q] = scratch[q]
            segment_values[f, left + q] = scratch_values[q]


@njit(cache=True, nogil=True)
def _sums_to(y, samples, start, end, new_pos, sum_total, weighted_n_node):
    """``criterion.reset(); criterion.update(new_pos)``: (sum_left, weighted_n_left) as sklearn rounds them."""
    sum_left = 0.0
    weighted_n_left = 0.0
    if (new_pos - start) <= (end - new_pos):
        for p in range(start, new_pos):
            sum_left += y[samples[p]]
            weighted_n_left += 1.0
    else:  # reverse_reset: start from the totals and subtract from the right end
        sum_left = sum_total
        weighted_n_left = weighted_n_node
        for p in range(end - 1, new_pos - 1, -1):
            sum_left -= y[samples[p]]
            weighted_n_left -= 1.0
    return sum_left, weighted_n_left


@njit(cache=True, nogil=True)
def _node_impurity(sq_sum, total, weighted_n):
    """MSE's impurity from the node's sums, in sklearn's operation order (``MSE.node_impurity``)."""
    return sq_sum / weighted_n - (total / weighted_n) ** 2.0


@njit(cache=True, nogil=True)
def build_tree(presorted, memo, y, seed, max_depth):
    """The regression tree sklearn builds from ``seed`` on X (given as ``presorted = presort(X)``) and y (N,).

    ``memo`` is a ``new_root_memo(presorted)``; it is written, so a thread building trees needs its
    own (they may be shared by the trees of one fit on that thread). Returns the node arrays in
    sklearn's node order: (node_count, left_child, right_child, feature, threshold, impurity,
    n_node_samples, weighted_n_node_samples, missing_go_to_left, value), each of length
    2 ** (max_depth + 1) - 1 of which the first node_count are used.
    """
    columns, presorted_order, presorted_values = presorted[0], presorted[1], presorted[2]
    n_features, n_samples = columns.shape
    capacity = 2 ** (max_depth + 1) - 1
    left_child = np.full(capacity, TREE_LEAF, dtype=np.int64)
    right_child = np.full(capacity, TREE_LEAF, dtype=np.int64)
    node_feature = np.full(capacity, TREE_UNDEFINED, dtype=np.int64)
    node_threshold = np.full(capacity, float(TREE_UNDEFINED))
    node_impurity = np.zeros(capacity)
    node_n_samples = np.zeros(capacity, dtype=np.int64)
    node_weighted_n = np.zeros(capacity)
    node_missing_left = np.zeros(capacity, dtype=np.uint8)
    node_value = np.zeros(capacity)

    samples = np.arange(n_samples)
    feature_values = np.empty(n_samples, dtype=np.float32)
    segments = presorted_order.copy()
    segment_values = presorted_values.copy()
    go_left = np.empty(n_samples, dtype=np.bool_)
    scratch = np.empty(n_samples, dtype=np.int64)
    scratch_values = np.empty(n_samples, dtype=np.float32)
    tie_prefix = np.empty(n_samples + 1, dtype=np.int64)
    features = np.arange(n_features)
    constant_features = np.empty(n_features, dtype=np.int64)
    skip = np.zeros(n_features, dtype=np.bool_)
    state = np.array([seed], dtype=np.int64)
    weighted_n_samples = float(n_samples)
    root_state = 0  # the root's samples start in index order: memo state 0

    # stack rows: start, end, depth, parent, is_left, n_constant_features; impurities aside
    stack = np.empty((2 * max_depth + 2, 6), dtype=np.int64)
    stack_impurity = np.empty(2 * max_depth + 2)
    stack[0] = (0, n_samples, 0, -1, 0, 0)
    stack_impurity[0] = np.inf
    top = 1
    node_count = 0
    while top > 0:
        top -= 1
        start, end, depth, parent, is_left, n_known_constants = stack[top]
        impurity = stack_impurity[top]
        n_node_samples = end - start

        # criterion.init over samples[start:end] in their current order
        sum_total = 0.0
        sq_sum_total = 0.0
        weighted_n_node = 0.0
        for p in range(start, end):
            y_i = y[samples[p]]
            sum_total += y_i
            sq_sum_total += y_i * y_i
            weighted_n_node += 1.0

        is_leaf = depth >= max_depth or n_node_samples < 2
        if parent < 0:  # the root; a child's impurity comes from its parent's split, as in sklearn
            impurity = _node_impurity(sq_sum_total, sum_total, weighted_n_node)
        is_leaf = is_leaf or impurity <= EPSILON

        best_pos = end
        best_feature = 0
        best_threshold = 0.0
        best_missing_left = False
        impurity_left = np.inf
        impurity_right = np.inf
        n_total_constants = n_known_constants
        if not is_leaf:
            # --- node_split_best ---
            best_proxy = -np.inf
            f_i = n_features
            n_visited = 0
            n_found_constants = 0
            n_drawn_constants = 0
            while f_i > n_total_constants and (
                n_visited < n_features or n_visited <= n_found_constants + n_drawn_constants
            ):
                n_visited += 1
                f_j = _rand_int(n_drawn_constants, f_i - n_found_constants, state)
                if f_j < n_known_constants:
                    features[n_drawn_constants], features[f_j] = features[f_j], features[n_drawn_constants]
                    n_drawn_constants += 1
                    continue
                f_j += n_found_constants
                current_feature = features[f_j]
                if depth == 0:
                    root_state = sort_root_feature(
                        columns, current_feature, presorted, samples, feature_values, tie_prefix, memo, root_state
                    )
                else:
                    sort_node_feature(
                        columns, current_feature, segments, segment_values, samples, feature_values, tie_prefix,
                        start, end,
                    )
                if feature_values[end - 1] <= feature_values[start] + FEATURE_THRESHOLD:
                    features[f_j], features[n_total_constants] = features[n_total_constants], features[f_j]
                    n_found_constants += 1
                    n_total_constants += 1
                    continue
                f_i -= 1
                features[f_i], features[f_j] = features[f_j], features[f_i]

                # criterion.reset(), then update() at each position between distinct values
                pos = start
                sum_left = 0.0
                weighted_n_left = 0.0
                p = start
                while p < end:
                    p += 1
                    while p < end and feature_values[p] <= feature_values[p - 1] + FEATURE_THRESHOLD:
                        p += 1
                    p_prev = p - 1
                    if p == end:
                        continue
                    # criterion.update from pos, as in _sums_to; written out because as a call it ran 2-3x slower
                    if (p - pos) <= (end - p):
                        for q in range(pos, p):
                            sum_left += y[samples[q]]
                            weighted_n_left += 1.0
                    else:
                        sum_left = sum_total
                        weighted_n_left = weighted_n_node
                        for q in range(end - 1, p - 1, -1):
                            sum_left -= y[samples[q]]
                            weighted_n_left -= 1.0
                    weighted_n_right = weighted_n_node - weighted_n_left
                    sum_right = sum_total - sum_left
                    pos = p
                    proxy = sum_left * sum_left / weighted_n_left + sum_right * sum_right / weighted_n_right
                    if proxy > best_proxy:
                        best_proxy = proxy
                        best_threshold = feature_values[p_prev] / 2.0 + feature_values[p] / 2.0
                        best_missing_left = (p - start) > (end - p)
                        best_pos = p
                        best_feature = current_feature

            if best_pos < end:
                # partition_samples_final: sklearn's in-place swap partition of the current order
                part_start = start
                part_end = end
                while part_start < part_end:
                    if columns[best_feature, samples[part_start]] <= best_threshold:
                        part_start += 1
                    else:
                        part_end -= 1
                        samples[part_start], samples[part_end] = samples[part_end], samples[part_start]
                sum_left, weighted_n_left = _sums_to(
                    y, samples, start, end, best_pos, sum_total, weighted_n_node
                )
                weighted_n_right = weighted_n_node - weighted_n_left
                sum_right = sum_total - sum_left
                sq_sum_left = 0.0
                for p in range(start, best_pos):
                    y_i = y[samples[p]]
                    sq_sum_left += y_i * y_i
                sq_sum_right = sq_sum_total - sq_sum_left
                impurity_left = _node_impurity(sq_sum_left, sum_left, weighted_n_left)
                impurity_right = _node_impurity(sq_sum_right, sum_right, weighted_n_right)
                improvement = (weighted_n_node / weighted_n_samples) * (
                    impurity
                    - (weighted_n_right / weighted_n_node * impurity_right)
                    - (weighted_n_left / weighted_n_node * impurity_left)
                )
            else:
                improvement = -np.inf
            # sklearn's invariant for constant features, kept for the sibling and the children
            for q in range(n_known_constants):
                features[q] = constant_features[q]
            for q in range(n_found_constants):
                constant_features[n_known_constants + q] = features[n_known_constants + q]
            is_leaf = best_pos >= end or improvement + EPSILON < 0.0

        node_id = node_count
        node_count += 1
        if parent >= 0:
            if is_left:
                left_child[parent] = node_id
            else:
                right_child[parent] = node_id
        node_impurity[node_id] = impurity
        node_n_samples[node_id] = n_node_samples
        node_weighted_n[node_id] = weighted_n_node
        node_value[node_id] = sum_total / weighted_n_node
        if not is_leaf:
            node_feature[node_id] = best_feature
            node_threshold[node_id] = best_threshold
            node_missing_left[node_id] = best_missing_left
            if depth + 1 < max_depth:  # children will search splits: keep the presort per child
                skip[:] = False
                for q in range(n_total_constants):
                    skip[constant_features[q]] = True
                _partition_segments(
                    segments, segment_values, start, end, best_feature, best_threshold, go_left, scratch,
                    scratch_values, skip,
                )
            stack[top] = (best_pos, end, depth + 1, node_id, 0, n_total_constants)
            stack_impurity[top] = impurity_right
            top += 1
            stack[top] = (start, best_pos, depth + 1, node_id, 1, n_total_constants)
            stack_impurity[top] = impurity_left
            top += 1
    return (
        node_count, left_child, right_child, node_feature, node_threshold, node_impurity,
        node_n_samples, node_weighted_n, node_missing_left, node_value,
    )
