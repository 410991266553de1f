"""Ray mode: Ray Tune schedules config groups; each runs the shared loop in a function trainable
(fractional GPUs), or, with ``workers: N``, as a Ray Train ``TorchTrainer`` with N data-parallel
workers inside the Tune trial (Train V2's supported pattern: ``Tuner(TorchTrainer)`` is refused).

The driver alone writes results: a Tune callback feeds every report to the SweepRecorder.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from sweepbed.loop import LoopSettings, run_group
from sweepbed.planning import GroupPlan, group_of
from sweepbed.recorder import SweepRecorder
from sweepbed.searchers import EvaluatedPoint
from sweepbed.spec import SweepSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
# Ray Train's report() blocks up to this interval (default 2 s: it would dominate short trials).
TRAIN_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}


def tune_result(payload: dict[str, Any]) -> dict[str, Any]:
    """The flat result Tune sees: the seed-mean objective for searchers/schedulers, the seed-mean of
    every metric for Tune's own table, and the whole payload (per-seed values) for our recorder."""
    result = {"objective": payload["objective"], "step": payload["step"], "final": int(payload["final"]),
              "payload": json.dumps(payload)}
    result.update({f"mean/{k}": v for k, v in payload["mean"].items()})
    return result


class _GroupFactory:
    """Builds a trial's group from a Tune config: planned groups ride in the config; Optuna's
    suggestions are completed with the fixed values and the study's seeds (seeds never reach Optuna)."""

    def __init__(self, spec: SweepSpec, settled: set[str]) -> None:
        self.spec, self.settled = spec, settled

    def __call__(self, config: dict[str, Any]) -> GroupPlan:
        if "group" in config:
            return GroupPlan.from_dict(config["group"])
        group = group_of(self.spec, config)
        return group.without(self.settled) or group  # a suggestion already fully run is run again


def group_trainable(config: dict[str, Any], settings: LoopSettings, factory: _GroupFactory,
                    workers: int, cpu: float, gpu: float) -> None:
    import ray
    from ray import tune

    group = factory(config)
    node_id = ray.get_runtime_context().get_node_id()  # where it ran: shown in Tune's result files
    if workers == 0:
        run_group(group, settings, lambda payload: tune.report({**tune_result(payload), "node_id": node_id}))
        return
    _run_torch_trainer(group, settings, workers, cpu, gpu)


def _run_torch_trainer(group: GroupPlan, settings: LoopSettings, workers: int, cpu: float, gpu: float) -> None:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    resources = {"CPU": cpu}
    if gpu > 0:
        resources["GPU"] = gpu
    trainer = TorchTrainer(
        train_loop_per_worker=_train_worker,
        train_loop_config={"group": group.to_dict(), "settings": settings},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpu > 0, resources_per_worker=resources),
        run_config=RunConfig(name=f"train-{group.group_id}", storage_path=str(Path(settings.sweep_dir) / "ray"),
                             callbacks=[TuneReportCallback()]),
    )
    trainer.fit()


def _train_worker(config: dict[str, Any]) -> None:
    import ray.train
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    settings: LoopSettings = config["settings"]
    if rank != 0:  # only rank 0 logs and reports; every rank checkpoints its own generators
        settings = LoopSettings(**{**settings.__dict__, "tracking": None})

    def report(payload: dict[str, Any]) -> None:
        # every rank must call report (Train V2 synchronises on it); rank 0's metrics are the trial's
        ray.train.report(tune_result(payload) if rank == 0 else {})

    def wrap(module):
        return DistributedDataParallel(module) if dist.is_initialized() else module

    run_group(GroupPlan.from_dict(config["group"]), settings, report, rank=rank, world_size=world, wrap=wrap)


def recording_callback(recorder: SweepRecorder, factory: _GroupFactory):
    """Tune's callbacks feeding the SweepRecorder (Ray imported lazily: none in --local)."""
    from ray.tune import Callback

    class RecordingCallback(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            recorder.on_report(json.loads(result["payload"]))

        def on_trial_complete(self, iteration, trials, trial, **info):
            recorder.finish(factory(trial.config).to_dict(), "completed")

        def on_trial_error(self, iteration, trials, trial, **info):
            error = ""
            if getattr(trial, "error_file", None) and os.path.exists(trial.error_file):
                error = Path(trial.error_file).read_text()[-2000:]
            recorder.finish(factory(trial.config).to_dict(), "failed", error=error or "trial raised an error")

    return RecordingCallback()


def init_ray(address: str | None, num_cpus: int | None, num_gpus: float | None) -> None:
    import ray

    os.environ.update(TRAIN_ENV)
    pythonpath = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "platform")])
    if address:
        # A remote cluster has none of our files: ship the engine and the families with the job.
        runtime_env = {"py_modules": [str(REPO_ROOT / "platform" / "sweepbed"), str(REPO_ROOT / "trainables")],
                       "env_vars": dict(TRAIN_ENV)}
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        runtime_env = {"env_vars": {**TRAIN_ENV, "PYTHONPATH": pythonpath}}
        ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, runtime_env=runtime_env)


def run_ray(spec: SweepSpec, settings: LoopSettings, recorder: SweepRecorder, groups: list[GroupPlan] | None,
            settled: set[str], address: str | None = None, num_cpus: int | None = None,
            num_gpus: float | None = None, history: list[EvaluatedPoint] = ()) -> None:
    import ray
    from ray import tune

    if not ray.is_initialized():
        init_ray(address, num_cpus, num_gpus)
    res = spec.resources
    factory = _GroupFactory(spec, settled)
    trainable = tune.with_parameters(group_trainable, settings=settings, factory=factory,
                                     workers=res.workers, cpu=res.cpu, gpu=res.gpu)
    # With workers, the Tune trial only drives a TorchTrainer that asks for its own workers' resources.
    trial_resources = {"cpu": 0.01} if res.workers else {"cpu": res.cpu, "gpu": res.gpu}
    trainable = tune.with_resources(trainable, trial_resources)

    scheduler = None
    if spec.scheduler.kind == "asha":
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="step", max_t=spec.budget.steps, grace_period=spec.scheduler.grace_period,
                                  reduction_factor=spec.scheduler.reduction_factor)
    if groups is not None:
        param_space = {"group": tune.grid_search([g.to_dict() for g in groups])}
        search_alg, num_samples = None, 1
    else:
        from ray.tune.search.optuna import OptunaSearch

        from sweepbed.searchers import make_sampler, optuna_space

        # a resumed sweep: the searcher is told what the interrupted run found (Tune skips re-running
        # points_to_evaluate that come with evaluated_rewards); Optuna cannot be told of a failure this way
        known = [p for p in history if math.isfinite(p.objective)]
        search_alg = OptunaSearch(space=optuna_space(spec), metric="objective", mode=spec.mode,
                                  sampler=make_sampler(spec.search, len(history)),
                                  points_to_evaluate=[p.params for p in known] or None,
                                  evaluated_rewards=[p.objective for p in known] or None)
        param_space, num_samples = None, spec.search.num_samples - len(history)
        if num_samples <= 0:
            return
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(metric="objective", mode=spec.mode, scheduler=scheduler, search_alg=search_alg,
                                    num_samples=num_samples, max_concurrent_trials=spec.max_concurrent_trials,
                                    reuse_actors=res.workers == 0),
        run_config=tune.RunConfig(name="tune", storage_path=str(Path(settings.sweep_dir).resolve() / "ray"),
                                  callbacks=[recording_callback(recorder, factory)], verbose=0),
    )
    tuner.fit()
