"""Optuna + ASHA through Ray Tune, and `workers: N` as a Ray Train TorchTrainer inside a Tune trial."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import sweep_dir_of, write_space

pytestmark = pytest.mark.slow


@pytest.fixture
def ray_shutdown():
    import ray

    yield
    ray.shutdown()


def test_optuna_with_asha_runs_each_suggestion_over_all_seeds(tmp_path, ray_shutdown):
    from sweepbed.cli import main

    space = write_space(
        tmp_path / "s.yaml", method="optuna", parameters={"lr": {"distribution": "loguniform", "min": 1e-4,
                                                                   "max": 3e-3}},
        search={"sampler": "tpe", "num_samples": 4, "seed": 3},
        scheduler={"type": "asha", "grace_period": 6, "reduction_factor": 2},
        budget={"steps": 18, "eval_every": 6, "checkpoint_every": 6},
    )
    out = tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--num-cpus", "2"]) == 0
    sweep = sweep_dir_of(out)
    df = pd.read_parquet(sweep / "trials.parquet")
    assert len(df) == 4 * 2 and df["group_id"].nunique() == 4
    assert set(df.groupby("group_id")["seed"].apply(lambda s: tuple(sorted(s)))) == {(0, 1)}
    assert set(df["status"]) <= {"done", "pruned"}
    assert (df.loc[df.status == "pruned", "eval_step"] < 18).all()
    assert (df.loc[df.status == "done", "eval_step"] == 18).all()
    # each suggestion is one lr shared by its seeds, and Optuna saw the seed-mean at every report
    assert (df.groupby("group_id")["config.lr"].nunique() == 1).all()
    for path in (sweep / "ray").rglob("result.json"):
        for line in path.read_text().splitlines():
            result = json.loads(line)
            payload = json.loads(result["payload"])
            assert result["objective"] == pytest.approx(
                sum(s["metrics"]["mig"] for s in payload["seeds"]) / len(payload["seeds"]))

    # cut the results after two groups (as a crash leaves them) and resume: OptunaSearch is told those
    # two configurations with their seed-means and Tune draws only the two missing ones
    lines = (sweep / "trials.jsonl").read_text().splitlines(keepends=True)
    (sweep / "trials.jsonl").write_text("".join(lines[:4]))
    kept = set(pd.read_json(sweep / "trials.jsonl", lines=True)["trial_id"])
    assert main(["--space", str(space), "--out", str(out), "--num-cpus", "2", "--resume"]) == 0
    resumed = pd.read_parquet(sweep / "trials.parquet")
    assert len(resumed) == 8 and resumed["group_id"].nunique() == 4 and kept <= set(resumed["trial_id"])


def test_workers_run_the_loop_as_a_torch_trainer(tmp_path, ray_shutdown):
    from sweepbed.cli import main

    space = write_space(tmp_path / "s.yaml", parameters={}, fixed={**json.loads(json.dumps(
        __import__("tests.conftest", fromlist=["TINY_SPACE"]).TINY_SPACE["fixed"])), "beta": 4.0},
        seeds=[0], resources={"cpu": 1, "gpu": 0, "workers": 2},
        budget={"steps": 6, "eval_every": 3, "checkpoint_every": 3})
    out = tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--num-cpus", "3"]) == 0
    df = pd.read_parquet(sweep_dir_of(out) / "trials.parquet")
    assert list(df["status"]) == ["done"] and df["metric.mig"].notna().all()
    assert list((sweep_dir_of(out) / "ray").rglob("train-*"))  # Ray Train ran it
