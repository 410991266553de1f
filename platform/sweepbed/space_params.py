"""The family-typed half of space validation: config-field types, `fixed`, `parameters`, the family's check.

spaces.py owns the file (YAML, sections, overrides, messages); this module knows the family's Config
dataclass. Every check raises :class:`Problem` with a key path; spaces.py turns it into the one-line
``SpaceError`` that names the file (or the ``--set`` override).

The parameter words follow W&B sweep files (wandb/sweeps ``config/schema.json``: ``values``,
``distribution``, ``min``, ``max``) and Ray Tune's sampling functions. Where we differ from them:
- five distributions (grid, choice, uniform, loguniform, int) instead of W&B's eighteen; W&B's names
  get a did-you-mean (``categorical`` -> choice, ``int_uniform`` -> int, ``log_uniform_values`` ->
  loguniform). Our ``loguniform`` bounds are values, like ``log_uniform_values`` and Tune's
  ``loguniform``, never exponents (W&B's ``log_uniform``).
- a range needs an explicit ``distribution``; W&B guesses int vs float from the type of ``min``.
- every value is checked against the type of the family's config field *before* anything runs (W&B and
  Tune pass wrong types through to the training script); ints given to float fields become floats,
  so ``beta: 1`` and ``beta: 1.0`` are the same trial.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any, Literal, Union

from sweepbed.spec import ParamSpec

KeyPath = tuple[str | int, ...]

DISTRIBUTIONS = ("grid", "choice", "uniform", "loguniform", "int")
PARAM_KEYS = ("distribution", "values", "min", "max", "log")
# Words from W&B sweep files and Tune that a reader may type; each maps to the hint we give.
DISTRIBUTION_HINTS = {
    "categorical": "'choice'", "int_uniform": "'int'", "randint": "'int'", "log_uniform_values": "'loguniform'",
    "log_uniform": "'loguniform' (its bounds are values, not exponents)", "grid_search": "'grid'",
    "q_uniform": "'uniform'",
}


class Problem(Exception):
    """A validation failure at a key path of the space (rendered with the file name by spaces.py)."""

    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = tuple(path)
        self.message = message


def did_you_mean(word: Any, candidates: typing.Iterable[str], hints: Mapping[str, str] | None = None) -> str:
    if hints and isinstance(word, str) and word in hints:
        return f" (did you mean {hints[word]}?)"
    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def show(value: Any) -> str:
    """A value as the reader wrote it in YAML (true/null rather than True/None), kept short."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- generic value checks -----------------------------------------------------------------------
