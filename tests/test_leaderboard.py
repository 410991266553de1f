"""The seed-aware leaderboard: known means/SEs, ranks in both modes, ties, unranked groups, text output, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from results_analysis.cell_format import format_mean_se, format_number
from results_analysis.leaderboard import (
    LeaderboardError,
    build_leaderboard,
    format_latex,
    format_markdown,
    load_trials,
    render,
    write_leaderboards,
)

REPO = Path(__file__).resolve().parents[1]
NAN = math.nan

# (group, beta, seed, status, mig, recon): lr and family are constant across groups.
ROWS = [
    ("g0", 1, 0, "done", 0.10, 30.0), ("g0", 1, 1, "done", 0.20, 32.0), ("g0", 1, 2, "done", 0.15, 31.0),
    # g1 has a done seed whose MIG is NaN (metric undefined): left out of MIG only
    ("g1", 2, 0, "done", 0.40, 20.0), ("g1", 2, 1, "done", NAN, 21.0), ("g1", 2, 2, "done", 0.50, 22.5),
    # g2 lost a seed to divergence; its pruned seed's metric (0.99) must not be averaged
    ("g2", 4, 0, "done", 0.30, 15.0), ("g2", 4, 1, "diverged", NAN, NAN), ("g2", 4, 2, "pruned", 0.99, 1.0),
    # g3 never finished a seed but reports huge MIGs: it must not outrank anyone
    ("g3", 8, 0, "pruned", 0.95, 9.0), ("g3", 8, 1, "diverged", NAN, NAN), ("g3", 8, 2, "failed", NAN, NAN),
    # g4 ties g0's MIG mean (same three values in another order: naive float sums differ in the last bit)
    ("g4", 16, 0, "done", 0.15, 40.0), ("g4", 16, 1, "done", 0.10, 41.0), ("g4", 16, 2, "done", 0.20, 45.0),
]


def make_trials(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame([
        {"trial_id": f"{g}-s{seed}", "group_id": g, "family": "beta_vae", "dataset": "dsprites", "seed": seed,
         "status": status, "config.beta": beta, "config.lr": 1e-4, "metric.mig": mig, "metric.recon": recon,
         "mlflow_run_id": "ignored", "steps_done": 100}
        for g, beta, seed, status, mig, recon in rows
    ])


def numpy_mean_se(values):
    """Plain-numpy recomputation: non-NaN values of done seeds, SE = std(ddof=1) / sqrt(k)."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    if len(v) == 0:
        return NAN, NAN, 0
    se = np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else NAN
    return float(v.mean()), float(se), len(v)


def by_group(lb: pd.DataFrame) -> dict[str, pd.Series]:
    return {r["group_id"]: r for _, r in lb.iterrows()}


