"""Family ``gce``: generative causal explanations of a classifier (O'Shaughnessy et al., NeurIPS 2020).

Seeds (notes/seed-systems.md §5): FrisoVerweij/FACT (``train_classifier.py``, ``train_cvae_lightning.py``,
``utils.py``) and siplab-gt/generative-causal-explanations (``GCE.py``, ``causaleffect.py``,
``make_fig3.py``, ``make_fig5ab.py``, ``train_mnist_classifier.py``).

A trial is two stages on one step counter:
- steps [0, classifier_steps): the classifier (MNIST_CNN or VGG-11) trains with SGD (lr 0.1, momentum 0.5,
  batch 64) on the class subset. This stage is a shared prefix (:meth:`GCE.shared_prefix`): the platform
  trains it once per (dataset, classes, split, classifier settings, seed) and every explainer trial with that key
  starts from the cached classifier.
- steps [classifier_steps, budget): the classifier is frozen (eval mode, no parameter gradients) and the
  explainer CVAE with K causal (α) and L non-causal (β) latents minimises λ·NLL − I(α; Ŷ) with Adam
  (original ``GCE.train``: ``loss = use_ce·CE + lam·nll`` with CE = −I; FACT: ``lam_ml·nll + causalEffect``).

Differences from the seeds, each named where it acts:
- the seeds are two scripts with a saved classifier in between; here the stages share one step counter,
  and stage 1 is shared by the platform's prefix cache instead of a file name.
- minibatches are drawn uniformly with replacement by index (the original's ``GCE.train`` does so for the
  explainer; the classifier scripts and FACT iterate shuffled epochs); the classifier's lr decay (``classifier_lr_gamma``, the original's StepLR γ=0.7 per epoch;
  FACT has none, γ=1) counts epochs as ceil(N_train / batch) steps.
- the classifier's dropout draws from the trial's classifier stream (:class:`SeededDropout`).
- in stage 2 the classifier is in eval mode (dropout off, batch-norm running statistics), as FACT's
  ``joint_uncond`` sets it (``classifier.eval()``); the original never calls ``eval()`` on it (``GCE.train``,
  ``make_fig3.py``, ``make_fig5ab.py``), so its explainer trained, and its flows and accuracies were
  measured, with the MNIST CNN's dropout active.
- ``use_causal: false`` trains λ·NLL (the original's ``use_ce=False``); FACT's ``use_causal: False`` trains
  NLL without λ, which differs by a constant factor only.
- evaluation (every metric: classifier_acc, the NLL behind info_flow_constrained, the accuracy drops, and
  the artifacts' encoded images) uses ``eval_split``: by default "val", rows carved out of the training
  split (``val_fraction``, drawn by ``data_seed`` alone, so every trial and seed and the shared classifier
  prefix agree; see :mod:`trainables.gce.data`) and removed from what both stages train on, so a search
  never selects on test. "test" evaluates on the test file instead, for the final report of a chosen
  configuration; training is the same either way. The original holds out a fixed tail of MNIST's training
  file (1/6, whence the default fraction; for Fashion-MNIST part of the test file), FACT evaluates on test
  with no validation split (``val_fraction: 0, eval_split: test``). The evaluation NLL uses the encoder's
  sampled code with a fixed evaluation noise, as the seeds' validation does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from trainables.beta_vae import make_cuda_deterministic, stream_seed
from trainables.datasets import resolve_data_dir
from trainables.family import Family, SharedPrefix
from trainables.gce import data as gce_data
from trainables.gce.classifiers import make_classifier, set_dropout_generator
from trainables.gce.explainer import make_explainer, negative_log_likelihood
from trainables.gce.information_flow import joint_flow, per_dimension_flow, sample_counts

# Independent random streams of one trial (see beta_vae.stream_seed). Stage 1 uses only the first two, so
# the cached classifier depends on nothing outside the shared-prefix key.
CLASSIFIER_INIT, CLASSIFIER_TRAIN, EXPLAINER_INIT, EXPLAINER_TRAIN, EVAL = 0, 1, 2, 3, 4
MAX_LATENTS = 64  # per-dimension metric names are declared for z0..z63 (FACT's CIFAR config uses K+L = 64)
CLASSIFIER_FIELDS = ("dataset", "include_classes", "eval_split", "val_fraction", "data_seed", "classifier", "classifier_steps", "classifier_batch_size",
                     "classifier_lr", "classifier_momentum", "classifier_lr_gamma", "classifier_eval_samples",
                     "eval_batch_size")


@dataclass
class GCEConfig:
    dataset: Literal["mnist", "fmnist", "cifar10"] = "mnist"
    include_classes: tuple[int, ...] = (3, 8)  # original classes kept, renumbered 0..M-1; () = all ten
    # Where every evaluation happens: "val" (rows of the training split held out from both stages) for
    # model selection, "test" for the final report of a selected configuration (same training).
    eval_split: Literal["val", "test"] = "val"
    val_fraction: float = 1 / 6  # held-out share of the subset's training rows (original: 10000 of 60000)
    data_seed: int = 0  # draws the validation rows; independent of the trial seed on purpose
    # --- stage 1: the classifier (FACT config mnist_3_8: SGD lr 0.1, momentum 0.5, batch 64, 20 epochs)
    classifier: Literal["mnist_cnn", "vgg11"] = "mnist_cnn"
    # FACT's 20 epochs, of ceil(9985 / 64) = 157 steps: MNIST 3/8's 11982 training rows less the default
    # validation hold-out (1997 rows); FACT trains on all 11982 (188 steps an epoch, 3760 steps)
    classifier_steps: int = 3140
    classifier_batch_size: int = 64
    classifier_lr: float = 0.1
    classifier_momentum: float = 0.5
    classifier_lr_gamma: float = 1.0  # lr × γ per epoch; FACT 1.0, the original's StepLR 0.7
    # --- stage 2: the explainer (original make_fig3.py: K=1, L=7, λ=0.05, batch 64, lr 5e-4, Adam(0.5, 0.999))
    n_alpha: int = 1  # K, causal latents α (the first K coordinates of z)
    n_beta: int = 7  # L, non-causal latents β
    total_latents: int = 0  # > 0: L = total_latents − K (Algorithm 1 keeps K + L fixed); n_beta is ignored
    lam: float = 0.05  # λ, the weight of the NLL
    use_causal: bool = True  # False: train λ·NLL only (a plain VAE, Algorithm 1's step 1)
    nll: Literal["mse_kl", "bce_meankl"] = "mse_kl"  # see explainer.negative_log_likelihood
    batch_size: int = 64
    lr: float = 5e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    weight_decay: float = 0.0
    init: Literal["normal", "default"] = "normal"  # conv weights N(0, 0.02) as the original, or torch's
    # Nα × Nβ prior samples of I(α; Ŷ): "original" 25 × 100, "fact" 100 × 25, "custom" the two counts below
    sample_counts: Literal["original", "fact", "custom"] = "original"
    n_alpha_samples: int = 25
    n_beta_samples: int = 100
    # --- evaluation
    classifier_eval_samples: int = 0  # first eval_split images for classifier_acc; 0 = all of them
    eval_samples: int = 0  # eval_split images for NLL and accuracy drops; 0 = all of them
    eval_batch_size: int = 500  # also the chunk size of the flow estimates
    # Nα × Nβ of the evaluation's flow estimates; 0 = the training counts (the original evaluates with those)
    eval_n_alpha_samples: int = 0
    eval_n_beta_samples: int = 0
    # Algorithm 1 as one objective (see info_flow_constrained): the NLL a plain VAE of capacity K + L
    # reaches (step 1), and the relative slack allowed above it. 0 = no constraint.
    nll_target: float = 0.0
    nll_tolerance: float = 0.05

    @property
    def n_latents(self) -> int:
        return self.total_latents if self.total_latents > 0 else self.n_alpha + self.n_beta

    @property
    def n_noncausal(self) -> int:
        return self.n_latents - self.n_alpha


def constrained_flow(info_flow: float, nll: float, nll_target: float, tolerance: float) -> float:
    """Algorithm 1's "maximise C subject to D near its step-1 value" as one number to maximise.

    Feasible (nll ≤ target·(1 + tolerance), or no target): the information flow itself (≥ 0). Infeasible:
    minus the relative excess, so every feasible configuration ranks above every infeasible one and
    infeasible ones rank by how far they miss. The paper instead walks K up / L down and raises λ until
    the NLL returns near the target; a single-objective searcher cannot express that order.
    """
    if nll_target <= 0:
        return info_flow
    excess = nll / nll_target - (1 + tolerance)
    return info_flow if excess <= 0 else -excess


class GCE(Family):
    name = "gce"
    Config = GCEConfig
    metrics = {
        "info_flow": "max", "info_flow_constrained": "max", "nll": "min", "nll_recon": "min", "nll_kl": "min",
        "loss": "min", "classifier_acc": "max", "classifier_loss": "min", "acc_original": "max",
        "acc_reencoded": "max",
        **{f"info_flow_z{d}": "max" for d in range(MAX_LATENTS)},
        **{f"acc_drop_z{d}": "max" for d in range(MAX_LATENTS)},
    }
    # step 0 trains the classifier, step 1 the explainer (needs the MNIST IDX files in the data dir)
    smoke_values = {"classifier_steps": 1, "classifier_batch_size": 4, "batch_size": 4, "n_alpha": 1, "n_beta": 1,
                    "sample_counts": "custom", "n_alpha_samples": 2, "n_beta_samples": 2, "eval_samples": 8,
                    "eval_batch_size": 8, "classifier_eval_samples": 8}

    def __init__(self, config: GCEConfig, seed: int, context) -> None:
        super().__init__(config, seed, context)
        device = torch.device(context.device)
        if device.type == "cuda":
            make_cuda_deterministic()
        c = config
        self.data = gce_data.load_splits(c.dataset, resolve_data_dir(context.data_dir), c.include_classes, device,
                                         eval_split=c.eval_split, val_fraction=c.val_fraction, data_seed=c.data_seed)
        shape = self.data.image_shape
        with torch.random.fork_rng(devices=[]):  # each net initialised on the CPU from its own stream
            torch.default_generator.manual_seed(stream_seed(seed, CLASSIFIER_INIT))
            self.classifier = make_classifier(c.classifier, self.data.num_classes, shape[0])
            torch.default_generator.manual_seed(stream_seed(seed, EXPLAINER_INIT))
            self.encoder, self.decoder = make_explainer(shape, c.n_latents, c.init)
        self.classifier, self.encoder, self.decoder = (m.to(device) for m in (self.classifier, self.encoder, self.decoder))
        self.clf_gen = torch.Generator(device=device).manual_seed(stream_seed(seed, CLASSIFIER_TRAIN))
        self.exp_gen = torch.Generator(device=device).manual_seed(stream_seed(seed, EXPLAINER_TRAIN))
        set_dropout_generator(self.classifier, self.clf_gen)
        self.clf_opt = torch.optim.SGD(self.classifier.parameters(), lr=c.classifier_lr, momentum=c.classifier_momentum)
        self.exp_opt = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=c.lr,
                                        betas=(c.adam_beta1, c.adam_beta2), weight_decay=c.weight_decay)
        self.n_alpha_samples, self.n_beta_samples = sample_counts(c.sample_counts, c.n_alpha_samples, c.n_beta_samples)
        self.eval_counts = (c.eval_n_alpha_samples or self.n_alpha_samples, c.eval_n_beta_samples or self.n_beta_samples)
        self.steps_done = 0
        self._classifier_metrics: dict[str, float] | None = None  # memo while the classifier is frozen
        self.last_metrics: dict[str, float] = {}

    # --- pieces ------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.clf_gen.device

    @property
    def explainer_started(self) -> bool:
        return self.steps_done > self.config.classifier_steps

    @staticmethod
    def as_float(images: torch.Tensor) -> torch.Tensor:
        return images.float().div_(255.0)

    def probs_of(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes -> the frozen classifier's class probabilities of their decoded images."""
        return F.softmax(self.classifier(self.decoder(codes)), dim=-1)

    def freeze_classifier(self) -> None:
        self.classifier.eval()
        self.classifier.requires_grad_(False)

    def eval_rows(self) -> torch.Tensor:
        """Rows (of the eval split) of the NLL / accuracy-drop evaluation: the first eval_samples of a
        seeded permutation."""
        n = len(self.data.eval_labels)
        gen = torch.Generator().manual_seed(stream_seed(self.seed, EVAL))
        rows = torch.randperm(n, generator=gen)
        if 0 < self.config.eval_samples < n:
            rows = rows[:self.config.eval_samples]
        return rows.to(self.device)

    # --- the contract ------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        out = self._classifier_step(step) if step < self.config.classifier_steps else self._explainer_step()
        self.steps_done = step + 1
        return out

    def _classifier_step(self, step: int) -> dict[str, float]:
        c = self.config
        epoch_steps = math.ceil(len(self.data.train_labels) / c.classifier_batch_size)
        for group in self.clf_opt.param_groups:  # stateless StepLR: resume needs nothing extra
            group["lr"] = c.classifier_lr * c.classifier_lr_gamma ** (step // epoch_steps)
        idx = torch.randint(len(self.data.train_labels), (c.classifier_batch_size,), generator=self.clf_gen,
                            device=self.device)
        self.classifier.train()
        logits = self.classifier(self.as_float(self.data.train_images[idx]))
        loss = F.cross_entropy(logits, self.data.train_labels[idx])
        self.clf_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.clf_opt.step()
        self._classifier_metrics = None
        return {"classifier_loss": loss.item()}

    def _explainer_step(self) -> dict[str, float]:
        c = self.config
        self.freeze_classifier()
        idx = torch.randint(len(self.data.train_labels), (c.batch_size,), generator=self.exp_gen, device=self.device)
        x = self.as_float(self.data.train_images[idx])
        mu, logvar = self.encoder(x)
        noise = torch.randn(mu.shape, generator=self.exp_gen, device=self.device)
        xhat = self.decoder(mu + torch.exp(0.5 * logvar) * noise)
        terms = negative_log_likelihood(x, xhat, mu, logvar, c.nll)
        flow = torch.zeros((), device=self.device)
        if c.use_causal and c.n_alpha > 0:
            flow = joint_flow(self.probs_of, c.n_alpha, c.n_latents, self.n_alpha_samples, self.n_beta_samples,
                              self.exp_gen)
        loss = c.lam * terms["nll"] - flow
        self.exp_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.exp_opt.step()
        values = torch.stack([loss.detach(), terms["nll"].detach(), terms["recon"].detach(), terms["kl"].detach(),
                              flow.detach()]).tolist()  # one device sync per step
        return dict(zip(("loss", "nll", "nll_recon", "nll_kl", "info_flow"), values))

    @torch.no_grad()
    def classifier_metrics(self) -> dict[str, float]:
        """Accuracy and mean cross-entropy of the classifier on the eval split of the subset (its first
        classifier_eval_samples images when that is > 0)."""
        if self._classifier_metrics is None:
            was_training = self.classifier.training
            self.classifier.eval()
            correct, loss_sum = 0, 0.0
            n, bs = len(self.data.eval_labels), self.config.eval_batch_size
            if 0 < self.config.classifier_eval_samples < n:
                n = self.config.classifier_eval_samples
            for start in range(0, n, bs):
                stop = min(start + bs, n)
                logits = self.classifier(self.as_float(self.data.eval_images[start:stop]))
                labels = self.data.eval_labels[start:stop]
                correct += int((logits.argmax(-1) == labels).sum())
                loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            self.classifier.train(was_training)
            self._classifier_metrics = {"classifier_acc": correct / n, "classifier_loss": loss_sum / n}
        return dict(self._classifier_metrics)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Every number is measured on ``eval_split`` (validation rows by default). Stage 1: the classifier's
        accuracy and loss only (these evaluations are part of the shared
        prefix's cached history, so they must not depend on the explainer's settings). Stage 2 adds:
        info_flow I(α; Ŷ) and info_flow_z<d> = I(z_d; Ŷ) from the prior (eval_n_*_samples, by default the
        training sample counts);
        nll (+ parts) and loss on the evaluation rows; on the same rows the classifier's accuracy on the
        originals (acc_original), on dec(z) with z the encoder's sampled code (acc_reencoded), and
        acc_drop_z<d> = acc_original − the accuracy when coordinate d of that code is replaced by a N(0, 1)
        draw (``make_fig5ab.py``'s "aspect removed", which plots the accuracies themselves). The drop is
        taken from acc_original, so it includes the reconstruction's own loss (acc_original − acc_reencoded),
        the same for every latent; one encoder sample per image serves every removal, where make_fig5ab.py
        re-encodes (fresh encoder noise) for each latent.
        Every draw comes from a fresh evaluation generator, so evaluating never changes training."""
        metrics = self.classifier_metrics()
        if not self.explainer_started:
            return metrics
        c = self.config
        self.freeze_classifier()
        self.encoder.eval()
        self.decoder.eval()
        gen = torch.Generator(device=self.device).manual_seed(stream_seed(self.seed, EVAL))
        chunk = c.eval_batch_size
        d = c.n_latents
        flow = joint_flow(self.probs_of, c.n_alpha, d, *self.eval_counts, gen, chunk)
        per_dim = per_dimension_flow(self.probs_of, d, *self.eval_counts, gen, chunk)
        rows = self.eval_rows()
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        # [originals, re-encoded, z0 removed, z1 removed, ...]
        correct = torch.zeros(d + 2, dtype=torch.float64, device=self.device)
        for start in range(0, len(rows), chunk):
            batch = rows[start:start + chunk]
            x, labels = self.as_float(self.data.eval_images[batch]), self.data.eval_labels[batch]
            correct[0] += (self.classifier(x).argmax(-1) == labels).sum().double()
            mu, logvar = self.encoder(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=self.device)
            terms = negative_log_likelihood(x, self.decoder(z), mu, logvar, c.nll)
            sums += torch.stack([terms["nll"], terms["recon"], terms["kl"]]).double() * len(batch)
            # copy 0 is the re-encoded batch; copy k+1 has coordinate k "removed" (resampled from the prior)
            fresh = torch.randn(d, len(batch), generator=gen, device=self.device)
            for k in range(d + 1):
                codes = z.clone()
                if k > 0:
                    codes[:, k - 1] = fresh[k - 1]
                correct[k + 1] += (self.classifier(self.decoder(codes)).argmax(-1) == labels).sum().double()
        nll, recon, kl = (sums / len(rows)).tolist()
        accs = (correct / len(rows)).tolist()
        self.encoder.train()
        self.decoder.train()
        info_flow = float(flow)
        metrics.update({"info_flow": info_flow, "nll": nll, "nll_recon": recon, "nll_kl": kl,
                        "loss": c.lam * nll - (info_flow if c.use_causal else 0.0), "acc_original": accs[0],
                        "acc_reencoded": accs[1],
                        "info_flow_constrained": constrained_flow(info_flow, nll, c.nll_target, c.nll_tolerance)})
        metrics.update({f"info_flow_z{k}": float(v) for k, v in enumerate(per_dim.tolist())})
        metrics.update({f"acc_drop_z{k}": accs[0] - accs[k + 2] for k in range(d)})
        self.last_metrics = dict(metrics)
        return metrics

    def state_dict(self) -> dict:
        """The classifier always; the explainer only once it has trained. At the end of stage 1 (the shared
        prefix the platform caches) the state holds nothing that depends on the explainer's settings, and
        a trial restored from it keeps its own freshly initialised explainer, optimiser and stream."""
        state = {"classifier": self.classifier.state_dict(), "clf_opt": self.clf_opt.state_dict(),
                 "clf_gen": self.clf_gen.get_state(), "steps_done": self.steps_done}
        if self.explainer_started:
            state.update({"encoder": self.encoder.state_dict(), "decoder": self.decoder.state_dict(),
                          "exp_opt": self.exp_opt.state_dict(), "exp_gen": self.exp_gen.get_state()})
        return state

    def load_state_dict(self, state: dict) -> None:
        self.classifier.load_state_dict(state["classifier"])
        self.clf_opt.load_state_dict(state["clf_opt"])
        self.clf_gen.set_state(state["clf_gen"].cpu())  # generator states are CPU byte tensors everywhere
        self.steps_done = state["steps_done"]
        self._classifier_metrics = None
        if "encoder" in state:
            self.encoder.load_state_dict(state["encoder"])
            self.decoder.load_state_dict(state["decoder"])
            self.exp_opt.load_state_dict(state["exp_opt"])
            self.exp_gen.set_state(state["exp_gen"].cpu())
        if self.steps_done >= self.config.classifier_steps:
            self.freeze_classifier()

    @torch.no_grad()
    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """latent_sweep_class<m>.png per class (row d: z_d of an encoded eval_split image moved −3..3, the
        classifier's decision on each) and information_flow.png (Fig. 5a/b: flows and accuracies)."""
        from trainables.gce.plots import save_flow_bars, save_latent_sweeps

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.freeze_classifier()
        self.encoder.eval()
        self.decoder.eval()
        paths = save_latent_sweeps(self.encoder, self.decoder, self.classifier, self.data.eval_images,
                                   self.data.eval_labels, self.data.num_classes, self.config.n_alpha, out_dir)
        if "info_flow" in self.last_metrics:
            paths.append(save_flow_bars(self.last_metrics, self.config.n_alpha, self.config.n_latents,
                                        out_dir / "information_flow.png"))
        self.encoder.train()
        self.decoder.train()
        return paths

    # --- what the planner asks ---------------------------------------------------------------------
    @classmethod
    def shared_prefix(cls, config: GCEConfig) -> SharedPrefix | None:
        """Stage 1 depends on the data, the classes, the split (validation rows are held out of its training
        data; eval_split picks what its cached evaluations measured) and the classifier's settings only
        (evaluation batch size included: the cached history carries stage 1's evaluations)."""
        if config.classifier_steps <= 0:
            return None
        key = {name: getattr(config, name) for name in CLASSIFIER_FIELDS}
        key["include_classes"] = list(config.include_classes)
        return SharedPrefix(config.classifier_steps, key)

    @classmethod
    def sweep_report(cls, trials, out_dir: Path) -> list[Path]:
        """Per-latent information flow and accuracy drop, mean ± SE over seeds, per config group."""
        from trainables.gce.plots import save_sweep_flows

        return save_sweep_flows(trials, out_dir)

    @classmethod
    def check_data(cls, config: GCEConfig, data_dir: Path | None) -> None:
        gce_data.check_available(config.dataset, resolve_data_dir(data_dir))

    @classmethod
    def dataset_name(cls, config: GCEConfig) -> str:
        classes = "_".join(str(k) for k in config.include_classes)
        return f"{config.dataset}_{classes}" if classes else config.dataset

    @classmethod
    def validate_config(cls, values: dict) -> None:
        """One-line ValueErrors that start with the offending field's name."""
        c = cls.make_config(values)
        if c.dataset not in gce_data.DATASETS:
            raise ValueError(f"dataset: unknown dataset {c.dataset!r}; known: {', '.join(gce_data.DATASETS)}")
        top = 10
        if len(set(c.include_classes)) != len(c.include_classes) or any(not 0 <= k < top for k in c.include_classes):
            raise ValueError(f"include_classes: distinct class indices in 0..9 expected, got {list(c.include_classes)}")
        if len(c.include_classes) == 1:
            raise ValueError("include_classes: a classifier needs at least two classes")
        expected = "vgg11" if c.dataset == "cifar10" else "mnist_cnn"
        if c.classifier != expected:
            raise ValueError(f"classifier: {c.dataset} images need {expected!r}, got {c.classifier!r}")
        for name in ("classifier_batch_size", "batch_size", "eval_batch_size", "n_alpha_samples", "n_beta_samples"):
            if getattr(c, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(c, name)}")
        for name in ("classifier_steps", "n_alpha", "n_beta", "total_latents", "eval_samples", "classifier_eval_samples",
                     "eval_n_alpha_samples", "eval_n_beta_samples",
                     "lam", "weight_decay",
                     "classifier_momentum", "nll_target", "nll_tolerance"):
            if getattr(c, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(c, name)}")
        for name in ("classifier_lr", "lr", "classifier_lr_gamma"):
            if not getattr(c, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(c, name)}")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0 <= getattr(c, name) < 1:
                raise ValueError(f"{name}: must be in [0, 1), got {getattr(c, name)}")
        if c.eval_split not in gce_data.EVAL_SPLITS:
            raise ValueError(f"eval_split: one of {', '.join(gce_data.EVAL_SPLITS)} expected, got {c.eval_split!r}")
        if not 0 <= c.val_fraction < 1:
            raise ValueError(f"val_fraction: must be in [0, 1), got {c.val_fraction}")
        if c.eval_split == "val" and c.val_fraction <= 0:
            raise ValueError("val_fraction: eval_split 'val' needs a validation hold-out > 0")
        if c.total_latents and c.total_latents < c.n_alpha:
            raise ValueError(f"total_latents: must be >= n_alpha ({c.n_alpha}), got {c.total_latents}")
        if not 1 <= c.n_latents <= MAX_LATENTS:
            raise ValueError(f"n_beta: K + L must be in 1..{MAX_LATENTS}, got {c.n_latents}")

