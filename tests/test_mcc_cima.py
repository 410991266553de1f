"""Known-answer tests of MCC (trainables/metrics/mcc.py) and C_IMA (trainables/metrics/cima.py).

MCC answers come from exact constructions (orthonormal columns give exact correlations) and from
closed forms: corr(X, exp X) = 1/sqrt(e - 1) for X ~ N(0, 1), corr(U, Φ⁻¹(U)) = sqrt(3/π) for
U ~ U(0, 1). C_IMA answers are hand-computed from Jacobians whose columns we choose.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch

from trainables.metrics.cima import (
    cima,
    cima_of_mean_jacobian,
    cima_pointwise,
    cima_values,
    decoder_jacobians,
)
from trainables.metrics.mcc import correlation_matrix, mcc, mcc_cdf, mcc_matrix


def orthonormal_centred(n_rows: int, n_cols: int, seed: int = 0) -> np.ndarray:
    """Columns that are centred and orthonormal, so correlations of their combinations are exact."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n_rows, n_cols))
    q, _ = np.linalg.qr(raw - raw.mean(axis=0))
    return q


# ---------------------------------------------------------------------------------------------- MCC


def test_mcc_is_one_for_permuted_sign_flipped_scaled_shifted_sources():
    rng = np.random.default_rng(1)
    sources = rng.uniform(-0.5, 0.5, size=(500, 4))
    perm = np.array([2, 0, 3, 1])
    scale = np.array([3.0, -0.01, 250.0, -7.0])
    latents = sources[:, perm] * scale + np.array([1.0, -4.0, 0.0, 9.0])
    assert mcc(sources, latents) == pytest.approx(1.0, abs=1e-12)
    assert mcc(sources, latents, method="spearman") == pytest.approx(1.0, abs=1e-12)
    match = mcc_matrix(sources, latents)
    # latent k is source perm[k]: source j goes to latent argsort(perm)[j].
    np.testing.assert_array_equal(match.source_index, np.arange(4))
    np.testing.assert_array_equal(match.latent_index, np.argsort(perm))


def test_hungarian_beats_greedy_on_a_hand_built_correlation_structure():
    e = orthonormal_centred(60, 4)
    sources = e[:, :2]
    # corr(source, latent) = [[0.7, 0.6], [0.6, 0.0]] exactly (unit-norm combinations of e).
    latent0 = 0.7 * e[:, 0] + 0.6 * e[:, 1] + math.sqrt(1 - 0.49 - 0.36) * e[:, 2]
    latent1 = 0.6 * e[:, 0] + 0.8 * e[:, 3]
    latents = np.column_stack([latent0, latent1])
    np.testing.assert_allclose(correlation_matrix(sources, latents), [[0.7, 0.6], [0.6, 0.0]], atol=1e-12)
    # Greedy (largest entry first) pairs s0-l0 (0.7), leaving s1-l1 (0.0): mean 0.35.
    # The optimum pairs s0-l1 and s1-l0: mean 0.6.
    assert mcc(sources, latents) == pytest.approx(0.6, abs=1e-12)
    match = mcc_matrix(sources, latents)
    assert list(zip(match.source_index, match.latent_index)) == [(0, 1), (1, 0)]


def test_correlations_match_numpy_and_scipy_references_including_ties():
    rng = np.random.default_rng(2)
    sources = rng.normal(size=(300, 3))
    latents = np.column_stack([np.round(sources[:, 1] * 2), rng.integers(0, 4, 300), sources[:, 0] ** 3])
    pearson = np.corrcoef(sources.T, latents.T)[:3, 3:]
    np.testing.assert_allclose(correlation_matrix(sources, latents), pearson, atol=1e-12)
    spearman = scipy.stats.spearmanr(sources, latents).statistic[:3, 3:]
    np.testing.assert_allclose(correlation_matrix(sources, latents, "Spearman"), spearman, atol=1e-12)


