"""DANN, AugmentedDANN and IRM on CRMNIST (seed ``core/comparison/{dann,irm}.py``, ``core/CRMNIST/dann_model.py``).

All three share the seed's feature extractor: the NVAE conv stack, then Linear(9408 → z); AugmentedDANN's
encoder ends in a ReLU, DANN's and IRM's do not (seed ``comparison/{dann,irm}.py``: "Project to z_dim directly").

- DANN: label head MLP 64-64 on z; domain discriminator MLP W-W (``dann_discriminator_width``, default
  100 as the seed's ``DomainDiscriminator(hidden_dim=100)`` in both stored versions of
  ``comparison/dann.py``; notes/seed-systems.md §4 says 64-64, which W=64 gives) behind a gradient
  reversal layer with λ = λ_max · (2/(1+e^{−γp}) − 1). Loss = CE(y) + ``domain_weight``·CE(d). Differs from the seed: p is
  the fraction of ``schedule_steps`` done at this step (the DANN paper's per-iteration progress); the seed
  uses epoch/max_epochs, so at its default of one epoch λ stays 0 and DANN trains no adversary at all.
- AugmentedDANN: z = [zy | zd | zdy]; y from [zy, zdy] and d from [zd, zdy] (MLP 128-64 with BN); conditional
  adversaries behind GRLs predict d from (zy, y) and y from (zd, d) (MLP 64-32 with BN). Loss =
  α_y·CE(y) + α_d·CE(d) + β_adv·(CE_adv(d) + CE_adv(y)) + ramp·Σ_s w_s·mean|z_s|, where the L1 ramp
  is the same 2/(1+e^{−γp})−1 schedule (the seed ramps its sparsity weights from 0 to their targets).
- IRM: label head MLP 64-64 on z; environments are the domains present in the batch. Loss = mean_e CE_e +
  w·mean_e penalty_e with w = ``penalty_weight`` from step ``anneal_iters`` on and 1.0 before (the IRM
  authors' code and DomainBed); the optimiser is reset when w switches (the trainer does that, as DomainBed
  does); with ``rescale_loss`` the loss is divided by w when w > 1, as the IRM authors' code does (DomainBed
  does not: ``irm_rescale_loss: false``). The seed (``comparison/irm.py``) uses w = 0, not 1, before
  ``anneal_iters``; that is not offered here. Penalties by name:
  ``irmv1_split`` (default): the unbiased estimate g(first half)·g(second half) of the squared gradient
  of the risk w.r.t. a scalar dummy multiplier (IRM paper §3.2, DomainBed); ``irmv1``: the biased
  g² of the whole environment; ``seed_elementwise``: the seed's Σ(∂CE(logits·w)/∂w)² with a per-element
  dummy w = ones_like(logits) (not IRMv1: it penalises each logit separately).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables.crmnist.data import NUM_CLASSES, NUM_DOMAINS
from trainables.crmnist.networks import ConvFeatures, dann_schedule, grad_reverse, mlp

IRM_PENALTIES = ("irmv1_split", "irmv1", "seed_elementwise")


class Extractor(nn.Module):
    def __init__(self, z_dim: int, width: float, relu: bool) -> None:
        super().__init__()
        self.conv = ConvFeatures(width)
        self.fc = nn.Linear(self.conv.out_features, z_dim)
        self.relu = relu  # the seed's AugmentedDANN ends in a ReLU; its DANN and IRM features are linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(self.conv(x))
        return F.relu(z) if self.relu else z


class DANN(nn.Module):
    subspaces = ("z",)

    def __init__(self, z_dim: int, width: float, domain_weight: float, lambda_max: float, gamma: float,
                 discriminator_width: int = 100) -> None:
        super().__init__()
        self.extractor = Extractor(z_dim, width, relu=False)
        self.classifier_y = mlp(z_dim, NUM_CLASSES)
        self.discriminator = mlp(z_dim, NUM_DOMAINS, (discriminator_width, discriminator_width))
        self.domain_weight, self.lambda_max, self.gamma = domain_weight, lambda_max, gamma

    def losses(self, x, y, d, step_info: dict) -> dict[str, torch.Tensor]:
        z = self.extractor(x)
        lam = self.lambda_max * dann_schedule(step_info["progress"], self.gamma)
        ce_y = F.cross_entropy(self.classifier_y(z), y)
        ce_d = F.cross_entropy(self.discriminator(grad_reverse(z, lam)), d)
        loss = ce_y + self.domain_weight * ce_d
        return {"loss": loss, "ce_y": ce_y, "ce_d": ce_d, "grl_lambda": lam, "_optimise": loss}

    @torch.no_grad()
    def latents(self, x):
        return {"z": self.extractor(x)}

    @torch.no_grad()
    def predict(self, x):
        z = self.extractor(x)
        return self.classifier_y(z), self.discriminator(z)


class AugmentedDANN(nn.Module):
    subspaces = ("zy", "zd", "zdy")

    def __init__(self, dims: dict[str, int], width: float, alpha_y: float, alpha_d: float, beta_adv: float,
                 lambda_max: float, gamma: float, l1: dict[str, float]) -> None:
        super().__init__()
        self.dims = {s: dims[s] for s in self.subspaces}
        self.extractor = Extractor(sum(self.dims.values()), width, relu=True)
        zy, zd, zdy = (self.dims[s] for s in self.subspaces)
        self.classifier_y = mlp(zy + zdy, NUM_CLASSES, (128, 64), batchnorm=True)
        self.classifier_d = mlp(zd + zdy, NUM_DOMAINS, (128, 64), batchnorm=True)
        self.adversary_d = mlp(zy + NUM_CLASSES, NUM_DOMAINS, (64, 32), batchnorm=True)  # d from (zy, y)
        self.adversary_y = mlp(zd + NUM_DOMAINS, NUM_CLASSES, (64, 32), batchnorm=True)  # y from (zd, d)
        self.alpha_y, self.alpha_d, self.beta_adv = alpha_y, alpha_d, beta_adv
        self.lambda_max, self.gamma, self.l1 = lambda_max, gamma, l1

    def parts(self, x) -> dict[str, torch.Tensor]:
        return dict(zip(self.subspaces, self.extractor(x).split(list(self.dims.values()), dim=-1)))

    def heads(self, p):
        return (self.classifier_y(torch.cat([p["zy"], p["zdy"]], -1)),
                self.classifier_d(torch.cat([p["zd"], p["zdy"]], -1)))

    def losses(self, x, y, d, step_info: dict) -> dict[str, torch.Tensor]:
        p = self.parts(x)
        ramp = dann_schedule(step_info["progress"], self.gamma)
        lam = self.lambda_max * ramp
        logits_y, logits_d = self.heads(p)
        ce_y, ce_d = F.cross_entropy(logits_y, y), F.cross_entropy(logits_d, d)
        y1, d1 = F.one_hot(y, NUM_CLASSES).float(), F.one_hot(d, NUM_DOMAINS).float()
        adv_d = F.cross_entropy(self.adversary_d(torch.cat([grad_reverse(p["zy"], lam), y1], -1)), d)
        adv_y = F.cross_entropy(self.adversary_y(torch.cat([grad_reverse(p["zd"], lam), d1], -1)), y)
        l1 = sum(self.l1[s] * p[s].abs().mean() for s in self.subspaces)
        loss = self.alpha_y * ce_y + self.alpha_d * ce_d + self.beta_adv * (adv_d + adv_y) + ramp * l1
        return {"loss": loss, "ce_y": ce_y, "ce_d": ce_d, "adv_ce_d": adv_d, "adv_ce_y": adv_y,
                "grl_lambda": lam, "_optimise": loss}

    @torch.no_grad()
    def latents(self, x):
        return self.parts(x)

    @torch.no_grad()
    def predict(self, x):
        return self.heads(self.parts(x))


def irm_penalty(logits: torch.Tensor, y: torch.Tensor, kind: str = "irmv1_split") -> torch.Tensor:
    """The IRM penalty of one environment (see the module docstring for the three kinds)."""
    if kind == "seed_elementwise":
        w = torch.ones_like(logits, requires_grad=True)
        (g,) = torch.autograd.grad(F.cross_entropy(logits * w, y), [w], create_graph=True)
        return (g ** 2).sum()
    scale = torch.ones((), device=logits.device, requires_grad=True)
    if kind == "irmv1":
        (g,) = torch.autograd.grad(F.cross_entropy(logits * scale, y), [scale], create_graph=True)
        return g ** 2
    if kind == "irmv1_split":
        (g1,) = torch.autograd.grad(F.cross_entropy(logits[0::2] * scale, y[0::2]), [scale], create_graph=True)
        (g2,) = torch.autograd.grad(F.cross_entropy(logits[1::2] * scale, y[1::2]), [scale], create_graph=True)
        return g1 * g2
    raise ValueError(f"irm_penalty: unknown {kind!r}; known: {', '.join(IRM_PENALTIES)}")


def irm_objective(logits: torch.Tensor, y: torch.Tensor, env: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean over environments of the risk, mean over environments of the penalty). Environments with
    fewer than two samples are skipped (the split estimator needs one sample per half); if that leaves none,
    the whole batch's risk and a zero penalty."""
    risks, penalties = [], []
    for e in torch.unique(env):
        sel = env == e
        if int(sel.sum()) < 2:
            continue
        risks.append(F.cross_entropy(logits[sel], y[sel]))
        penalties.append(irm_penalty(logits[sel], y[sel], kind))
    if not risks:  # every environment has one sample (a batch no larger than the number of domains)
        return F.cross_entropy(logits, y), logits.sum() * 0.0
    return torch.stack(risks).mean(), torch.stack(penalties).mean()


