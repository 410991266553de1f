"""The one training loop every family runs through, for a config group's seeds in lockstep.

Each seed trains to the next evaluation point, is evaluated, and then the group reports the
seed-mean and the per-seed values (the searcher and scheduler only ever see the seed-mean). The loop
owns checkpoints (resume is bit-identical because families checkpoint their generators), NaN/inf
detection (that seed ends ``diverged``; its siblings go on), shared prefixes (a prefix trained once is
cached and fast-forwarded by every trial that shares it), MLflow logging and device placement.
"""

from __future__ import annotations

import fcntl
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sweepbed.planning import GroupPlan, TrialPlan, stable_hash
from sweepbed.spec import EarlyStopping
from sweepbed.tracking import TrackingInfo, TrialTracker
from trainables.family import Family, RunContext
from trainables.registry import get_family

Reporter = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class LoopSettings:
    """Everything about a sweep that the loop needs; picklable so Ray can ship it to workers."""

    steps: int
    eval_every: int
    checkpoint_every: int
    objective: str
    sweep_dir: Path
    shared_dir: Path  # caches shared across the sweeps of one output dir (shared prefixes)
    data_dir: Path | None = None
    tracking: TrackingInfo | None = None
    num_threads: int = 1
    early_stopping: EarlyStopping | None = None

    def eval_points(self) -> list[int]:
        points = list(range(self.eval_every, self.steps + 1, self.eval_every))
        if not points or points[-1] != self.steps:
            points.append(self.steps)
        return points


@dataclass
class SeedRun:
    """The state of one trial (one seed) inside its group."""

    trial: TrialPlan
    model: Family
    step: int = 0
    status: str = "running"  # running | stopped (early, awaiting the group's end) | done | diverged
    reason: str = ""
    run_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # [{"step", "metrics", "train"}]
    train_sums: dict[str, float] = field(default_factory=dict)
    train_count: int = 0

    def evaluated_at(self, step: int) -> dict[str, Any] | None:
        return next((h for h in self.history if h["step"] == step), None)


def stop_reason(rule: EarlyStopping, history: list[dict[str, Any]], after_step: int = 0) -> str | None:
    """Why a seed stops now under ``rule`` given its evaluations so far, or None to go on.

    Only evaluations after ``after_step`` count (a shared prefix's evaluations belong to every trial that
    shares it, so they must not stop one of them). Derived from the history alone, so a resumed seed
    decides exactly as an uninterrupted one without any extra checkpointed state.
    """
    values = [h["metrics"].get(rule.metric, math.nan) for h in history if h["step"] > after_step]
    if len(values) <= rule.patience:
        return None
    sign = 1.0 if rule.mode == "max" else -1.0
    best, since = -math.inf, 0
    for value in values:
        score = sign * value if math.isfinite(value) else -math.inf
        if score > best + rule.min_delta:
            best, since = score, 0
        else:
            since += 1
    if since < rule.patience:
        return None
    return (f"early stopped at step {history[-1]['step']}: {rule.metric} did not improve on {sign * best:.6g} "
            f"for {rule.patience} evaluations")


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact


