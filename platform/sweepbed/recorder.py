"""The driver's side of a sweep: turns group reports into results rows, progress lines and final
MLflow states. The local runner and the Ray runner both feed it the same payloads, so the results
store is written by one process only (the driver) however the trials ran.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from sweepbed.planning import GroupPlan
from sweepbed.results_store import ResultsStore
from sweepbed.tracking import TrackingInfo, TrialTracker


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class SweepRecorder:
    def __init__(self, store: ResultsStore, objective: str, total_groups: int | None,
                 tracking: TrackingInfo | None = None, label_keys: tuple[str, ...] = ()) -> None:
        self.label_keys = tuple(label_keys)  # the searched parameters: what tells groups apart
        self.store = store
        self.objective = objective
        self.total_groups = total_groups
        self.tracking = tracking
        self.last: dict[str, dict[str, Any]] = {}
        self.finished: set[str] = set()
        self.status_counts: dict[str, int] = {}
        self.started = time.monotonic()

    def on_report(self, payload: dict[str, Any]) -> None:
        group = payload["group"]
        self.last[group["group_id"]] = payload
        live = [s for s in payload["seeds"] if s["status"] != "diverged"]
        values = [s["metrics"].get(self.objective) for s in live]
        values = [v for v in values if v is not None and math.isfinite(v)]
        spread = ""
        if len(values) > 1:
            mean = sum(values) / len(values)
            se = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))
            spread = f" ± {se:.3g}"
        diverged = len(payload["seeds"]) - len(live)
        label = " ".join(f"{k}={_fmt(group['config'][k])}" for k in self.label_keys) or group["group_id"]
        done = len(self.finished)
        total = f"/{self.total_groups}" if self.total_groups else ""
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.0f}s] groups done {done}{total} | {label} | step {payload['step']}/{group['steps']} | "
              f"{self.objective} {payload['objective']:.4g}{spread} (n={len(values)}"
              f"{f', {diverged} diverged' if diverged else ''})", file=sys.stdout, flush=True)

    def finish(self, group: GroupPlan | dict[str, Any], outcome: str, error: str = "") -> list[dict[str, Any]]:
        """Record a group's trials once its run ended: ``completed``, ``pruned`` or ``failed``."""
        gdict = group.to_dict() if isinstance(group, GroupPlan) else group
        gid = gdict["group_id"]
        if gid in self.finished:
            return []
        payload = self.last.get(gid)
        seeds = {s["trial_id"]: s for s in (payload["seeds"] if payload else [])}
        dataset = payload["dataset"] if payload else gdict["config"].get("dataset", "")
        if payload and not payload["final"] and outcome == "completed":
            outcome = "pruned"  # the trainable stopped before its last evaluation: the scheduler did it
        rows = []
        for trial in gdict["trials"]:
            seed_info = seeds.get(trial["trial_id"], {})
            status = seed_info.get("status", "running")
            reason = seed_info.get("reason", "")
            stopped_early = status == "stopped"  # its training ended before the scheduler ended its group
            if stopped_early:
                status = "done"
            if status == "running":
                status = {"completed": "done", "pruned": "pruned"}.get(outcome, "failed")
                reason = error if status == "failed" else reason
            row = {"trial_id": trial["trial_id"], "group_id": gid, "family": gdict["family"], "dataset": dataset,
                   "seed": trial["seed"], "status": status, "reason": reason,
                   "steps_done": seed_info.get("step", 0), "eval_step": seed_info.get("eval_step", 0),
                   "mlflow_run_id": seed_info.get("run_id") or ""}
            row.update({f"config.{k}": v for k, v in gdict["config"].items()})
            row.update({f"metric.{k}": v for k, v in seed_info.get("metrics", {}).items()})
            rows.append(row)
            self.status_counts[status] = self.status_counts.get(status, 0) + 1
            if (status in ("pruned", "failed") or stopped_early) and self.tracking and row["mlflow_run_id"]:
                # the worker was stopped before it could close its run
                TrialTracker(self.tracking).end_trial(row["mlflow_run_id"], status,
                                                      tags={"sweepbed.reason": reason[:500]} if reason else None)
        self.store.append(rows)
        self.store.write_parquet()
        self.finished.add(gid)
        if outcome != "completed":
            print(f"group {gid} {outcome}{': ' + error.splitlines()[-1] if error else ''}", file=sys.stdout, flush=True)
        return rows
