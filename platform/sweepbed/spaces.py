"""Search-space YAML -> a validated, frozen :class:`~sweepbed.spec.SweepSpec`, or one line saying what is wrong.

``load_space(path, overrides)`` reads the file, applies ``--set KEY=VALUE`` overrides, and checks the
whole space before anything starts: every problem is a :class:`SpaceError` whose text is one line,
``<file>: <key.path>: <problem>`` (``<file>: --set <key.path>: ...`` when the value came from an
override), with the YAML line appended when the key is in the file.

The words follow W&B sweep files (wandb/sweeps ``config/schema.json``: ``method``, ``metric: {name,
goal}``, ``parameters``, ``values``, ``distribution``, ``min``/``max``) and Ray Tune (``num_samples``,
ASHA's ``grace_period``/``reduction_factor``, ``max_concurrent_trials``). Where we differ from both:
- ``seeds`` is its own key, expanded by the platform outside the searcher (W&B and Tune have no seeds;
  the seed studies looped over them by hand), and ``method: optuna`` replaces W&B's ``bayes``.
- unknown keys are errors with a did-you-mean (W&B warns, Tune ignores them), and so are YAML keys
  given twice (PyYAML silently keeps the last one).
- ``1e-4`` is read as a float (YAML 1.2, as in W&B's Go/JSON tooling); PyYAML's YAML 1.1 reads it as a
  string and would fail the type check of every learning-rate range written that way.
- an optional key set to ``null`` means "use the default", so ``--set search.sampler=null`` can drop it.
Family-typed checks (config fields, distributions, the family's ``validate_config``) live in
space_params.py.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sweepbed.space_params import (
    PARAM_KEYS,
    KeyPath,
    Problem,
    check_choice,
    check_int,
    check_keys,
    check_number,
    check_str,
    did_you_mean,
    field_types,
    metric_direction,
    parse_fixed,
    parse_metric,
    parse_parameters,
    render,
    run_family_check,
    show,
)
from sweepbed.spec import BudgetSpec, EarlyStopping, ResourceSpec, SchedulerSpec, SearchSpec, SweepSpec
from trainables import registry

TOP_LEVEL = ("study", "description", "family", "fixed", "parameters", "seeds", "metric", "method", "search",
             "scheduler", "resources", "max_concurrent_trials", "budget")
REQUIRED = {
    "study": "the study's name (its directory and MLflow experiment), e.g. study: quickstart",
    "family": "the model family, e.g. family: beta_vae",
    "seeds": "e.g. seeds: [0, 1, 2] or seeds: {count: 3}",
    "metric": "e.g. metric: {name: mig, goal: maximize}",
    "budget": "e.g. budget: {steps: 2000, eval_every: 500}",
}
SECTIONS = {
    "metric": ("name", "goal"),
    "search": ("sampler", "num_samples", "seed"),
    "scheduler": ("type", "grace_period", "reduction_factor"),
    "resources": ("cpu", "gpu", "workers"),
    "budget": ("steps", "eval_every", "checkpoint_every", "early_stopping"),
}
EARLY_STOPPING_KEYS = ("metric", "patience", "min_delta")
TOP_LEVEL_HINTS = {"name": "'study'", "early_terminate": "'scheduler'", "run_cap": "'search.num_samples'",
                   "count": "'search.num_samples'", "config": "'fixed'", "hyperparameters": "'parameters'"}
METHODS = ("grid", "random", "optuna")
METHOD_HINTS = {"bayes": "'optuna'", "bayesian": "'optuna'", "tpe": "'optuna' with search.sampler: tpe"}
SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc")
SCHEDULERS = ("none", "asha")
STUDY_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class SpaceError(ValueError):
    """A space that cannot run; ``str()`` is one line: ``<file>: <key.path>: <problem>``."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key = str(source), key
        self.problem = re.sub(r"\s*\n\s*", " ", str(problem)).strip()
        super().__init__(f"{self.source}: {self.key}: {self.problem}")

    def __reduce__(self):  # pickles across processes (Ray) despite the three-argument constructor
        return (SpaceError, (self.source, self.key, self.problem))