class IRM(nn.Module):
    subspaces = ("z",)

    def __init__(self, z_dim: int, width: float, penalty: str, penalty_weight: float, anneal_iters: int,
                 rescale_loss: bool) -> None:
        super().__init__()
        self.extractor = Extractor(z_dim, width, relu=False)
        self.classifier_y = mlp(z_dim, NUM_CLASSES)
        self.penalty, self.penalty_weight, self.anneal_iters = penalty, penalty_weight, anneal_iters
        self.rescale_loss = rescale_loss

    def weight_at(self, step: int) -> float:
        return self.penalty_weight if step >= self.anneal_iters else 1.0

    def losses(self, x, y, d, step_info: dict) -> dict[str, torch.Tensor]:
        logits = self.classifier_y(self.extractor(x))
        risk, penalty = irm_objective(logits, y, d, self.penalty)
        w = self.weight_at(step_info["step"])
        loss = risk + w * penalty
        optimise = loss / w if self.rescale_loss and w > 1.0 else loss
        return {"loss": loss, "ce_y": risk, "irm_penalty": penalty, "irm_weight": w,
                "_optimise": optimise}

    @torch.no_grad()
    def latents(self, x):
        return {"z": self.extractor(x)}

    @torch.no_grad()
    def predict(self, x):
        return self.classifier_y(self.extractor(x)), None
