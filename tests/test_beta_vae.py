"""Family beta_vae, beyond test_family_beta_vae.py: the objective on hand-computed numbers, resume and
shared-prefix reuse across the λ boundary and the cosine ramp, the β-stage evaluation being λ-free,
independent random streams, shared uint8 data, and the three study spaces (CPU, tiny batches)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sweepbed.planning import plan_groups, shared_prefix_key
from sweepbed.spaces import load_space
from trainables.beta_vae import EVAL_NOISE, INIT, TRAIN, BetaVAE, BetaVAEConfig, stream_seed
from trainables.burgess_vae import objective
from trainables.family import RunContext

REPO = Path(__file__).resolve().parents[1]
CPU = RunContext(device=torch.device("cpu"))
SMALL = {"batch_size": 4, "latent_dim": 3, "eval_train_samples": 40, "eval_test_samples": 20, "eval_batch_size": 25}


def make(seed=0, **kw):
    return BetaVAE(BetaVAEConfig(**{**SMALL, **kw}), seed, CPU)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.net.parameters()])


def roundtrip(state):
    """Through torch.save/torch.load, as the loop's checkpoints go."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def test_objective_on_hand_computed_values():
    # two images of two pixels; logits 0 -> sigmoid 0.5, so BCE is log 2 and squared error 0.25 per pixel
    logits = torch.zeros(2, 1, 1, 2)
    x = torch.tensor([[[[1.0, 0.0]]], [[[1.0, 1.0]]]])
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.zeros(2, 2)  # KL per image: 0.5·Σμ² -> 0.5 and 0; batch mean 0.25
    out = objective(logits, x, mu, logvar, beta=4.0, lam=3.0)
    assert out["recon"].item() == pytest.approx(2 * math.log(2))  # BCE summed over pixels, / B
    assert out["kl"].item() == pytest.approx(0.25)
    assert out["l2"].item() == pytest.approx(0.5)  # MSE summed over pixels, / B
    assert out["loss"].item() == pytest.approx(2 * math.log(2) + 4 * 0.25 + 3 * 0.5)
    per_latent = objective(logits, x, mu, logvar, beta=4.0, lam=0.0, kl_normalisation="per_latent")
    assert per_latent["kl"].item() == pytest.approx(0.25)  # the reported KL stays the sum
    assert per_latent["loss"].item() == pytest.approx(2 * math.log(2) + 4 * 0.25 / 2)
    gaussian = objective(logits, x, mu, logvar, beta=0.0, lam=0.0, likelihood="gaussian")
    assert gaussian["recon"].item() == pytest.approx(0.5)  # the challenge's "Gaussian" = squared error
    with pytest.raises(ValueError, match="kl_normalisation"):
        objective(logits, x, mu, logvar, 1.0, 0.0, kl_normalisation="mean")


def test_twenty_steps_resumed_at_ten_match_across_the_lambda_boundary_and_cosine_ramp():
    cfg = {"lam": 2.0, "continue_from_step": 6, "beta_schedule": "cosine", "beta_initial": 0.5, "beta": 4.0,
           "beta_ramp_start": 2, "beta_ramp_end": 14}
    straight = make(5, **cfg)
    losses = [straight.train_step(s) for s in range(20)]
    first = make(5, **cfg)
    for s in range(10):
        first.train_step(s)
    saved = roundtrip(first.state_dict())
    resumed = make(5, **cfg)
    resumed.load_state_dict(saved)
    assert [resumed.train_step(s) for s in range(10, 20)] == losses[10:]
    assert torch.equal(params(resumed), params(straight))
    assert resumed.gen.get_state().equal(straight.gen.get_state())
    assert [entry["beta"] for entry in losses][::6] == [0.5, pytest.approx(0.5 + 3.5 * 0.5 * (1 - math.cos(math.pi / 3))),
                                                        pytest.approx(0.5 + 3.5 * 0.5 * (1 - math.cos(math.pi * 5 / 6))),
                                                        4.0]