class GroupLoop:
    def __init__(self, group: GroupPlan, settings: LoopSettings, report: Reporter,
                 device: torch.device | None = None, rank: int = 0, world_size: int = 1,
                 wrap: Callable | None = None) -> None:
        self.rank, self.world_size, self.wrap = rank, world_size, wrap
        self.group = group
        self.settings = settings
        self.report = report
        self.device = device or pick_device()
        self.family_cls = get_family(group.family)
        self.config = self.family_cls.make_config(dict(group.config))
        self.dataset = self.family_cls.dataset_name(self.config)
        self.tracker = TrialTracker(settings.tracking) if settings.tracking else None
        self.prefix = self.family_cls.shared_prefix(self.config)
        self.checkpoint_dir = Path(settings.sweep_dir) / "checkpoints"
        self._prefix_locks: dict[int, Any] = {}  # seed -> open lock file of a prefix this group trains

    # --- paths ---------------------------------------------------------------------------------
    def checkpoint_path(self, trial: TrialPlan) -> Path:
        suffix = f".rank{self.rank}" if self.world_size > 1 else ""
        return self.checkpoint_dir / f"{trial.trial_id}{suffix}.pt"

    def prefix_path(self, seed: int) -> Path | None:
        if self.prefix is None or self.prefix.steps <= 0 or self.world_size > 1:
            return None
        # the device type too: a prefix trained on CPU continues differently from one trained on CUDA,
        # and the same trial must give the same numbers on the same device
        key = stable_hash({"family": self.group.family, "key": self.prefix.key, "steps": self.prefix.steps,
                           "seed": seed, "device": self.device.type}, length=16)
        return Path(self.settings.shared_dir) / "prefixes" / f"{key}.pt"

    # --- set-up --------------------------------------------------------------------------------
    def _start_seed(self, trial: TrialPlan) -> SeedRun:
        context = RunContext(device=self.device, data_dir=self.settings.data_dir,
                             cache_dir=Path(self.settings.shared_dir), rank=self.rank, world_size=self.world_size)
        seed_run = SeedRun(trial=trial, model=self.family_cls(self.config, trial.seed, context))
        if self.world_size > 1 and self.wrap is not None:
            seed_run.model.wrap_data_parallel(self.wrap)
        replay = False
        ckpt_path, prefix_path = self.checkpoint_path(trial), self.prefix_path(trial.seed)
        if ckpt_path.exists():
            self._restore(seed_run, torch.load(ckpt_path, map_location=self.device, weights_only=False))
        elif prefix_path is not None and self._claim_or_wait_for_prefix(trial.seed, prefix_path):
            self._restore(seed_run, torch.load(prefix_path, map_location=self.device, weights_only=False))
            seed_run.run_id, replay = None, True  # a new trial: its own run, the shared curve replayed
        if self.tracker:
            seed_run.run_id = self.tracker.start_trial(
                trial.trial_id, trial.group_id, trial.seed, self.group.family, self.dataset,
                self.group.config, existing_run_id=seed_run.run_id)
            if replay:
                for entry in seed_run.history:
                    self._log_eval(seed_run, entry)
        return seed_run

    def _claim_or_wait_for_prefix(self, seed: int, prefix_path: Path) -> bool:
        """True when the shared prefix is cached (possibly after waiting for the trial that trains it);
        False when this group must train it, holding its lock until it is saved.

        Groups take the locks of their seeds in the same order, so waiting cannot deadlock; a crashed
        holder releases its lock with its process, and the next group trains the prefix instead.
        """
        if prefix_path.exists():
            return True
        prefix_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(prefix_path.with_suffix(".lock"), "w")  # noqa: SIM115 - held across calls
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"group {self.group.group_id} seed {seed}: waiting for the shared first {self.prefix.steps} "
                  f"steps, trained by another trial", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        if prefix_path.exists():
            handle.close()
            return True
        self._prefix_locks[seed] = handle
        return False

    def _save_prefix(self, seed_run: SeedRun, prefix_path: Path) -> None:
        if not prefix_path.exists():
            _atomic_save(self._snapshot(seed_run), prefix_path)
        self._release_prefix_lock(seed_run.trial.seed)

    def _release_prefix_lock(self, seed: int) -> None:
        handle = self._prefix_locks.pop(seed, None)
        if handle is not None:
            handle.close()  # closing the file releases its flock

    def _restore(self, seed_run: SeedRun, saved: dict[str, Any]) -> None:
        seed_run.model.load_state_dict(saved["state"])
        seed_run.step = saved["step"]
        seed_run.history = saved["history"]
        seed_run.status = saved.get("status", "running")
        seed_run.reason = saved.get("reason", "")
        seed_run.run_id = saved.get("run_id")
        seed_run.train_sums = saved.get("train_sums", {})
        seed_run.train_count = saved.get("train_count", 0)

    def _snapshot(self, seed_run: SeedRun) -> dict[str, Any]:
        return {"state": seed_run.model.state_dict(), "step": seed_run.step, "history": seed_run.history,
                "status": seed_run.status, "reason": seed_run.reason, "run_id": seed_run.run_id,
                "train_sums": seed_run.train_sums, "train_count": seed_run.train_count}

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        torch.set_num_threads(max(1, self.settings.num_threads))
        try:
            return self._run()
        finally:
            for seed in list(self._prefix_locks):
                self._release_prefix_lock(seed)

    def _run(self) -> dict[str, Any]:
        seeds = [self._start_seed(t) for t in self.group.trials]
        payload: dict[str, Any] = {}
        for point in self.settings.eval_points():
            for seed_run in seeds:
                # a seed restored past this point (from a shared prefix cached by a sweep with other
                # evaluation points) has no model of this step left to evaluate: the point is skipped
                if seed_run.status == "running" and seed_run.step <= point and seed_run.evaluated_at(point) is None:
                    self._advance(seed_run, point)
                    if seed_run.status == "running":
                        self._evaluate(seed_run, point)
            final = point == self.settings.steps or all(s.status != "running" for s in seeds)
            if final:
                for seed_run in seeds:
                    self._finish(seed_run)
            payload = self.payload(seeds, point, final)
            self.report(payload)
            if final:
                break
        return payload

    def _advance(self, seed_run: SeedRun, point: int) -> None:
        prefix_path = self.prefix_path(seed_run.trial.seed)
        while seed_run.step < point:
            losses = seed_run.model.train_step(seed_run.step)
            seed_run.step += 1
            bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
            if bad:
                name, value = next(iter(bad.items()))
                self._diverge(seed_run, f"non-finite {name} = {value} at step {seed_run.step}")
                return
            for k, v in losses.items():
                seed_run.train_sums[k] = seed_run.train_sums.get(k, 0.0) + float(v)
            seed_run.train_count += 1
            if seed_run.step < point:  # checkpoints at an evaluation point are taken after evaluating
                if seed_run.step % self.settings.checkpoint_every == 0:
                    _atomic_save(self._snapshot(seed_run), self.checkpoint_path(seed_run.trial))
                if prefix_path is not None and seed_run.step == self.prefix.steps:
                    self._save_prefix(seed_run, prefix_path)

    def _evaluate(self, seed_run: SeedRun, point: int) -> None:
        metrics = {k: float(v) for k, v in seed_run.model.evaluate().items()}
        train = {k: v / max(1, seed_run.train_count) for k, v in seed_run.train_sums.items()}
        seed_run.train_sums, seed_run.train_count = {}, 0
        entry = {"step": point, "metrics": metrics, "train": train}
        seed_run.history.append(entry)
        self._log_eval(seed_run, entry)
        rule = self.settings.early_stopping
        reason = stop_reason(rule, seed_run.history, self.prefix.steps if self.prefix else 0) if rule else None
        if reason and point < self.settings.steps:
            seed_run.status, seed_run.reason = "stopped", reason
        if point < self.settings.steps and (reason or point % self.settings.checkpoint_every == 0):
            _atomic_save(self._snapshot(seed_run), self.checkpoint_path(seed_run.trial))
        prefix_path = self.prefix_path(seed_run.trial.seed)
        if prefix_path is not None and point == self.prefix.steps:
            self._save_prefix(seed_run, prefix_path)

    def _log_eval(self, seed_run: SeedRun, entry: dict[str, Any]) -> None:
        if self.tracker and seed_run.run_id:
            logged = {**entry["metrics"], **{f"train/{k}": v for k, v in entry["train"].items()}}
            self.tracker.log_metrics(seed_run.run_id, {k: v for k, v in logged.items() if math.isfinite(v)},
                                     entry["step"])

    def _diverge(self, seed_run: SeedRun, reason: str) -> None:
        seed_run.status, seed_run.reason = "diverged", reason
        self._release_prefix_lock(seed_run.trial.seed)  # a waiting group takes the prefix over
        if self.tracker and seed_run.run_id:
            self.tracker.end_trial(seed_run.run_id, "diverged", tags={"sweepbed.reason": reason})
        self.checkpoint_path(seed_run.trial).unlink(missing_ok=True)

    def _finish(self, seed_run: SeedRun) -> None:
        if seed_run.status not in ("running", "stopped"):
            return
        seed_run.status = "done"
        if self.tracker and seed_run.run_id:
            last = seed_run.history[-1] if seed_run.history else {"metrics": {}}
            with tempfile.TemporaryDirectory() as tmp:
                paths = seed_run.model.write_artifacts(Path(tmp))
                self.tracker.log_artifacts(seed_run.run_id, paths, "plots")
            self.tracker.log_dict(seed_run.run_id, self.group.config, "config.json")
            self.tracker.log_dict(seed_run.run_id, last["metrics"], "final_metrics.json")
            self.tracker.end_trial(seed_run.run_id, "done")
        self.checkpoint_path(seed_run.trial).unlink(missing_ok=True)

    def payload(self, seeds: list[SeedRun], point: int, final: bool) -> dict[str, Any]:
        """What the group reports at an evaluation point: seed-means and every seed's values."""
        per_seed = []
        for s in seeds:
            # the latest evaluation at or before this point (a resumed group replays earlier points)
            reached = [h for h in s.history if h["step"] <= point]
            last = reached[-1] if reached else {"metrics": {}, "step": 0}
            per_seed.append({"trial_id": s.trial.trial_id, "seed": s.trial.seed, "status": s.status,
                             "reason": s.reason, "step": s.step, "eval_step": last["step"],
                             "metrics": last["metrics"], "run_id": s.run_id})
        live = [p for p in per_seed if p["status"] != "diverged"]
        names = sorted({k for p in live for k in p["metrics"]})
        mean = {}
        for name in names:
            values = [p["metrics"][name] for p in live if name in p["metrics"] and math.isfinite(p["metrics"][name])]
            mean[name] = sum(values) / len(values) if values else float("nan")
        return {"group": self.group.to_dict(), "dataset": self.dataset, "step": point, "final": final,
                "objective": mean.get(self.settings.objective, float("nan")), "mean": mean, "seeds": per_seed}


def run_group(group: GroupPlan, settings: LoopSettings, report: Reporter, device: torch.device | None = None,
              rank: int = 0, world_size: int = 1, wrap: Callable | None = None) -> dict[str, Any]:
    return GroupLoop(group, settings, report, device, rank, world_size, wrap).run()
