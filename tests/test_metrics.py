"""Known-answer tests of the λβ-VAE seed metrics (trainables/metrics): discretisation, MI, MIG, SAP, I_m.

References written here with plain loops (histogram edges, counting MI, brute-force matching, dlib's
per-pair SAP loop) check the vectorised/library-backed implementations.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from sklearn import svm

from trainables.metrics import (
    discretize,
    factor_entropies,
    im,
    im_from_mi,
    mig,
    mig_from_mi,
    mutual_info_matrix,
    sap,
    sap_continuous,
    sap_continuous_matrix,
    sap_score_matrix,
)


def full_grid(sizes, repeats, rng):
    """Every combination of factor values `repeats` times, shuffled: factors are exactly independent."""
    grid = np.array(list(itertools.product(*[range(s) for s in sizes])))
    rows = np.repeat(grid, repeats, axis=0)
    return rows[rng.permutation(len(rows))]


#: Householder reflection about (1,1,1): every latent mixes all factors, two of them with weight 2/3,
#: so no factor has one clearly best latent.
MIXING = np.eye(3) - 2.0 / 3.0


def ref_discretize_column(col, num_bins):
    lo, hi = float(col.min()), float(col.max())
    if lo == hi:  # numpy's rule for an empty range
        lo, hi = lo - 0.5, hi + 0.5
    left_edges = np.linspace(lo, hi, num_bins + 1)[:-1]
    return np.array([sum(1 for e in left_edges if e <= x) for x in col])


def ref_mi(a, b):
    n = len(a)
    joint, pa, pb = Counter(zip(a, b)), Counter(a), Counter(b)
    return sum(c / n * math.log((c / n) / ((pa[x] / n) * (pb[y] / n))) for (x, y), c in joint.items())


def ref_entropy(a):
    n = len(a)
    return -sum(c / n * math.log(c / n) for c in Counter(a).values())


def ref_mig(codes, factors, num_bins):
    disc = [ref_discretize_column(codes[:, i], num_bins) for i in range(codes.shape[1])]
    gaps = []
    for k in range(factors.shape[1]):
        mis = sorted((ref_mi(list(d), list(factors[:, k])) for d in disc), reverse=True)
        gaps.append((mis[0] - mis[1]) / ref_entropy(list(factors[:, k])))
    return float(np.mean(gaps))


def ref_matching(m):
    """Brute force over all one-to-one matchings of the smaller side into the larger."""
    num_latents, num_factors = m.shape
    if num_latents >= num_factors:
        return max(
            sum(m[p[k], k] for k in range(num_factors))
            for p in itertools.permutations(range(num_latents), num_factors)
        )
    return max(
        sum(m[i, p[i]] for i in range(num_latents))
        for p in itertools.permutations(range(num_factors), num_latents)
    )


# --- discretisation -------------------------------------------------------------------------------


def test_discretize_values_on_bin_edges_hand_computed():
    codes = np.array([[0.0, -1.0, 7.0], [1.0, -0.5, 7.0], [2.0, 0.0, 7.0], [3.0, 0.5, 7.0], [4.0, 1.0, 7.0]])
    # 4 bins: left edges [0,1,2,3] and [-1,-.5,0,.5]; an interior edge goes up, the max to the last bin.
    # The constant column gets numpy's range 6.5..7.5: left edges 6.5, 6.75, 7.0, 7.25 -> bin 3.
    expected = np.array([[1, 1, 3], [2, 2, 3], [3, 3, 3], [4, 4, 3], [4, 4, 3]])
    out = discretize(codes, num_bins=4)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)


def test_discretize_matches_histogram_counts_and_reference():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(400, 3))
    # Put a few values exactly on interior edges of the first column.
    edges = np.histogram(codes[:, 0], 20)[1]
    codes[:5, 0] = edges[3:8]
    out = discretize(codes)
    assert out.min() >= 1 and out.max() <= 20
    for i in range(3):
        counts = np.bincount(out[:, i], minlength=21)[1:]
        np.testing.assert_array_equal(counts, np.histogram(codes[:, i], 20)[0])
        np.testing.assert_array_equal(out[:, i], ref_discretize_column(codes[:, i], 20))
    np.testing.assert_array_equal(out[:5, 0], np.arange(4, 9))


def test_discretize_rejects_nan_and_bad_shapes():
    with pytest.raises(ValueError, match="NaN or inf"):
        discretize(np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        discretize(np.zeros(5))
    with pytest.raises(ValueError, match="num_bins"):
        discretize(np.zeros((5, 2)), num_bins=0)


# --- mutual information ---------------------------------------------------------------------------


def test_mutual_info_hand_computed():
    codes = np.array([[0, 0], [0, 1], [0, 0], [1, 1]])
    factors = np.array([[0], [0], [1], [1]])
    # Column 0 vs factor: p(0,0)=.5, p(0,1)=.25, p(1,1)=.25; p_code=(.75,.25), p_factor=(.5,.5).
    expected0 = 0.5 * math.log(0.5 / 0.375) + 0.25 * math.log(0.25 / 0.375) + 0.25 * math.log(0.25 / 0.125)
    m = mutual_info_matrix(codes, factors)
    assert m.shape == (2, 1)
    assert m[0, 0] == pytest.approx(expected0, abs=1e-12)
    assert m[1, 0] == pytest.approx(0.0, abs=1e-12)  # column 1 is independent of the factor
    assert mutual_info_matrix(factors, factors)[0, 0] == pytest.approx(math.log(2), abs=1e-12)


def test_factor_entropies_hand_computed_and_constant_is_zero():
    factors = np.array([[0, 5], [0, 5], [1, 5], [1, 5], [1, 5], [2, 5]])
    h = factor_entropies(factors)
    expected = -(2 / 6 * math.log(2 / 6) + 3 / 6 * math.log(3 / 6) + 1 / 6 * math.log(1 / 6))
    assert h[0] == pytest.approx(expected, abs=1e-12)
    assert h[1] == 0.0


def test_factors_must_be_integer_valued():
    with pytest.raises(ValueError, match="integer"):
        mutual_info_matrix(np.zeros((3, 1), dtype=int), np.array([[0.5], [1.0], [2.0]]))
    # Integral floats are accepted (loaders often store factors as float32).
    m = mutual_info_matrix(np.array([[0], [1]]), np.array([[0.0], [1.0]], dtype=np.float32))
    assert m[0, 0] == pytest.approx(math.log(2))


# --- MIG ------------------------------------------------------------------------------------------


def test_mig_perfect_codes_is_one():
    rng = np.random.default_rng(1)
    factors = full_grid([4, 5, 3], 10, rng)
    # Noise-free codes: every row of a factor value lands in one bin, even a value on a bin edge.
    assert mig(factors.astype(float), factors) == pytest.approx(1.0, abs=1e-9)
    # Tiny noise can split a value that sits on an edge between two bins (5 values in 20 bins put
    # every value on an edge); the split is random, so MIG drops only by estimator bias.
    assert mig(factors + 1e-6 * rng.normal(size=factors.shape), factors) > 0.98


def test_mig_rotated_codes_is_much_lower():
    rng = np.random.default_rng(2)
    factors = full_grid([4, 5, 3], 10, rng)
    standardised = (factors - factors.mean(0)) / factors.std(0)
    value = mig(standardised @ MIXING, factors)
    assert 0.0 <= value < 0.3


def test_mig_duplicated_latent_has_zero_gap_for_that_factor():
    rng = np.random.default_rng(3)
    factors = full_grid([4, 5, 3], 10, rng)
    codes = factors[:, [0, 0, 1, 2]].astype(float)
    # Factor 0 is captured twice -> gap 0; factors 1 and 2 -> gap 1.
    assert mig(codes, factors) == pytest.approx(2 / 3, abs=1e-9)


def test_mig_dead_latent_gives_no_nan_and_changes_nothing():
    rng = np.random.default_rng(4)
    factors = full_grid([4, 5, 3], 10, rng)
    codes = factors + 0.3 * rng.normal(size=factors.shape)
    with_dead = np.hstack([codes, np.full((len(codes), 1), 2.5)])
    assert np.isfinite(mig(with_dead, factors))
    assert mig(with_dead, factors) == mig(codes, factors)
    # A single latent is scored against a dead runner-up (MI 0).
    assert mig(codes[:, :1], factors) == mig(with_dead[:, [0, 3]], factors)


def test_mig_fewer_latents_than_factors():
    rng = np.random.default_rng(5)
    factors = full_grid([4, 5, 3], 10, rng)
    codes = factors[:, :2].astype(float)
    # Factors 0 and 1 have gap 1, factor 2 is in no latent: gap 0.
    assert mig(codes, factors) == pytest.approx(2 / 3, abs=1e-9)


def test_mig_skips_constant_factors_and_raises_when_all_are():
    rng = np.random.default_rng(6)
    factors = full_grid([4, 5], 10, rng)
    codes = factors + 0.2 * rng.normal(size=factors.shape)
    with_constant = np.hstack([factors, np.full((len(factors), 1), 3)])
    assert mig(codes, with_constant) == mig(codes, factors)
    with pytest.raises(ValueError, match="single value"):
        mig(codes, np.zeros((len(codes), 2), dtype=int))


def test_mig_matches_loop_reference_on_random_data():
    rng = np.random.default_rng(7)
    factors = rng.integers(0, 4, size=(300, 3))
    codes = factors @ rng.normal(size=(3, 4)) + rng.normal(size=(300, 4))
    assert mig(codes, factors, num_bins=10) == pytest.approx(ref_mig(codes, factors, 10), abs=1e-10)
    m = mutual_info_matrix(discretize(codes, 10), factors)
    assert mig_from_mi(m, factor_entropies(factors)) == pytest.approx(ref_mig(codes, factors, 10), abs=1e-10)


# --- I_m ------------------------------------------------------------------------------------------


def test_im_perfect_codes_is_sum_of_entropies():
    rng = np.random.default_rng(8)
    factors = full_grid([4, 5, 3], 10, rng)
    codes = np.hstack([factors.astype(float), rng.normal(size=(len(factors), 2))])
    assert im(codes, factors) == pytest.approx(factor_entropies(factors).sum(), rel=1e-9)


def test_im_optimal_matching_beats_greedy():
    m = np.array([[0.9, 0.8], [0.85, 0.1]])
    # Greedy (largest entry first): 0.9 + 0.1 = 1.0; each latent's row max both pick factor 0.
    # The optimal one-to-one matching is latent0->factor1, latent1->factor0: 0.8 + 0.85.
    assert im_from_mi(m) == pytest.approx(1.65)


def test_im_fewer_latents_than_factors():
    rng = np.random.default_rng(9)
    factors = full_grid([4, 5, 3], 10, rng)
    codes = factors[:, [2, 0]].astype(float)
    h = factor_entropies(factors)
    assert im(codes, factors) == pytest.approx(h[0] + h[2], rel=1e-9)


def test_im_matches_brute_force_on_random_data():
    rng = np.random.default_rng(10)
    for num_latents, num_factors in [(4, 3), (2, 4), (3, 3)]:
        factors = rng.integers(0, 3, size=(200, num_factors))
        codes = rng.normal(size=(200, num_latents)) + factors[:, rng.integers(0, num_factors, num_latents)]
        m = mutual_info_matrix(discretize(codes), factors)
        assert im(codes, factors) == pytest.approx(ref_matching(m), abs=1e-12)


# --- SAP ------------------------------------------------------------------------------------------


def dlib_sap_matrix(train_codes, train_factors, test_codes, test_factors):
    """dlib's ``_compute_score_matrix`` (discrete branch), transposed to (samples, dims) inputs."""
    out = np.zeros((train_codes.shape[1], train_factors.shape[1]))
    for i in range(train_codes.shape[1]):
        for j in range(train_factors.shape[1]):
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(train_codes[:, i][:, np.newaxis], train_factors[:, j])
            out[i, j] = np.mean(classifier.predict(test_codes[:, i][:, np.newaxis]) == test_factors[:, j])
    return out