def test_means_and_ses_equal_a_numpy_recomputation_over_done_seeds():
    trials = make_trials()
    lb = by_group(build_leaderboard(trials, "mig", "max"))
    for gid in trials["group_id"].unique():
        done = [r for r in ROWS if r[0] == gid and r[3] == "done"]
        assert lb[gid]["n"] == len(done)
        for col, metric in ((4, "mig"), (5, "recon")):
            mean, se, k = numpy_mean_se([r[col] for r in done])
            got = lb[gid]
            assert got[f"{metric}_n"] == k
            np.testing.assert_allclose(got[f"{metric}_mean"], mean, rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(got[f"{metric}_se"], se, rtol=1e-12, equal_nan=True)
    # spot checks by hand: g1's MIG over its two finite seeds, g2 has one done seed so no SE
    assert lb["g1"]["mig_mean"] == pytest.approx(0.45)
    assert lb["g1"]["mig_se"] == pytest.approx(np.std([0.4, 0.5], ddof=1) / np.sqrt(2))
    assert lb["g2"]["mig_mean"] == pytest.approx(0.30) and math.isnan(lb["g2"]["mig_se"])
    assert (lb["g2"]["n_diverged"], lb["g2"]["n_pruned"], lb["g2"]["n_failed"]) == (1, 1, 0)
    assert (lb["g3"]["n"], lb["g3"]["n_diverged"], lb["g3"]["n_pruned"], lb["g3"]["n_failed"]) == (0, 1, 1, 1)


def test_rank_max_with_ties_and_unfinished_group_last():
    lb = build_leaderboard(make_trials(), "mig", "max")
    # MIG means: g1 0.45, g2 0.30, g0 = g4 0.15 (tie), g3 none
    assert list(lb["group_id"]) == ["g1", "g2", "g0", "g4", "g3"]
    assert lb["rank"].iloc[:4].tolist() == [1, 2, 3, 3]
    assert pd.isna(lb["rank"].iloc[4])


def test_rank_min_mode_and_metric_prefix_accepted():
    lb = build_leaderboard(make_trials(), "metric.recon", "min")
    # recon means: g2 15, g1 21.1667, g0 31, g4 42, g3 none
    assert list(lb["group_id"]) == ["g2", "g1", "g0", "g4", "g3"]
    assert lb["rank"].iloc[:4].tolist() == [1, 2, 3, 4] and pd.isna(lb["rank"].iloc[4])
    # the objective's columns come first among the metrics
    metric_cols = [c for c in lb.columns if c.endswith("_mean")]
    assert metric_cols == ["recon_mean", "mig_mean"]


def test_config_columns_only_those_that_vary_unless_one_group():
    lb = build_leaderboard(make_trials(), "mig", "max")
    assert "config.beta" in lb.columns and "config.lr" not in lb.columns and "family" not in lb.columns
    assert list(lb.columns[:2]) == ["rank", "config.beta"]
    one = build_leaderboard(make_trials([r for r in ROWS if r[0] == "g0"]), "mig", "max")
    assert {"config.beta", "config.lr", "family", "dataset"} <= set(one.columns)
    assert one["rank"].tolist() == [1]


def test_metric_selection_and_unknown_metric():
    lb = build_leaderboard(make_trials(), "mig", "max", metrics=["recon"])
    assert [c for c in lb.columns if c.endswith("_mean")] == ["mig_mean", "recon_mean"]
    with pytest.raises(LeaderboardError, match="unknown metric.*nope"):
        build_leaderboard(make_trials(), "mig", "max", metrics=["nope"])
    with pytest.raises(LeaderboardError, match="unknown metric.*sap"):
        build_leaderboard(make_trials(), "sap", "max")


def test_sweep_where_nothing_finished_still_lists_groups_unranked():
    rows = [("a", 1, 0, "diverged", NAN, NAN), ("b", 2, 0, "failed", NAN, NAN)]
    trials = make_trials(rows).drop(columns=["metric.mig", "metric.recon"])
    lb = build_leaderboard(trials, "mig", "max")
    assert list(lb["group_id"]) == ["a", "b"] and lb["rank"].isna().all()
    assert "—" in format_markdown(lb, "mig")


def test_cell_formatting_known_answers():
    assert format_mean_se(0.6, 0.057735) == "0.600 ± 0.058"
    assert format_mean_se(39.97, 26.67) == "40 ± 27"
    assert format_mean_se(1234.5, 0.0123) == "1234.500 ± 0.012"
    assert format_mean_se(0.5, 0.0) == "0.5000 ± 0"
    assert format_mean_se(NAN, NAN) == "—"
    assert format_mean_se(0.2, NAN) == "0.2000"
    assert format_number(12345.6) == "12346"
    assert format_number(float("inf")) == "inf"


def test_markdown_contains_the_expected_cells():
    text = format_markdown(build_leaderboard(make_trials(), "mig", "max"), "mig")
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:7]] == ["rank", "beta", "mig ↑", "recon", "n", "diverged"]
    g1 = next(line for line in lines if "| 2    |" in line)
    # MIG over the two finite seeds, with a note that only 2 of the 3 done seeds reported it
    assert "0.450 ± 0.050 (n=2)" in g1
    assert "21.17 ± 0.73" in g1  # recon of g1: mean 21.1667, se 0.7265 (two digits of SE)
    unfinished = lines[-1]
    assert unfinished.startswith("|    — | 8 ")


GOLDEN = """\
| rank | beta |         mig ↑ |      recon |   n | diverged | pruned |
| ---: | ---- | ------------: | ---------: | --: | -------: | -----: |
|    1 | 1    | 0.600 ± 0.058 | 20.0 ± 5.8 |   3 |        0 |      0 |
|    2 | 4    |        0.2000 |      40.00 |   1 |        2 |      0 |
|    — | 8    |             — |          — |   0 |        0 |      3 |
"""


