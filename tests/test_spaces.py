"""Search-space YAML -> SweepSpec: every malformed space is one line naming the file and key; valid ones
parse to exactly the spec the planner consumes. Uses tests/fake_family.py, not a real model family."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from sweepbed.planning import plan_groups
from sweepbed.spaces import SpaceError, apply_overrides, load_space
from sweepbed.spec import BudgetSpec, ParamSpec, ResourceSpec, SchedulerSpec, SearchSpec, SweepSpec
from trainables import registry

BASE = """\
study: unit
family: fake
fixed: {dataset: dsprites, latent_dim: 10}
parameters: {beta: {values: [1, 4]}}
seeds: [0, 1]
metric: {name: mig, goal: maximize}
method: grid
budget: {steps: 100, eval_every: 50}
"""


@pytest.fixture(autouse=True)
def fake_family(monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "fake", "tests.fake_family:FakeFamily")


def write(tmp_path: Path, snippet: str, name: str = "s.yaml") -> Path:
    """BASE with the snippet's top-level keys replacing BASE's; a ``# drop: KEY`` line removes KEY;
    a snippet starting with ``#file`` is the whole file."""
    if snippet.startswith("#file"):
        text = snippet.removeprefix("#file\n")
    else:
        replaced = set(re.findall(r"^([A-Za-z_]+):", snippet, re.M)) | set(re.findall(r"^# drop: (\w+)", snippet, re.M))
        kept = [line for line in BASE.splitlines() if line.split(":")[0] not in replaced]
        text = "\n".join(kept) + "\n" + snippet + "\n"
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path, overrides=()) -> str:
    with pytest.raises(SpaceError) as info:
        load_space(path, overrides)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