def test_spearman_is_invariant_to_monotone_maps_and_pearson_is_not():
    rng = np.random.default_rng(3)
    sources = rng.normal(size=(20000, 2))
    latents = np.exp(sources[:, ::-1])
    assert mcc(sources, latents, method="spearman") == pytest.approx(1.0, abs=1e-12)
    # corr(X, e^X) = 1 / sqrt(e - 1) = 0.763 for standard normal X.
    assert mcc(sources, latents) == pytest.approx(1 / math.sqrt(math.e - 1), abs=0.04)


def test_more_latents_than_sources_matches_min_pairs():
    e = orthonormal_centred(80, 5)
    sources = e[:, :2]
    latents = np.column_stack([e[:, 2], -4 * e[:, 1], e[:, 3], 2 * e[:, 0] + 1, e[:, 4]])
    assert mcc(sources, latents) == pytest.approx(1.0, abs=1e-12)
    match = mcc_matrix(sources, latents)
    assert match.abs_corr.shape == (2, 5)
    np.testing.assert_array_equal(match.latent_index, [3, 1])
    # Noise-only latents are ignored: swapping one true latent for noise halves the match.
    assert mcc(sources, latents[:, [0, 1, 2, 4]]) == pytest.approx(0.5, abs=1e-12)


def test_fewer_latents_than_sources_matches_min_pairs():
    e = orthonormal_centred(80, 4)
    sources = e
    latents = np.column_stack([e[:, 3], 0.6 * e[:, 1] + 0.8 * e[:, 2]])
    # l0 = s3 (1.0); l1 correlates 0.8 with s2 and 0.6 with s1: the best pair is s2 -> 0.8.
    assert mcc(sources, latents) == pytest.approx(0.9, abs=1e-12)
    match = mcc_matrix(sources, latents)
    assert list(zip(match.source_index, match.latent_index)) == [(2, 1), (3, 0)]


def test_constant_columns_correlate_zero_without_nan_or_warnings():
    rng = np.random.default_rng(4)
    sources = rng.normal(size=(200, 2))
    latents = np.column_stack([sources[:, 0], np.full(200, 0.1)])  # 0.1 has no exact float mean
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corr = correlation_matrix(sources, latents)
        value = mcc(sources, latents)
        spearman = mcc(sources, latents, method="spearman")
    assert np.all(corr[:, 1] == 0.0)
    assert value == pytest.approx(0.5, abs=1e-12)
    assert spearman == pytest.approx(0.5, abs=1e-12)
    # A constant source behaves the same way.
    assert mcc(np.column_stack([sources[:, 0], np.ones(200)]), sources) == pytest.approx(0.5, abs=1e-12)


def test_mcc_cdf_recovers_uniform_sources_from_gaussian_latents():
    rng = np.random.default_rng(5)
    sources = rng.uniform(size=(20000, 3))
    latents = scipy.stats.norm.ppf(sources[:, [1, 2, 0]])  # N(0, 1) latents, Φ(latent) = source
    assert mcc_cdf(sources, latents) == pytest.approx(1.0, abs=1e-9)
    # Without the CDF, Pearson sees the Gaussian shape: corr(U, Φ⁻¹(U)) = sqrt(3/π) = 0.977.
    assert mcc(sources, latents) == pytest.approx(math.sqrt(3 / math.pi), abs=0.003)


@pytest.mark.parametrize(
    ("sources", "latents", "method", "message"),
    [
        (np.zeros((5, 2)), np.zeros((6, 2)), "pearson", "rows"),
        (np.zeros(5), np.zeros((5, 2)), "pearson", "2-D"),
        (np.zeros((1, 2)), np.zeros((1, 2)), "pearson", "two samples"),
        (np.zeros((5, 2)), np.full((5, 2), np.nan), "pearson", "NaN"),
        (np.zeros((5, 2)), np.zeros((5, 2)), "kendall", "method"),
    ],
)
def test_mcc_rejects_bad_input(sources, latents, method, message):
    with pytest.raises(ValueError, match=message):
        mcc(sources, latents, method=method)


