"""End to end through Ray Tune: a real ray.init with logical GPU fractions, a real `mlflow server`
read back over REST, the same numbers as --local, the leaderboard equal to a recomputation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import rest, sweep_dir_of, write_space

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_sweep(tmp_path_factory, mlflow_server):
    """One sweep on Ray: 2 groups x 2 seeds, each group on half of one logical GPU and no CPU, so the
    two groups can only run at the same time if fractional GPUs work."""
    import ray

    from sweepbed.cli import main

    tmp = tmp_path_factory.mktemp("ray_sweep")
    space = write_space(tmp / "tiny.yaml", resources={"cpu": 0, "gpu": 0.5})
    out = tmp / "out"
    try:
        code = main(["--space", str(space), "--out", str(out), "--tracking-uri", mlflow_server,
                     "--num-cpus", "2", "--num-gpus", "1"])
    finally:
        ray.shutdown()
    assert code == 0
    return {"space": space, "out": out, "dir": sweep_dir_of(out), "url": mlflow_server}


def test_every_trial_done_with_metrics(ray_sweep):
    df = pd.read_parquet(ray_sweep["dir"] / "trials.parquet")
    assert len(df) == 4 and set(df["status"]) == {"done"}
    assert sorted(df["seed"]) == [0, 0, 1, 1]
    assert df["group_id"].nunique() == 2
    for col in ("metric.mig", "metric.sap", "metric.im", "metric.recon_nll", "config.beta"):
        assert df[col].notna().all(), col


def test_mlflow_server_holds_parent_and_nested_trial_runs(ray_sweep):
    url = ray_sweep["url"]
    exps = rest(url, "/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
    exp = next(e for e in exps if e["name"] == "tiny")
    runs = rest(url, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]],
                                                     "max_results": 100})["runs"]

    def tags(run):
        return {t["key"]: t["value"] for t in run["data"].get("tags", [])}

    parents = [r for r in runs if tags(r).get("sweepbed.role") == "sweep"]
    children = [r for r in runs if "sweepbed.trial_id" in tags(r)]
    assert len(parents) == 1 and len(children) == 4
    parent_id = parents[0]["info"]["run_id"]
    df = pd.read_parquet(ray_sweep["dir"] / "trials.parquet")
    for child in children:
        t = tags(child)
        assert t["mlflow.parentRunId"] == parent_id
        assert {"sweepbed.group_id", "sweepbed.seed", "sweepbed.family", "sweepbed.dataset",
                "sweepbed.git_commit"} <= set(t)
        assert child["info"]["status"] == "FINISHED"
        params = {p["key"]: p["value"] for p in child["data"]["params"]}
        assert params["beta"] in ("1.0", "8.0") and params["seed"] == t["sweepbed.seed"]
        metrics = {m["key"]: m["value"] for m in child["data"]["metrics"]}
        row = df[df.trial_id == t["sweepbed.trial_id"]].iloc[0]
        assert metrics["mig"] == pytest.approx(row["metric.mig"])
        history = rest(url, f"/api/2.0/mlflow/metrics/get-history?run_id={child['info']['run_id']}&metric_key=mig")
        assert [m["step"] for m in history["metrics"]] == [6, 12]  # a curve, not just a final value
        files = rest(url, f"/api/2.0/mlflow/artifacts/list?run_id={child['info']['run_id']}")["files"]
        names = {f["path"] for f in files}
        assert {"config.json", "final_metrics.json", "plots"} <= names
        plots = rest(url, f"/api/2.0/mlflow/artifacts/list?run_id={child['info']['run_id']}&path=plots")["files"]
        assert any(f["path"].endswith(".png") for f in plots)
    parent_files = {f["path"] for f in rest(url, f"/api/2.0/mlflow/artifacts/list?run_id={parent_id}")["files"]}
    assert {"space.json", "trials.parquet", "leaderboard.md"} <= parent_files


def test_groups_ran_concurrently_on_gpu_fractions(ray_sweep):
    """Each group asked for 0.5 GPU and 0 CPU: with 1 logical GPU both groups must overlap in time."""
    url = ray_sweep["url"]
    exp = next(e for e in rest(url, "/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
               if e["name"] == "tiny")
    runs = rest(url, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
    spans = {}
    for r in runs:
        t = {x["key"]: x["value"] for x in r["data"].get("tags", [])}
        if "sweepbed.group_id" in t:
            lo, hi = spans.get(t["sweepbed.group_id"], (float("inf"), 0))
            spans[t["sweepbed.group_id"]] = (min(lo, r["info"]["start_time"]), max(hi, r["info"]["end_time"]))
    (a0, a1), (b0, b1) = spans.values()
    assert a0 < b1 and b0 < a1, spans


def test_local_mode_gives_the_same_numbers_for_the_same_trial_ids(ray_sweep, tmp_path):
    from sweepbed.cli import main

    out = tmp_path / "local"
    assert main(["--space", str(ray_sweep["space"]), "--out", str(out), "--local"]) == 0
    ray_df = pd.read_parquet(ray_sweep["dir"] / "trials.parquet").set_index("trial_id").sort_index()
    local_df = pd.read_parquet(sweep_dir_of(out) / "trials.parquet").set_index("trial_id").sort_index()
    assert list(ray_df.index) == list(local_df.index)
    metric_cols = [c for c in ray_df.columns if c.startswith("metric.")]
    np.testing.assert_array_equal(ray_df[metric_cols].to_numpy(float), local_df[metric_cols].to_numpy(float))


def test_leaderboard_equals_recomputation_from_trials(ray_sweep):
    df = pd.read_parquet(ray_sweep["dir"] / "trials.parquet")
    lb = pd.read_csv(ray_sweep["dir"] / "leaderboard.csv")
    assert len(lb) == 2
    for _, row in lb.iterrows():
        seeds = df[(df["config.beta"] == row["config.beta"]) & (df.status == "done")]
        values = seeds["metric.mig"].to_numpy()
        assert row["n"] == len(values) == 2
        assert row["mig_mean"] == pytest.approx(values.mean())
        assert row["mig_se"] == pytest.approx(values.std(ddof=1) / np.sqrt(len(values)))
    best = lb.sort_values("rank").iloc[0]
    assert best["mig_mean"] == pytest.approx(lb["mig_mean"].max())


def test_tune_was_told_the_seed_mean(ray_sweep):
    results = list((ray_sweep["dir"] / "ray").rglob("result.json"))
    assert len(results) == 2
    for path in results:
        for line in path.read_text().splitlines():
            result = json.loads(line)
            payload = json.loads(result["payload"])
            seeds = [s["metrics"]["mig"] for s in payload["seeds"]]
            assert result["objective"] == pytest.approx(sum(seeds) / len(seeds))
