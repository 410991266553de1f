"""Family ``crmnist``: NVAE, DIVA, DANN, AugmentedDANN and IRM on colored rotated MNIST (notes §4,
seeds/crmnist-nvae.md). ``model`` picks one; the data, encoder, decoder and heads are shared.

Names and defaults are the seed's HEAD (c9577ff): ``beta_zy/zx/zdy/zd``, ``alpha_y/alpha_d``, ``l1_lambda_*``,
8 dimensions per subspace, all β = 1, α = 150, ``l1_lambda_zdy`` = 5, IRM weight 5 after 1000 iterations,
Adam 1e-3, batch 64. ``preset: bea13b7`` gives the older published defaults (the brief's za/zay era:
32 dimensions each, β = 1, 5, 10, 2 for zy, zx, zdy(zay), zd(za), α = 100/100, L1 zx 50 and zdy 250,
IRM 1e4 after 500, AugmentedDANN sparsity 0.01 on zdy; and its data: empty colour subsets, so only the
spurious red 7s are coloured, and rotations 0-50° in steps of 10); a value given explicitly beats the preset.
Where we differ from the seed (beyond data.py / discriminative.py / probes.py):
- batches are drawn uniformly with replacement from the trial's generator (the seed shuffles epochs);
  the seed's early stopping (patience 5 epochs) is the platform's ``budget.early_stopping``;
- evaluation: a fixed sample of ``eval_val_samples`` in-domain validation rows and ``eval_ood_samples``
  OOD rows, drawn from ``data_seed`` so every trial of a sweep is scored on the same images;
  classification uses the encoder means; the seed evaluates whole loaders;
- DANN / IRM features have ``zy+zx+zdy+zd`` dimensions (32), AugmentedDANN spreads the same total over
  zy, zd, zdy (11, 11, 10; the seed's 43/43/42 for 128), DIVA gives zdy's dimensions to zy, zd, zx (11, 11, 10);
- β annealing (``--beta_annealing``) and the NPEET information-theoretic evaluation are not implemented.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from trainables.beta_vae import make_cuda_deterministic, stream_seed
from trainables.crmnist import data as crdata
from trainables.crmnist.discriminative import DANN, IRM, IRM_PENALTIES, AugmentedDANN, irm_objective
from trainables.crmnist.networks import redistribute
from trainables.crmnist.probes import ALL_PROBE_METRICS, run_probes
from trainables.crmnist.vae import VAEModel
from trainables.family import Family, module_training_state, restore_module_training_state

INIT, TRAIN, EVAL = 0, 1, 2  # random streams of a trial (see beta_vae.stream_seed)
MODELS = ("nvae", "diva", "dann", "augmented_dann", "irm")

PRESETS: dict[str, dict[str, Any]] = {
    "head": {},
    "bea13b7": {"zy_dim": 32, "zx_dim": 32, "zdy_dim": 32, "zd_dim": 32, "beta_zy": 1.0, "beta_zx": 5.0,
                "beta_zdy": 10.0, "beta_zd": 2.0, "alpha_y": 100.0, "alpha_d": 100.0, "l1_lambda_zx": 50.0,
                "l1_lambda_zdy": 250.0, "irm_penalty_weight": 1e4, "irm_anneal_iters": 500,
                "adann_l1_zy": 0.0, "adann_l1_zd": 0.0, "adann_l1_zdy": 0.01,
                # its conf/crmnist.json: every domain's colour subset empty, rotations 0, 10, ..., 50
                "color_subsets": "none", "rotation_step": 10},
}


@dataclass
class CRMNISTConfig:
    model: Literal["nvae", "diva", "dann", "augmented_dann", "irm"] = "nvae"
    preset: Literal["head", "bea13b7"] = "head"
    # --- data (data.GenerationConfig) ---
    source: Literal["mnist", "digits8x8"] = "mnist"
    rotation_step: int = 15  # domain k is rotated by k·step degrees (10: the 0-50° setup)
    intensity: float = 1.5
    color_prob: float = 0.5
    spurious_digit: int = 7
    color_subsets: Literal["head", "none"] = "head"  # "none": no domain colours, only the red spurious 7s
    ood_domain: int = 5  # -1: no OOD domain
    data_seed: int = 42
    val_fraction: float = 0.2
    max_base_images: int = 0  # 0: all source training images
    # --- optimisation ---
    batch_size: int = 64
    lr: float = 1e-3
    conv_width: float = 1.0  # channel multiplier of every conv layer; 1.0 = the seed's architecture
    # training progress p = step / schedule_steps drives DANN's λ and AugmentedDANN's ramps: set it to the budget
    schedule_steps: int = 10000
    # --- NVAE / DIVA ---
    zy_dim: int = 8
    zx_dim: int = 8
    zdy_dim: int = 8
    zd_dim: int = 8
    beta_zy: float = 1.0
    beta_zx: float = 1.0
    beta_zdy: float = 1.0
    beta_zd: float = 1.0
    alpha_y: float = 150.0
    alpha_d: float = 150.0
    l1_lambda_zy: float = 0.0
    l1_lambda_zx: float = 0.0
    l1_lambda_zdy: float = 5.0
    l1_lambda_zd: float = 0.0
    # --- DANN / AugmentedDANN ---
    domain_weight: float = 1.0
    # The seed's DomainDiscriminator(hidden_dim=100): two hidden layers of this width (notes §4 say 64-64).
    dann_discriminator_width: int = 100
    lambda_reversal: float = 1.0  # λ_max of the gradient reversal schedule
    grl_gamma: float = 10.0
    beta_adv: float = 0.1
    adann_alpha_y: float = 1.0
    adann_alpha_d: float = 1.0
    adann_l1_zy: float = 0.5
    adann_l1_zd: float = 2.5
    adann_l1_zdy: float = 1.5
    # --- IRM ---
    irm_penalty: Literal["irmv1_split", "irmv1", "seed_elementwise"] = "irmv1_split"
    irm_penalty_weight: float = 5.0
    irm_anneal_iters: int = 1000
    irm_rescale_loss: bool = True
    # --- evaluation ---
    eval_val_samples: int = 10000
    eval_ood_samples: int = 10000
    eval_batch_size: int = 1000
    probes: bool = False
    probe_steps: int = 300

    def generation(self) -> crdata.GenerationConfig:
        names = {f.name for f in dataclasses.fields(crdata.GenerationConfig)}
        return crdata.GenerationConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})

    def latent_dims(self) -> dict[str, int]:
        dims = {"zy": self.zy_dim, "zx": self.zx_dim, "zdy": self.zdy_dim, "zd": self.zd_dim}
        total = sum(dims.values())
        if self.model == "diva":
            extra = redistribute(self.zdy_dim, 3)
            return {"zy": self.zy_dim + extra[0], "zx": self.zx_dim + extra[2], "zdy": 0, "zd": self.zd_dim + extra[1]}
        if self.model == "augmented_dann":
            return dict(zip(("zy", "zd", "zdy"), redistribute(total, 3)))
        if self.model in ("dann", "irm"):
            return {"z": total}
        return dims


def build_model(c: CRMNISTConfig) -> torch.nn.Module:
    dims = c.latent_dims()
    if c.model in ("nvae", "diva"):
        betas = {"zy": c.beta_zy, "zx": c.beta_zx, "zdy": c.beta_zdy, "zd": c.beta_zd}
        l1 = {"zy": c.l1_lambda_zy, "zx": c.l1_lambda_zx, "zdy": c.l1_lambda_zdy, "zd": c.l1_lambda_zd}
        return VAEModel(dims, betas, l1, c.alpha_y, c.alpha_d, c.conv_width)
    if c.model == "dann":
        return DANN(dims["z"], c.conv_width, c.domain_weight, c.lambda_reversal, c.grl_gamma,
                    c.dann_discriminator_width)
    if c.model == "augmented_dann":
        l1 = {"zy": c.adann_l1_zy, "zd": c.adann_l1_zd, "zdy": c.adann_l1_zdy}
        return AugmentedDANN(dims, c.conv_width, c.adann_alpha_y, c.adann_alpha_d, c.beta_adv, c.lambda_reversal,
                             c.grl_gamma, l1)
    return IRM(dims["z"], c.conv_width, c.irm_penalty, c.irm_penalty_weight, c.irm_anneal_iters, c.irm_rescale_loss)


class CRMNIST(Family):
    name = "crmnist"
    Config = CRMNISTConfig
    # acc_*: accuracies on the evaluation rows (val = in-domain held-out base images, ood = the withheld
    # domain); recon_val: squared error per image (NVAE/DIVA); ce_y_val: label cross-entropy;
    # irm_penalty_val: the configured IRM penalty on the validation rows (IRM); probe_*: see probes.py.
    # For DANN acc_d_val is the adversarial discriminator's accuracy (low = invariant features, as the seed
    # reports it); for NVAE, DIVA and AugmentedDANN it is the domain classifier's.
    # A model reports only the metrics that apply to it.
    metrics: ClassVar[dict[str, str]] = {
        "acc_y_val": "max", "acc_d_val": "max", "acc_y_ood": "max", "ce_y_val": "min", "recon_val": "min",
        "irm_penalty_val": "min", **{m: "max" for m in ALL_PROBE_METRICS}}
    smoke_values: ClassVar[dict[str, Any]] = {
        "source": "digits8x8", "max_base_images": 200, "batch_size": 8, "conv_width": 0.125,
        "eval_val_samples": 64, "eval_ood_samples": 64, "eval_batch_size": 64, "probes": False}
    #: DomainBed-style model selection: pick by the first (in-domain validation), report the second (OOD)
    selection: ClassVar[tuple[str, str] | None] = ("acc_y_val", "acc_y_ood")
    #: the config field whose values get a selection each (besides the overall one)
    selection_by: ClassVar[str | None] = "model"

    def __init__(self, config: CRMNISTConfig, seed: int, context) -> None:
        super().__init__(config, seed, context)
        device = torch.device(context.device)
        if device.type == "cuda":
            make_cuda_deterministic()
        self.data = crdata.load(config.generation(), context.data_dir, context.cache_dir, device)
        with torch.random.fork_rng(devices=[]):  # initialise on the CPU from the init stream only
            torch.default_generator.manual_seed(stream_seed(seed, INIT))
            self.model = build_model(config)
        self.model = self.model.to(device)
        self.gen = torch.Generator(device=device).manual_seed(stream_seed(seed, TRAIN, context.rank))
        self.optimizer = self._new_optimizer()
        self.steps_done = 0

    def _new_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.config.lr)

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        if c.model == "irm" and c.irm_anneal_iters > 0 and step == c.irm_anneal_iters:
            self.optimizer = self._new_optimizer()  # the penalty switches on: fresh Adam, as the IRM authors do
        train = self.data["train"]
        idx = torch.randint(len(train), (c.batch_size,), generator=self.gen, device=self.gen.device)
        self.model.train()
        out = self.model.losses(train.images(idx), train.y[idx], train.d[idx],
                                {"step": step, "progress": step / max(c.schedule_steps, 1), "gen": self.gen})
        self.optimizer.zero_grad(set_to_none=True)
        out.pop("_optimise").backward()
        self.optimizer.step()
        self.steps_done = step + 1
        keys = [k for k, v in out.items() if torch.is_tensor(v)]
        values = torch.stack([out[k].detach().float().reshape(()) for k in keys]).tolist()  # one device sync
        return {**{k: float(v) for k, v in out.items() if not torch.is_tensor(v)}, **dict(zip(keys, values))}

    # --- evaluation ------------------------------------------------------------------------
    def eval_rows(self, split: str) -> torch.Tensor:
        """The fixed evaluation rows of a split, drawn from ``data_seed`` (the same for every trial)."""
        c = self.config
        n_all = len(self.data[split])
        n = min(c.eval_val_samples if split == "val" else c.eval_ood_samples, n_all)
        rng = np.random.default_rng([c.data_seed, crdata.SPLITS.index(split), 1])
        return torch.as_tensor(np.sort(rng.choice(n_all, size=n, replace=False)), device=self.gen.device)

    @torch.no_grad()
    def _pass(self, split: str, want_latents: bool) -> dict[str, Any]:
        c, part = self.config, self.data[split]
        rows = self.eval_rows(split)
        logits_y, logits_d, latents, sq = [], [], [], 0.0
        for start in range(0, len(rows), c.eval_batch_size):
            idx = rows[start:start + c.eval_batch_size]
            x = part.images(idx)
            ly, ld = self.model.predict(x)
            logits_y.append(ly)
            if ld is not None:
                logits_d.append(ld)
            if want_latents:
                latents.append(self.model.latents(x))
            if split == "val" and hasattr(self.model, "reconstruct"):
                sq += float(((self.model.reconstruct(x) - x) ** 2).sum())
        out = {"y": part.y[rows], "d": part.d[rows], "logits_y": torch.cat(logits_y),
               "logits_d": torch.cat(logits_d) if logits_d else None, "recon": sq / max(len(rows), 1)}
        if want_latents:
            out["latents"] = {k: torch.cat([b[k] for b in latents]) for k in latents[0]}
        return out

    def evaluate(self) -> dict[str, float]:
        c = self.config
        self.model.eval()
        val = self._pass("val", want_latents=c.probes)
        ly = val["logits_y"]
        m = {"acc_y_val": (ly.argmax(-1) == val["y"]).float().mean().item(),
             "ce_y_val": torch.nn.functional.cross_entropy(ly, val["y"]).item()}
        if val["logits_d"] is not None:
            m["acc_d_val"] = (val["logits_d"].argmax(-1) == val["d"]).float().mean().item()
        if c.model in ("nvae", "diva"):
            m["recon_val"] = val["recon"]
        if c.model == "irm":
            with torch.enable_grad():
                m["irm_penalty_val"] = irm_objective(ly, val["y"], val["d"], c.irm_penalty)[1].item()
        if "ood" in self.data.splits and c.eval_ood_samples > 0:
            ood = self._pass("ood", want_latents=False)
            m["acc_y_ood"] = (ood["logits_y"].argmax(-1) == ood["y"]).float().mean().item()
        if c.probes:
            gen = torch.Generator(device=self.gen.device).manual_seed(stream_seed(self.seed, EVAL))
            m.update(run_probes(val["latents"], val["y"], val["d"], c.probe_steps, gen))
        return m

    # --- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        return module_training_state(self.model, self.optimizer, self.gen, self.steps_done)

    def load_state_dict(self, state: dict) -> None:
        self.steps_done = restore_module_training_state(state, self.model, self.optimizer, self.gen)

    def write_artifacts(self, out_dir: Path) -> list[Path]:
        from trainables.crmnist.plots import write_all

        self.model.eval()
        return write_all(self, Path(out_dir))

    # --- what the planner asks -------------------------------------------------------------
    @classmethod
    def make_config(cls, values: dict[str, Any]) -> CRMNISTConfig:
        """Defaults, then the named preset's values, then the explicit values."""
        preset = values.get("preset", "head")
        if preset not in PRESETS:
            raise ValueError(f"preset: unknown {preset!r}; known: {', '.join(PRESETS)}")
        return CRMNISTConfig(**{**PRESETS[preset], **values})

    @classmethod
    def sweep_report(cls, trials: Any, out_dir: Path) -> list[Path]:
        """model_selection.md (pick by acc_y_val, report acc_y_ood, beside the oracle) and
        accuracy_by_model.png (validation and OOD label accuracy per trial, by model)."""
        from trainables.crmnist.plots import save_accuracy_by_model

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not all(f"metric.{m}" in trials.columns for m in cls.selection):
            return []
        from results_analysis.model_selection import format_selection, select

        val, test = cls.selection
        table = select(trials, val, test, by=cls.selection_by)
        md = out_dir / "model_selection.md"
        md.write_text(format_selection(table, val, test, cls.selection_by), encoding="utf-8")
        return [md, save_accuracy_by_model(trials, out_dir / "accuracy_by_model.png")]

    @classmethod
    def check_data(cls, config: CRMNISTConfig, data_dir: Path | None) -> None:
        if config.source == "mnist":
            from trainables.datasets import resolve_data_dir
            from trainables.datasets.idx_files import check_idx_available

            check_idx_available("mnist", resolve_data_dir(data_dir))

    @classmethod
    def dataset_name(cls, config: CRMNISTConfig) -> str:
        """``crmnist_rot15_ood5`` on MNIST; ``cr-digits8x8_rot15_ood5`` on the stand-in (never called MNIST)."""
        stem = "crmnist" if config.source == "mnist" else f"cr-{config.source}"
        name = f"{stem}_rot{config.rotation_step}_ood{config.ood_domain if config.ood_domain >= 0 else 'none'}"
        name += "_nosubsets" if config.color_subsets == "none" else ""
        return name + (f"_n{config.max_base_images}" if config.max_base_images else "")

    @classmethod
    def validate_config(cls, values: dict) -> None:
        c = cls.make_config(values)
        positive_ints = ("batch_size", "schedule_steps", "eval_batch_size", "zy_dim", "zd_dim", "dann_discriminator_width")
        for name in positive_ints:
            if getattr(c, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(c, name)}")
        nonneg = ("zx_dim", "zdy_dim", "max_base_images", "eval_ood_samples", "irm_anneal_iters", "probe_steps",
                  "beta_zy", "beta_zx", "beta_zdy", "beta_zd", "alpha_y", "alpha_d", "l1_lambda_zy", "l1_lambda_zx",
                  "l1_lambda_zdy", "l1_lambda_zd", "domain_weight", "lambda_reversal", "beta_adv", "adann_alpha_y",
                  "adann_alpha_d", "adann_l1_zy", "adann_l1_zd", "adann_l1_zdy", "irm_penalty_weight", "intensity")
        for name in nonneg:
            if getattr(c, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(c, name)}")
        if c.eval_val_samples < (4 if c.probes else 1):
            raise ValueError(f"eval_val_samples: must be >= {4 if c.probes else 1}, got {c.eval_val_samples}")
        for name in ("lr", "conv_width"):
            if not getattr(c, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(c, name)}")
        for name in ("color_prob", "val_fraction"):
            if not 0 <= getattr(c, name) <= 1:
                raise ValueError(f"{name}: must be in [0, 1], got {getattr(c, name)}")
        if not -1 <= c.ood_domain < crdata.NUM_DOMAINS:
            raise ValueError(f"ood_domain: must be -1 (none) or 0..{crdata.NUM_DOMAINS - 1}, got {c.ood_domain}")
        if not 0 <= c.spurious_digit <= 9:
            raise ValueError(f"spurious_digit: must be a digit 0..9, got {c.spurious_digit}")
        if c.color_subsets not in crdata.COLOR_SUBSETS:
            raise ValueError(f"color_subsets: unknown {c.color_subsets!r}; known: {', '.join(crdata.COLOR_SUBSETS)}")
        if c.irm_penalty not in IRM_PENALTIES:
            raise ValueError(f"irm_penalty: unknown {c.irm_penalty!r}; known: {', '.join(IRM_PENALTIES)}")
        if c.model == "augmented_dann" and sum(c.latent_dims().values()) < 3:
            raise ValueError("zy_dim: AugmentedDANN needs at least 3 latent dimensions in total")
