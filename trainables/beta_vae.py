"""Family ``beta_vae``: β-VAE, λβ-VAE (continuation) and annealed-β VAE on ground-truth-factor images.

Seeds (notes/seed-systems.md): §3 Minitechy/lambda_beta_vae (architecture, BCE + β·KL + λ·L2 loss,
150k β steps then 50k λ steps with a fresh Adam, MIG/SAP/I_m on encoder means of 10k + 5k images);
§2 mseitzer/neurips2019-disentanglement-challenge (cosine β ramp, KL divided by the number of latents,
"Gaussian" = summed squared error). Differences from the seeds are named where they occur:
- λβ stage sharing: the seed reloads a β checkpoint per λ; here ``continue_from_step`` declares the
  β phase as a shared prefix and the platform trains it once per (β, seed, data) for every λ. The λ
  stage continues the trial's batch/noise stream (the seed re-seeds its loader at the λ stage start).
- the annealed-β schedule ramps over steps, not epochs; the challenge's VGG feature front end
  (ImageNet weights) is not implemented: this family trains on pixels.
- the seed reports training losses as the mean of the last 5000 steps; here the platform logs the
  mean training loss of each evaluation interval, and the evaluation computes losses on held-out rows.
- the evaluation sample is ``default_rng(seed).choice(N, 15k, replace=False)`` as in the seed, but
  its first draw (the seed draws its traversal images from the same generator first), so the rows differ.
- batches are drawn uniformly with replacement (the seed's DataLoader shuffles epochs).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from trainables import datasets
from trainables.burgess_vae import BurgessVAE, cosine_beta, objective
from trainables.factor_scores import check_scores, metric_directions, score_representation
from trainables.family import Family, SharedPrefix, module_training_state, restore_module_training_state

# Independent random streams of one trial, all derived from its seed (see ``stream_seed``).
INIT, TRAIN, EVAL_NOISE = 0, 1, 2
LOSS_KEYS = ("loss", "recon", "kl", "l2")


def stream_seed(seed: int, stream: int, rank: int = 0) -> int:
    """A 63-bit seed for one stream of a trial. Seeding every generator with the bare seed would make
    the CPU init stream and the batch stream the same Mersenne Twister sequence, and ``seed + k``
    offsets collide across trials (seed 0's stream 7 = seed 7's stream 0); SeedSequence avoids both."""
    return int(np.random.SeedSequence([seed, stream, rank]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def make_cuda_deterministic() -> None:
    """Deterministic cuDNN/cuBLAS kernels, so that a resumed GPU trial matches an uninterrupted one.

    Process-wide (every trial of the process wants it). ``warn_only``: an op without a deterministic
    kernel warns instead of failing a long sweep; cuBLAS reads its workspace setting when its handle
    is created, so it is set here before this trial's first matmul. Not done on CPU: its kernels are
    already deterministic for this model (the resume test checks bit-identity there).
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class BetaVAEConfig:
    dataset: str = "dsprites_procedural"
    latent_dim: int = 10
    batch_size: int = 64
    lr: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    beta: float = 1.0  # the KL weight (the final value when annealed)
    lam: float = 0.0  # λ: weight of the squared-error term of the λβ-VAE
    # λβ protocol: steps [0, continue_from_step) are the β stage (λ off); at continue_from_step a fresh
    # Adam starts and λ switches on. 0: λ (if any) applies from the first step.
    continue_from_step: int = 0
    beta_schedule: Literal["constant", "cosine"] = "constant"
    beta_initial: float = 0.0  # β0 of the cosine ramp
    beta_ramp_start: int = 0  # steps (the challenge seed counts epochs)
    beta_ramp_end: int = 0
    kl_normalisation: Literal["sum", "per_latent"] = "sum"  # per_latent: KL / latent_dim (challenge seed)
    eval_train_samples: int = 10000
    eval_test_samples: int = 5000
    num_bins: int = 20
    eval_batch_size: int = 1024
    # Scores beyond the λβ seed's MIG/SAP/I_m, through the shared evaluation (trainables/factor_scores.py):
    # any of "dci", "factor_vae", "beta_vae_score", "irs". Off by default: on a CPU, DCI's boosted trees and
    # FactorVAE's encodings cost minutes per evaluation (the challenge seed evaluates dci, factor_vae, irs).
    extra_scores: tuple[str, ...] = ()
    dlib_num_train: int = 10000  # sample counts of the dlib scores (dlib's unsupervised_study_v1 defaults)
    dlib_num_eval: int = 5000


