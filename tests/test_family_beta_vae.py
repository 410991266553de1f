"""Family beta_vae: losses on hand-computed values, schedules, the λβ stage boundary, determinism,
resume bit-identity, evaluation and artifacts (CPU, tiny batches)."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.beta_vae import BetaVAE, BetaVAEConfig
from trainables.burgess_vae import BurgessVAE, cosine_beta, kl_divergence, reconstruction_nll, squared_error
from trainables.family import RunContext

CPU = RunContext(device=torch.device("cpu"))
SMALL = {"batch_size": 8, "latent_dim": 4, "eval_train_samples": 120, "eval_test_samples": 60,
         "eval_batch_size": 60}


def make(seed=0, **kw):
    return BetaVAE(BetaVAEConfig(**{**SMALL, **kw}), seed, CPU)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.net.parameters()])


def test_kl_matches_the_closed_form():
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    expected = 0.5 * ((0.25 + 1 - 1 - 0) + (1.0 + 4 - 1 - math.log(4.0)))
    assert kl_divergence(mu, logvar).item() == pytest.approx(expected)


def test_bernoulli_and_gaussian_reconstruction_terms():
    logits = torch.zeros(1, 1, 2, 2)  # sigmoid = 0.5 everywhere
    x = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    assert reconstruction_nll(logits, x, "bernoulli").item() == pytest.approx(4 * math.log(2))
    assert reconstruction_nll(logits, x, "gaussian").item() == pytest.approx(4 * 0.25)
    assert squared_error(logits, x).item() == pytest.approx(1.0)


def test_loss_combines_terms_with_beta_lambda_and_per_latent_kl():
    model = make(lam=3.0, kl_normalisation="per_latent")
    x = model.data.images(torch.arange(4)).float() / 255
    noise = torch.zeros(4, 4)
    out = model.losses(x, noise, beta=2.0, lam=3.0)
    expected = out["recon"] + 2.0 * out["kl"] / 4 + 3.0 * out["l2"]
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_cosine_schedule_endpoints_and_midpoint():
    assert cosine_beta(0, 0.005, 0.4, 10, 20) == 0.005
    assert cosine_beta(10, 0.005, 0.4, 10, 20) == 0.005
    assert cosine_beta(15, 0.005, 0.4, 10, 20) == pytest.approx((0.005 + 0.4) / 2)
    assert cosine_beta(20, 0.005, 0.4, 10, 20) == 0.4 and cosine_beta(99, 0.005, 0.4, 10, 20) == 0.4
    model = make(beta_schedule="cosine", beta_initial=0.5, beta=2.0, beta_ramp_start=1, beta_ramp_end=3)
    assert [model.train_step(s)["beta"] for s in range(4)] == [0.5, 0.5, pytest.approx(1.25), 2.0]


def test_lambda_stage_starts_with_a_fresh_optimiser_and_lambda_only_after_the_boundary():
    model = make(lam=5.0, continue_from_step=3)
    assert model.lam_at(2) == 0.0 and model.lam_at(3) == 5.0
    for s in range(3):
        model.train_step(s)
    old = model.optimizer
    assert int(next(iter(old.state.values()))["step"]) == 3
    model.train_step(3)
    assert model.optimizer is not old
    assert int(next(iter(model.optimizer.state.values()))["step"]) == 1


def test_beta_stage_is_shared_across_lambda_only():
    a = BetaVAE.shared_prefix(BetaVAEConfig(continue_from_step=100, lam=0.0))
    b = BetaVAE.shared_prefix(BetaVAEConfig(continue_from_step=100, lam=8.0))
    c = BetaVAE.shared_prefix(BetaVAEConfig(continue_from_step=100, lam=0.0, beta=4.0))
    assert a == b and a.steps == 100 and "lam" not in a.key
    assert a.key != c.key
    assert BetaVAE.shared_prefix(BetaVAEConfig()) is None
    # the β stage of two λ values is bit-identical
    x, y = make(lam=0.0, continue_from_step=4), make(lam=8.0, continue_from_step=4)
    assert [x.train_step(s) for s in range(4)] == [y.train_step(s) for s in range(4)]
    assert x.train_step(4) != y.train_step(4)


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = make(0), make(0), make(1)
    la = [a.train_step(s) for s in range(3)]
    assert la == [b.train_step(s) for s in range(3)]
    assert la != [c.train_step(s) for s in range(3)]
    assert torch.equal(params(a), params(b))


def test_resume_from_state_dict_is_bit_identical():
    straight = make(3)
    losses = [straight.train_step(s) for s in range(8)]
    first = make(3)
    for s in range(4):
        first.train_step(s)
    saved = first.state_dict()
    resumed = make(3)
    resumed.load_state_dict(saved)
    assert [resumed.train_step(s) for s in range(4, 8)] == losses[4:]
    assert torch.equal(params(resumed), params(straight))


def test_evaluate_returns_every_declared_metric_and_does_not_touch_training_rng():
    a, b = make(2), make(2)
    a.train_step(0)
    b.train_step(0)
    metrics = a.evaluate()
    assert set(metrics) == {"mig", "sap", "sap_continuous", "im", "recon_nll", "kl", "l2", "loss"}
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics == a.evaluate()  # the evaluation sample and noise are fixed
    assert a.train_step(1) == b.train_step(1)  # evaluating did not change what training draws


def test_extra_scores_go_through_the_shared_evaluation():
    model = make(4, extra_scores=("dci", "factor_vae", "beta_vae_score", "irs"), dlib_num_train=40,
                 dlib_num_eval=20)
    model.train_step(0)
    metrics = model.evaluate()
    assert set(metrics) == set(BetaVAE.metrics)  # every declared metric, the dlib scores included
    assert all(math.isfinite(v) for v in metrics.values())
    assert 0.0 <= metrics["dci_disentanglement"] <= 1.0 and 0.0 <= metrics["beta_vae_eval_accuracy"] <= 1.0


def test_artifacts_are_pngs(tmp_path):
    paths = make().write_artifacts(tmp_path)
    assert {p.name for p in paths} == {"reconstructions.png", "latent_traversals.png"}
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_burgess_shapes():
    net = BurgessVAE(3, 10)
    logits, mu, logvar = net(torch.zeros(2, 3, 64, 64), torch.zeros(2, 10))
    assert logits.shape == (2, 3, 64, 64) and mu.shape == logvar.shape == (2, 10)


@pytest.mark.parametrize("values, message", [
    ({"dataset": "mnist"}, "dataset"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"beta_schedule": "cosine", "beta_ramp_start": 5, "beta_ramp_end": 5}, "beta_ramp_end"),
    ({"continue_from_step": -1}, "continue_from_step"),
    ({"extra_scores": ("dci", "factorvae")}, "extra_scores"),
])
def test_validate_config_names_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        BetaVAE.validate_config(values)
