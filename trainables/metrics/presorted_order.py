"""Each node's samples in the order sklearn's sort leaves them, mostly without sorting.

Part of the numba port of sklearn 1.9.1's tree builder (``presorted_tree``). sklearn sorts a node's
samples by each feature with ``utils/_sorting.pyx::simultaneous_sort`` (introsort, 3-way partition,
heapsort past its depth limit, insertion sort below 16), ported here line by line. The order of
distinct values is unique, so it is read off a presort of each column; only the order of equal
values is the sort's own, and it matters because sklearn accumulates sums in that order. So the sort
is replayed only on the parts of the array holding equal values (``_introsort_3way`` with
``tie_prefix``), and at the root, where every tree of a fit starts from the same order, the orders it
produces are remembered across trees (``sort_root_feature``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _swap(values, indices, i, j):
    values[i], values[j] = values[j], values[i]
    indices[i], indices[j] = indices[j], indices[i]


@njit(cache=True, nogil=True)
def _median3(values, off, n):
    a, b, c = values[off], values[off + n // 2], values[off + n - 1]
    if a < b:
        if b < c:
            return b
        if a < c:
            return c
        return a
    if b < c:
        if a < c:
            return a
        return c
    return b


@njit(cache=True, nogil=True)
def _sift_down(values, indices, off, start, end):
    root = start
    while True:
        child = root * 2 + 1
        maxind = root
        if child < end and values[off + maxind] < values[off + child]:
            maxind = child
        if child + 1 < end and values[off + maxind] < values[off + child + 1]:
            maxind = child + 1
        if maxind == root:
            return
        _swap(values, indices, off + root, off + maxind)
        root = maxind


@njit(cache=True, nogil=True)
def _heapsort(values, indices, off, n):
    start = (n - 2) // 2
    while True:
        _sift_down(values, indices, off, start, n)
        if start == 0:
            break
        start -= 1
    end = n - 1
    while end > 0:
        _swap(values, indices, off, off + end)
        _sift_down(values, indices, off, 0, end)
        end -= 1


@njit(cache=True, nogil=True)
def _insertion_sort(values, indices, off, n):
    for i in range(1, n):
        temp_val = values[off + i]
        temp_idx = indices[off + i]
        j = i
        while j > 0 and values[off + j - 1] > temp_val:
            values[off + j] = values[off + j - 1]
            indices[off + j] = indices[off + j - 1]
            j -= 1
        values[off + j] = temp_val
        indices[off + j] = temp_idx


@njit(cache=True, nogil=True)
def _has_ties(tie_prefix, base, off, n):
    return tie_prefix[off + n - base] - tie_prefix[off - base] > 0


@njit(cache=True, nogil=True)
def _introsort_3way(values, indices, off, n, tie_prefix, base):
    """sklearn's ``simultaneous_sort(..., use_three_way_partition=True)`` on values[off:off+n], lazily.

    Only the parts of the array that hold tied positions are sorted (``tie_prefix[q]`` counts the
    tied positions in [base, base + q)): after a 3-way partition a part holds exactly the values of
    its final positions, so a part without ties would end in the unique sorted order, which the
    caller reads off the presort. Parts with ties are partitioned exactly as sklearn does, so the
    equal values end in sklearn's order. sklearn recurses on the left part and loops on the right;
    the parts are disjoint, so an explicit stack visiting them in another order changes nothing.
    """
    if n == 0:
        return
    maxd0 = 2 * int(math.log2(n))
    # Each popped part pushes at most maxd parts, each with a smaller maxd: (maxd0 + 2)^2 bounds it.
    stack = np.empty(((maxd0 + 2) * (maxd0 + 2), 3), dtype=np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2] = off, n, maxd0
    top = 1
    while top > 0:
        top -= 1
        off, n, maxd = stack[top, 0], stack[top, 1], stack[top, 2]
        done = not _has_ties(tie_prefix, base, off, n)
        while not done and n > 15:
            if maxd <= 0:
                _heapsort(values, indices, off, n)
                done = True
                break
            maxd -= 1
            pivot = _median3(values, off, n)
            i = 0
            left = 0
            right = n
            while i < right:
                if values[off + i] < pivot:
                    _swap(values, indices, off + i, off + left)
                    i += 1
                    left += 1
                elif values[off + i] > pivot:
                    right -= 1
                    _swap(values, indices, off + i, off + right)
                else:
                    i += 1
            if _has_ties(tie_prefix, base, off, left):
                stack[top, 0], stack[top, 1], stack[top, 2] = off, left, maxd
                top += 1
            off += right
            n -= right
            done = not _has_ties(tie_prefix, base, off, n)
        if not done:
            _insertion_sort(values, indices, off, n)


@njit(cache=True, nogil=True)
def sort_node_feature(columns, feature, segments, segment_values, samples, feature_values, tie_prefix, start, end):
    """Fill samples / feature_values[start:end] in the order sklearn's sort leaves them.

    Distinct values have one sorted order, taken from the presort. Equal values are ordered by
    sklearn's sort, which depends on the order it starts from (sklearn's current ``samples``):
    the sort is replayed on the parts of the array that hold them.
    """
    segment = segments[feature]
    values = segment_values[feature]
    if values[start] == values[end - 1]:
        # All values equal: sklearn's sort leaves the order as it is, and the caller only reads the
        # two ends (to find the feature constant).
        feature_values[start] = columns[feature, samples[start]]
        feature_values[end - 1] = columns[feature, samples[end - 1]]
        return
    n_tied = 0
    tie_prefix[0] = 0
    for p in range(start, end):
        tied = (p > start and values[p - 1] == values[p]) or (p + 1 < end and values[p + 1] == values[p])
        n_tied += tied
        tie_prefix[p - start + 1] = n_tied
    if n_tied > 0:
        for p in range(start, end):
            feature_values[p] = columns[feature, samples[p]]
        _introsort_3way(feature_values, samples, start, end - start, tie_prefix, start)
    for p in range(start, end):
        if n_tied == 0 or tie_prefix[p - start + 1] == tie_prefix[p - start]:  # p is not tied
            samples[p] = segment[p]
            feature_values[p] = values[p]


@njit(cache=True, nogil=True)
def sort_root_feature(columns, feature, presorted, samples, feature_values, tie_prefix, memo, state):
    """``sort_node_feature`` at the root, remembered across the trees of one fit.

    At the root every tree starts from the same samples (0..N-1) and each sort's result depends
    only on the order it starts from, so the order after sorting ``feature`` is a function of the
    order before it. An order is a "state": the last sorted feature plus who sits at its tied
    positions (everything else is that feature's presorted order). ``memo`` maps (state, feature) to
    the next state, so after the first trees the root's sorts are copies. Returns the new state, or
    -1 once it is unknown (memo full, or a feature with more root ties than the memo keeps).
    """
    order, sorted_values = presorted[1], presorted[2]
    root_ties, root_tie_counts = presorted[3], presorted[4]
    state_feature, state_ids, next_state, n_states = memo
    n = samples.shape[0]
    n_ties = root_tie_counts[feature]
    if sorted_values[feature, 0] == sorted_values[feature, n - 1]:  # all equal: the order is kept
        sort_node_feature(columns, feature, order, sorted_values, samples, feature_values, tie_prefix, 0, n)
        return state
    if state >= 0 and n_ties >= 0 and next_state[state, feature] >= 0:
        following = next_state[state, feature]
        for p in range(n):
            samples[p] = order[feature, p]
            feature_values[p] = sorted_values[feature, p]
        for j in range(n_ties):
            position = root_ties[feature, j]
            samples[position] = state_ids[following, j]
            feature_values[position] = columns[feature, samples[position]]
        return following
    sort_node_feature(columns, feature, order, sorted_values, samples, feature_values, tie_prefix, 0, n)
    if state < 0 or n_ties < 0:
        return -1
    following = -1
    for candidate in range(1, n_states[0]):
        if state_feature[candidate] == feature:
            same = True
            for j in range(n_ties):
                if state_ids[candidate, j] != samples[root_ties[feature, j]]:
                    same = False
                    break
            if same:
                following = candidate
                break
    if following < 0:
        if n_states[0] >= state_feature.shape[0]:
            return -1
        following = n_states[0]
        n_states[0] += 1
        state_feature[following] = feature
        for j in range(n_ties):
            state_ids[following, j] = samples[root_ties[feature, j]]
    next_state[state, feature] = following
    return following


#: Root ties per feature the memo keeps; a feature with more (discretised codes) is sorted every time.
MAX_ROOT_TIES = 64
#: Root orders the memo keeps per fit.
MAX_ROOT_STATES = 4096


def presort(X: np.ndarray) -> tuple[np.ndarray, ...]:
    """What ``build_tree`` reads of X (N, F): ``(columns, order, values, root_ties, root_tie_counts)``.

    ``columns`` is X.T as contiguous float32, ``order[f]`` a stable argsort of column f and
    ``values[f]`` the sorted column; ``root_ties[f, :root_tie_counts[f]]`` are the sorted positions
    of column f that hold a value equal to a neighbour's (count -1: more than ``MAX_ROOT_TIES``).
    """
    columns = np.ascontiguousarray(np.asarray(X, dtype=np.float32).T)
    order = np.ascontiguousarray(np.argsort(columns, axis=1, kind="stable").astype(np.int64))
    values = np.ascontiguousarray(np.take_along_axis(columns, order, axis=1))
    equal_next = values[:, 1:] == values[:, :-1]
    tied = np.zeros(values.shape, dtype=bool)
    tied[:, 1:] |= equal_next
    tied[:, :-1] |= equal_next
    root_ties = np.zeros((columns.shape[0], MAX_ROOT_TIES), dtype=np.int64)
    root_tie_counts = np.full(columns.shape[0], -1, dtype=np.int64)
    for feature, row in enumerate(tied):
        positions = np.flatnonzero(row)
        if positions.size <= MAX_ROOT_TIES:
            root_ties[feature, : positions.size] = positions
            root_tie_counts[feature] = positions.size
    return columns, order, values, root_ties, root_tie_counts


def new_root_memo(presorted: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Empty memo of root orders for the trees of one fit (``sort_root_feature``); state 0 is index order."""
    n_features = presorted[0].shape[0]
    state_feature = np.full(MAX_ROOT_STATES, -1, dtype=np.int64)
    state_ids = np.zeros((MAX_ROOT_STATES, MAX_ROOT_TIES), dtype=np.int64)
    next_state = np.full((MAX_ROOT_STATES, n_features), -1, dtype=np.int64)
    return state_feature, state_ids, next_state, np.ones(1, dtype=np.int64)
