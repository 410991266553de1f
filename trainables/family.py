"""The family contract: what a model family declares so the shared loop can train it.

A family is one module in trainables/ holding one subclass of :class:`Family`. An instance is one
running trial: one (config, seed) on one device. The platform owns everything around it (stepping,
evaluation cadence, reporting, checkpointing, resume, NaN detection, MLflow, placement); the family
owns only its model, its data and the arithmetic of one step and one evaluation.

Rules a family keeps so the platform's guarantees hold:
- All randomness comes from ``seed`` (via generators it creates in ``__init__``); evaluation draws
  from its own generator so that evaluation cadence never changes the training numbers.
- ``state_dict`` captures everything ``train_step`` depends on (model, optimiser, generators), so
  that a trial resumed from a checkpoint ends with the same numbers as an uninterrupted one.
- ``train_step`` returns plain floats; the loop checks them for NaN/inf.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

Direction = Literal["max", "min"]


@dataclass(frozen=True)
class SharedPrefix:
    """The first ``steps`` of a trial that depend only on ``key`` (and the seed).

    Trials with the same key and seed share one training of those steps: the loop trains it once,
    caches the state at ``steps``, and every other trial with that key starts from the cache. The
    λβ-VAE uses it so the β phase is trained once and shared by every λ.
    """

    steps: int
    key: dict[str, Any]


@dataclass
class RunContext:
    """What the platform hands to a trial besides its config and seed."""

    device: torch.device
    data_dir: Path | None = None
    # Where a family may keep files it shares across trials of a sweep (e.g. generated datasets).
    cache_dir: Path | None = None
    # Data-parallel position (Ray Train workers): each rank draws its own batches.
    rank: int = 0
    world_size: int = 1


def module_training_state(module: torch.nn.Module, optimizer: torch.optim.Optimizer, gen: torch.Generator,
                          steps_done: int) -> dict[str, Any]:
    """``state_dict`` of the common case: one module, its optimiser, the training generator, a step count."""
    return {"model": module.state_dict(), "optimizer": optimizer.state_dict(), "gen": gen.get_state(),
            "steps_done": steps_done}


def restore_module_training_state(state: dict[str, Any], module: torch.nn.Module,
                                  optimizer: torch.optim.Optimizer, gen: torch.Generator) -> int:
    """Load what :func:`module_training_state` saved; returns the step count."""
    module.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    gen.set_state(state["gen"].cpu())  # generator states are CPU byte tensors on every device
    return state["steps_done"]


class Family(ABC):
    """One trial of a model family. Subclasses set the class attributes and implement the methods."""

    #: registry name, also the ``family:`` of a search space
    name: ClassVar[str]
    #: dataclass with typed defaults; a search space overrides its fields
    Config: ClassVar[type]
    #: metric name -> the direction that is better; the objective of a space must be one of these
    metrics: ClassVar[dict[str, Direction]]
    #: config overrides small enough that one train_step and one evaluate run in seconds on a CPU;
    #: the test over every registered family (tests/test_every_family.py) trains with them
    smoke_values: ClassVar[dict[str, Any]] = {}
    #: DomainBed-style model selection: (in-domain validation metric, test metric); the leaderboard then
    #: shows the configuration chosen by the first with its second, beside the oracle choice by the second
    selection: ClassVar[tuple[str, str] | None] = None
    #: a config field that gets one selection per value (e.g. "model"); None: one selection over the sweep
    selection_by: ClassVar[str | None] = None

    def __init__(self, config: Any, seed: int, context: RunContext) -> None:
        self.config = config
        self.seed = seed
        self.context = context

    # --- what the loop calls -------------------------------------------------------------
    @abstractmethod
    def train_step(self, step: int) -> dict[str, float]:
        """Run optimisation step number ``step`` (0-based) and return its losses as floats."""

    @abstractmethod
    def evaluate(self) -> dict[str, float]:
        """Evaluate the current model; returns a flat dict of named floats (keys from ``metrics``)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training bit-identically (model, optimiser, generators)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def wrap_data_parallel(self, wrap: Callable[[torch.nn.Module], torch.nn.Module]) -> None:
        """Wrap the trained module(s) with ``wrap`` (DistributedDataParallel) for ``workers: N``.
        Families that support data-parallel workers override this; the default refuses."""
        raise NotImplementedError(f"family {self.name!r} does not support data-parallel workers")

    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """Write end-of-trial artifacts (images, plots) into ``out_dir``; return the paths."""
        return []

    # --- what the planner asks about a config -------------------------------------------
    @classmethod
    def shared_prefix(cls, config: Any) -> SharedPrefix | None:
        """Steps this config shares with other configs (see :class:`SharedPrefix`); None if none."""
        return None

    @classmethod
    def sweep_report(cls, trials: Any, out_dir: Path) -> list[Path]:
        """Sweep-level analysis of this family (e.g. a metric-versus-hyperparameter plot over seeds),
        written into ``out_dir`` after a sweep; the driver logs the files to the sweep's parent MLflow run.
        ``trials`` is the sweep's trials table (pandas; columns trial_id, group_id, seed, status,
        ``config.<field>``, ``metric.<name>``)."""
        return []

    @classmethod
    def check_data(cls, config: Any, data_dir: Path | None) -> None:
        """Raise FileNotFoundError (one line: what is missing and where to put it) if the data a
        config needs is not there. Called by the driver before any trial starts."""
        return None

    @classmethod
    def dataset_name(cls, config: Any) -> str:
        """The dataset a config trains on, for tags and leaderboards."""
        return str(getattr(config, "dataset", ""))

    @classmethod
    def make_config(cls, values: dict[str, Any]) -> Any:
        """Build the typed config from defaults overridden by ``values`` (already validated)."""
        return cls.Config(**values)

    @classmethod
    def config_fields(cls) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(cls.Config)}