# --------------------------------------------------------------------------------------------- C_IMA


def rotation_2d(theta: float) -> np.ndarray:
    return np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])


def linear_decoder(weight: np.ndarray) -> torch.nn.Linear:
    out, inp = weight.shape
    layer = torch.nn.Linear(inp, out, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        layer.bias.fill_(0.3)
    return layer


def test_cima_is_zero_for_rotation_times_diagonal_scaling():
    weight = rotation_2d(0.7) @ np.diag([5.0, 0.02])
    decoder = linear_decoder(weight)
    z = torch.randn(16, 2, dtype=torch.float64)
    jac = decoder_jacobians(decoder, z)
    np.testing.assert_allclose(jac.numpy(), np.broadcast_to(weight, (16, 2, 2)), atol=1e-12)
    assert cima(decoder, z) == pytest.approx(0.0, abs=1e-12)
    assert cima(decoder, z, variant="mean_jacobian") == pytest.approx(0.0, abs=1e-12)


def test_cima_is_zero_for_the_seeds_moebius_map_in_3d():
    # f(s) = A (s - a) / ||s - a||^2 (notes §1): J = A (I - 2 u u^T) / r^2, orthogonal columns
    # of equal norm at every point, although f is nonlinear.
    a_rot = torch.as_tensor(scipy.stats.ortho_group.rvs(3, random_state=0))
    a = torch.tensor([0.9, -0.7, 1.2], dtype=torch.float64)

    def moebius(s: torch.Tensor) -> torch.Tensor:
        d = s - a
        return (d @ a_rot.T) / (d**2).sum(dim=1, keepdim=True)

    z = torch.rand(32, 3, dtype=torch.float64) - 0.5
    assert cima(moebius, z) == pytest.approx(0.0, abs=1e-10)
    jac = decoder_jacobians(moebius, z)
    assert not torch.allclose(jac[0], jac[1])  # really nonlinear: the Jacobian changes


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        # columns (1, 0) and (2, 1): norms 1 and sqrt(5), det 1 -> ½ log 5.
        (np.array([[1.0, 2.0], [0.0, 1.0]]), 0.5 * math.log(5)),
        # columns (2, 1) and (1, 3): norms sqrt(5) and sqrt(10), det 5 -> ½ log 2.
        (np.array([[2.0, 1.0], [1.0, 3.0]]), 0.5 * math.log(2)),
        # rectangular: columns (1, 0, 0) and (1, 1, 1): norms 1 and sqrt(3), det(JᵀJ) = 2 -> ½ log(3/2).
        (np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 1.0]]), 0.5 * math.log(1.5)),
    ],
)
def test_cima_of_a_fixed_linear_map_is_hand_computed_and_variants_agree(weight, expected):
    decoder = linear_decoder(weight)
    z = torch.randn(8, weight.shape[1], dtype=torch.float64)
    assert cima(decoder, z) == pytest.approx(expected, abs=1e-12)
    assert cima(decoder, z, variant="mean_jacobian") == pytest.approx(expected, abs=1e-12)
    if weight.shape[0] == weight.shape[1]:
        col_norms = np.linalg.norm(weight, axis=0)
        by_definition = np.sum(np.log(col_norms)) - np.log(abs(np.linalg.det(weight)))
        assert cima_pointwise(weight[np.newaxis]) == pytest.approx(by_definition, abs=1e-12)


def test_pointwise_and_mean_jacobian_differ_on_a_nonlinear_decoder():
    # f(z) = (z0 + z1^2, z1): J = [[1, 2 z1], [0, 1]]; at z1 = ±1 each C_IMA is ½ log 5,
    # while the mean Jacobian is I (C_IMA 0).
    def shear(z: torch.Tensor) -> torch.Tensor:
        return torch.stack([z[:, 0] + z[:, 1] ** 2, z[:, 1]], dim=1)

    z = torch.tensor([[0.3, 1.0], [-2.0, -1.0]], dtype=torch.float64)
    np.testing.assert_allclose(cima_values(decoder_jacobians(shear, z)), [0.5 * math.log(5)] * 2, atol=1e-12)
    assert cima(shear, z) == pytest.approx(0.5 * math.log(5), abs=1e-12)
    assert cima(shear, z, variant="mean_jacobian") == pytest.approx(0.0, abs=1e-12)