def test_golden_markdown_table():
    rows = [
        ("A", 1, 0, "done", 0.5, 10.0), ("A", 1, 1, "done", 0.6, 20.0), ("A", 1, 2, "done", 0.7, 30.0),
        ("B", 4, 0, "done", 0.2, 40.0), ("B", 4, 1, "diverged", NAN, NAN), ("B", 4, 2, "diverged", NAN, NAN),
        ("C", 8, 0, "pruned", 0.9, 5.0), ("C", 8, 1, "pruned", 0.9, 5.0), ("C", 8, 2, "pruned", 0.9, 5.0),
    ]
    lb = build_leaderboard(make_trials(rows), "mig", "max")
    assert format_markdown(lb, "mig") == GOLDEN


def test_latex_is_booktabs_with_pm_cells():
    tex = format_latex(build_leaderboard(make_trials(), "mig", "max"), "mig")
    assert tex.startswith("\\begin{tabular}") and "\\toprule" in tex and "\\bottomrule" in tex
    assert "mig $\\uparrow$" in tex
    assert "$0.450 \\pm 0.050$ (n=2)" in tex


def write_sweep(path: Path, trials: pd.DataFrame, fmt: str = "parquet") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "space.yaml").write_text(yaml.safe_dump({"study": "demo", "family": "beta_vae",
                                                     "objective": "mig", "mode": "max"}))
    if fmt == "parquet":
        trials.to_parquet(path / "trials.parquet", index=False)
    else:
        lines = [json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
                 for r in trials.to_dict("records")]
        (path / "trials.jsonl").write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_fallback_later_line_wins_and_cut_line_skipped(tmp_path):
    trials = make_trials()
    sweep = write_sweep(tmp_path / "sweep", trials, fmt="jsonl")
    # g3's failed seed was retried by --resume and finished; then a crash cut a line mid-write
    retried = {**trials.iloc[11].to_dict(), "status": "done", "metric.mig": 0.05, "metric.recon": 50.0}
    with open(sweep / "trials.jsonl", "a") as fh:
        fh.write(json.dumps(retried) + "\n" + '{"trial_id": "g9-s0", "group')
    loaded = load_trials(sweep)
    assert len(loaded) == len(trials)
    lb = by_group(build_leaderboard(loaded, "mig", "max"))
    assert lb["g3"]["n"] == 1 and lb["g3"]["n_failed"] == 0 and lb["g3"]["mig_mean"] == pytest.approx(0.05)
    assert lb["g3"]["rank"] == 5  # now finished, ranked behind everyone on MIG
    assert lb["g1"]["mig_mean"] == pytest.approx(0.45)  # null in JSON read back as NaN


def test_load_trials_errors(tmp_path):
    with pytest.raises(LeaderboardError, match="no such sweep directory"):
        load_trials(tmp_path / "missing")
    with pytest.raises(LeaderboardError, match="neither trials.parquet nor trials.jsonl"):
        load_trials(tmp_path)


def test_write_leaderboards_and_render(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", make_trials())
    paths = write_leaderboards(sweep)
    assert set(paths) == {"markdown", "csv", "latex", "parquet"}
    assert all(p.parent == sweep and p.exists() for p in paths.values())
    text = render(sweep)
    assert paths["markdown"].read_text() == text
    assert text.startswith("**demo** — objective `mig` (max)") and "15 trials (10 done, 2 diverged, 1 failed, 2 pruned)" in text
    csv = pd.read_csv(paths["csv"])
    direct = build_leaderboard(make_trials(), "mig", "max")
    np.testing.assert_allclose(csv["mig_mean"], direct["mig_mean"], equal_nan=True)
    assert csv["rank"].iloc[:4].tolist() == [1, 2, 3, 3] and math.isnan(csv["rank"].iloc[4])
    parquet = pd.read_parquet(paths["parquet"])
    np.testing.assert_allclose(parquet["mig_se"], direct["mig_se"], equal_nan=True)
    assert paths["latex"].read_text().startswith("\\begin{tabular}")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "results_analysis" / "leaderboard.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_prints_table_from_any_cwd_and_fails_cleanly(tmp_path):
    sweep = write_sweep(tmp_path / "runs" / "demo" / "s1", make_trials())
    out = run_cli(str(sweep), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "0.450 ± 0.050 (n=2)" in out.stdout and "| rank | beta |" in out.stdout

    out = run_cli(str(sweep), "--format", "csv", "--metrics", "recon", "--write", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("rank,config.beta,n,n_diverged,n_failed,n_pruned,mig_mean")
    assert (sweep / "leaderboard.tex").exists() and "wrote" in out.stderr

    for args, needle in (([str(tmp_path / "nope")], "no such sweep directory"),
                         ([str(sweep), "--metrics", "sap"], "unknown metric(s) sap")):
        out = run_cli(*args, cwd=tmp_path)
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr
