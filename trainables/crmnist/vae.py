"""NVAE (zy, zx, zdy, zd) and DIVA (zy, zx, zd) on CRMNIST (seed ``core/CRMNIST/model.py``, notes §4).

q(z|x): one conv encoder whose linear head gives loc and softplus scale (+1e-7) of [zy | zx | zdy | zd].
Priors: p(zy|y), p(zd|d), p(zdy|y,d) (one-hot conditions), p(zx) = N(0, I). Auxiliary classifiers
q(y|zy, zdy) and q(d|zd, zdy) (MLP 64-64). DIVA is the same model without zdy.

Loss, summed over the batch as the seed does:
    MSE_sum(x̂, x) + Σ_s β_s · Σ[log q(z_s|x) − log p(z_s|·)] + α_y·CE_sum(y) + α_d·CE_sum(d) + Σ_s λ_s·mean|z_s|
with single-sample Monte Carlo KL terms. The returned terms are per image (divided by the batch size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables.crmnist.data import NUM_CLASSES, NUM_DOMAINS
from trainables.crmnist.networks import ConditionalPrior, ConvFeatures, Decoder, gaussian_log_prob, mlp

ORDER = ("zy", "zx", "zdy", "zd")  # the seed's order of the subspaces in the encoder output


class VAEModel(nn.Module):
    def __init__(self, dims: dict[str, int], betas: dict[str, float], l1: dict[str, float], alpha_y: float,
                 alpha_d: float, width: float = 1.0) -> None:
        super().__init__()
        self.subspaces = tuple(s for s in ORDER if dims.get(s, 0) > 0)
        self.dims = {s: dims[s] for s in self.subspaces}
        self.betas, self.l1, self.alpha_y, self.alpha_d = betas, l1, alpha_y, alpha_d
        total = sum(self.dims.values())
        self.features = ConvFeatures(width)
        self.head = nn.Linear(self.features.out_features, 2 * total)
        self.decoder = Decoder(total, width)
        self.priors = nn.ModuleDict({"zy": ConditionalPrior(NUM_CLASSES, self.dims["zy"]),
                                     "zd": ConditionalPrior(NUM_DOMAINS, self.dims["zd"])})
        if "zdy" in self.dims:
            self.priors["zdy"] = ConditionalPrior(NUM_CLASSES + NUM_DOMAINS, self.dims["zdy"])
        y_in = [s for s in ("zy", "zdy") if s in self.dims]
        d_in = [s for s in ("zd", "zdy") if s in self.dims]
        self.y_inputs, self.d_inputs = y_in, d_in
        self.classifier_y = mlp(sum(self.dims[s] for s in y_in), NUM_CLASSES)
        self.classifier_d = mlp(sum(self.dims[s] for s in d_in), NUM_DOMAINS)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, scale = self.head(self.features(x)).chunk(2, dim=-1)
        return loc, F.softplus(scale) + 1e-7

    def split(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(self.subspaces, z.split([self.dims[s] for s in self.subspaces], dim=-1)))

    def classify(self, parts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.classifier_y(torch.cat([parts[s] for s in self.y_inputs], -1)),
                self.classifier_d(torch.cat([parts[s] for s in self.d_inputs], -1)))

    def losses(self, x: torch.Tensor, y: torch.Tensor, d: torch.Tensor, step_info: dict) -> dict[str, torch.Tensor]:
        n = len(x)
        loc, scale = self.encode(x)
        noise = torch.randn(loc.shape, generator=step_info["gen"], device=loc.device)
        z = loc + scale * noise
        zs, locs, scales = self.split(z), self.split(loc), self.split(scale)
        y1, d1 = F.one_hot(y, NUM_CLASSES).float(), F.one_hot(d, NUM_DOMAINS).float()
        conditions = {"zy": y1, "zd": d1, "zdy": torch.cat([y1, d1], -1)}
        out: dict[str, torch.Tensor] = {}
        x_hat = self.decoder(z)
        recon = ((x_hat - x) ** 2).sum()
        total = recon
        for s in self.subspaces:
            if s == "zx":
                p_loc, p_scale = torch.zeros_like(locs[s]), torch.ones_like(scales[s])
            else:
                p_loc, p_scale = self.priors[s](conditions[s])
            kl = (gaussian_log_prob(zs[s], locs[s], scales[s]) - gaussian_log_prob(zs[s], p_loc, p_scale)).sum()
            l1 = zs[s].abs().mean()
            total = total + self.betas[s] * kl + self.l1[s] * l1
            out[f"kl_{s}"] = kl / n
        logits_y, logits_d = self.classify(zs)
        ce_y = F.cross_entropy(logits_y, y, reduction="sum")
        ce_d = F.cross_entropy(logits_d, d, reduction="sum")
        total = total + self.alpha_y * ce_y + self.alpha_d * ce_d
        out.update(loss=total / n, recon=recon / n, ce_y=ce_y / n, ce_d=ce_d / n)
        out["_optimise"] = total  # what backward() sees: the seed's batch sum
        return out

    @torch.no_grad()
    def latents(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.split(self.encode(x)[0])

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.classify(self.latents(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)[0])

    @torch.no_grad()
    def decode_parts(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(torch.cat([parts[s] for s in self.subspaces], -1))