def test_cima_is_scale_invariant_and_stable_in_float32():
    # Column norms 1e-8 and 1e8: the raw Gram matrix spans 32 orders of magnitude.
    weight = np.array([[1.0, 2.0], [0.0, 1.0]]) @ np.diag([1e-8, 1e8])
    jac = torch.as_tensor(np.broadcast_to(weight, (4, 2, 2)).copy(), dtype=torch.float32)
    assert cima_pointwise(jac) == pytest.approx(0.5 * math.log(5), abs=1e-6)
    assert cima_of_mean_jacobian(jac.numpy()) == pytest.approx(0.5 * math.log(5), abs=1e-6)


def test_rank_deficient_jacobians_give_inf_not_nan():
    dependent = np.array([[1.0, 2.0], [1.0, 2.0]])
    zero_column = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert cima_values(dependent[np.newaxis])[0] == math.inf
    assert cima_values(zero_column[np.newaxis])[0] == math.inf
    ok = np.eye(2)[np.newaxis]
    np.testing.assert_array_equal(cima_values(np.concatenate([ok, dependent[np.newaxis]])), [0.0, math.inf])


def test_decoder_jacobians_match_autograd_per_sample_and_keep_the_train_mode():
    torch.manual_seed(0)
    # The seed's decoder shape (Linear, LeakyReLU(0.2)) plus BatchNorm to check the eval switch.
    decoder = torch.nn.Sequential(
        torch.nn.Linear(3, 30), torch.nn.BatchNorm1d(30), torch.nn.LeakyReLU(0.2), torch.nn.Linear(30, 3)
    )
    decoder(torch.randn(64, 3))  # non-trivial running statistics
    running_mean = decoder[1].running_mean.clone()
    z = torch.randn(10, 3)
    jac = decoder_jacobians(decoder, z)
    assert decoder.training
    assert torch.equal(decoder[1].running_mean, running_mean)
    decoder.eval()
    expected = torch.stack(
        [torch.autograd.functional.jacobian(lambda v: decoder(v.unsqueeze(0)).squeeze(0), row) for row in z]
    )
    assert jac.shape == (10, 3, 3)
    torch.testing.assert_close(jac, expected)


def test_decoder_jacobians_flatten_image_outputs():
    weight = torch.randn(6, 2, dtype=torch.float64)

    def image_decoder(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ weight.T).reshape(-1, 1, 2, 3)

    z = torch.randn(5, 2, dtype=torch.float64)
    jac = decoder_jacobians(image_decoder, z)
    assert jac.shape == (5, 6, 2)
    expected = (1 - torch.tanh(z @ weight.T) ** 2)[:, :, None] * weight  # d tanh(Wz) / dz
    torch.testing.assert_close(jac, expected)


@pytest.mark.parametrize(
    ("jacobians", "message"),
    [
        (np.eye(2), "batch, out, in"),
        (np.zeros((3, 2, 4)), "out >= in"),
        (np.full((1, 2, 2), np.nan), "NaN"),
    ],
)
def test_cima_rejects_bad_jacobians(jacobians, message):
    with pytest.raises(ValueError, match=message):
        cima_pointwise(jacobians)


def test_cima_rejects_bad_variant_and_latents():
    decoder = linear_decoder(np.eye(2))
    with pytest.raises(ValueError, match="variant"):
        cima(decoder, torch.zeros(3, 2, dtype=torch.float64), variant="mean")
    with pytest.raises(ValueError, match="batch, latent_dim"):
        decoder_jacobians(decoder, torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="torch.Tensor"):
        decoder_jacobians(decoder, np.zeros((3, 2)))
