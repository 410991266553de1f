"""Optuna pieces shared by the local runner (ask/tell) and the Ray runner (OptunaSearch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna

from sweepbed.planning import stable_hash
from sweepbed.spec import ParamSpec, SearchSpec, SweepSpec


def optuna_distribution(param: ParamSpec) -> optuna.distributions.BaseDistribution:
    if param.kind == "choice":
        return optuna.distributions.CategoricalDistribution(list(param.values))
    if param.kind in ("uniform", "loguniform"):
        return optuna.distributions.FloatDistribution(param.low, param.high, log=param.kind == "loguniform")
    if param.kind == "int":
        return optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log)
    raise ValueError(f"{param.name}: a {param.kind} parameter cannot be searched by optuna")


def optuna_space(spec: SweepSpec) -> dict[str, optuna.distributions.BaseDistribution]:
    return {p.name: optuna_distribution(p) for p in spec.params}


def make_sampler(search: SearchSpec, resumed_after: int = 0) -> optuna.samplers.BaseSampler:
    """The space's sampler, seeded by ``search.seed``. A sweep resumed after ``resumed_after`` finished
    configurations gets a seed derived from both: the sampler is told those configurations instead of
    drawing them, and with the original seed its first draws would repeat them."""
    seed = search.seed if not resumed_after else int(stable_hash([search.seed, resumed_after], length=8), 16)
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "qmc": lambda: optuna.samplers.QMCSampler(seed=seed),
    }
    return samplers[search.sampler]()


@dataclass(frozen=True)
class EvaluatedPoint:
    """A configuration a previous run of this sweep finished: its searched values and seed-mean objective
    (NaN when no seed produced a finite one, i.e. the group failed or diverged)."""

    params: dict[str, Any]
    objective: float


def searcher_history(spec: SweepSpec, records: list[dict[str, Any]]) -> list[EvaluatedPoint]:
    """What an Optuna searcher had learnt before a sweep was interrupted, rebuilt from its results rows, so
    ``--resume`` goes on from the same knowledge instead of starting the search afresh.

    ``records`` are the results store's (one row per trial). A group counts once all of its seeds have a
    row. Its objective is the mean over seeds whose rows carry a finite value, as the searcher was told
    (diverged and failed seeds report none).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in records:
        groups.setdefault(row["group_id"], []).append(row)
    points = []
    for rows in groups.values():
        if len(rows) < len(spec.seeds):
            continue  # some seed never finished: the group will run again and be told then
        values = [float(r.get(f"metric.{spec.objective}", math.nan)) for r in rows if r["status"] not in
                  ("diverged", "failed")]
        values = [v for v in values if math.isfinite(v)]
        params = {p.name: rows[0][f"config.{p.name}"] for p in spec.params}
        points.append(EvaluatedPoint(params, sum(values) / len(values) if values else math.nan))
    return points