def binary_split(rng, noise):
    factors = full_grid([2, 2, 2], 200, rng)  # 1600 rows
    codes = factors + noise * rng.normal(size=factors.shape)
    return codes[:1000], factors[:1000], codes[1000:], factors[1000:]


def test_sap_perfect_binary_codes_and_threads_match_dlib_loop():
    rng = np.random.default_rng(11)
    split = binary_split(rng, 0.01)
    matrix = sap_score_matrix(*split, n_jobs=2)
    np.testing.assert_array_equal(matrix, dlib_sap_matrix(*split))
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    off_diagonal = matrix[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off_diagonal - 0.5) < 0.1)  # uninformative latents score about chance
    expected = np.mean(1.0 - np.max(np.where(np.eye(3, dtype=bool), 0.0, matrix), axis=0))
    assert sap(*split) == pytest.approx(expected)
    assert sap(*split) > 0.4


def test_sap_rotated_codes_is_lower():
    rng = np.random.default_rng(12)
    train_codes, train_factors, test_codes, test_factors = binary_split(rng, 0.01)
    perfect = sap(train_codes, train_factors, test_codes, test_factors)
    rotated = sap(train_codes @ MIXING, train_factors, test_codes @ MIXING, test_factors)
    assert rotated < perfect - 0.2


