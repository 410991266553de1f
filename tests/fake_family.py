"""A family that exists only for space-validation tests: typed fields of every kind a space checks, no model.

Registered by tests through ``trainables.registry.FAMILIES["fake"] = "tests.fake_family:FakeFamily"``,
so the tests of spaces.py do not depend on any real family's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trainables.family import Family


@dataclass
class FakeConfig:
    dataset: str = "toy"
    latent_dim: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    beta: float = 1.0
    lam: float = 0.0
    gamma: float = 1.0
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    use_bn: bool = False
    hidden: tuple[int, ...] = (32, 32)
    warmup: int | None = None


class FakeFamily(Family):
    name = "fake"
    Config = FakeConfig
    metrics = {"mig": "max", "sap": "max", "recon_nll": "min"}

    @classmethod
    def validate_config(cls, values: dict) -> None:
        # one rule that names a field and one that names none, to test where the error is reported
        if values.get("batch_size", 64) % 8:
            raise ValueError(f"batch_size: must be a multiple of 8, got {values['batch_size']}")
        if values.get("dataset") == "binary" and values.get("likelihood") == "gaussian":
            raise ValueError("binary data needs the bernoulli decoder")

    def train_step(self, step):
        raise NotImplementedError

    def evaluate(self):
        raise NotImplementedError

    def state_dict(self):
        raise NotImplementedError

    def load_state_dict(self, state):
        raise NotImplementedError