class BetaVAE(Family):
    name = "beta_vae"
    Config = BetaVAEConfig
    # recon_nll: BCE summed over pixels (bernoulli) or squared error summed over pixels (gaussian, the
    # challenge's "Gaussian likelihood" without its constant); kl: analytic KL summed over latents (never
    # per-latent normalised); l2: squared error; loss: the training objective. All per image, on the
    # evaluation's test rows, with the β/λ of the last step taken.
    metrics = {**metric_directions(), "recon_nll": "min", "kl": "min", "l2": "min", "loss": "min"}
    smoke_values = {"dataset": "dsprites_procedural", "latent_dim": 4, "batch_size": 8, "eval_train_samples": 200,
                    "eval_test_samples": 100, "eval_batch_size": 100}

    def __init__(self, config: BetaVAEConfig, seed: int, context) -> None:
        super().__init__(config, seed, context)
        device = torch.device(context.device)
        if device.type == "cuda":
            make_cuda_deterministic()
        # shared by every trial of the process, uint8 on the device; batches become float when used
        self.data = datasets.load(config.dataset, context.data_dir, device)
        channels = self.data.image_shape[0]
        with torch.random.fork_rng(devices=[]):  # initialise on the CPU from the init stream only, so the
            torch.default_generator.manual_seed(stream_seed(seed, INIT))  # same seed inits alike everywhere
            self.model = BurgessVAE(channels, config.latent_dim)
        self.model = self.model.to(device)
        self.net = self.model  # the unwrapped module (self.model may become DDP)
        # batch indices and reparameterisation noise; each data-parallel rank draws its own batches
        self.gen = torch.Generator(device=device).manual_seed(stream_seed(seed, TRAIN, context.rank))
        self.optimizer = self._new_optimizer()
        self.steps_done = 0

    def _new_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.Adam(self.model.parameters(), lr=c.lr, betas=(c.adam_beta1, c.adam_beta2), eps=c.adam_eps)

    # --- schedules -------------------------------------------------------------------------
    def beta_at(self, step: int) -> float:
        c = self.config
        if c.beta_schedule == "cosine":
            return cosine_beta(step, c.beta_initial, c.beta, c.beta_ramp_start, c.beta_ramp_end)
        return c.beta

    def lam_at(self, step: int) -> float:
        return self.config.lam if step >= self.config.continue_from_step else 0.0

    def losses(self, x: torch.Tensor, noise: torch.Tensor, beta: float, lam: float) -> dict[str, torch.Tensor]:
        """The objective and its terms, batch means of per-image sums (see burgess_vae.objective)."""
        logits, mu, logvar = self.model(x, noise)
        return objective(logits, x, mu, logvar, beta, lam, self.config.likelihood, self.config.kl_normalisation)

    # --- the contract ----------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        if c.continue_from_step > 0 and step == c.continue_from_step:
            self.optimizer = self._new_optimizer()  # the λ stage starts with a fresh Adam, as the seed does
        idx = torch.randint(len(self.data), (c.batch_size,), generator=self.gen, device=self.gen.device)
        x = self.data.images(idx).float().div_(255.0)
        noise = torch.randn(c.batch_size, c.latent_dim, generator=self.gen, device=self.gen.device)
        beta = self.beta_at(step)
        out = self.losses(x, noise, beta, self.lam_at(step))
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.optimizer.step()
        self.steps_done = step + 1
        values = torch.stack([out[k].detach() for k in LOSS_KEYS]).tolist()  # the step's one device sync
        return {**dict(zip(LOSS_KEYS, values)), "beta": beta}

    def eval_indices(self) -> np.ndarray:
        """The seeded evaluation sample (train rows, then test rows), the same at every evaluation."""
        c = self.config
        n = min(c.eval_train_samples + c.eval_test_samples, len(self.data))
        return np.random.default_rng(self.seed).choice(len(self.data), size=n, replace=False)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        c = self.config
        device = self.gen.device
        idx = torch.as_tensor(self.eval_indices(), device=device)
        n_train = min(c.eval_train_samples, len(idx) - 2)  # score_codes needs two test rows
        # A fresh generator per evaluation: the same noise every time, and the training stream untouched.
        noise_gen = torch.Generator(device=device).manual_seed(stream_seed(self.seed, EVAL_NOISE))
        # The objective of the last step taken: the evaluation at the λ boundary still belongs to the β
        # stage, so the history of a shared β stage does not depend on which λ trained it.
        last = max(self.steps_done - 1, 0)
        beta, lam = self.beta_at(last), self.lam_at(last)
        codes, sums = [], torch.zeros(len(LOSS_KEYS), dtype=torch.float64, device=device)
        for start in range(0, len(idx), c.eval_batch_size):
            batch = idx[start:start + c.eval_batch_size]
            x = self.data.images(batch).float().div_(255.0)
            mu, logvar = self.net.encoder(x)
            codes.append(mu.float().cpu())
            first_test = max(0, n_train - start)  # rows of this batch that belong to the test split
            if first_test < len(batch):
                xt, mt, lt = x[first_test:], mu[first_test:], logvar[first_test:]
                noise = torch.randn(mt.shape, generator=noise_gen, device=device)
                logits = self.net.decoder(mt + torch.exp(0.5 * lt) * noise)
                out = objective(logits, xt, mt, lt, beta, lam, c.likelihood, c.kl_normalisation)
                sums += torch.stack([out[k] for k in LOSS_KEYS]).double() * len(xt)
        n_test = len(idx) - n_train
        loss, recon, kl, l2 = (sums / n_test).tolist()
        factors = self.data.factors(idx).cpu().numpy()
        metrics = score_representation(
            self.data, lambda images: self.net.encoder(images)[0], torch.cat(codes).numpy(), factors, n_train,
            seed=stream_seed(self.seed, EVAL_NOISE) % 2**32, extra_scores=c.extra_scores, num_bins=c.num_bins,
            batch_size=c.eval_batch_size, dlib_num_train=c.dlib_num_train, dlib_num_eval=c.dlib_num_eval,
            device=device)
        metrics.update({"recon_nll": recon, "kl": kl, "l2": l2, "loss": loss})
        return metrics

    def state_dict(self) -> dict:
        return module_training_state(self.net, self.optimizer, self.gen, self.steps_done)

    def load_state_dict(self, state: dict) -> None:
        self.steps_done = restore_module_training_state(state, self.net, self.optimizer, self.gen)

    def wrap_data_parallel(self, wrap) -> None:
        self.model = wrap(self.model)
        self.optimizer = self._new_optimizer()

    @torch.no_grad()
    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """reconstructions.png (8 evaluation images above their reconstructions from the encoder mean)
        and latent_traversals.png (row d: latent d moved -3..3 around the first image's mean)."""
        from trainables.vae_plots import save_reconstructions, save_traversals

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        idx = torch.as_tensor(self.eval_indices()[:8], device=self.gen.device)
        x = self.data.images(idx).float().div_(255.0)
        mu, _ = self.net.encoder(x)
        recon = torch.sigmoid(self.net.decoder(mu))
        offsets = torch.linspace(-3, 3, 9, device=mu.device)
        rows = []
        for d in range(self.config.latent_dim):
            z = mu[:1].repeat(len(offsets), 1)
            z[:, d] += offsets
            rows.append(torch.sigmoid(self.net.decoder(z)))
        return [save_reconstructions(x.cpu(), recon.cpu(), out_dir / "reconstructions.png"),
                save_traversals(torch.stack(rows).cpu(), out_dir / "latent_traversals.png")]

    # --- what the planner asks -------------------------------------------------------------
    @classmethod
    def shared_prefix(cls, config: BetaVAEConfig) -> SharedPrefix | None:
        """The β stage [0, continue_from_step) depends on every field but λ (evaluation settings too:
        the cached history carries the β stage's evaluations)."""
        if config.continue_from_step <= 0:
            return None
        key = {k: v for k, v in dataclasses.asdict(config).items() if k != "lam"}
        return SharedPrefix(config.continue_from_step, key)

    @classmethod
    def check_data(cls, config: BetaVAEConfig, data_dir: Path | None) -> None:
        datasets.check_available(config.dataset, data_dir)

    @classmethod
    def validate_config(cls, values: dict) -> None:
        """One-line ValueErrors that start with the offending field's name."""
        config = cls.make_config(values)
        if config.dataset not in datasets.DATASETS:
            raise ValueError(f"dataset: unknown dataset {config.dataset!r}; known: {', '.join(datasets.DATASETS)}")
        check_scores(config.extra_scores)
        for name in ("latent_dim", "batch_size", "num_bins", "eval_batch_size", "dlib_num_train", "dlib_num_eval"):
            if getattr(config, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(config, name)}")
        for name in ("eval_train_samples", "eval_test_samples"):
            if getattr(config, name) < 2:  # score_codes: SVC fits and SAP's test accuracy need two rows each
                raise ValueError(f"{name}: must be >= 2, got {getattr(config, name)}")
        for name in ("lr", "adam_eps"):
            if not getattr(config, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(config, name)}")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0 <= getattr(config, name) < 1:
                raise ValueError(f"{name}: must be in [0, 1), got {getattr(config, name)}")
        for name in ("beta", "beta_initial", "lam", "continue_from_step", "beta_ramp_start"):
            if getattr(config, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(config, name)}")
        if config.beta_schedule == "cosine" and config.beta_ramp_end <= config.beta_ramp_start:
            raise ValueError(f"beta_ramp_end: must be > beta_ramp_start ({config.beta_ramp_start}) for a cosine "
                             f"schedule, got {config.beta_ramp_end}")
