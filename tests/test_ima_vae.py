"""Family ima_vae: the ELBO terms, γ (fixed / learned / MLE), one step per prior, epoch order, determinism,
resume bit-identity, evaluation metrics, config checks, and results_analysis/metric_vs_param.py."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import torch

from results_analysis import metric_vs_param as mvp
from trainables.family import RunContext
from trainables.ima_vae import ImaVAE, ImaVAEConfig, elbo_terms
from trainables.registry import get_family

CPU = RunContext(device=torch.device("cpu"))
SMALL = {"n_obs": 300, "batch_size": 32, "eval_batch_size": 50}  # 210 train rows: 7 steps per epoch


def make(seed=0, **kw):
    return ImaVAE(ImaVAEConfig(**{**SMALL, **kw}), seed, CPU)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.net.parameters()])


def test_registered_and_smoke_values_build():
    assert get_family("ima_vae") is ImaVAE
    model = ImaVAE(ImaVAE.make_config(dict(ImaVAE.smoke_values)), 0, CPU)
    assert all(math.isfinite(v) for v in model.train_step(0).values())
    assert set(model.evaluate()) <= set(ImaVAE.metrics)


def test_elbo_terms_match_the_gaussian_likelihood_and_combine_with_beta():
    model = make(prior="gaussian", decoder_var=0.05)
    x = model.data["train"][0][:5]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    out = elbo_terms(model.net, model.prior, x, noise, beta=3.0)
    mu, logvar = model.net.encoder(x).chunk(2, dim=-1)
    z = mu + torch.exp(0.5 * logvar) * noise
    nll = -torch.distributions.Normal(model.net.decoder(z), math.sqrt(0.05)).log_prob(x).sum(-1).mean()
    kl = (torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
          - torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)).mean()
    assert out["rec_nll"].item() == pytest.approx(nll.item(), rel=1e-5)
    assert out["kl"].item() == pytest.approx(kl.item(), rel=1e-5, abs=1e-6)
    assert out["neg_elbo"].item() == pytest.approx((nll + 3.0 * kl).item(), rel=1e-5)


@pytest.mark.parametrize("prior", ["uniform", "beta", "gaussian", "laplace"])
def test_one_training_step_per_prior(prior):
    model = make(prior=prior)
    before = params(model).clone()
    losses = model.train_step(0)
    assert set(losses) == {"neg_elbo", "rec_nll", "kl", "gamma"}
    assert all(math.isfinite(v) for v in losses.values())
    assert not torch.equal(before, params(model))
    metrics = model.evaluate()
    assert ("mcc_cdf" in metrics) == (prior == "gaussian")
    assert 0 <= metrics["mcc"] <= 1 and metrics["cima"] >= 0 and metrics["cima_mean_jacobian"] >= 0
    assert metrics["cima_mixing"] < 1e-8  # a Möbius mixing is conformal


def test_fixed_gamma_stays_and_learned_gamma_moves():
    fixed, learned = make(decoder_var=1e-2), make(decoder_var=1e-2, learn_dec_var=True)
    for s in range(3):
        fixed.train_step(s)
        learned.train_step(s)
    assert fixed.gamma() == pytest.approx(1e-2, rel=1e-6)
    assert "log_dec_var" in dict(fixed.net.named_buffers())
    assert any(p is learned.net.log_dec_var for g in learned.optimizer.param_groups for p in g["params"])
    assert learned.gamma() != pytest.approx(1e-2, rel=1e-4)
    # Adam moves each parameter by about lr per step: log γ by ~3e-3 after 3 steps
    assert abs(math.log(learned.gamma() / 1e-2)) == pytest.approx(3e-3, rel=0.2)


def test_mle_gamma_is_the_reconstruction_mse_of_the_posterior_mean():
    model = make(dec_var_mle=True, decoder_var=1.0)
    for s in range(3):
        model.train_step(s)
    x = model.data["val"][0]
    with torch.no_grad():
        mu = model.net.encoder(x).chunk(2, dim=-1)[0]
        mse = ((x - model.net.decoder(torch.sigmoid(mu))) ** 2).mean().item()
    metrics = model.evaluate()
    assert metrics["gamma"] == pytest.approx(mse, rel=1e-5) and model.gamma() == pytest.approx(mse, rel=1e-5)
    assert model.state_dict()["model"]["log_dec_var"].item() == pytest.approx(math.log(mse), rel=1e-6)
    assert model.train_step(3)["gamma"] == pytest.approx(mse, rel=1e-5)  # training goes on with it


def test_epochs_visit_every_training_row_once():
    model = make()
    assert ImaVAE.steps_per_epoch(ImaVAEConfig()) == 657  # 42,000 rows at batch 64, the last batch of 16
    assert ImaVAE.steps_per_epoch(model.config) == 7
    epoch0 = torch.cat([model.batch_indices(s) for s in range(7)])
    epoch1 = torch.cat([model.batch_indices(s) for s in range(7, 14)])
    assert sorted(epoch0.tolist()) == list(range(210)) == sorted(epoch1.tolist())
    assert len(model.batch_indices(6)) == 210 - 6 * 32  # the partial last batch is kept
    assert not torch.equal(epoch0, epoch1)


def test_determinism_and_data_seed_independence():
    a, b, c = make(seed=3), make(seed=3), make(seed=4)
    la = [a.train_step(s) for s in range(4)]
    assert la == [b.train_step(s) for s in range(4)]
    assert la != [c.train_step(s) for s in range(4)]
    assert a.evaluate() == b.evaluate()
    assert torch.equal(a.data["val"][1], c.data["val"][1])  # the training seed never changes the data


def test_evaluation_does_not_change_training():
    a, b = make(seed=1), make(seed=1)
    for s in range(9):
        a.train_step(s)
        b.train_step(s)
        if s % 3 == 0:
            b.evaluate()
    assert torch.equal(params(a), params(b))


@pytest.mark.parametrize("extra", [{"dec_var_mle": True}, {"learn_dec_var": True, "prior": "beta"}])
def test_resume_is_bit_identical(extra):
    ref = make(seed=2, **extra)
    for s in range(5):  # crosses no epoch boundary yet; the resumed part crosses one at step 7
        ref.train_step(s)
    ref.evaluate()
    buffer = io.BytesIO()
    torch.save(ref.state_dict(), buffer)
    tail = [ref.train_step(s) for s in range(5, 12)]
    final = ref.evaluate()
    resumed = make(seed=2, **extra)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    assert [resumed.train_step(s) for s in range(5, 12)] == tail
    assert torch.equal(params(resumed), params(ref))
    assert resumed.evaluate() == final


def test_boundary_exclusion_changes_only_the_identifiability_metrics():
    a, b = make(seed=0), make(seed=0, exclude_uniform_boundary=True)
    ma, mb = a.evaluate(), b.evaluate()
    assert ma["neg_elbo"] == mb["neg_elbo"] and ma["cima_mixing"] < 1e-8
    assert ma["mcc"] != mb["mcc"]


def test_write_artifacts(tmp_path):
    paths = make().write_artifacts(tmp_path)
    assert [p.name for p in paths] == ["latents_vs_sources.png"] and paths[0].stat().st_size > 0


@pytest.mark.parametrize("values,field", [
    ({"learn_dec_var": True, "dec_var_mle": True}, "dec_var_mle"),
    ({"kl": "analytic"}, "kl"),
    ({"decoder_var": 0.0}, "decoder_var"),
    ({"linear_map": "cos_theta", "latent_dim": 3}, "linear_map"),
    ({"n_obs": 5}, "n_obs"),
])
def test_validate_config_names_the_field(values, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        ImaVAE.validate_config(values)
    ImaVAE.validate_config({"kl": "analytic", "prior": "gaussian"})


# --- results_analysis/metric_vs_param.py ---------------------------------------------------------
TABLE = pd.DataFrame({
    "status": ["done", "done", "done", "done", "failed", "done"],
    "config.decoder_var": [0.1, 0.1, 0.1, 0.01, 0.01, 0.001],
    "metric.mcc": [0.5, 0.6, 0.7, 0.9, 0.0, float("inf")],
})


def test_metric_vs_param_on_a_hand_made_table():
    table = mvp.metric_vs_param(TABLE, "mcc", "decoder_var")
    assert table["decoder_var"].tolist() == [0.001, 0.01, 0.1]
    assert table["n"].tolist() == [0, 1, 3] and table["n_nonfinite"].tolist() == [1, 0, 0]
    assert table["mean"].iloc[2] == pytest.approx(0.6) and table["se"].iloc[2] == pytest.approx(0.1 / math.sqrt(3))
    assert table["mean"].iloc[1] == 0.9 and math.isnan(table["se"].iloc[1])  # one seed: no SE; failed left out
    everything = mvp.metric_vs_param(TABLE, "metric.mcc", "config.decoder_var", statuses=None)
    assert everything["n"].tolist() == [0, 2, 3]


def test_metric_vs_param_report_and_cli(tmp_path, capsys):
    paths = ImaVAE.sweep_report(TABLE, tmp_path)
    assert sorted(p.name for p in paths) == ["mcc_vs_decoder_var.md", "mcc_vs_decoder_var.png"]  # no cima column
    assert "0.600 ± 0.058" in (tmp_path / "mcc_vs_decoder_var.md").read_text()
    TABLE.to_csv(tmp_path / "t.csv", index=False)
    assert mvp.main([str(tmp_path / "t.csv"), "--metric", "mcc", "--param", "decoder_var", "--log-x",
                     "--out", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "mcc_vs_decoder_var.png").exists() and "0.9" in capsys.readouterr().out
    assert mvp.main([str(tmp_path / "t.csv"), "--metric", "nope", "--param", "decoder_var"]) == 2
    assert np.isnan(mvp.metric_vs_param(TABLE, "mcc", "decoder_var")["mean"].iloc[0])
