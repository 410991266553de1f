"""Latent-expressiveness probes (seed ``core/CRMNIST/latent_expressiveness.py``): a small classifier trained
on frozen encoder means predicts d or y from one subspace or a union of two.

The seed's probe is a 3-layer MLP with 32 hidden units, Adam 1e-3, batch 256, 50 epochs with early
stopping on its own train/val/test split. Here, to keep evaluations cheap: the same MLP trained for
``steps`` minibatches of 256 on a random half of the evaluation's in-domain validation rows and scored on
the other half; the minibatches come from a generator seeded per trial, so probes are deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables.crmnist.data import NUM_CLASSES, NUM_DOMAINS

# (target, subspaces): the seed's pairs (d from zd / zdy / zd+zdy, y from zy / zdy / zy+zdy), the leakage
# probes d from zy and y from zd, and y / d from the single feature space of DANN and IRM.
PROBES = (("d", ("zd",)), ("d", ("zdy",)), ("d", ("zd", "zdy")), ("d", ("zy",)),
          ("y", ("zy",)), ("y", ("zdy",)), ("y", ("zy", "zdy")), ("y", ("zd",)),
          ("d", ("z",)), ("y", ("z",)))


def probe_name(target: str, spaces: tuple[str, ...]) -> str:
    return f"probe_{target}_from_{'_'.join(spaces)}"


ALL_PROBE_METRICS = tuple(probe_name(t, s) for t, s in PROBES)


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, classes: int, steps: int,
                   gen: torch.Generator, batch_size: int = 256, hidden: int = 32) -> float:
    """Test accuracy (second half of the rows) of the probe trained on the first half."""
    n_train = len(features) // 2
    mean, std = features[:n_train].mean(0), features[:n_train].std(0) + 1e-6  # standardise: latents' scales vary
    feats = (features - mean) / std
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=gen, device=gen.device)))
        net = nn.Sequential(nn.Linear(feats.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                            nn.Linear(hidden, classes)).to(feats.device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randint(n_train, (min(batch_size, n_train),), generator=gen, device=gen.device)
            loss = F.cross_entropy(net(feats[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return (net(feats[n_train:]).argmax(-1) == labels[n_train:]).float().mean().item()


def run_probes(latents: dict[str, torch.Tensor], y: torch.Tensor, d: torch.Tensor, steps: int,
               gen: torch.Generator) -> dict[str, float]:
    """Every probe whose subspaces the model has."""
    # The evaluation rows are ordered by domain: shuffle before the train/test halves, or the probe would
    # be trained on some domains and tested on others.
    order = torch.randperm(len(y), generator=gen, device=gen.device).to(y.device)
    latents, y, d = {k: v[order] for k, v in latents.items()}, y[order], d[order]
    out = {}
    for target, spaces in PROBES:
        if all(s in latents for s in spaces):
            feats = torch.cat([latents[s] for s in spaces], -1)
            labels, classes = (y, NUM_CLASSES) if target == "y" else (d, NUM_DOMAINS)
            out[probe_name(target, spaces)] = probe_accuracy(feats, labels, classes, steps, gen)
    return out
