"""A tiny deterministic family for testing the shared loop in-process (not registered for users)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from trainables.family import Family, SharedPrefix


@dataclass
class ToyConfig:
    lr: float = 0.05
    noise: float = 0.1
    dim: int = 4
    nan_at_step: int = -1  # training loss becomes NaN from this step on (tests divergence)
    prefix_steps: int = 0  # > 0: the first steps are shared across `lam` values
    lam: float = 0.0
    # >= 0: seed s stops learning at step freeze_at_step * (s + 1), so its metrics plateau (early stopping)
    freeze_at_step: int = -1
    dataset: str = "toy"


class ToyFamily(Family):
    name = "toy"
    Config = ToyConfig
    metrics = {"score": "max", "mse": "min"}
    instances = 0  # how many trials were built (tests count shared-prefix reuse)
    steps_trained = 0
    evaluations = 0

    def __init__(self, config, seed, context):
        super().__init__(config, seed, context)
        ToyFamily.instances += 1
        g = torch.Generator().manual_seed(seed)
        self.target = torch.randn(config.dim, generator=torch.Generator().manual_seed(1234))
        self.w = torch.randn(config.dim, generator=g)
        self.gen = torch.Generator().manual_seed(seed + 1)

    def train_step(self, step):
        ToyFamily.steps_trained += 1
        x = torch.randn(8, self.config.dim, generator=self.gen)
        err = x @ (self.w - self.target) + self.config.noise * torch.randn(8, generator=self.gen)
        grad = 2 * x.T @ err / 8
        lam = self.config.lam if step >= self.config.prefix_steps else 0.0
        if not 0 <= self.config.freeze_at_step * (self.seed + 1) <= step:
            self.w = self.w - self.config.lr * (grad + lam * self.w)
        loss = float((err**2).mean())
        if 0 <= self.config.nan_at_step <= step:
            loss = float("nan")
        return {"loss": loss}

    def evaluate(self):
        ToyFamily.evaluations += 1
        mse = float(((self.w - self.target) ** 2).sum())
        return {"mse": mse, "score": -mse}

    def state_dict(self):
        return {"w": self.w.clone(), "gen": self.gen.get_state()}

    def load_state_dict(self, state):
        self.w = state["w"].clone()
        self.gen.set_state(state["gen"])

    report_error: str = ""  # tests set it to make sweep_report raise

    @classmethod
    def sweep_report(cls, trials, out_dir):
        if cls.report_error:
            raise RuntimeError(cls.report_error)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "done_per_group.csv"
        trials[trials["status"] == "done"].groupby("group_id").size().to_csv(path)
        return [path]

    @classmethod
    def shared_prefix(cls, config):
        if config.prefix_steps <= 0:
            return None
        key = {k: v for k, v in dataclasses.asdict(config).items() if k != "lam"}
        return SharedPrefix(config.prefix_steps, key)