def test_beta_stage_cached_by_one_lambda_continues_exactly_like_another_lambda_from_scratch():
    # what the loop does with a shared prefix: the state after the β stage of a λ=0 trial is loaded by a λ=8 trial
    prefix = make(2, lam=0.0, continue_from_step=4)
    for s in range(4):
        prefix.train_step(s)
    reused = make(2, lam=8.0, continue_from_step=4)
    reused.load_state_dict(roundtrip(prefix.state_dict()))
    scratch = make(2, lam=8.0, continue_from_step=4)
    for s in range(4):
        scratch.train_step(s)
    assert [reused.train_step(s) for s in range(4, 7)] == [scratch.train_step(s) for s in range(4, 7)]
    assert torch.equal(params(reused), params(scratch))
    assert BetaVAE.shared_prefix(prefix.config) == BetaVAE.shared_prefix(reused.config)


def test_evaluation_at_the_boundary_belongs_to_the_beta_stage():
    # the cached β stage carries its evaluations, so the one at continue_from_step must not depend on λ
    a, b = make(1, lam=0.0, continue_from_step=3), make(1, lam=8.0, continue_from_step=3)
    for s in range(3):
        a.train_step(s)
        b.train_step(s)
    assert a.evaluate() == b.evaluate()
    a.train_step(3)
    b.train_step(3)
    ea, eb = a.evaluate(), b.evaluate()
    assert ea["loss"] != eb["loss"]
    # the evaluation's loss is the objective in force: recon + β·KL + λ·L2 on the same rows
    assert eb["loss"] == pytest.approx(eb["recon_nll"] + 1.0 * eb["kl"] + 8.0 * eb["l2"], rel=1e-6)
    assert ea["loss"] == pytest.approx(ea["recon_nll"] + ea["kl"], rel=1e-6)


def test_evaluation_sample_is_the_seeds_default_rng_draw_and_images_stay_shared_uint8():
    a, b = make(7), make(8)
    expected = np.random.default_rng(7).choice(len(a.data), size=60, replace=False)
    assert np.array_equal(a.eval_indices(), expected)
    assert a.data is b.data  # one dataset object per process, not a copy per trial
    assert a.data.images(torch.arange(3)).dtype == torch.uint8


def test_random_streams_are_distinct_per_stream_and_seed():
    seeds = {stream_seed(seed, stream) for seed in range(10) for stream in (INIT, TRAIN, EVAL_NOISE)}
    assert len(seeds) == 30 and all(0 <= s < 2**63 for s in seeds)
    assert stream_seed(0, TRAIN, rank=1) != stream_seed(0, TRAIN)
    # the first batch is not drawn from the same Mersenne Twister sequence that initialised the weights
    model = make(0)
    first = torch.randint(len(model.data), (4,), generator=torch.Generator().manual_seed(0))
    assert not torch.equal(torch.randint(len(model.data), (4,), generator=model.gen), first)


def test_validate_config_rejects_negative_weights_and_too_small_eval_splits():
    for values, field in [({"beta": -1.0}, "beta"), ({"lam": -0.5}, "lam"), ({"lr": 0.0}, "lr"),
                          ({"eval_test_samples": 1}, "eval_test_samples"), ({"adam_beta2": 1.0}, "adam_beta2")]:
        with pytest.raises(ValueError, match=f"^{field}:"):
            BetaVAE.validate_config(values)
    BetaVAE.validate_config({"beta_schedule": "cosine", "beta_ramp_start": 0, "beta_ramp_end": 1})


def test_study_spaces_plan_as_their_seeds_describe():
    quick = load_space(REPO / "search_spaces" / "quickstart.yaml")
    groups = plan_groups(quick)
    assert quick.family == "beta_vae" and quick.resources.gpu == 0
    assert {g.config["dataset"] for g in groups} == {"dsprites_procedural"}
    assert sum(len(g.trials) for g in groups) == len(groups) * 3

    lam = load_space(REPO / "search_spaces" / "lambda_beta.yaml")
    groups = plan_groups(lam)
    assert len(groups) == 25 and sum(len(g.trials) for g in groups) == 250
    assert {g.config["continue_from_step"] for g in groups} == {150000} and lam.budget.steps == 200000
    keys = [shared_prefix_key(g) for g in groups]
    assert len(set(keys)) == 5  # one β stage per β, shared by its five λ
    assert len(set(keys[:5])) == 5  # and the five that train them run first

    annealed = load_space(REPO / "search_spaces" / "annealed_beta.yaml")
    (group,) = plan_groups(annealed)
    config = BetaVAE.make_config(group.config)
    assert (config.dataset, config.latent_dim, config.likelihood, config.kl_normalisation) == (
        "mpi3d_toy", 18, "gaussian", "per_latent")
    assert len(group.trials) == 5