def test_sap_dead_latent_single_latent_and_constant_factor():
    rng = np.random.default_rng(13)
    train_codes, train_factors, test_codes, test_factors = binary_split(rng, 0.3)
    dead = lambda c: np.hstack([c, np.zeros((len(c), 1))])  # noqa: E731
    value = sap(dead(train_codes), train_factors, dead(test_codes), test_factors)
    assert np.isfinite(value)
    # One latent: the runner-up is a dead latent fitted for real.
    one = sap(train_codes[:, :1], train_factors, test_codes[:, :1], test_factors)
    assert one == sap(dead(train_codes[:, :1]), train_factors, dead(test_codes[:, :1]), test_factors)
    # A factor constant on the training split is skipped.
    const = lambda f: np.hstack([f, np.ones((len(f), 1), dtype=int)])  # noqa: E731
    assert sap(train_codes, const(train_factors), test_codes, const(test_factors)) == sap(
        train_codes, train_factors, test_codes, test_factors
    )
    with pytest.raises(ValueError, match="two or more values"):
        sap(train_codes, np.zeros_like(train_factors), test_codes, test_factors)


def test_sap_continuous_matches_dlib_cov_loop_and_uses_train_only():
    rng = np.random.default_rng(14)
    factors = rng.integers(0, 5, size=(500, 3)).astype(float)
    codes = factors @ rng.normal(size=(3, 4)) + rng.normal(size=(500, 4))
    codes[:, 3] = 1.0  # dead latent: variance 0 -> score 0
    expected = np.zeros((4, 3))
    for i in range(4):
        for j in range(3):
            cov = np.cov(codes[:, i], factors[:, j], ddof=1)
            expected[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]) if cov[0, 0] > 1e-12 else 0.0
    np.testing.assert_allclose(sap_continuous_matrix(codes, factors), expected, rtol=1e-10, atol=1e-14)
    ordered = np.sort(expected, axis=0)
    value = sap_continuous(codes, factors, rng.normal(size=(7, 4)), factors[:7])
    assert value == pytest.approx(np.mean(ordered[-1] - ordered[-2]), rel=1e-10)
    assert sap_continuous(codes, factors) == value  # the test split does not enter


def test_sap_continuous_perfect_rotated_and_single_latent():
    rng = np.random.default_rng(15)
    factors = full_grid([4, 5, 3], 10, rng)
    codes = factors + 1e-3 * rng.normal(size=factors.shape)
    assert sap_continuous(codes, factors) == pytest.approx(1.0, abs=1e-4)
    standardised = (factors - factors.mean(0)) / factors.std(0)
    assert sap_continuous(standardised @ MIXING, factors) < 0.2
    single = sap_continuous(codes[:, :1], factors)
    assert single == sap_continuous(np.hstack([codes[:, :1], np.ones((len(codes), 1))]), factors)
