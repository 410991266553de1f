"""IMA synthetic data (trainables/ima_synthetic.py) and priors (trainables/ima_priors.py): shapes, seeding,
the Möbius / MLP formulas on hand-checked points, log-densities against scipy, sampling moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from trainables import ima_synthetic as synth
from trainables.ima_priors import Prior
from trainables.metrics.cima import cima_values, decoder_jacobians


@pytest.mark.parametrize("source", ["uniform", "gaussian", "laplace", "beta"])
def test_shapes_splits_and_source_ranges(source):
    data = synth.generate(synth.DataSpec(latent_dim=3, n_obs=100, source=source))
    assert data.sources.shape == data.observations.shape == (100, 3)
    assert data.sources.dtype == np.float32 and np.all(np.isfinite(data.observations))
    sizes = [len(data.splits[k]) for k in synth.SPLITS]
    assert sizes == [70, 20, 10]
    assert sorted(np.concatenate([data.splits[k] for k in synth.SPLITS]).tolist()) == list(range(100))
    if source in ("uniform", "beta"):
        assert data.sources.min() >= -0.5 and data.sources.max() <= 0.5
    assert synth.split_sizes(60000) == (42000, 12000, 6000)


def test_data_depend_on_data_seed_only():
    a = synth.generate(synth.DataSpec(n_obs=50, data_seed=3))
    b = synth.generate(synth.DataSpec(n_obs=50, data_seed=3, cos_theta=0.0))  # an equal spec
    c = synth.generate(synth.DataSpec(n_obs=50, data_seed=4))
    assert np.array_equal(a.observations, b.observations)
    assert not np.allclose(a.sources, c.sources)
    synth.generate.cache_clear()  # regenerated from scratch: still the same numbers
    assert np.array_equal(synth.generate(synth.DataSpec(n_obs=50, data_seed=3)).observations, a.observations)


def test_moebius_formula_on_a_hand_checked_point():
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    mix = synth.Mixing("moebius", [rot], a=np.array([1.0, 1.0]))
    # s - a = (-1, -1), |s - a|^2 = 2, A(s - a) = (1, -1): f(0) = (0.5, -0.5)
    out = mix(torch.zeros(1, 2, dtype=torch.float64))
    assert torch.allclose(out, torch.tensor([[0.5, -0.5]], dtype=torch.float64))
    mix.linear_map, mix.offset = np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([1.0, 0.0])
    assert torch.allclose(mix(torch.zeros(1, 2, dtype=torch.float64)), torch.tensor([[0.0, 0.0]], dtype=torch.float64))


def test_generated_moebius_data_come_from_the_kept_mixing_and_are_conformal():
    data = synth.generate(synth.DataSpec(n_obs=200, latent_dim=3, data_seed=7))
    assert np.all(np.abs(data.mixing.a) > 0.5)
    a = data.mixing.matrices[0]
    assert np.allclose(a @ a.T, np.eye(3))
    assert np.allclose(data.observations.mean(0), 0, atol=1e-6)  # mean-centred
    s = torch.from_numpy(data.sources).double()
    assert np.allclose(data.mixing(s).numpy(), data.observations, atol=1e-5)
    jac = decoder_jacobians(data.mixing, s[:50])
    assert np.max(cima_values(jac)) < 1e-10  # Möbius maps are conformal: C_IMA = 0
    skewed = synth.generate(synth.DataSpec(n_obs=200, linear_map="cos_theta", cos_theta=0.5))
    assert np.mean(cima_values(decoder_jacobians(skewed.mixing, torch.from_numpy(skewed.sources[:50]).double()))) > 0.01


def test_mlp_mixing_applies_the_activation_before_the_matrix():
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    mix = synth.Mixing("mlp", [m], activation="smooth_lrelu", slope=0.2)
    h = np.array([0.8 * math.log(2.0), 0.2 + 0.8 * math.log1p(math.e)])  # smooth_lrelu(0), smooth_lrelu(1)
    out = mix(torch.tensor([[0.0, 1.0]], dtype=torch.float64)).numpy()
    assert np.allclose(out, [[h @ m[:, 0], h @ m[:, 1]]])
    data = synth.generate(synth.DataSpec(n_obs=100, mixing="mlp", latent_dim=3, orthogonal=False))
    assert all(1 <= x.min() and x.max() <= 3 for x in data.mixing.matrices) and len(data.mixing.matrices) == 3
    assert np.allclose(data.mixing(torch.from_numpy(data.sources).double()).numpy(), data.observations, atol=1e-5)


def test_boundary_mask():
    s = torch.tensor([[0.0, 0.39], [0.0, 0.41], [-0.45, 0.0]])
    assert synth.boundary_mask(s, 0.4).tolist() == [True, False, False]


Z = torch.tensor([[0.1, 0.5, 0.93]], dtype=torch.float64)
X = torch.tensor([[-1.5, 0.2, 2.0]], dtype=torch.float64)


@pytest.mark.parametrize("prior,points,reference", [
    (Prior("uniform"), Z, stats.uniform(0, 1)),
    (Prior("beta", alpha=3, beta=11), Z, stats.beta(3, 11)),
    (Prior("beta", alpha=3, beta=11, shape_offset=2), Z, stats.beta(5, 13)),  # the seed's |α| + 2
    (Prior("gaussian", mean=0.5, var=2.0), X, stats.norm(0.5, math.sqrt(2.0))),
    (Prior("laplace", mean=0.5, var=2.0), X, stats.laplace(0.5, 2.0)),
])
def test_log_density_matches_scipy(prior, points, reference):
    assert prior.log_prob(points).item() == pytest.approx(reference.logpdf(points.numpy()).sum(), rel=1e-10)
    mean, var = reference.stats("mv")
    draws = prior.sample(40000, 2, np.random.default_rng(0))
    assert draws.shape == (40000, 2)
    assert np.allclose(draws.mean(0), mean, atol=5 * math.sqrt(var / 40000))
    assert np.allclose(draws.var(0), var, rtol=0.05)


def test_uniform_density_is_minus_infinity_outside_the_unit_interval():
    assert Prior("uniform").log_prob(torch.tensor([[0.5, 1.2]])).item() == -math.inf


@pytest.mark.parametrize("name", ["uniform", "beta"])
def test_sigmoid_terms_exact_and_seed_variant(name):
    eps = torch.tensor([[-2.0, 0.3], [1.0, 4.0]], dtype=torch.float64)
    exact, seed = Prior(name), Prior(name, jacobian="seed_eps")
    z, log_p, log_det = exact.latent_terms(eps)
    assert torch.allclose(z, torch.sigmoid(eps))
    assert torch.allclose(log_det, -torch.log(z * (1 - z)).sum(-1))  # |dz/dε| = z(1 - z)
    assert torch.allclose(log_p, exact.log_prob(z))
    z2, log_p2, log_det2 = seed.latent_terms(eps)
    assert torch.allclose(log_det2, log_det, atol=1e-6) and torch.allclose(log_p2, log_p)
    # far in the tail the float32 sigmoid rounds to 1: the exact form stays finite, the seed's saturates
    far = torch.tensor([[40.0]])
    assert math.isfinite(exact.latent_terms(far)[2].item())
    assert exact.latent_terms(far)[2].item() == pytest.approx(40.0, rel=1e-4)
    assert seed.latent_terms(far)[2].item() == pytest.approx(-math.log(1e-8), rel=1e-4)


def test_analytic_kl_is_the_mean_of_the_monte_carlo_one():
    prior = Prior("gaussian", mean=0.2, var=1.5)
    mu, logvar = torch.tensor([[0.3, -1.0]], dtype=torch.float64), torch.tensor([[-0.5, 0.4]], dtype=torch.float64)
    noise = torch.randn(200000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    eps = mu + torch.exp(0.5 * logvar) * noise
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar + noise**2)).sum(-1)
    mc = (log_q - prior.log_prob(eps)).mean().item()
    assert mc == pytest.approx(prior.analytic_kl(mu, logvar).item(), abs=0.01)
