"""Sweep plots: which PNGs a sweep gets, heatmap cells = seed-means, box order by mode, lost seeds left out, CLI."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from results_analysis.sweep_plots import box_groups, heatmap_table, write_sweep_plots

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def param(name, kind="grid", values=(), low=None, high=None, log=False):
    return {"name": name, "kind": kind, "values": list(values), "low": low, "high": high, "log": log}


def make_trials(names, grid, seeds=(0, 1, 2), value=None, status=None) -> pd.DataFrame:
    """One group per point of ``grid`` (tuples of values for ``names``) x seeds; mig = value(point, seed)."""
    value = value or (lambda point, seed: sum(v for v in point if not isinstance(v, str)) + 0.1 * seed)
    rows = []
    for g, point in enumerate(grid):
        for seed in seeds:
            rows.append({"trial_id": f"g{g}-s{seed}", "group_id": f"g{g}", "family": "beta_vae",
                         "dataset": "dsprites", "seed": seed,
                         "status": status(point, seed) if status else "done",
                         **{f"config.{n}": v for n, v in zip(names, point, strict=True)},
                         "config.lr": 1e-4, "metric.mig": value(point, seed)})
    return pd.DataFrame(rows)


def space(params, mode="max"):
    return {"study": "demo", "family": "beta_vae", "objective": "mig", "mode": mode, "params": params}


def written(paths):
    assert all(p.read_bytes().startswith(PNG) for p in paths)
    return sorted(p.name for p in paths)


def test_one_searched_parameter_gives_only_the_boxplot(tmp_path):
    trials = make_trials(["beta"], [(1,), (4,)])
    paths = write_sweep_plots(trials, space([param("beta", values=[1, 4])]), tmp_path)
    assert written(paths) == ["box_mig.png"]


def test_two_grid_parameters_give_box_heatmap_and_parallel(tmp_path):
    trials = make_trials(["beta", "lam"], list(itertools.product([1, 4, 8], [0, 2])))
    spec = space([param("beta", values=[1, 4, 8]), param("lam", values=[0, 2])])
    assert written(write_sweep_plots(trials, spec, tmp_path)) == [
        "box_mig.png", "heatmap_mig_beta_lam.png", "parallel_mig.png"]


def test_two_sampled_parameters_with_many_values_get_no_heatmap(tmp_path):
    rng = np.random.default_rng(0)
    grid = [(float(lr), int(z)) for lr, z in zip(10 ** rng.uniform(-5, -2, 13), rng.integers(2, 20, 13),
                                                  strict=True)]
    trials = make_trials(["lr_", "z"], grid, seeds=(0,))
    spec = space([param("lr_", "loguniform", low=1e-5, high=1e-2, log=True), param("z", "int", low=2, high=20)])
    assert written(write_sweep_plots(trials, spec, tmp_path)) == ["box_mig.png", "parallel_mig.png"]


def test_three_parameters_give_box_and_parallel_only(tmp_path):
    trials = make_trials(["beta", "lam", "opt"], list(itertools.product([1, 4], [0, 2], ["adam", "sgd"])))
    spec = space([param("beta", values=[1, 4]), param("lam", values=[0, 2]),
                  param("opt", "choice", values=["adam", "sgd"])])
    assert written(write_sweep_plots(trials, spec, tmp_path)) == ["box_mig.png", "parallel_mig.png"]


def test_heatmap_cells_are_the_seed_means_of_done_trials():
    known = {(1, 0): [0.1, 0.2, 0.6], (1, 2): [0.5, 0.7, 0.9], (4, 0): [0.3, 0.3, 0.3], (4, 2): [0.8, 0.4, 0.0]}
    # the seed-2 trial of (4, 2) diverged: its value must not be averaged
    trials = make_trials(["beta", "lam"], [(4, 2), (1, 0), (4, 0), (1, 2)],
                         value=lambda point, seed: known[point][seed],
                         status=lambda point, seed: "diverged" if (point, seed) == ((4, 2), 2) else "done")
    table = heatmap_table(trials, "mig", "beta", "lam")
    assert table[["beta", "lam"]].values.tolist() == [[1, 0], [1, 2], [4, 0], [4, 2]]  # sorted, not sweep order
    np.testing.assert_allclose(table["mean"], [0.3, 0.7, 0.3, 0.6])
    np.testing.assert_allclose(table["se"], [np.std(known[(1, 0)], ddof=1) / math.sqrt(3), 0.2 / math.sqrt(3),
                                             0.0, np.std([0.8, 0.4], ddof=1) / math.sqrt(2)])
    assert table["n"].tolist() == [3, 3, 3, 2]


@pytest.mark.parametrize("mode, expected", [("max", ["beta=8", "beta=4", "beta=1"]),
                                            ("min", ["beta=1", "beta=4", "beta=8"])])
def test_box_order_follows_the_objective_mode(mode, expected):
    trials = make_trials(["beta"], [(4,), (1,), (8,)])
    assert [label for label, _ in box_groups(trials, "mig", mode, ["beta"])] == expected


def test_failed_and_diverged_trials_are_left_out_of_the_boxes(tmp_path):
    # beta=8's seeds all failed/diverged with huge values: no box; beta=4 keeps its one done seed
    status = {(8, 0): "failed", (8, 1): "diverged", (8, 2): "pruned", (4, 1): "diverged", (4, 2): "failed"}
    trials = make_trials(["beta"], [(1,), (4,), (8,)], value=lambda point, seed: 100.0 if point == (8,) else
                         point[0] + 0.1 * seed, status=lambda point, seed: status.get((point[0], seed), "done"))
    groups = box_groups(trials, "mig", "max", ["beta"])
    assert [label for label, _ in groups] == ["beta=4", "beta=1"]
    np.testing.assert_allclose(groups[0][1], [4.0])
    np.testing.assert_allclose(groups[1][1], [1.0, 1.1, 1.2])
    assert written(write_sweep_plots(trials, space([param("beta", values=[1, 4, 8])]), tmp_path)) == ["box_mig.png"]


def test_nothing_to_plot_returns_empty(tmp_path):
    trials = make_trials(["beta"], [(1,), (4,)], status=lambda point, seed: "failed")
    assert write_sweep_plots(trials, space([param("beta", values=[1, 4])]), tmp_path / "a") == []
    assert write_sweep_plots(make_trials(["beta"], [(1,)]), space([]), tmp_path / "b") == []


def run_cli(*args):
    return subprocess.run([sys.executable, str(REPO / "results_analysis" / "sweep_plots.py"), *args],
                          capture_output=True, text=True, cwd="/")


def test_cli_writes_into_the_sweep_analysis_dir_and_reports_a_missing_dir(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    make_trials(["beta", "lam"], list(itertools.product([1, 4], [0, 2]))).to_parquet(sweep / "trials.parquet")
    spec = space([param("beta", values=[1, 4]), param("lam", values=[0, 2])], mode="min")
    (sweep / "space.yaml").write_text(yaml.safe_dump(spec))
    done = run_cli(str(sweep))
    assert done.returncode == 0, done.stderr
    printed = [Path(line) for line in done.stdout.splitlines()]
    assert written(printed) == ["box_mig.png", "heatmap_mig_beta_lam.png", "parallel_mig.png"]
    assert all(p.parent == sweep / "analysis" for p in printed)
    missing = run_cli(str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "no such sweep directory" in missing.stderr
