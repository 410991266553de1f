"""``--local``: no Ray at all. Groups run one after another in this process, so a breakpoint in a
family works. Same loop, same results store and MLflow logging as the Ray path, hence the same
numbers for the same trial ids. The scheduler (ASHA) is not applied here: it needs concurrent trials.
"""

from __future__ import annotations

import math
import traceback

import optuna

from sweepbed.loop import LoopSettings, run_group
from sweepbed.planning import GroupPlan, group_of
from sweepbed.recorder import SweepRecorder
from sweepbed.searchers import EvaluatedPoint, make_sampler, optuna_space
from sweepbed.spec import SweepSpec


def _run_one(group: GroupPlan, settings: LoopSettings, recorder: SweepRecorder) -> float:
    try:
        payload = run_group(group, settings, recorder.on_report)
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 - one group's crash must not end the sweep
        recorder.finish(group, "failed", error=traceback.format_exc())
        return float("nan")
    recorder.finish(group, "completed")
    return payload.get("objective", float("nan"))


def run_local(spec: SweepSpec, settings: LoopSettings, recorder: SweepRecorder,
              groups: list[GroupPlan] | None, settled: set[str] = frozenset(),
              history: list[EvaluatedPoint] = ()) -> None:
    if groups is not None:
        for group in groups:
            _run_one(group, settings, recorder)
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if spec.mode == "max" else "minimize",
                                sampler=make_sampler(spec.search, len(history)))
    space = optuna_space(spec)
    for point in history:  # a resumed sweep: the searcher first learns what the interrupted run found
        finite = math.isfinite(point.objective)
        study.add_trial(optuna.trial.create_trial(
            params=point.params, distributions=space, value=point.objective if finite else None,
            state=optuna.trial.TrialState.COMPLETE if finite else optuna.trial.TrialState.FAIL))
    for _ in range(spec.search.num_samples - len(history)):
        trial = study.ask(space)
        group = group_of(spec, trial.params)
        group = group.without(settled) or group  # as the Ray runner: a suggestion already fully run is run again
        value = _run_one(group, settings, recorder)
        if math.isfinite(value):
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
