"""CRMNIST models: the IRM penalties against hand-computed values, gradient reversal and its schedule, one
training step of every model, presets and dimension redistribution, determinism, resume bit-identity,
evaluation and artifacts (CPU, the digits8x8 stand-in, tiny networks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainables.crmnist import CRMNIST
from trainables.crmnist.discriminative import irm_objective, irm_penalty
from trainables.crmnist.family import MODELS
from trainables.crmnist.networks import dann_schedule, grad_reverse, redistribute
from trainables.family import RunContext

CPU = RunContext(device=torch.device("cpu"))


def make(model="nvae", seed=0, **kw):
    return CRMNIST(CRMNIST.make_config({**CRMNIST.smoke_values, "model": model, **kw}), seed, CPU)


def params(f):
    return torch.cat([p.detach().flatten() for p in f.model.parameters()])


# --- IRM ---------------------------------------------------------------------------------------
LOGITS = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0], [-1.0, 1.0, 1.5], [0.0, 0.0, 3.0]])
LABELS = np.array([0, 1, 0, 2])


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _per_sample_scale_grads(logits, labels):
    """d/ds CE(s·logits_i, y_i) at s = 1 = Σ_j (softmax_ij − onehot_ij)·logits_ij."""
    onehot = np.eye(logits.shape[1])[labels]
    return ((_softmax(logits) - onehot) * logits).sum(1)


def test_irm_penalties_match_hand_computed_values():
    logits, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    g = _per_sample_scale_grads(LOGITS, LABELS)
    assert irm_penalty(logits, y, "irmv1").item() == pytest.approx(g.mean() ** 2)
    # unbiased: product of the gradients of the two halves (rows 0, 2 and rows 1, 3)
    assert irm_penalty(logits, y, "irmv1_split").item() == pytest.approx(g[0::2].mean() * g[1::2].mean())
    # the seed's per-element dummy: Σ_ij (∂ mean CE / ∂ w_ij)² = Σ_ij ((p_ij − onehot_ij)·logit_ij / N)²
    onehot = np.eye(3)[LABELS]
    elementwise = (((_softmax(LOGITS) - onehot) * LOGITS / len(LABELS)) ** 2).sum()
    assert irm_penalty(logits, y, "seed_elementwise").item() == pytest.approx(elementwise)
    with pytest.raises(ValueError, match="irm_penalty"):
        irm_penalty(logits, y, "vrex")


def test_irm_objective_averages_over_environments_and_the_penalty_has_a_gradient():
    logits = torch.tensor(LOGITS, requires_grad=True)
    y, env = torch.tensor(LABELS), torch.tensor([0, 0, 1, 1])
    risk, penalty = irm_objective(logits, y, env, "irmv1")
    g = _per_sample_scale_grads(LOGITS, LABELS)
    ce = -np.log(_softmax(LOGITS)[np.arange(4), LABELS])
    assert risk.item() == pytest.approx((ce[:2].mean() + ce[2:].mean()) / 2)
    assert penalty.item() == pytest.approx((g[:2].mean() ** 2 + g[2:].mean() ** 2) / 2)
    penalty.backward()
    assert logits.grad.abs().sum() > 0  # create_graph: the penalty trains the network


def test_irm_weight_switches_on_with_a_fresh_optimiser():
    f = make("irm", irm_anneal_iters=2, irm_penalty_weight=100.0)
    assert [f.train_step(s)["irm_weight"] for s in range(2)] == [1.0, 1.0]
    old = f.optimizer
    assert int(next(iter(old.state.values()))["step"]) == 2
    assert f.train_step(2)["irm_weight"] == 100.0
    assert f.optimizer is not old and int(next(iter(f.optimizer.state.values()))["step"]) == 1


# --- gradient reversal -------------------------------------------------------------------------
def test_gradient_reversal_sign_and_scale():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    out = grad_reverse(x, 0.3)
    assert torch.equal(out, x.detach())  # identity forward
    (out * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.3, -0.6, -0.9]))


def test_dann_schedule():
    assert dann_schedule(0.0) == 0.0
    assert dann_schedule(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert dann_schedule(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_schedule(7.0) == dann_schedule(1.0)  # progress is clipped to [0, 1]
    f = make("dann", schedule_steps=4, lambda_reversal=0.5)
    lams = [f.train_step(s)["grl_lambda"] for s in range(3)]
    assert lams == pytest.approx([0.5 * dann_schedule(s / 4) for s in range(3)])


# --- every model trains ------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_one_training_step_of_each_model(model):
    f = make(model)
    before = params(f)
    losses = f.train_step(0)
    assert losses and all(math.isfinite(v) for v in losses.values())
    assert not torch.equal(before, params(f))
    metrics = f.evaluate()
    assert set(metrics) <= set(CRMNIST.metrics) and {"acc_y_val", "acc_y_ood"} <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in metrics if k.startswith("acc_"))
    assert ("recon_val" in metrics) == (model in ("nvae", "diva"))
    assert ("acc_d_val" in metrics) == (model != "irm")


def test_presets_and_dimension_redistribution():
    head = CRMNIST.make_config({})
    assert (head.zy_dim, head.beta_zdy, head.alpha_y, head.l1_lambda_zdy, head.irm_penalty_weight) == (8, 1.0, 150.0,
                                                                                                       5.0, 5.0)
    bea = CRMNIST.make_config({"preset": "bea13b7"})
    assert (bea.color_subsets, bea.rotation_step) == ("none", 10)  # its conf/crmnist.json
    assert CRMNIST.dataset_name(bea) == "crmnist_rot10_ood5_nosubsets"
    assert CRMNIST.make_config({"preset": "bea13b7", "color_subsets": "head"}).color_subsets == "head"
    old = CRMNIST.make_config({"preset": "bea13b7", "alpha_d": 7.0})
    assert (old.zy_dim, old.beta_zx, old.beta_zdy, old.beta_zd, old.alpha_y) == (32, 5.0, 10.0, 2.0, 100.0)
    assert old.alpha_d == 7.0  # an explicit value beats the preset
    assert CRMNIST.make_config({"model": "diva"}).latent_dims() == {"zy": 11, "zx": 10, "zdy": 0, "zd": 11}
    assert CRMNIST.make_config({"model": "augmented_dann"}).latent_dims() == {"zy": 11, "zd": 11, "zdy": 10}
    assert redistribute(128, 3) == [43, 43, 42]
    assert make("diva").model.subspaces == ("zy", "zx", "zd")


def test_dataset_name_never_calls_the_stand_in_mnist():
    assert CRMNIST.dataset_name(CRMNIST.make_config({})) == "crmnist_rot15_ood5"
    name = CRMNIST.dataset_name(CRMNIST.make_config({"source": "digits8x8"}))
    assert "digits8x8" in name and "mnist" not in name


# --- determinism and resume --------------------------------------------------------------------
def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = make(seed=0), make(seed=0), make(seed=1)
    la = [a.train_step(s) for s in range(3)]
    assert la == [b.train_step(s) for s in range(3)]
    assert la != [c.train_step(s) for s in range(3)]


def test_resume_is_bit_identical_and_evaluation_does_not_touch_training():
    straight = make("nvae", seed=3)
    losses = [straight.train_step(s) for s in range(6)]
    first = make("nvae", seed=3)
    for s in range(3):
        first.train_step(s)
    first.evaluate()  # evaluating must not move the training stream
    resumed = make("nvae", seed=3)
    resumed.load_state_dict(first.state_dict())
    assert [resumed.train_step(s) for s in range(3, 6)] == losses[3:]
    assert torch.equal(params(resumed), params(straight))
    assert resumed.evaluate() == straight.evaluate()


def test_probes_run_when_asked():
    metrics = make("nvae", probes=True, probe_steps=5).evaluate()
    assert {"probe_d_from_zd", "probe_d_from_zd_zdy", "probe_y_from_zy_zdy", "probe_y_from_zdy"} <= set(metrics)
    assert not any(k.startswith("probe_") for k in make("nvae").evaluate())


@pytest.mark.parametrize("model, names", [("nvae", {"latent_pca.png", "reconstructions.png", "latent_traversals.png"}),
                                          ("dann", {"latent_pca.png"})])
def test_artifacts_are_pngs(tmp_path, model, names):
    paths = make(model).write_artifacts(tmp_path)
    assert {p.name for p in paths} == names
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


@pytest.mark.parametrize("values, field", [({"batch_size": 0}, "batch_size"), ({"ood_domain": 6}, "ood_domain"),
                                           ({"color_prob": 1.5}, "color_prob"), ({"preset": "old"}, "preset"),
                                           ({"beta_zx": -1.0}, "beta_zx"), ({"color_subsets": "some"}, "color_subsets"),
                                           ({"dann_discriminator_width": 0}, "dann_discriminator_width")])
def test_validate_config_names_the_field(values, field):
    with pytest.raises(ValueError, match=field):
        CRMNIST.validate_config(values)


def test_study_spaces_validate_and_plan():
    from pathlib import Path

    from sweepbed.planning import plan_groups
    from sweepbed.spaces import load_space

    spaces = Path(__file__).resolve().parents[1] / "search_spaces"
    models = load_space(spaces / "crmnist_models.yaml")
    groups = plan_groups(models)
    assert [g.config["model"] for g in groups] == list(MODELS) and len(models.seeds) == 5
    irm = load_space(spaces / "crmnist_irm.yaml")
    groups = plan_groups(irm)
    assert len(groups) == 20
    weights = [g.config["irm_penalty_weight"] for g in groups]
    iters = [g.config["irm_anneal_iters"] for g in groups]
    assert all(0.1 <= w <= 1e5 for w in weights) and all(1 <= i <= 9999 and isinstance(i, int) for i in iters)
    nvae = load_space(spaces / "crmnist_nvae.yaml")
    assert nvae.search.algorithm == "optuna" and nvae.fixed["model"] == "nvae"


def test_probes_read_a_code_that_holds_the_label_even_when_rows_are_sorted_by_domain():
    from trainables.crmnist.probes import run_probes

    d = torch.arange(5).repeat_interleave(60)  # sorted by domain, as the evaluation rows are
    y = torch.arange(10).repeat(30)
    gen = torch.Generator().manual_seed(0)
    latents = {"zd": torch.nn.functional.one_hot(d, 6).float() + 0.01 * torch.randn(300, 6, generator=gen),
               "zy": torch.randn(300, 4, generator=gen)}
    out = run_probes(latents, y, d, steps=300, gen=gen)
    assert out["probe_d_from_zd"] > 0.95  # d is in zd
    assert out["probe_d_from_zy"] < 0.5  # zy is noise: near chance (0.2)


def test_feature_extractors_end_as_the_seeds_do():
    """The seed's DANN and IRM project to z with a plain Linear (features can be negative); only its
    AugmentedDANN encoder ends in a ReLU."""
    x = make("dann").data["val"].images(torch.arange(16))
    for model, nonneg in (("dann", False), ("irm", False), ("augmented_dann", True)):
        f = make(model)
        z = torch.cat(list(f.model.latents(x).values()), -1)
        assert bool((z >= 0).all()) == nonneg, model


def test_dann_discriminator_is_the_seeds_100_100_unless_set():
    def hidden_widths(f):
        return [layer.out_features for layer in f.model.discriminator if isinstance(layer, torch.nn.Linear)][:-1]

    assert hidden_widths(make("dann")) == [100, 100]  # seed: DomainDiscriminator(hidden_dim=100)
    assert hidden_widths(make("dann", dann_discriminator_width=64)) == [64, 64]  # notes §4


def test_irm_objective_with_one_sample_per_environment_is_the_plain_risk():
    logits, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    risk, penalty = irm_objective(logits, y, torch.arange(4), "irmv1_split")
    ce = -np.log(_softmax(LOGITS)[np.arange(4), LABELS])
    assert risk.item() == pytest.approx(ce.mean()) and penalty.item() == 0.0
