"""The validated form of a search space (what spaces.py produces and everything else consumes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ParamKind = Literal["grid", "choice", "uniform", "loguniform", "int"]


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter of the family's config.

    grid: every value is run (crossed with the other grid axes); choice: one value is sampled;
    uniform / loguniform: a float in [low, high]; int: an integer in [low, high] (inclusive),
    log-spaced when ``log``.
    """

    name: str
    kind: ParamKind
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False


@dataclass(frozen=True)
class SearchSpec:
    algorithm: Literal["grid", "random", "optuna"] = "grid"
    sampler: Literal["tpe", "random", "cmaes", "gp", "qmc"] = "tpe"  # optuna only
    num_samples: int = 1  # configurations drawn (random / optuna); grid axes are crossed with them
    seed: int = 0  # seeds the searcher itself, so the configurations drawn are reproducible


@dataclass(frozen=True)
class SchedulerSpec:
    kind: Literal["none", "asha"] = "none"
    grace_period: int = 1  # in training steps: no group is stopped before this
    reduction_factor: float = 2.0


@dataclass(frozen=True)
class ResourceSpec:
    cpu: float = 1.0  # per trial (per worker when workers > 0)
    gpu: float = 0.0  # fraction of one GPU per trial (per worker); 0 = CPU only
    workers: int = 0  # 0: Tune function trainable; N >= 1: Ray Train TorchTrainer with N workers


@dataclass(frozen=True)
class EarlyStopping:
    """Stop one seed when ``metric`` has not improved by more than ``min_delta`` for ``patience``
    evaluations in a row (PyTorch Lightning's EarlyStopping rule, which the IMA-VAE seed uses).

    ``mode`` is the metric's better direction, taken from the family. The seed's final numbers are those
    of its last evaluation, as a W&B summary of the seed would show them.
    """

    metric: str
    patience: int  # evaluations without improvement before the seed stops
    mode: Literal["max", "min"]
    min_delta: float = 0.0


@dataclass(frozen=True)
class BudgetSpec:
    steps: int  # training steps per trial (the most a trial trains)
    eval_every: int  # evaluate (and report to the searcher/scheduler) every this many steps
    checkpoint_every: int  # write a resumable checkpoint every this many steps
    early_stopping: EarlyStopping | None = None


@dataclass(frozen=True)
class SweepSpec:
    study: str
    family: str
    source: Path  # the YAML file it came from (for messages)
    fixed: dict[str, Any]  # family config values that are not searched
    params: tuple[ParamSpec, ...]
    seeds: tuple[int, ...]
    objective: str  # a metric the family reports
    mode: Literal["max", "min"]
    search: SearchSpec
    scheduler: SchedulerSpec
    resources: ResourceSpec
    max_concurrent_trials: int
    budget: BudgetSpec
    description: str = ""
    # the raw mapping after --set overrides, as validated; written into the sweep directory
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def resolved(self) -> dict[str, Any]:
        """A plain, YAML/JSON-serialisable form of the whole validated space."""
        out = asdict(self)
        out["source"] = str(self.source)
        out["params"] = [asdict(p) for p in self.params]
        out.pop("raw")
        return out
