"""The command-line contract: --dry-run, one-line errors with nothing started, kill + --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import REPO, run_cli, sweep_dir_of, write_space


def test_dry_run_lists_trials_and_starts_nothing(tmp_path):
    space = write_space(tmp_path / "s.yaml")
    out = tmp_path / "out"
    proc = run_cli("--space", str(space), "--out", str(out), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "2 config groups x 2 seeds = 4 trials" in proc.stdout
    assert proc.stdout.count("    trial ") == 4
    assert not out.exists()


def test_dry_run_trial_ids_are_stable_and_follow_the_config(tmp_path):
    space = write_space(tmp_path / "s.yaml")
    a = run_cli("--space", str(space), "--dry-run").stdout
    b = run_cli("--space", str(space), "--dry-run").stdout
    c = run_cli("--space", str(space), "--dry-run", "--set", "fixed.lr=0.001").stdout
    ids = [line.split()[1] for line in a.splitlines() if line.strip().startswith("trial ")]
    assert ids and ids == [line.split()[1] for line in b.splitlines() if line.strip().startswith("trial ")]
    assert not set(ids) & {line.split()[1] for line in c.splitlines() if line.strip().startswith("trial ")}


@pytest.mark.parametrize("change, expected", [
    ({"budget": {"steps": 0}}, "budget.steps"),
    ({"parameters": {"bta": {"values": [1]}}}, "bta"),
    ({"metric": {"name": "accuracy", "goal": "maximize"}}, "metric.name"),
    ({"resources": {"cpu": 1, "gpu": 0.3}}, "resources.gpu"),
])
def test_bad_space_is_one_line_naming_file_and_key_and_starts_nothing(tmp_path, change, expected):
    space = write_space(tmp_path / "bad.yaml", **change)
    out = tmp_path / "out"
    proc = run_cli("--space", str(space), "--out", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "bad.yaml" in lines[0] and expected in lines[0]
    assert not out.exists()


def test_bad_override_is_rejected_like_the_file(tmp_path):
    space = write_space(tmp_path / "s.yaml")
    proc = run_cli("--space", str(space), "--out", str(tmp_path / "o"), "--set", "budget.steps=-3")
    assert proc.returncode == 2 and "budget.steps" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_missing_dataset_file_fails_before_starting(tmp_path):
    space = write_space(tmp_path / "s.yaml")
    proc = run_cli("--space", str(space), "--out", str(tmp_path / "o"), "--local", "--set", "fixed.dataset=dsprites",
                   "--data-dir", str(tmp_path / "nodata"))
    assert proc.returncode == 2
    assert "dsprites_ndarray" in proc.stderr and str(tmp_path / "nodata") in proc.stderr
    assert not (tmp_path / "o").exists()


def test_killed_sweep_resumes_to_the_same_numbers(tmp_path):
    budget = {"steps": 240, "eval_every": 120, "checkpoint_every": 10}
    space = write_space(tmp_path / "s.yaml", budget=budget, seeds=[0], parameters={"beta": {"values": [1, 8]}})
    clean_out, killed_out = tmp_path / "clean", tmp_path / "killed"
    assert run_cli("--space", str(space), "--out", str(clean_out), "--local").returncode == 0

    cmd = [sys.executable, str(REPO / "platform" / "sweep.py"), "--space", str(space), "--out", str(killed_out),
           "--local"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill it hard once the second group has a checkpoint: the first group is finished by then
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        dirs = list((killed_out / "tiny").glob("*/trials.jsonl"))
        if dirs and list(dirs[0].parent.glob("checkpoints/*.pt")):
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    sweep = sweep_dir_of(killed_out)
    survived = pd.read_json(sweep / "trials.jsonl", lines=True)
    assert list(survived["status"]) == ["done"]  # the finished group's result survived the kill

    again = run_cli("--space", str(space), "--out", str(killed_out), "--local")
    assert again.returncode == 2 and "--resume" in again.stderr  # never silently mixes two runs
    resumed = run_cli("--space", str(space), "--out", str(killed_out), "--local", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 trials already finished" in resumed.stdout
    a = pd.read_parquet(sweep_dir_of(clean_out) / "trials.parquet").set_index("trial_id").sort_index()
    b = pd.read_parquet(sweep / "trials.parquet").set_index("trial_id").sort_index()
    metrics = [c for c in a.columns if c.startswith("metric.")]
    pd.testing.assert_frame_equal(a[metrics], b[metrics])


def test_extra_scores_reach_trials_and_the_leaderboard(tmp_path):
    space = write_space(tmp_path / "s.yaml", seeds=[0, 1], parameters={"beta": {"values": [4]}},
                        budget={"steps": 4, "eval_every": 4, "checkpoint_every": 4})
    out = tmp_path / "out"
    proc = run_cli("--space", str(space), "--out", str(out), "--local", "--set", "fixed.extra_scores=[dci,irs]",
                   "--set", "fixed.dlib_num_train=40", "--set", "fixed.dlib_num_eval=20")
    assert proc.returncode == 0, proc.stderr
    sweep = sweep_dir_of(out)
    trials = pd.read_parquet(sweep / "trials.parquet")
    assert trials[["metric.dci_disentanglement", "metric.irs"]].notna().all().all()
    board = pd.read_csv(sweep / "leaderboard.csv")
    assert board["dci_disentanglement_mean"].iloc[0] == pytest.approx(trials["metric.dci_disentanglement"].mean())
    assert "dci_completeness" in (sweep / "leaderboard.md").read_text()