# --- YAML -----------------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 exponent floats without a dot (``1e-4``, ``2E3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The mapping in ``text`` and the line of every key path in it (for messages)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            line = node.start_mark.line + 1 if node is not None else 1
            got = "an empty file" if node is None else f"a {node.id}"
            raise SpaceError(source, f"line {line}", f"a space must be a YAML mapping of keys ({', '.join(REQUIRED)}, "
                                                     f"...), got {got}")
        lines: dict[KeyPath, int] = {}
        _index_lines(node, (), lines, source, set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "yaml"
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise SpaceError(source, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpaceError(source, "yaml", f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, lines


def _index_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str, seen: set[int]) -> None:
    """Record each key's line; reject a key given twice in one mapping (PyYAML keeps the last silently)."""
    if id(node) in seen:  # an alias: its lines are where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first:
                raise SpaceError(source, render((*path, key)),
                                 f"key given twice (lines {first[key]} and {line}); YAML would keep only the last")
            first[key] = lines[(*path, key)] = line
            _index_lines(value_node, (*path, key), lines, source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _index_lines(item, (*path, i), lines, source, seen)


# --- overrides ------------------------------------------------------------------------------------
def _parse_override(item: str, source: str) -> tuple[tuple[str, ...], Any]:
    key, sep, text = str(item).partition("=")
    keys = tuple(key.strip().split("."))
    if not sep or not all(k and k.strip() == k and " " not in k for k in keys):
        raise SpaceError(source, f"--set {item}", "expected KEY=VALUE with a dotted KEY, e.g. --set budget.steps=100")
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise SpaceError(source, f"--set {key}", f"cannot read {text!r} as a YAML value: {exc}") from None
    return keys, value


def _check_override_key(keys: tuple[str, ...], source: str) -> None:
    """Override keys follow the schema; names under fixed/parameters are checked later, with the family."""
    where = f"--set {'.'.join(keys)}"
    top = keys[0]
    if top not in TOP_LEVEL:
        raise SpaceError(source, where, f"unknown top-level key {top!r}{did_you_mean(top, TOP_LEVEL, TOP_LEVEL_HINTS)}")
    if keys[:2] == ("budget", "early_stopping") and len(keys) == 3:
        if keys[2] not in EARLY_STOPPING_KEYS:
            raise SpaceError(source, where, f"unknown key {keys[2]!r} in budget.early_stopping"
                                            f"{did_you_mean(keys[2], EARLY_STOPPING_KEYS)}; "
                                            f"allowed: {', '.join(EARLY_STOPPING_KEYS)}")
        return
    if top in SECTIONS:
        depth, allowed = 2, SECTIONS[top]
    elif top == "seeds":
        depth, allowed = 2, ("count",)
    elif top == "fixed":
        depth, allowed = 2, None
    elif top == "parameters":
        depth, allowed = 3, None
    else:
        depth, allowed = 1, None
    if len(keys) > depth:
        raise SpaceError(source, where, f"{'.'.join(keys[:depth])} holds a value, not a mapping of keys")
    last = keys[-1]
    if len(keys) == 2 and allowed is not None and last not in allowed:
        raise SpaceError(source, where, f"unknown key {last!r} in {top}{did_you_mean(last, allowed)}; "
                                        f"allowed: {', '.join(allowed)}")
    if len(keys) == 3 and last not in PARAM_KEYS:
        raise SpaceError(source, where, f"unknown key {last!r} in a parameter{did_you_mean(last, PARAM_KEYS)}; "
                                        f"allowed: {', '.join(PARAM_KEYS)}")


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], source: str | Path) -> dict[str, Any]:
    """A copy of ``raw`` with each ``KEY=VALUE`` set (dotted KEY into the mapping; VALUE read as YAML, so
    ``seeds=[0,1]`` is a list). Keys outside the schema are errors; the values are validated later,
    like the file's."""
    source = str(source)
    out = copy.deepcopy(raw)
    for item in overrides:
        keys, value = _parse_override(item, source)
        _check_override_key(keys, source)
        target = out
        for i, key in enumerate(keys[:-1]):
            if target.get(key) is None:
                target[key] = {}
            elif not isinstance(target[key], dict):
                whole = ".".join(keys[: i + 1])
                raise SpaceError(source, f"--set {'.'.join(keys)}", f"{whole} is {show(target[key])} here, not a "
                                 f"mapping; set it whole instead, e.g. --set '{whole}={{{keys[i + 1]}: ...}}'")
            target = target[key]
        target[keys[-1]] = value
    return out


# --- the space ------------------------------------------------------------------------------------
def load_space(path: str | Path, overrides: Sequence[str] = ()) -> SweepSpec:
    """Read, override and validate a search space; raises SpaceError (one line) on any problem."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise SpaceError(source, "space", "no such file")
    raw, lines = _parse_yaml(path.read_text(), source)
    raw = apply_overrides(raw, overrides, source)
    overridden = [_parse_override(item, source)[0] for item in overrides]
    try:
        return _build(raw, path)
    except Problem as problem:
        key = problem.path
        if any(key[: len(o)] == o for o in overridden):
            raise SpaceError(source, f"--set {render(key)}", problem.message) from None
        # the key's line, or for a missing key the line of the section it is missing from
        known = next((key[:n] for n in range(len(key), 0, -1) if key[:n] in lines), None)
        line = f" (line {lines[known]})" if known else ""
        raise SpaceError(source, render(key) or "space", problem.message + line) from None


def _section(raw: dict, key: str, example: str) -> dict:
    """An optional mapping section ({} when absent or null), its keys checked."""
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Problem((key,), f"expected a mapping like {example}, got {show(value)}")
    check_keys(value, SECTIONS[key], (key,))
    return value


def _build(raw: dict[str, Any], source: Path) -> SweepSpec:
    check_keys(raw, TOP_LEVEL, (), TOP_LEVEL_HINTS)
    for key, example in REQUIRED.items():
        if raw.get(key) is None:
            raise Problem((key,), f"missing required key ({example})" if key not in raw else f"is empty ({example})")
    study = check_str(raw["study"], ("study",))
    if not STUDY_NAME.fullmatch(study) or set(study) == {"."}:
        raise Problem(("study",), f"{study!r} must be letters, digits, '_', '.' or '-' (it names a directory and "
                                  "an MLflow experiment)")
    description = check_str(raw.get("description") or "", ("description",))
    family_name = check_str(raw["family"], ("family",))
    family = _family(family_name)
    types_ = field_types(family)
    method = check_choice(raw.get("method") or "grid", ("method",), METHODS, "method", METHOD_HINTS)
    fixed = parse_fixed(raw.get("fixed"), family, types_)
    params = parse_parameters(raw.get("parameters"), family, types_, fixed, method)
    if method == "optuna" and not params:
        raise Problem(("parameters",), "method optuna needs at least one searched parameter")
    seeds = _seeds(raw["seeds"])
    objective, mode = parse_metric(raw["metric"], family)
    search = _search(_section(raw, "search", "{sampler: tpe, num_samples: 8, seed: 0}"), method)
    budget = _budget(raw["budget"], family)
    scheduler = _scheduler(_section(raw, "scheduler", "{type: asha, grace_period: 500}"), budget)
    resources = _resources(_section(raw, "resources", "{cpu: 1, gpu: 0.25}"))
    concurrency = raw.get("max_concurrent_trials")
    concurrency = 1 if concurrency is None else check_int(concurrency, ("max_concurrent_trials",), 1)
    run_family_check(family, fixed, params)
    return SweepSpec(study=study, family=family_name, source=source,
                     fixed=fixed, params=params, seeds=seeds, objective=objective, mode=mode, search=search,
                     scheduler=scheduler, resources=resources, max_concurrent_trials=concurrency, budget=budget,
                     description=description, raw=copy.deepcopy(raw))


def _family(name: str) -> type:
    if name not in registry.FAMILIES:
        raise Problem(("family",), f"unknown family {name!r}{did_you_mean(name, registry.FAMILIES)}; "
                                   f"known: {', '.join(sorted(registry.FAMILIES))}")
    try:
        family = registry.get_family(name)
        family.config_fields()
    except Exception as exc:  # a broken family module must still fail as one line naming the key
        raise Problem(("family",), f"cannot load family {name!r} ({registry.FAMILIES[name]}): "
                                   f"{type(exc).__name__}: {exc}") from None
    return family


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, dict):
        check_keys(value, ("count",), ("seeds",))
        if "count" not in value:
            raise Problem(("seeds", "count"), "missing required key (seeds: {count: N} runs seeds 0..N-1)")
        return tuple(range(check_int(value["count"], ("seeds", "count"), 1)))
    if not isinstance(value, list) or not value:
        raise Problem(("seeds",), f"expected a non-empty list of seeds like [0, 1, 2] or {{count: 3}}, got {show(value)}")
    seeds: list[int] = []
    for i, item in enumerate(value):
        if not (isinstance(item, int) and not isinstance(item, bool)):
            raise Problem(("seeds", i), f"expected a non-negative integer seed, got {show(item)}")
        if item < 0:
            raise Problem(("seeds", i), f"seeds must be >= 0, got {item}")
        if item in seeds:
            raise Problem(("seeds", i), f"duplicate seed {item}")
        seeds.append(item)
    return tuple(seeds)


def _search(section: dict, method: str) -> SearchSpec:
    # sampler/num_samples are kept but unused under method grid, so switching --set method=... just works
    sampler = section.get("sampler")
    sampler = "tpe" if sampler is None else check_choice(sampler, ("search", "sampler"), SAMPLERS, "sampler")
    samples = section.get("num_samples")
    samples = 1 if samples is None else check_int(samples, ("search", "num_samples"), 1)
    seed = section.get("seed")
    seed = 0 if seed is None else check_int(seed, ("search", "seed"), 0)
    return SearchSpec(algorithm=method, sampler=sampler, num_samples=samples, seed=seed)


def _budget(value: Any, family: type) -> BudgetSpec:
    if not isinstance(value, dict):
        raise Problem(("budget",), f"expected a mapping like {{steps: 2000, eval_every: 500}}, got {show(value)}")
    check_keys(value, SECTIONS["budget"], ("budget",))
    if value.get("steps") is None:
        raise Problem(("budget", "steps"), "missing required key (training steps per trial)")
    steps = check_int(value["steps"], ("budget", "steps"), 1)
    every = value.get("eval_every")
    every = steps if every is None else check_int(every, ("budget", "eval_every"), 1, steps, " (budget.steps)")
    ckpt = value.get("checkpoint_every")
    ckpt = steps if ckpt is None else check_int(ckpt, ("budget", "checkpoint_every"), 1)
    stopping = value.get("early_stopping")
    stopping = None if stopping is None else _early_stopping(stopping, family)
    return BudgetSpec(steps=steps, eval_every=every, checkpoint_every=ckpt, early_stopping=stopping)


def _early_stopping(value: Any, family: type) -> EarlyStopping:
    path = ("budget", "early_stopping")
    if not isinstance(value, dict):
        raise Problem(path, f"expected a mapping like {{metric: neg_elbo, patience: 5}}, got {show(value)}")
    check_keys(value, EARLY_STOPPING_KEYS, path)
    for key in ("metric", "patience"):
        if value.get(key) is None:
            raise Problem((*path, key), "missing required key (e.g. early_stopping: {metric: neg_elbo, patience: 5})")
    metric = check_str(value["metric"], (*path, "metric"))
    mode = metric_direction(metric, family, (*path, "metric"))
    patience = check_int(value["patience"], (*path, "patience"), 1)
    delta = value.get("min_delta")
    delta = 0.0 if delta is None else check_number(delta, (*path, "min_delta"), 0.0)
    return EarlyStopping(metric=metric, patience=patience, mode=mode, min_delta=float(delta))


def _scheduler(section: dict, budget: BudgetSpec) -> SchedulerSpec:
    """ASHA's grace period defaults to the first evaluation: it can stop a group only where it reports."""
    if not section:
        return SchedulerSpec()
    if section.get("type") is None:
        raise Problem(("scheduler", "type"), f"missing required key ({' or '.join(SCHEDULERS)})")
    kind = check_choice(section["type"], ("scheduler", "type"), SCHEDULERS, "scheduler type",
                   {"hyperband": "'asha'", "ASHA": "'asha'"})
    grace = section.get("grace_period")
    grace = budget.eval_every if grace is None else check_int(grace, ("scheduler", "grace_period"), 1, budget.steps,
                                                         " (budget.steps)")
    factor = section.get("reduction_factor")
    factor = 2.0 if factor is None else check_number(factor, ("scheduler", "reduction_factor"))
    if factor <= 1:
        raise Problem(("scheduler", "reduction_factor"), f"must be > 1 (keep 1/factor of the groups per rung), "
                                                         f"got {show(section['reduction_factor'])}")
    return SchedulerSpec(kind=kind, grace_period=grace, reduction_factor=factor)


def _resources(section: dict) -> ResourceSpec:
    cpu = section.get("cpu")
    cpu = 1.0 if cpu is None else check_number(cpu, ("resources", "cpu"), 0)
    workers = section.get("workers")
    workers = 0 if workers is None else check_int(workers, ("resources", "workers"), 0)
    gpu = section.get("gpu")
    gpu = 0.0 if gpu is None else check_number(gpu, ("resources", "gpu"), 0)
    if gpu > 1:
        raise Problem(("resources", "gpu"), f"is the fraction of one GPU per trial (at most 1), got {show(gpu)}; "
                                            "for several GPUs use workers: N (each worker gets gpu of one GPU)")
    if 0 < gpu < 1 and abs(1 / gpu - round(1 / gpu)) > 1e-6:
        raise Problem(("resources", "gpu"), f"{show(section['gpu'])} does not divide a GPU evenly (1/gpu = "
                                            f"{1 / gpu:.3g}); use 1/n: 0.5, 0.25, 0.2, 0.125, ...")
    return ResourceSpec(cpu=cpu, gpu=gpu, workers=workers)
