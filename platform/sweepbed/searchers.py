"""Optuna pieces shared by the local runner (ask/tell) and the Ray runner (OptunaSearch)."""

from __future__ import annotations

import optuna

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


def make_sampler(search: SearchSpec) -> optuna.samplers.BaseSampler:
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=search.seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=search.seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=search.seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=search.seed),
        "qmc": lambda: optuna.samplers.QMCSampler(seed=search.seed),
    }
    return samplers[search.sampler]()