def render(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_keys(mapping: dict, allowed: Sequence[str], path: KeyPath, hints: dict[str, str] | None = None) -> None:
    for key in mapping:
        if key not in allowed:
            what = f"top-level key {show(key)}" if not path else f"key {show(key)} in {render(path)}"
            raise Problem((*path, str(key)), f"unknown {what}{did_you_mean(key, allowed, hints)}; "
                                             f"allowed: {', '.join(allowed)}")


def check_int(value: Any, path: KeyPath, minimum: int | None = None, maximum: int | None = None,
              why: str = "") -> int:
    if not is_number(value) or not math.isfinite(value) or not float(value).is_integer():
        raise Problem(path, f"expected an integer, got {show(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise Problem(path, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise Problem(path, f"must be <= {maximum}{why}, got {value}")
    return value


def check_number(value: Any, path: KeyPath, minimum: float | None = None) -> float:
    if not is_number(value) or not math.isfinite(value):
        raise Problem(path, f"expected a number, got {show(value)}")
    if minimum is not None and value < minimum:
        raise Problem(path, f"must be >= {minimum}, got {show(value)}")
    return float(value)


def check_str(value: Any, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise Problem(path, f"expected a string, got {show(value)}")
    return value


def check_choice(value: Any, path: KeyPath, options: Sequence[str], what: str, hints: dict[str, str] | None = None) -> str:
    if value not in options:
        raise Problem(path, f"unknown {what} {show(value)}{did_you_mean(value, options, hints)}; "
                            f"known: {', '.join(options)}")
    return value


# --- field types ----------------------------------------------------------------------------------
class _Mismatch(Exception):
    pass


def field_types(family: type) -> dict[str, Any]:
    """Config field -> resolved annotation (``from __future__ import annotations`` leaves strings)."""
    fields = family.config_fields()
    try:
        hints = typing.get_type_hints(family.Config)
    except Exception:  # an annotation naming a TYPE_CHECKING-only import: check what we can resolve
        hints = {}
    return {name: hints.get(name, f.type if not isinstance(f.type, str) else Any) for name, f in fields.items()}


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (Union, types.UnionType)


def describe(ann: Any) -> str:
    """What a field accepts, in words."""
    if _is_union(ann):
        return " or ".join("null" if a is type(None) else describe(a) for a in typing.get_args(ann))
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Literal:
        return "one of " + ", ".join(show(a) for a in args)
    if origin in (tuple, list) or ann in (tuple, list):
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural.get(args[0], 'values')}" if args else "a list"
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return words.get(ann, getattr(ann, "__name__", str(ann)))


def coerce(value: Any, ann: Any) -> Any:
    """``value`` converted to what field type ``ann`` stores; raises _Mismatch if it does not fit.

    float fields take ints (stored as float), int fields take integral floats (2e3 -> 2000);
    bool is never a number; types we do not model (custom classes) pass through unchanged.
    """
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is Any or ann is object:
        return value
    if origin is Literal:
        for option in args:
            if isinstance(option, bool) == isinstance(value, bool) and value == option:
                return option
        raise _Mismatch
    if _is_union(ann):
        if value is None and type(None) in args:
            return None
        for member in args:
            if member is not type(None):
                try:
                    return coerce(value, member)
                except _Mismatch:
                    pass
        raise _Mismatch
    if origin in (tuple, list) or ann in (tuple, list):
        if not isinstance(value, list | tuple):
            raise _Mismatch
        container = origin or ann
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _Mismatch
            items = [coerce(v, a) for v, a in zip(value, args)]
        else:
            items = [coerce(v, args[0] if args else Any) for v in value]
        return tuple(items) if container is tuple else items
    if origin is dict or ann is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return {k: coerce(v, args[1]) for k, v in value.items()} if len(args) == 2 else dict(value)
    if ann is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if ann is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise _Mismatch
    if ann is float:
        if is_number(value):
            return float(value)
        raise _Mismatch
    if ann is str or (isinstance(ann, type) and issubclass(ann, PurePath)):
        if isinstance(value, str):
            return value
        raise _Mismatch
    return value


def check_field_value(value: Any, field: str, ann: Any, path: KeyPath) -> Any:
    try:
        return coerce(value, ann)
    except _Mismatch:
        hint = ""
        if isinstance(value, bool) and "a string" in describe(ann):
            hint = " (YAML reads yes/no/on/off/true/false as booleans: quote it)"
        raise Problem(path, f"{field} takes {describe(ann)}, got {show(value)}{hint}") from None


def _kinds(ann: Any) -> set[Any]:
    """The scalar kinds a field stores (int, float, ... or 'any'/'other') for choosing distributions."""
    if _is_union(ann):
        return set().union(*(_kinds(a) for a in typing.get_args(ann) if a is not type(None)))
    if ann is Any or ann is object:
        return {"any"}
    if typing.get_origin(ann) is Literal:
        return {"literal"}
    return {ann} if ann in (bool, int, float, str) else {"other"}


# --- fixed and parameters -------------------------------------------------------------------------
def _field_name(key: Any, path: KeyPath, family: type, types_: Mapping[str, Any]) -> str:
    if not isinstance(key, str):
        raise Problem(path, f"keys must be config field names (strings), got {show(key)}")
    if key not in types_:
        close = did_you_mean(key, types_)
        known = close or f"; its fields: {', '.join(types_)}"
        raise Problem(path, f"family {family.name} has no config field {key!r}{known}")
    return key


def parse_fixed(raw: Any, family: type, types_: Mapping[str, Any]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise Problem(("fixed",), f"expected a mapping of config field -> value, got {show(raw)}")
    return {
        _field_name(k, ("fixed", str(k)), family, types_): check_field_value(v, k, types_[k], ("fixed", k))
        for k, v in raw.items()
    }


def parse_parameters(raw: Any, family: type, types_: Mapping[str, Any], fixed: Mapping[str, Any],
                     method: str) -> tuple[ParamSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise Problem(("parameters",), f"expected a mapping of config field -> distribution, got {show(raw)}")
    params = []
    for key, spec in raw.items():
        name = _field_name(key, ("parameters", str(key)), family, types_)
        if name in fixed:
            raise Problem(("parameters", name), f"{name} is also in fixed; a field is either fixed or searched")
        params.append(_parse_param(name, spec, types_[name], method))
    return tuple(params)


def _parse_param(name: str, spec: Any, ann: Any, method: str) -> ParamSpec:
    path: KeyPath = ("parameters", name)
    if not isinstance(spec, dict):
        raise Problem(path, f"expected a mapping like {{values: [...]}} or {{distribution: uniform, min: .., max: ..}}, "
                            f"got {show(spec)} (a single value belongs under fixed:)")
    for key in spec:
        if key not in PARAM_KEYS:
            hint = " (a single value belongs under fixed:)" if key == "value" else did_you_mean(key, PARAM_KEYS)
            raise Problem((*path, str(key)), f"unknown key {key!r} in a parameter{hint}; allowed: {', '.join(PARAM_KEYS)}")
    dist = spec.get("distribution")
    if dist is None:
        if "values" not in spec:
            raise Problem((*path, "distribution"), "missing: a range needs distribution: uniform | loguniform | int "
                                                   "(or give values: [...])")
        dist = "grid" if method == "grid" else "choice"
    elif dist not in DISTRIBUTIONS:
        raise Problem((*path, "distribution"), f"unknown distribution {show(dist)}"
                      f"{did_you_mean(dist, DISTRIBUTIONS, DISTRIBUTION_HINTS)}; known: {', '.join(DISTRIBUTIONS)}")
    elif method == "optuna" and dist == "grid":
        raise Problem((*path, "distribution"), "method optuna cannot mix grid axes into its search (Tune's OptunaSearch "
                      "rejects grid_search); seeds are already expanded by the platform, so use distribution: choice "
                      "or method grid/random")
    elif method == "grid" and dist != "grid":
        raise Problem((*path, "distribution"), f"method grid runs every combination, but {dist} draws samples; "
                      "list values: [...] for a grid axis or use method random/optuna")
    allowed = {"values"} if dist in ("grid", "choice") else {"min", "max"} | ({"log"} if dist == "int" else set())
    for key in spec:
        if key not in allowed and key != "distribution":
            hint = "; use distribution: loguniform" if key == "log" else ""
            raise Problem((*path, key), f"not used by distribution {dist} (it takes {', '.join(sorted(allowed))}){hint}")
    if dist in ("grid", "choice"):
        return ParamSpec(name, dist, values=_values(name, spec.get("values"), ann, path, method))
    return _range(name, dist, spec, ann, path)


def _values(name: str, values: Any, ann: Any, path: KeyPath, method: str) -> tuple[Any, ...]:
    vpath = (*path, "values")
    if not isinstance(values, list) or not values:
        raise Problem(vpath, f"expected a non-empty list of values, got {show(values)}")
    out: list[Any] = []
    for i, v in enumerate(values):
        value = check_field_value(v, name, ann, (*vpath, i))
        if method == "optuna" and not (value is None or isinstance(value, bool | int | float | str)):
            raise Problem((*vpath, i), f"optuna's choice takes null/bool/number/string values, got {show(v)}")
        if any(o == value and type(o) is type(value) for o in out):
            raise Problem((*vpath, i), f"duplicate value {show(v)} (each value is one config group)")
        out.append(value)
    return tuple(out)


def _range(name: str, dist: str, spec: dict, ann: Any, path: KeyPath) -> ParamSpec:
    kinds = _kinds(ann)
    if dist == "int":
        if not kinds & {int, float, "any"}:
            raise Problem((*path, "distribution"), f"distribution int draws integers but {name} takes {describe(ann)}")
    elif not kinds & {float, "any"}:
        fix = "; use distribution: int" if int in kinds else "; list values: [...] instead"
        raise Problem((*path, "distribution"), f"distribution {dist} draws real numbers but {name} takes "
                                               f"{describe(ann)}{fix}")
    bounds = []
    for key in ("min", "max"):
        if key not in spec:
            raise Problem((*path, key), f"missing: distribution {dist} needs min and max")
        value = spec[key]
        if not is_number(value) or not math.isfinite(value):
            raise Problem((*path, key), f"expected a finite number, got {show(value)}")
        if dist == "int":
            if not float(value).is_integer():
                raise Problem((*path, key), f"expected an integer for distribution int, got {show(value)}")
            value = int(value)
        bounds.append(value if dist == "int" else float(value))
    low, high = bounds
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise Problem((*path, "log"), f"expected true or false, got {show(log)}")
    if low > high or (low == high and dist != "int"):
        relation = "equal to" if low == high else "above"
        raise Problem(path, f"empty range: min {show(low)} is {relation} max {show(high)}")
    if dist == "loguniform" and low <= 0:
        raise Problem((*path, "min"), f"loguniform needs min > 0 (it samples log(value)), got {show(low)}")
    if dist == "int" and log and low < 1:
        raise Problem((*path, "min"), f"log: true needs min >= 1 (it samples log(value)), got {show(low)}")
    return ParamSpec(name, dist, low=low, high=high, log=log)


# --- metric ------------------------------------------------------------------------------------------
GOALS = {"maximize": "max", "minimize": "min"}


def metric_direction(name: str, family: type, path: KeyPath) -> str:
    """The better direction ("max" / "min") of a metric the family reports; a Problem at ``path`` if unknown."""
    metrics = dict(family.metrics)
    if name not in metrics:
        raise Problem(path, f"unknown metric {name!r} for family {family.name}"
                            f"{did_you_mean(name, metrics)}; valid: {', '.join(sorted(metrics))}")
    return metrics[name]


def parse_metric(value: Any, family: type) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise Problem(("metric",), f"expected a mapping like {{name: mig, goal: maximize}}, got {show(value)}")
    check_keys(value, ("name", "goal"), ("metric",))
    if value.get("name") is None:
        raise Problem(("metric", "name"), "missing required key (a metric the family reports)")
    name = check_str(value["name"], ("metric", "name"))
    direction = metric_direction(name, family, ("metric", "name"))
    goal = value.get("goal")
    if goal is None:
        return name, direction
    hints = {"max": "'maximize'", "min": "'minimize'"}
    return name, GOALS[check_choice(goal, ("metric", "goal"), tuple(GOALS), "goal", hints)]


# --- the family's own check ------------------------------------------------------------------------
def representative(param: ParamSpec) -> Any:
    """One value the parameter can take (its first value or its lower bound)."""
    return param.values[0] if param.values else param.low


def run_family_check(family: type, fixed: Mapping[str, Any], params: tuple[ParamSpec, ...]) -> None:
    """Call the family's optional ``validate_config(values)`` and build its config once, with ``fixed``
    plus one representative value per searched parameter; a ValueError/TypeError becomes a Problem at
    the key its message names (``fixed`` when it names none)."""
    values = {**fixed, **{p.name: representative(p) for p in params}}
    searched = {p.name for p in params}
    check = getattr(family, "validate_config", None)
    steps = [("validate_config", check)] if callable(check) else []
    steps.append(("make_config", family.make_config))
    for what, call in steps:
        try:
            call(dict(values))
        except (ValueError, TypeError) as exc:
            if isinstance(exc, TypeError) and what == "validate_config":
                raise
            path = _path_named_in(str(exc), family, searched)
            # "field: problem" would repeat the key path the message is printed under
            message = str(exc).removeprefix(f"{path[-1]}:").strip() if len(path) > 1 else str(exc)
            raise Problem(path, f"{message} (rejected by {family.name}.{what})") from None


def _path_named_in(message: str, family: type, searched: set[str]) -> KeyPath:
    found = []
    for name in family.config_fields():
        match = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message)
        if match:
            found.append((match.start(), -len(name), name))
    if not found:
        return ("fixed",)
    name = min(found)[2]
    return ("parameters", name) if name in searched else ("fixed", name)

