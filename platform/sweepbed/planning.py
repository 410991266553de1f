"""From a validated space to the groups and trials a sweep runs.

A trial is (family, resolved config, seed); its id is a stable hash of those (sorted JSON), so a
re-run finds what is done. A config group is the same (family, config) over all seeds: that is
what Ray schedules. Seeds are expanded here, never by a searcher.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweepbed.spec import EarlyStopping, ParamSpec, SweepSpec
from trainables.registry import get_family


def stable_hash(payload: Any, length: int = 12) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class TrialPlan:
    trial_id: str
    group_id: str
    seed: int


@dataclass(frozen=True)
class GroupPlan:
    """One configuration of the family, run for every seed of the study in lockstep."""

    group_id: str
    family: str
    config: dict[str, Any]  # every field of the family's Config, defaults filled
    steps: int
    trials: tuple[TrialPlan, ...]

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(t.seed for t in self.trials)

    def without(self, settled: set[str]) -> GroupPlan | None:
        """This group minus its settled trials (a resumed group runs only its unfinished seeds);
        None when every trial is settled."""
        trials = tuple(t for t in self.trials if t.trial_id not in settled)
        return dataclasses.replace(self, trials=trials) if trials else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "family": self.family,
            "config": self.config,
            "steps": self.steps,
            "trials": [dataclasses.asdict(t) for t in self.trials],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> GroupPlan:
        return GroupPlan(
            group_id=d["group_id"],
            family=d["family"],
            config=dict(d["config"]),
            steps=int(d["steps"]),
            trials=tuple(TrialPlan(**t) for t in d["trials"]),
        )


def full_config(family_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The family's defaults overridden by ``values``, as a plain dict of every field."""
    family = get_family(family_name)
    return dataclasses.asdict(family.make_config(dict(values)))


def make_group(family_name: str, values: dict[str, Any], seeds: tuple[int, ...], steps: int,
               early_stopping: EarlyStopping | None = None) -> GroupPlan:
    """A group and its trial ids. Ids hash the *full* config (defaults included) and the step budget
    (with its early-stopping rule, when there is one: it changes where a trial ends), so changing a
    family default or the budget never lets an old result pass for a new trial."""
    config = _normalise(full_config(family_name, values))
    identity: dict[str, Any] = {"family": family_name, "config": config, "steps": steps}
    if early_stopping is not None:
        identity["early_stopping"] = dataclasses.asdict(early_stopping)
    group_id = stable_hash(identity)
    trials = tuple(
        TrialPlan(trial_id=stable_hash({**identity, "seed": seed}), group_id=group_id, seed=seed) for seed in seeds
    )
    return GroupPlan(group_id=group_id, family=family_name, config=config, steps=steps, trials=trials)


def group_of(spec: SweepSpec, values: dict[str, Any]) -> GroupPlan:
    """The group of the space's fixed values overridden by ``values`` (a grid point or a sample)."""
    return make_group(spec.family, {**spec.fixed, **values}, spec.seeds, spec.budget.steps, spec.budget.early_stopping)


def _normalise(config: dict[str, Any]) -> dict[str, Any]:
    # numpy scalars from samplers become plain Python numbers, so JSON (and the hash) is stable;
    # 1 vs 1.0 in YAML already agree because spaces.py converts values to the field's type.
    out = {}
    for k, v in config.items():
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def grid_axes(spec: SweepSpec) -> list[ParamSpec]:
    return [p for p in spec.params if p.kind == "grid"]


def sampled_params(spec: SweepSpec) -> list[ParamSpec]:
    return [p for p in spec.params if p.kind != "grid"]


def _sample(param: ParamSpec, rng: np.random.Generator) -> Any:
    if param.kind == "choice":
        return param.values[int(rng.integers(len(param.values)))]
    if param.kind == "uniform":
        return float(rng.uniform(param.low, param.high))
    if param.kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(param.low), math.log(param.high))))
    if param.kind == "int":
        if param.log:  # log-uniform over [low, high + 1), floored: each integer gets its log-width
            value = math.floor(math.exp(rng.uniform(math.log(param.low), math.log(param.high + 1))))
            return int(min(value, int(param.high)))
        return int(rng.integers(int(param.low), int(param.high) + 1))
    raise ValueError(f"cannot sample a {param.kind} parameter")


def plan_groups(spec: SweepSpec) -> list[GroupPlan]:
    """Every group of a grid or random search, in the order they should run.

    Random search is drawn here from ``search.seed`` (not by Tune), so the configurations of a sweep
    are reproducible and ``--dry-run`` can list them. Optuna plans groups as it goes (see
    :func:`make_group`), so this raises for it.
    """
    if spec.search.algorithm == "optuna":
        raise ValueError("optuna chooses configurations while the sweep runs; they cannot be planned")
    axes = grid_axes(spec)
    grid = [dict(zip([a.name for a in axes], combo)) for combo in itertools.product(*[a.values for a in axes])]
    samples: list[dict[str, Any]] = [{}]
    if spec.search.algorithm == "random":
        rng = np.random.default_rng(spec.search.seed)
        samples = [{p.name: _sample(p, rng) for p in sampled_params(spec)} for _ in range(spec.search.num_samples)]
    groups: dict[str, GroupPlan] = {}
    for sample in samples:
        for point in grid:
            group = group_of(spec, {**sample, **point})
            groups.setdefault(group.group_id, group)  # identical draws collapse to one group
    return order_for_shared_prefixes(list(groups.values()))


def shared_prefix_key(group: GroupPlan) -> str | None:
    family = get_family(group.family)
    prefix = family.shared_prefix(family.make_config(dict(group.config)))
    if prefix is None:
        return None
    return stable_hash({"family": group.family, "key": _normalise(prefix.key), "steps": prefix.steps})


def order_for_shared_prefixes(groups: list[GroupPlan]) -> list[GroupPlan]:
    """Put one group of each shared-prefix key first, so concurrent trials train distinct prefixes
    (each once) and the groups that reuse a prefix run after it is cached. Stable otherwise."""
    first: list[GroupPlan] = []
    rest: list[GroupPlan] = []
    seen: set[str] = set()
    for g in groups:
        key = shared_prefix_key(g)
        if key is None or key not in seen:
            first.append(g)
            if key is not None:
                seen.add(key)
        else:
            rest.append(g)
    return first + rest