MALFORMED = [
    # structure: unknown / missing / wrong-typed keys
    ("stdy: x", "s.yaml: stdy: unknown top-level key 'stdy' (did you mean 'study'?)"),
    ("early_terminate: {type: hyperband}", "early_terminate: unknown top-level key 'early_terminate' (did you mean 'scheduler'?)"),
    ("# drop: budget", "s.yaml: budget: missing required key"),
    ("# drop: study", "s.yaml: study: missing required key"),
    ("budget:", "s.yaml: budget: is empty"),
    ("budget: {steps: 100, eval_evry: 10}", "budget.eval_evry: unknown key 'eval_evry' in budget (did you mean 'eval_every'?)"),
    ("budget: {eval_every: 10}", "budget.steps: missing required key"),
    ("budget: {steps: abc}", "budget.steps: expected an integer, got 'abc'"),
    ("budget: {steps: 1.5}", "budget.steps: expected an integer, got 1.5"),
    ("budget: {steps: true}", "budget.steps: expected an integer, got true"),
    ("budget: {steps: 0}", "budget.steps: must be >= 1, got 0"),
    ("budget: {steps: 100, eval_every: 200}", "budget.eval_every: must be <= 100 (budget.steps), got 200"),
    ("budget: {steps: 100, eval_every: 0}", "budget.eval_every: must be >= 1"),
    ("budget: {steps: 100, checkpoint_every: 0}", "budget.checkpoint_every: must be >= 1"),
    ("budget: 100", "budget: expected a mapping like"),
    ("budget: {steps: 100, early_stopping: 5}", "budget.early_stopping: expected a mapping like {metric: neg_elbo, patience: 5}, got 5"),
    ("budget: {steps: 100, early_stopping: {patience: 5}}", "budget.early_stopping.metric: missing required key"),
    ("budget: {steps: 100, early_stopping: {metric: mig}}", "budget.early_stopping.patience: missing required key"),
    ("budget: {steps: 100, early_stopping: {metric: mgi, patience: 5}}",
     "budget.early_stopping.metric: unknown metric 'mgi' for family fake (did you mean 'mig'?)"),
    ("budget: {steps: 100, early_stopping: {metric: mig, patience: 0}}", "budget.early_stopping.patience: must be >= 1, got 0"),
    ("budget: {steps: 100, early_stopping: {metric: mig, patience: 2, min_delta: -1}}",
     "budget.early_stopping.min_delta: must be >= 0"),
    ("budget: {steps: 100, early_stopping: {metric: mig, patiense: 2}}",
     "budget.early_stopping.patiense: unknown key 'patiense' in budget.early_stopping (did you mean 'patience'?)"),
    ("study: my study", "study: 'my study' must be letters, digits"),
    ("study: '..'", "study: '..' must be letters"),
    ("description: 5", "description: expected a string, got 5"),
    ("family: beta_vea", "family: unknown family 'beta_vea' (did you mean 'beta_vae'?)"),
    ("fixed: [dataset]", "fixed: expected a mapping of config field -> value"),
    # family fields and their types
    ("parameters: {lattent_dim: {values: [1]}}", "parameters.lattent_dim: family fake has no config field 'lattent_dim' (did you mean 'latent_dim'?)"),
    ("fixed: {colour: red}", "fixed.colour: family fake has no config field 'colour'; its fields: dataset, latent_dim"),
    ("fixed: {latent_dim: 1.5}", "fixed.latent_dim: latent_dim takes an integer, got 1.5"),
    ("fixed: {latent_dim: abc}", "fixed.latent_dim: latent_dim takes an integer, got 'abc'"),
    ("fixed: {latent_dim: true}", "fixed.latent_dim: latent_dim takes an integer, got true"),
    ("fixed: {lr: fast}", "fixed.lr: lr takes a number, got 'fast'"),
    ("fixed: {use_bn: 1}", "fixed.use_bn: use_bn takes true or false, got 1"),
    ("fixed: {dataset: yes}", "fixed.dataset: dataset takes a string, got true (YAML reads yes/no/on/off"),
    ("fixed: {likelihood: poisson}", "fixed.likelihood: likelihood takes one of 'bernoulli', 'gaussian', got 'poisson'"),
    ("fixed: {hidden: [32, 1.5]}", "fixed.hidden: hidden takes a list of integers, got [32, 1.5]"),
    ("fixed: {warmup: x}", "fixed.warmup: warmup takes an integer or null, got 'x'"),
    ("parameters: {likelihood: {values: [bernoulli, poisson]}}", "parameters.likelihood.values[1]: likelihood takes one of"),
    ("parameters: {batch_size: {values: [16, 2.5]}}", "parameters.batch_size.values[1]: batch_size takes an integer, got 2.5"),
    ("parameters: {latent_dim: {values: [2, 4]}}", "parameters.latent_dim: latent_dim is also in fixed; a field is either fixed or searched"),
    # parameter specs
    ("parameters: {beta: 4}", "parameters.beta: expected a mapping like {values: [...]}"),
    ("parameters: {beta: {value: 4}}", "parameters.beta.value: unknown key 'value' in a parameter (a single value belongs under fixed:)"),
    ("parameters: {beta: {values: []}}", "parameters.beta.values: expected a non-empty list of values, got []"),
    ("parameters: {beta: {values: 4}}", "parameters.beta.values: expected a non-empty list"),
    ("parameters: {beta: {values: [1, 1.0]}}", "parameters.beta.values[1]: duplicate value 1.0"),
    ("parameters: {beta: {min: 1, max: 4}}\nmethod: random", "parameters.beta.distribution: missing: a range needs distribution"),
    ("parameters: {beta: {distribution: log_uniform_values, min: 1, max: 4}}\nmethod: random",
     "parameters.beta.distribution: unknown distribution 'log_uniform_values' (did you mean 'loguniform'?)"),
    ("parameters: {beta: {distribution: gaussian, min: 1, max: 4}}\nmethod: random",
     "unknown distribution 'gaussian'; known: grid, choice, uniform, loguniform, int"),
    ("parameters: {beta: {distribution: uniform, min: 4, max: 1}}\nmethod: random", "parameters.beta: empty range: min 4.0 is above max 1.0"),
    ("parameters: {beta: {distribution: uniform, min: 2, max: 2}}\nmethod: random", "parameters.beta: empty range: min 2.0 is equal to max 2.0"),
    ("parameters: {latent_dim: {distribution: int, min: 8, max: 2}}\n# drop: fixed\nmethod: random", "parameters.latent_dim: empty range: min 8 is above max 2"),
    ("parameters: {lr: {distribution: loguniform, min: 0, max: 1e-3}}\nmethod: random", "parameters.lr.min: loguniform needs min > 0"),
    ("parameters: {batch_size: {distribution: int, min: 0, max: 64, log: true}}\nmethod: random", "parameters.batch_size.min: log: true needs min >= 1"),
    ("parameters: {batch_size: {distribution: int, min: 1.5, max: 64}}\nmethod: random", "parameters.batch_size.min: expected an integer for distribution int, got 1.5"),
    ("parameters: {beta: {distribution: uniform, min: a, max: 4}}\nmethod: random", "parameters.beta.min: expected a finite number, got 'a'"),
    ("parameters: {beta: {distribution: uniform, values: [1, 2]}}\nmethod: random", "parameters.beta.values: not used by distribution uniform"),
    ("parameters: {beta: {distribution: uniform, min: 1, max: 4, log: true}}\nmethod: random", "parameters.beta.log: not used by distribution uniform (it takes max, min); use distribution: loguniform"),
    ("parameters: {batch_size: {distribution: uniform, min: 8, max: 64}}\nmethod: random", "parameters.batch_size.distribution: distribution uniform draws real numbers but batch_size takes an integer; use distribution: int"),
    ("parameters: {likelihood: {distribution: int, min: 1, max: 2}}\nmethod: random", "parameters.likelihood.distribution: distribution int draws integers but likelihood takes one of"),
    # method compatibility
    ("parameters: {lr: {distribution: loguniform, min: 1e-4, max: 1e-3}}", "parameters.lr.distribution: method grid runs every combination, but loguniform draws samples"),
    ("parameters: {beta: {distribution: choice, values: [1, 2]}}", "parameters.beta.distribution: method grid runs every combination, but choice draws samples"),
    ("parameters: {beta: {distribution: grid, values: [1, 2]}}\nmethod: optuna", "parameters.beta.distribution: method optuna cannot mix grid axes into its search"),
    ("parameters: {beta: {distribution: grid, values: [1, 2]}}\nmethod: optuna", "seeds are already expanded by the platform"),
    ("parameters:\nmethod: optuna", "parameters: method optuna needs at least one searched parameter"),
    ("parameters: {hidden: {values: [[32], [64]]}}\nmethod: optuna", "parameters.hidden.values[0]: optuna's choice takes null/bool/number/string values"),
    ("method: bayes", "method: unknown method 'bayes' (did you mean 'optuna'?); known: grid, random, optuna"),
    ("method: [grid]", "method: unknown method ['grid']"),
    # seeds
    ("seeds: [0, 0]", "seeds[1]: duplicate seed 0"),
    ("seeds: [-1]", "seeds[0]: seeds must be >= 0, got -1"),
    ("seeds: [0, 1.5]", "seeds[1]: expected a non-negative integer seed, got 1.5"),
    ("seeds: [true]", "seeds[0]: expected a non-negative integer seed, got true"),
    ("seeds: []", "seeds: expected a non-empty list of seeds"),
    ("seeds: 3", "seeds: expected a non-empty list of seeds like [0, 1, 2] or {count: 3}, got 3"),
    ("seeds: {count: 0}", "seeds.count: must be >= 1, got 0"),
    ("seeds: {cnt: 3}", "seeds.cnt: unknown key 'cnt' in seeds (did you mean 'count'?)"),
    # metric, search, scheduler, resources
    ("metric: {name: accuracy}", "metric.name: unknown metric 'accuracy' for family fake; valid: mig, recon_nll, sap"),
    ("metric: {name: migg}", "metric.name: unknown metric 'migg' for family fake (did you mean 'mig'?)"),
    ("metric: {goal: maximize}", "metric.name: missing required key"),
    ("metric: {name: mig, goal: max}", "metric.goal: unknown goal 'max' (did you mean 'maximize'?)"),
    ("metric: mig", "metric: expected a mapping like {name: mig, goal: maximize}, got 'mig'"),
    ("search: {sampler: tpee}", "search.sampler: unknown sampler 'tpee' (did you mean 'tpe'?); known: tpe, random, cmaes, gp, qmc"),
    ("search: {num_samples: 0}\nmethod: random", "search.num_samples: must be >= 1, got 0"),
    ("search: {num_sample: 4}", "search.num_sample: unknown key 'num_sample' in search (did you mean 'num_samples'?)"),
    ("scheduler: {type: hyperband}", "scheduler.type: unknown scheduler type 'hyperband' (did you mean 'asha'?)"),
    ("scheduler: {grace_period: 10}", "scheduler.type: missing required key (none or asha)"),
    ("scheduler: {type: asha, grace_period: 0}", "scheduler.grace_period: must be >= 1, got 0"),
    ("scheduler: {type: asha, grace_period: 500}", "scheduler.grace_period: must be <= 100 (budget.steps), got 500"),
    ("scheduler: {type: asha, reduction_factor: 1}", "scheduler.reduction_factor: must be > 1"),
    ("resources: {gpu: 0.3}", "resources.gpu: 0.3 does not divide a GPU evenly (1/gpu = 3.33); use 1/n"),
    ("resources: {gpu: 2}", "resources.gpu: is the fraction of one GPU per trial (at most 1), got 2.0; for several GPUs use workers: N"),
    ("resources: {gpu: -0.25}", "resources.gpu: must be >= 0"),
    ("resources: {cpu: -1}", "resources.cpu: must be >= 0, got -1"),
    ("resources: {workers: -1}", "resources.workers: must be >= 0, got -1"),
    ("resources: {workers: 1.5}", "resources.workers: expected an integer, got 1.5"),
    ("resources: {gpus: 1}", "resources.gpus: unknown key 'gpus' in resources (did you mean 'gpu'?)"),
    ("max_concurrent_trials: 0", "max_concurrent_trials: must be >= 1, got 0"),
    # the family's own validate_config
    ("fixed: {batch_size: 12}", "fixed.batch_size: must be a multiple of 8, got 12 (rejected by fake.validate_config)"),
    ("parameters: {batch_size: {values: [12, 16]}}", "parameters.batch_size: must be a multiple of 8, got 12"),
    ("fixed: {dataset: binary, likelihood: gaussian}", "s.yaml: fixed: binary data needs the bernoulli decoder"),
    # the YAML itself
    ("#file\nstudy: unit\nparameters: {beta: [1, 2}\n", "s.yaml: line 2, column 25: invalid YAML: while parsing a flow sequence expected ',' or ']', but got '}'"),
    ("#file\n- study\n- family\n", "s.yaml: line 1: a space must be a YAML mapping of keys (study, family, seeds, metric, budget, ...), got a sequence"),
    ("#file\n", "s.yaml: line 1: a space must be a YAML mapping of keys"),
    ("#file\nstudy: a\n---\nstudy: b\n", "s.yaml: line 2, column 1: invalid YAML: expected a single document"),
    ("#file\nstudy: a\nfamily: fake\nstudy: b\n", "s.yaml: study: key given twice (lines 1 and 3); YAML would keep only the last"),
    ("parameters:\n  beta: {values: [1]}\n  beta: {values: [2]}", "parameters.beta: key given twice"),
]


