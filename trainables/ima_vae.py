"""Family ``ima_vae``: the IMA-VAE study ("Embrace the Gap", Reizinger et al., NeurIPS 2022).

A VAE on synthetic Möbius / MLP mixtures of independent sources; does a small decoder variance γ make the
ELBO behave like the IMA objective (low C_IMA of the decoder, high MCC to the sources)?
Seed: ``rpatrik96/ima-vae`` (notes/seed-systems.md §1): ``models/ivae.py`` (iVAE: encoder MLP(D -> 2D),
decoder MLP(D -> D), ``n_layers`` Linear layers of width ``latent_dim * hidden_latent_factor``, LeakyReLU(0.2),
Xavier-uniform weights, diagonal Gaussian posterior), ``runners/runner.py`` (metrics), ``configs/*.yaml``.
Data: trainables/ima_synthetic.py; priors: trainables/ima_priors.py (each lists its own differences).

Loss, as the seed: neg_elbo = -(E_q[log N(x; dec(z), γ I)] + β·mean(log p(z) - log q(z|x))), one posterior
sample per row, so the KL is a one-sample Monte Carlo estimate for every prior. The seed switches to the
analytic KL for its (learned-variance) gaussian prior; ``kl: analytic`` does that here (fixed N(mean, var)).
γ: fixed ``decoder_var``; ``learn_dec_var`` learns log γ with the network (the seed learns γ itself: ours
stays positive); ``dec_var_mle`` sets γ at each evaluation to the MLE of an isotropic Gaussian decoder,
the mean squared error of dec(g(μ)) on the evaluation rows (g = sigmoid for the uniform/beta priors: the
seed's "E[z]"). That update happens inside :meth:`ImaVAE.evaluate` (it changes training from then on),
is applied before the evaluation's neg_elbo, and lives in the model's state_dict, so resume is exact.

Training schedule: the seed trains in epochs of a shuffled DataLoader (``drop_last`` off: 42,000 rows at
batch 64 are 657 steps, the last of 16 rows). Here every epoch is a permutation of the training rows drawn
from its own generator (seeded by (seed, epoch), so resume needs no order state) and the last, partial batch
is kept, as the seed's loader does: steps per epoch = ceil(n_train / batch_size) (:meth:`steps_per_epoch`).
The seed validates every 5 epochs and stops on val neg_elbo with patience 5: in a space that is
``budget: {steps: epochs * steps_per_epoch, eval_every: 5 * steps_per_epoch, early_stopping: {metric:
neg_elbo, patience: 5}}`` (the shared loop's rule).

Evaluation (on ``eval_split``, the validation rows by default), where we differ from the seed:
- the seed logs its metrics per validation batch of 64 and Lightning averages them over batches; here
  every metric is computed once over all evaluation rows (or the first ``eval_samples``): an MCC of 64 rows
  is noisy and biased upwards, a mean-Jacobian C_IMA of 64 rows differs from one of 12,000.
- ``mcc`` (the seed's target), ``mcc_spearman``: on the *sampled* latents (sigmoid-transformed for the
  uniform/beta priors), as the seed; ``mcc_cdf`` (gaussian prior only): Pearson after the Normal CDF.
- ``cima`` is the paper's pointwise C_IMA of the decoder Jacobian at the sampled latents;
  ``cima_mean_jacobian`` is what the seed logs as ``cima`` (Jacobian averaged over the batch first; see
  trainables/metrics/cima.py). ``cima_mixing`` is the pointwise C_IMA of the true mixing at the same rows
  (0 for a Möbius map without a linear map): the reference the decoder's C_IMA is compared with.
- ``exclude_uniform_boundary`` (the seed's sweep sets it) drops, for MCC and C_IMA only, rows with a source
  outside (-``boundary``, ``boundary``); neg_elbo, rec_nll and kl always use every evaluation row.
- the seed keeps the checkpoint with the best val neg_elbo; here the final metrics are the last evaluation's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from trainables import ima_synthetic as synth
from trainables.beta_vae import make_cuda_deterministic, stream_seed
from trainables.family import Family, module_training_state, restore_module_training_state
from trainables.ima_priors import PRIORS, Prior
from trainables.metrics.cima import cima_of_mean_jacobian, cima_pointwise, cima_values, decoder_jacobians
from trainables.metrics.mcc import mcc, mcc_cdf, mcc_matrix

INIT, TRAIN, EVAL_NOISE, ORDER = 0, 1, 2, 3  # independent random streams of a trial (see stream_seed)
LOSS_KEYS = ("neg_elbo", "rec_nll", "kl")
LOG_2PI = math.log(2 * math.pi)


@dataclass(eq=True)
class ImaVAEConfig(synth.DataSpec):
    # data fields: inherited from ima_synthetic.DataSpec
    # --- model ---
    n_layers: int = 2
    hidden_latent_factor: int = 10
    slope: float = 0.2
    prior: Literal["uniform", "beta", "gaussian", "laplace"] = "uniform"
    prior_mean: float = 0.0
    prior_var: float = 1.0
    prior_alpha: float = 3.0
    prior_beta: float = 11.0
    beta_shape_offset: float = 0.0  # the seed's Beta adds 2 to both shapes (trainables/ima_priors.py)
    sigmoid_jacobian: Literal["exact", "seed_eps"] = "exact"
    # --- objective ---
    decoder_var: float = 1e-4  # γ
    learn_dec_var: bool = False
    dec_var_mle: bool = False
    beta: float = 1.0
    kl: Literal["monte_carlo", "analytic"] = "monte_carlo"
    lr: float = 1e-3
    batch_size: int = 64
    # --- evaluation ---
    eval_split: Literal["val", "test"] = "val"
    eval_samples: int = 0  # 0: every row of the split
    eval_batch_size: int = 4096
    exclude_uniform_boundary: bool = False
    boundary: float = 0.4


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch's batch order: independent of every other stream, epoch and trial."""
    return int(np.random.SeedSequence([seed, ORDER, rank, epoch]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def data_spec(config: ImaVAEConfig) -> synth.DataSpec:
    names = {f.name for f in dataclasses.fields(synth.DataSpec)}
    return synth.DataSpec(**{k: v for k, v in dataclasses.asdict(config).items() if k in names})


def make_prior(config: ImaVAEConfig) -> Prior:
    return Prior(config.prior, mean=config.prior_mean, var=config.prior_var, alpha=config.prior_alpha,
                 beta=config.prior_beta, shape_offset=config.beta_shape_offset, jacobian=config.sigmoid_jacobian)


def mlp(inp: int, out: int, hidden: int, n_layers: int, slope: float) -> nn.Sequential:
    """The seed's ``nets.MLP``: n_layers Linear layers, LeakyReLU(slope) between them, none after the last."""
    widths = [inp] + [hidden] * (n_layers - 1) + [out]
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < n_layers - 1:
            layers.append(nn.LeakyReLU(slope))
    return nn.Sequential(*layers)


class ImaVAENet(nn.Module):
    def __init__(self, config: ImaVAEConfig) -> None:
        super().__init__()
        d, hidden = config.latent_dim, config.latent_dim * config.hidden_latent_factor
        self.encoder = mlp(d, 2 * d, hidden, config.n_layers, config.slope)
        self.decoder = mlp(d, d, hidden, config.n_layers, config.slope)
        for m in self.modules():
            if isinstance(m, nn.Linear):  # the seed's weights_init: Xavier weights, PyTorch's default biases
                nn.init.xavier_uniform_(m.weight)
        log_gamma = torch.tensor(math.log(config.decoder_var))
        if config.learn_dec_var:
            self.log_dec_var = nn.Parameter(log_gamma)
        else:  # a buffer: in state_dict (the MLE update must survive resume) but not optimised
            self.register_buffer("log_dec_var", log_gamma)


def elbo_terms(net: ImaVAENet, prior: Prior, x: torch.Tensor, noise: torch.Tensor, beta: float,
               kl_mode: str = "monte_carlo") -> dict[str, torch.Tensor]:
    """Batch means of neg_elbo, rec_nll = -log N(x; dec(z), γ) and kl (one-sample MC or analytic), plus
    the sampled latents ``z`` (B, D). neg_elbo = rec_nll + β·kl."""
    mu, logvar = net.encoder(x).chunk(2, dim=-1)
    eps = mu + torch.exp(0.5 * logvar) * noise
    log_q = -0.5 * (LOG_2PI + logvar + noise**2).sum(-1)  # log N(eps; mu, var): (eps - mu)^2 / var = noise^2
    z, log_p, log_det = prior.latent_terms(eps)
    recon = net.decoder(z)
    log_gamma = net.log_dec_var
    rec_nll = 0.5 * (LOG_2PI + log_gamma + (x - recon) ** 2 / log_gamma.exp()).sum(-1).mean()
    if kl_mode == "analytic":
        kl = prior.analytic_kl(mu, logvar).mean()
    else:
        kl = (log_q + log_det - log_p).mean()
    return {"neg_elbo": rec_nll + beta * kl, "rec_nll": rec_nll, "kl": kl, "z": z}


class ImaVAE(Family):
    name = "ima_vae"
    Config = ImaVAEConfig
    # gamma is the decoder variance in use (reported, not an objective); cima_mixing is the true mixing's
    metrics = {"mcc": "max", "mcc_spearman": "max", "mcc_cdf": "max", "cima": "min", "cima_mean_jacobian": "min",
               "cima_mixing": "min", "neg_elbo": "min", "rec_nll": "min", "kl": "min", "gamma": "min"}
    smoke_values = {"n_obs": 400, "batch_size": 32, "eval_batch_size": 64}

    def __init__(self, config: ImaVAEConfig, seed: int, context) -> None:
        super().__init__(config, seed, context)
        device = torch.device(context.device)
        if device.type == "cuda":
            make_cuda_deterministic()
        self.device = device
        self.spec = data_spec(config)
        self.mixing = synth.generate(self.spec).mixing
        self.data = synth.device_tensors(self.spec, str(device))  # shared by the trials of this process
        self.prior = make_prior(config)
        with torch.random.fork_rng(devices=[]):  # init on the CPU from the init stream only
            torch.manual_seed(stream_seed(seed, INIT))
            self.net = ImaVAENet(config)
        self.net = self.net.to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.gen = torch.Generator(device=device).manual_seed(stream_seed(seed, TRAIN, context.rank))
        self.steps_done = 0
        self._perm_epoch, self._perm = -1, None
        self._cima_mixing: float | None = None  # the true mixing's C_IMA on the evaluation rows (memo)

    @classmethod
    def steps_per_epoch(cls, config: ImaVAEConfig) -> int:
        """ceil(n_train / batch_size): the last, partial batch is kept (the seed's DataLoader default)."""
        return math.ceil(synth.split_sizes(config.n_obs)[0] / config.batch_size)

    def batch_indices(self, step: int) -> torch.Tensor:
        """Rows of step ``step``: slice ``step % spe`` of epoch ``step // spe``'s permutation."""
        c = self.config
        epoch, k = divmod(step, self.steps_per_epoch(c))
        if epoch != self._perm_epoch:
            g = torch.Generator(device=self.device).manual_seed(epoch_seed(self.seed, epoch, self.context.rank))
            self._perm = torch.randperm(len(self.data["train"][0]), generator=g, device=self.device)
            self._perm_epoch = epoch
        return self._perm[k * c.batch_size:(k + 1) * c.batch_size]

    def gamma(self) -> float:
        return float(self.net.log_dec_var.detach().exp())

    # --- the contract ----------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        x = self.data["train"][0][self.batch_indices(step)]
        noise = torch.randn(x.shape, generator=self.gen, device=self.device)
        out = elbo_terms(self.net, self.prior, x, noise, c.beta, c.kl)
        self.optimizer.zero_grad(set_to_none=True)
        out["neg_elbo"].backward()
        self.optimizer.step()
        self.steps_done = step + 1
        values = torch.stack([out[k].detach() for k in LOSS_KEYS] + [self.net.log_dec_var.detach().exp()]).tolist()
        return dict(zip((*LOSS_KEYS, "gamma"), values))

    def eval_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, s = self.data[self.config.eval_split]
        n = self.config.eval_samples
        return (x[:n], s[:n]) if n > 0 else (x, s)

    @torch.no_grad()
    def update_mle_gamma(self, x: torch.Tensor) -> float:
        """γ <- mean squared error of dec(g(μ)) on ``x`` (the MLE of an isotropic Gaussian decoder)."""
        sq, bs = 0.0, self.config.eval_batch_size
        for start in range(0, len(x), bs):
            xb = x[start:start + bs]
            mu = self.net.encoder(xb).chunk(2, dim=-1)[0]
            z = torch.sigmoid(mu) if self.prior.sigmoid else mu
            sq += float(((xb - self.net.decoder(z)) ** 2).double().sum())
        mse = max(sq / x.numel(), 1e-30)  # a perfect reconstruction would make log γ = -inf
        self.net.log_dec_var.copy_(torch.tensor(math.log(mse)))
        return mse

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        c = self.config
        x, s = self.eval_rows()
        if c.dec_var_mle:
            self.update_mle_gamma(x)
        # a fresh generator per evaluation: the same noise each time, the training stream untouched
        noise_gen = torch.Generator(device=self.device).manual_seed(stream_seed(self.seed, EVAL_NOISE))
        sums = torch.zeros(len(LOSS_KEYS), dtype=torch.float64, device=self.device)
        zs = []
        for start in range(0, len(x), c.eval_batch_size):
            xb = x[start:start + c.eval_batch_size]
            noise = torch.randn(xb.shape, generator=noise_gen, device=self.device)
            out = elbo_terms(self.net, self.prior, xb, noise, c.beta, c.kl)
            sums += torch.stack([out[k] for k in LOSS_KEYS]).double() * len(xb)
            zs.append(out["z"])
        z = torch.cat(zs)
        metrics = dict(zip(LOSS_KEYS, (sums / len(x)).tolist()))
        metrics["gamma"] = self.gamma()
        metrics.update(self.identifiability(s, z))
        return metrics

    def identifiability(self, s: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
        """MCC variants and C_IMA variants on (sources, sampled latents), after the optional boundary cut."""
        c = self.config
        if c.exclude_uniform_boundary and c.source == "uniform":
            keep = synth.boundary_mask(s, c.boundary)
            if int(keep.sum()) >= 2:  # MCC needs two rows; a tiny evaluation set keeps every row instead
                s, z = s[keep], z[keep]
        s_np, z_np = s.double().cpu().numpy(), z.double().cpu().numpy()
        out = {"mcc": mcc(s_np, z_np, "pearson"), "mcc_spearman": mcc(s_np, z_np, "spearman")}
        if c.prior == "gaussian":
            out["mcc_cdf"] = mcc_cdf(s_np, z_np)
        jac = decoder_jacobians(self.net.decoder, z)  # one batched torch.func call (vmap of jacrev)
        out["cima"] = cima_pointwise(jac)
        out["cima_mean_jacobian"] = cima_of_mean_jacobian(jac)
        # the true mixing's contrast at the same sources (float64: the mixing is defined in float64); the
        # evaluation rows are fixed, so it is the same number at every evaluation and computed once
        if self._cima_mixing is None:
            self._cima_mixing = float(np.mean(cima_values(decoder_jacobians(self.mixing, s.double()))))
        out["cima_mixing"] = self._cima_mixing
        return out

    def state_dict(self) -> dict:
        return module_training_state(self.net, self.optimizer, self.gen, self.steps_done)

    def load_state_dict(self, state: dict) -> None:
        self.steps_done = restore_module_training_state(state, self.net, self.optimizer, self.gen)
        self._perm_epoch, self._perm = -1, None  # rebuilt from (seed, epoch) at the next step

    @torch.no_grad()
    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """latents_vs_sources.png: each source against its MCC-matched posterior mean (2,000 eval rows)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        x, s = self.eval_rows()
        x, s = x[:2000], s[:2000]
        mu = self.net.encoder(x).chunk(2, dim=-1)[0]
        z = (torch.sigmoid(mu) if self.prior.sigmoid else mu).cpu().numpy()
        s = s.cpu().numpy()
        match = mcc_matrix(s, z)
        d = len(match.source_index)
        fig, axes = plt.subplots(1, d, figsize=(3 * d, 3), squeeze=False)
        for ax, i, j in zip(axes[0], match.source_index, match.latent_index):
            ax.scatter(s[:, i], z[:, j], s=2, alpha=0.4)
            ax.set_xlabel(f"source {i}")
            ax.set_ylabel(f"latent {j} (|r|={match.abs_corr[i, j]:.3f})")
        fig.tight_layout()
        path = out_dir / "latents_vs_sources.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return [path]

    # --- what the planner and driver ask ---------------------------------------------------------
    @classmethod
    def dataset_name(cls, config: ImaVAEConfig) -> str:
        return f"{config.mixing}_{config.source}_{config.latent_dim}d"

    @classmethod
    def sweep_report(cls, trials, out_dir: Path) -> list[Path]:
        """MCC and C_IMA versus γ (``decoder_var``) over seeds: a markdown table and a PNG with error bars
        each (results_analysis/metric_vs_param.py); nothing when the sweep has no decoder_var column."""
        from results_analysis.metric_vs_param import write_report

        return write_report(trials, ["mcc", "cima"], "decoder_var", Path(out_dir), log_x=True)

    @classmethod
    def validate_config(cls, values: dict) -> None:
        """One-line ValueErrors that start with the offending field's name."""
        c = cls.make_config(values)
        if c.prior not in PRIORS:
            raise ValueError(f"prior: unknown prior {c.prior!r}; known: {', '.join(PRIORS)}")
        for name in ("latent_dim", "batch_size", "n_layers", "hidden_latent_factor", "mixing_layers",
                     "eval_batch_size"):
            if getattr(c, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(c, name)}")
        if synth.split_sizes(c.n_obs)[1] < 2:
            raise ValueError(f"n_obs: must be >= 10 (the validation split needs two rows), got {c.n_obs}")
        if c.eval_samples < 0 or c.eval_samples == 1:
            raise ValueError(f"eval_samples: must be 0 (all rows) or >= 2, got {c.eval_samples}")
        for name in ("decoder_var", "lr", "prior_var", "source_std", "source_alpha", "source_beta", "boundary"):
            if not getattr(c, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(c, name)}")
        if c.prior == "beta" and not (c.prior_alpha + c.beta_shape_offset > 0 and c.prior_beta + c.beta_shape_offset > 0):
            raise ValueError("prior_alpha: the beta prior's shapes (plus beta_shape_offset) must be > 0")
        for name in ("beta", "beta_shape_offset"):
            if getattr(c, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(c, name)}")
        if c.learn_dec_var and c.dec_var_mle:
            raise ValueError("dec_var_mle: choose one of learn_dec_var and dec_var_mle")
        if c.kl == "analytic" and c.prior != "gaussian":
            raise ValueError(f"kl: 'analytic' needs the gaussian prior, got prior {c.prior!r}")
        if c.linear_map == "cos_theta" and (c.latent_dim != 2 or c.mixing != "moebius"):
            raise ValueError("linear_map: 'cos_theta' is defined for the 2-D Möbius mixing only (as in the seed)")
        if not -1 <= c.cos_theta <= 1:
            raise ValueError(f"cos_theta: must be in [-1, 1], got {c.cos_theta}")
        if not 0 < c.mixing_slope <= 1:
            raise ValueError(f"mixing_slope: must be in (0, 1] (an invertible mixing), got {c.mixing_slope}")
