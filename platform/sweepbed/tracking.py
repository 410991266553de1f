"""MLflow tracking: one experiment per study, one parent run per sweep, one nested run per trial.

Everything goes through ``MlflowClient`` with explicit run ids rather than the fluent API's global
"active run": several seeds of a group log at once from one process, and trials in Ray workers
attach to the driver's parent run by id (MLflow has no cross-process parent otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
# MLflow's own limit on a logged param value.
_PARAM_MAX = 6000


@dataclass(frozen=True)
class TrackingInfo:
    """What a worker needs to attach its trial runs to the sweep (picklable, sent to Ray workers)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str


def default_tracking_uri(out_dir: Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _retry(fn, *args, **kwargs):
    # SQLite stores lock under concurrent writers; a short retry beats losing a metric.
    for attempt in range(6):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - MLflow wraps sqlite errors in several types
            if "locked" not in str(exc).lower() or attempt == 5:
                raise
            time.sleep(0.2 * (attempt + 1))


def start_sweep(
    study: str, sweep_id: str, sweep_dir: Path, tracking_uri: str, artifact_root: Path, resolved_space: dict
) -> TrackingInfo:
    """Create (or, on resume, reopen) the study's experiment and the sweep's parent run."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study)
    if experiment is None:
        location = None
        if tracking_uri.startswith("sqlite:"):
            # Without an absolute location, trial artifacts land wherever each worker's cwd is.
            location = (Path(artifact_root).resolve() / study).as_uri()
        experiment_id = _retry(client.create_experiment, study, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    marker = Path(sweep_dir) / "mlflow_parent.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        if saved.get("tracking_uri") == tracking_uri:
            client.update_run(saved["parent_run_id"], status="RUNNING")
            return TrackingInfo(tracking_uri, experiment_id, saved["parent_run_id"])
    run = _retry(
        client.create_run,
        experiment_id,
        run_name=f"sweep-{sweep_id}",
        tags={"sweepbed.sweep_id": sweep_id, "sweepbed.role": "sweep", "sweepbed.git_commit": git_commit()},
    )
    parent = run.info.run_id
    client.log_text(parent, json.dumps(resolved_space, indent=2, default=str), "space.json")
    marker.write_text(json.dumps({"tracking_uri": tracking_uri, "parent_run_id": parent}))
    return TrackingInfo(tracking_uri, experiment_id, parent)


def finish_sweep(info: TrackingInfo, status: str, artifacts: list[Path] = ()) -> None:
    client = MlflowClient(info.tracking_uri)
    for path in artifacts:
        if Path(path).exists():
            client.log_artifact(info.parent_run_id, str(path))
    client.set_terminated(info.parent_run_id, status=status)


class TrialTracker:
    """Logs the trials of one group (one process) into their nested runs."""

    def __init__(self, info: TrackingInfo) -> None:
        self.info = info
        self.client = MlflowClient(info.tracking_uri)

    def start_trial(self, trial_id: str, group_id: str, seed: int, family: str, dataset: str,
                    config: dict[str, Any], existing_run_id: str | None = None) -> str:
        if existing_run_id:  # resumed from a checkpoint: keep appending to the same run
            _retry(self.client.update_run, existing_run_id, status="RUNNING")
            return existing_run_id
        tags = {
            "mlflow.parentRunId": self.info.parent_run_id,
            "sweepbed.trial_id": trial_id,
            "sweepbed.group_id": group_id,
            "sweepbed.seed": str(seed),
            "sweepbed.family": family,
            "sweepbed.dataset": dataset,
            "sweepbed.git_commit": git_commit(),
        }
        run = _retry(self.client.create_run, self.info.experiment_id, run_name=f"{group_id}-s{seed}", tags=tags)
        run_id = run.info.run_id
        params = [Param(k, str(v)[:_PARAM_MAX]) for k, v in sorted(config.items())] + [Param("seed", str(seed))]
        _retry(self.client.log_batch, run_id, params=params)
        return run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        if batch:
            _retry(self.client.log_batch, run_id, metrics=batch)

    def log_artifacts(self, run_id: str, paths: list[Path], artifact_path: str | None = None) -> None:
        for path in paths:
            _retry(self.client.log_artifact, run_id, str(path), artifact_path)

    def log_dict(self, run_id: str, payload: dict, name: str) -> None:
        _retry(self.client.log_text, run_id, json.dumps(payload, indent=2, default=str), name)

    def end_trial(self, run_id: str, status: str, tags: dict[str, str] | None = None) -> None:
        if tags:
            _retry(self.client.log_batch, run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        mlflow_status = {"done": "FINISHED", "pruned": "KILLED", "diverged": "FAILED", "failed": "FAILED"}[status]
        _retry(self.client.set_terminated, run_id, status=mlflow_status)


def ui_command(tracking_uri: str) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri} in a browser"
    return f"mlflow ui --backend-store-uri {tracking_uri} --host 127.0.0.1 --port 5000"