@pytest.mark.parametrize("snippet, expected", MALFORMED, ids=[f"{i}:{e[:40]}" for i, (_, e) in enumerate(MALFORMED)])
def test_malformed_space_is_one_line_naming_file_and_key(tmp_path, snippet, expected):
    assert expected in error_of(write(tmp_path, snippet))


OVERRIDE_ERRORS = [
    (["budget.steps=0"], "s.yaml: --set budget.steps: must be >= 1, got 0"),
    (["budget.stepz=3"], "s.yaml: --set budget.stepz: unknown key 'stepz' in budget (did you mean 'steps'?)"),
    (["paramters.beta.values=[1]"], "--set paramters.beta.values: unknown top-level key 'paramters' (did you mean 'parameters'?)"),
    (["parameters.beta.valuez=[1]"], "--set parameters.beta.valuez: unknown key 'valuez' in a parameter (did you mean 'values'?)"),
    (["fixed.lattent_dim=3"], "--set fixed.lattent_dim: family fake has no config field 'lattent_dim' (did you mean 'latent_dim'?)"),
    (["fixed.beta=abc"], "--set fixed.beta: beta takes a number, got 'abc'"),
    (["parameters.beta.values=[1, x]"], "--set parameters.beta.values[1]: beta takes a number, got 'x'"),
    (["seeds=[0, 0]"], "--set seeds[1]: duplicate seed 0"),
    (["seeds.count=3"], "--set seeds.count: seeds is [0, 1] here, not a mapping; set it whole instead"),
    (["budget.steps.x=3"], "--set budget.steps.x: budget.steps holds a value, not a mapping of keys"),
    (["budget.early_stopping.patiense=3"],
     "--set budget.early_stopping.patiense: unknown key 'patiense' in budget.early_stopping (did you mean 'patience'?)"),
    (["budget.early_stopping.patience=3"], "s.yaml: budget.early_stopping.metric: missing required key"),
    (["steps"], "--set steps: expected KEY=VALUE"),
    (["fixed.latent_dim=[1"], "--set fixed.latent_dim: cannot read '[1' as a YAML value"),
    (["method=bayes"], "--set method: unknown method 'bayes' (did you mean 'optuna'?)"),
]


