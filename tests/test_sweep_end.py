"""The end of a sweep through the CLI (--local, toy family): early-stopped trials are recorded as done
with their reason and step, and the family's sweep_report lands in <sweep>/analysis and on the parent
MLflow run; a failing report costs nothing else."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import sweep_dir_of, write_space
from tests.toy_family import ToyFamily
from trainables import registry


@pytest.fixture(autouse=True)
def toy_registered(monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "toy", "tests.toy_family:ToyFamily")


def toy_space(tmp_path, **budget):
    return write_space(tmp_path / "s.yaml", family="toy", fixed={"freeze_at_step": 10, "noise": 0.0},
                       parameters={"lr": {"values": [0.05, 0.1]}}, seeds=[0, 1],
                       metric={"name": "mse", "goal": "minimize"},
                       budget={"steps": 60, "eval_every": 5, "checkpoint_every": 5, **budget})


def run_local(space, out):
    from sweepbed.cli import main

    return main(["--space", str(space), "--local", "--out", str(out)])


def test_early_stopped_trials_are_done_with_reason_and_the_report_is_logged(tmp_path):
    out = tmp_path / "out"
    assert run_local(toy_space(tmp_path, early_stopping={"metric": "mse", "patience": 2}), out) == 0
    sweep = sweep_dir_of(out)
    df = pd.read_parquet(sweep / "trials.parquet")
    assert set(df["status"]) == {"done"} and len(df) == 4
    by_seed = df.groupby("seed")["steps_done"].unique()
    assert list(by_seed[0]) == [20] and list(by_seed[1]) == [30]  # frozen at 10 / 20, patience 2 x 5 steps
    assert df["reason"].str.startswith("early stopped at step").all()

    report = sweep / "analysis" / "done_per_group.csv"
    assert pd.read_csv(report).iloc[:, 1].tolist() == [2, 2]
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    parent = client.search_runs([client.get_experiment_by_name("tiny").experiment_id],
                                "tags.`sweepbed.role` = 'sweep'")
    assert parent, "no parent run"
    names = {a.path for a in client.list_artifacts(parent[0].info.run_id)}
    assert {"done_per_group.csv", "leaderboard.md", "box_mse.png"} <= names


def test_a_failing_sweep_report_keeps_results_and_leaderboard(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ToyFamily, "report_error", "plot backend missing")
    out = tmp_path / "out"
    assert run_local(toy_space(tmp_path), out) == 0
    sweep = sweep_dir_of(out)
    assert (sweep / "leaderboard.md").exists() and len(pd.read_parquet(sweep / "trials.parquet")) == 4
    assert "toy.sweep_report failed (RuntimeError: plot backend missing); results are kept" in capsys.readouterr().err


def test_resumed_optuna_sweep_tells_the_searcher_what_was_run_and_draws_only_the_rest(tmp_path, capsys):
    from sweepbed.searchers import searcher_history
    from sweepbed.spaces import load_space

    space = write_space(tmp_path / "s.yaml", family="toy", fixed={"noise": 0.0}, method="optuna",
                        parameters={"lr": {"distribution": "loguniform", "min": 0.01, "max": 0.2}}, seeds=[0, 1],
                        search={"sampler": "tpe", "num_samples": 4, "seed": 3},
                        metric={"name": "mse", "goal": "minimize"},
                        budget={"steps": 10, "eval_every": 5, "checkpoint_every": 5})
    out = tmp_path / "out"
    assert run_local(space, out) == 0
    sweep = sweep_dir_of(out)
    full = pd.read_parquet(sweep / "trials.parquet")
    assert full["group_id"].nunique() == 4

    # the run is cut after its first two groups (four result lines), as a kill between groups leaves it
    lines = (sweep / "trials.jsonl").read_text().splitlines(keepends=True)
    (sweep / "trials.jsonl").write_text("".join(lines[:4]))
    (sweep / "trials.parquet").unlink()
    from sweepbed.results_store import ResultsStore

    spec = load_space(space)
    history = searcher_history(spec, ResultsStore(sweep).records())
    kept = full[full["group_id"].isin({json_row["group_id"] for json_row in ResultsStore(sweep).records()})]
    expected = kept.groupby("group_id").agg(lr=("config.lr", "first"), mse=("metric.mse", "mean"))
    assert sorted((p.params["lr"], p.objective) for p in history) == sorted(zip(expected["lr"], expected["mse"]))

    from sweepbed.cli import main

    capsys.readouterr()
    assert main(["--space", str(space), "--local", "--out", str(out), "--resume"]) == 0
    assert "the searcher is told the 2 configurations already run; 2 more to draw" in capsys.readouterr().out
    resumed = pd.read_parquet(sweep / "trials.parquet")
    assert resumed["group_id"].nunique() == 4 and len(resumed) == 8  # two told + two new groups, no more
    assert set(kept["trial_id"]) <= set(resumed["trial_id"])


def test_resume_refuses_a_sweep_made_by_other_family_code(tmp_path, capsys):
    import json

    from sweepbed.cli import main

    space, out = toy_space(tmp_path), tmp_path / "out"
    assert run_local(space, out) == 0
    code = sweep_dir_of(out) / "code.json"
    recorded = json.loads(code.read_text())
    assert "tests/toy_family.py" not in recorded  # only trainables modules count
    assert "trainables/family.py" in recorded and all(len(h) == 64 for h in recorded.values())

    recorded["trainables/family.py"] = "0" * 64  # as if family.py had been edited since
    code.write_text(json.dumps(recorded))
    capsys.readouterr()
    assert main(["--space", str(space), "--local", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "code changed since this sweep started (trainables/family.py)" in err
    assert main(["--space", str(space), "--local", "--out", str(out), "--resume", "--allow-code-change"]) == 0
    assert json.loads(code.read_text())["trainables/family.py"] != "0" * 64  # the running code is recorded