@pytest.mark.parametrize("overrides, expected", OVERRIDE_ERRORS)
def test_bad_override_names_the_override(tmp_path, overrides, expected):
    assert expected in error_of(write(tmp_path, ""), overrides)


def test_error_names_the_yaml_line_of_the_key(tmp_path):
    assert error_of(write(tmp_path, "budget: {steps: 0}")).endswith("budget.steps: must be >= 1, got 0 (line 8)")
    # a missing key points at the section it is missing from
    assert error_of(write(tmp_path, "metric: {goal: maximize}")).endswith("metric.name: missing required key (a metric "
                                                                          "the family reports) (line 8)")


def test_an_override_can_make_a_file_value_invalid_and_the_file_key_is_named(tmp_path):
    message = error_of(write(tmp_path, ""), ["budget.steps=10"])
    assert message.endswith("s.yaml: budget.eval_every: must be <= 10 (budget.steps), got 50 (line 8)")


def expected_grid_spec(path: Path, **changes) -> SweepSpec:
    spec = dict(
        study="unit", family="fake", source=path, fixed={"dataset": "dsprites", "latent_dim": 10},
        params=(ParamSpec("beta", "grid", values=(1.0, 4.0)),), seeds=(0, 1), objective="mig", mode="max",
        search=SearchSpec(algorithm="grid"), scheduler=SchedulerSpec(), resources=ResourceSpec(),
        max_concurrent_trials=1, budget=BudgetSpec(steps=100, eval_every=50, checkpoint_every=100),
    )
    spec.update(changes)
    return SweepSpec(**spec)


def test_grid_space_parses_with_defaults_filled(tmp_path):
    path = write(tmp_path, "")
    spec = load_space(path)
    assert spec == expected_grid_spec(path)
    assert all(isinstance(v, float) for v in spec.params[0].values)  # beta: 1 and beta: 1.0 are one trial
    assert spec.raw["parameters"] == {"beta": {"values": [1, 4]}}
    assert len(plan_groups(spec)) == 2 and {g.config["beta"] for g in plan_groups(spec)} == {1.0, 4.0}


def test_random_space_parses_every_distribution(tmp_path):
    path = write(tmp_path, """\
method: random
# drop: fixed
parameters:
  beta: {values: [1, 4, 16]}
  lam: {distribution: grid, values: [0, 2]}
  lr: {distribution: loguniform, min: 1e-4, max: 1.0e-3}
  gamma: {distribution: uniform, min: 0.1, max: 2}
  latent_dim: {distribution: int, min: 2, max: 10}
  batch_size: {distribution: int, min: 8, max: 256, log: true}
  likelihood: {distribution: choice, values: [bernoulli, gaussian]}
seeds: {count: 3}
search: {num_samples: 5, seed: 7}
resources: {cpu: 2, gpu: 0.25, workers: 0}
max_concurrent_trials: 4
description: all kinds""")
    spec = load_space(path)
    assert spec.params == (
        ParamSpec("beta", "choice", values=(1.0, 4.0, 16.0)),
        ParamSpec("lam", "grid", values=(0.0, 2.0)),
        ParamSpec("lr", "loguniform", low=1e-4, high=1e-3),
        ParamSpec("gamma", "uniform", low=0.1, high=2.0),
        ParamSpec("latent_dim", "int", low=2, high=10),
        ParamSpec("batch_size", "int", low=8, high=256, log=True),
        ParamSpec("likelihood", "choice", values=("bernoulli", "gaussian")),
    )
    assert spec.fixed == {} and spec.seeds == (0, 1, 2) and spec.description == "all kinds"
    assert spec.search == SearchSpec(algorithm="random", sampler="tpe", num_samples=5, seed=7)
    assert spec.resources == ResourceSpec(cpu=2.0, gpu=0.25, workers=0) and spec.max_concurrent_trials == 4
    assert len(plan_groups(spec)) == 10  # 5 draws x the 2-value grid axis lam


def test_optuna_space_takes_mode_from_family_and_fills_budget_and_asha_defaults(tmp_path):
    path = write(tmp_path, """\
method: optuna
metric: {name: recon_nll}
search: {sampler: cmaes, num_samples: 8}
scheduler: {type: asha, reduction_factor: 3}
budget: {steps: 2e3}""")
    spec = load_space(path)
    assert spec == expected_grid_spec(
        path, params=(ParamSpec("beta", "choice", values=(1.0, 4.0)),), objective="recon_nll", mode="min",
        search=SearchSpec(algorithm="optuna", sampler="cmaes", num_samples=8, seed=0),
        scheduler=SchedulerSpec(kind="asha", grace_period=2000, reduction_factor=3.0),
        budget=BudgetSpec(steps=2000, eval_every=2000, checkpoint_every=2000))


def test_values_are_coerced_to_the_field_types(tmp_path):
    spec = load_space(write(tmp_path, "fixed: {dataset: d, hidden: [64, 64.0], warmup: null, lr: 1, use_bn: true, "
                                      "latent_dim: 4.0}"))
    assert spec.fixed == {"dataset": "d", "hidden": (64, 64), "warmup": None, "lr": 1.0, "use_bn": True,
                          "latent_dim": 4}
    assert type(spec.fixed["lr"]) is float and type(spec.fixed["latent_dim"]) is int


def test_overrides_apply_before_validation(tmp_path):
    path = write(tmp_path, "search: {sampler: tpe}")
    spec = load_space(path, ["seeds=[0,1,2]", "budget.steps=200", "fixed.lam=4", "parameters.beta.values=[8,16]",
                             "scheduler.type=asha", "search.sampler=null", "method=grid"])
    assert spec == expected_grid_spec(
        path, fixed={"dataset": "dsprites", "latent_dim": 10, "lam": 4.0}, seeds=(0, 1, 2),
        params=(ParamSpec("beta", "grid", values=(8.0, 16.0)),),
        scheduler=SchedulerSpec(kind="asha", grace_period=50, reduction_factor=2.0),
        budget=BudgetSpec(steps=200, eval_every=50, checkpoint_every=200))
    assert spec.raw["seeds"] == [0, 1, 2] and spec.raw["scheduler"] == {"type": "asha"}


def test_apply_overrides_copies_and_parses_values_as_yaml():
    raw = {"budget": {"steps": 10}, "seeds": [0]}
    out = apply_overrides(raw, ["budget.eval_every=5", "seeds=[0, 1]", "fixed.lr=1e-3", "description=a b"], "x.yaml")
    assert out == {"budget": {"steps": 10, "eval_every": 5}, "seeds": [0, 1], "fixed": {"lr": 0.001},
                   "description": "a b"}
    assert raw == {"budget": {"steps": 10}, "seeds": [0]}


def test_space_error_is_a_value_error_that_survives_pickling(tmp_path):
    try:
        load_space(write(tmp_path, "budget: {steps: 0}"))
    except ValueError as exc:
        again = pickle.loads(pickle.dumps(exc))
        assert str(again) == str(exc) and again.key == "budget.steps" and again.source == str(tmp_path / "s.yaml")
    else:  # pragma: no cover
        pytest.fail("no error")


def test_early_stopping_takes_its_direction_from_the_family_and_can_be_set(tmp_path):
    from sweepbed.spec import EarlyStopping
    spec = load_space(write(tmp_path, "budget: {steps: 100, early_stopping: {metric: mig, patience: 3}}"))
    assert spec.budget.early_stopping == EarlyStopping(metric="mig", patience=3, mode="max", min_delta=0.0)
    spec = load_space(write(tmp_path, ""), ["budget.early_stopping.metric=mig", "budget.early_stopping.patience=4"])
    assert spec.budget.early_stopping.patience == 4
    assert load_space(write(tmp_path, "")).budget.early_stopping is None
