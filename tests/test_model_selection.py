"""DomainBed-style selection on a hand-made trials table: it picks by validation, never by the test metric,
reports the chosen configuration's test mean ± SE over seeds beside the oracle's, per model and overall;
the leaderboard shows the table for a family that declares ``selection``."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from results_analysis import leaderboard
from results_analysis.model_selection import OVERALL, format_selection, select


def _trials() -> pd.DataFrame:
    rows = []
    # model a: config a1 validates best but generalises worst; a2 the other way round
    for gid, model, lr, vals, oods in [("a1", "a", 0.1, (0.95, 0.95), (0.30, 0.40)),
                                       ("a2", "a", 0.2, (0.90, 0.90), (0.80, 0.90)),
                                       ("b1", "b", 0.1, (0.96, 0.96), (0.50, 0.60)),
                                       ("b2", "b", 0.2, (0.50, 0.52), (0.95, 0.97))]:
        for seed, (v, o) in enumerate(zip(vals, oods)):
            rows.append({"trial_id": f"{gid}-{seed}", "group_id": gid, "seed": seed, "status": "done",
                         "config.model": model, "config.lr": lr, "metric.acc_y_val": v, "metric.acc_y_ood": o})
    # a diverged seed of b1 with a perfect OOD score must not count
    rows.append({"trial_id": "b1-2", "group_id": "b1", "seed": 2, "status": "diverged", "config.model": "b",
                 "config.lr": 0.1, "metric.acc_y_val": 1.0, "metric.acc_y_ood": 1.0})
    return pd.DataFrame(rows)


def test_selection_picks_by_validation_not_by_ood():
    table = select(_trials(), "acc_y_val", "acc_y_ood", by="model").set_index("model")
    assert list(table.index) == ["a", "b", OVERALL]
    assert table.loc["a", "selected_group"] == "a1" and table.loc["a", "oracle_group"] == "a2"
    assert table.loc["a", "selected_test_mean"] == pytest.approx(0.35)
    assert table.loc["a", "selected_test_se"] == pytest.approx(0.05)  # std(ddof=1) of (0.3, 0.4) / sqrt(2)
    assert table.loc["a", "oracle_test_mean"] == pytest.approx(0.85)
    assert table.loc["b", "selected_group"] == "b1" and table.loc["b", "selected_n"] == 2  # diverged seed left out
    assert table.loc["b", "selected_test_mean"] == pytest.approx(0.55)
    assert table.loc[OVERALL, "selected_group"] == "b1"  # best seed-mean validation of all: 0.96
    assert table.loc[OVERALL, "oracle_group"] == "b2"
    assert table.loc[OVERALL, "n_configs"] == 4


def test_min_mode_and_no_by_column():
    trials = _trials()
    table = select(trials, "acc_y_val", "acc_y_ood", by=None, mode="min")
    assert len(table) == 1 and table.iloc[0]["selected_group"] == "b2"  # lowest validation under "min"
    assert table.iloc[0]["oracle_group"] == "a1"


def test_validation_and_test_means_come_from_the_same_seeds():
    trials = _trials()
    # three done seeds of a2 with perfect validation but no test metric (NaN), and one with a test score but no
    # validation: counted per metric they would lift a2's validation mean to 0.96 (above a1's 0.95, so a2
    # would be selected) and drag its test mean to 0.57; only seeds 0 and 1 report both
    for seed, v, o in ((3, 1.0, math.nan), (4, math.nan, 0.0), (5, 1.0, math.nan), (6, 1.0, math.nan)):
        trials.loc[len(trials)] = {"trial_id": f"a2-{seed}", "group_id": "a2", "seed": seed, "status": "done",
                                   "config.model": "a", "config.lr": 0.2, "metric.acc_y_val": v,
                                   "metric.acc_y_ood": o}
    table = select(trials, "acc_y_val", "acc_y_ood", by="model").set_index("model")
    assert table.loc["a", "selected_group"] == "a1"
    assert table.loc["a", "oracle_group"] == "a2"
    assert table.loc["a", "oracle_val"] == pytest.approx(0.90)
    assert table.loc["a", "oracle_test_mean"] == pytest.approx(0.85) and table.loc["a", "oracle_n"] == 2
    only_a = trials[trials["config.model"] == "a"]
    chosen = select(only_a, "acc_y_val", "acc_y_ood", mode="min").iloc[0]
    assert chosen["selected_group"] == "a2" and chosen["selected_val"] == pytest.approx(0.90)


def test_unknown_metric_and_markdown():
    with pytest.raises(ValueError, match="nope"):
        select(_trials(), "nope", "acc_y_ood")
    text = format_selection(select(_trials(), "acc_y_val", "acc_y_ood", by="model"), "acc_y_val", "acc_y_ood",
                            "model")
    assert "0.350 ± 0.050" in text and "(all)" in text


def test_leaderboard_shows_the_selection_for_a_family_that_declares_it(tmp_path):
    trials = _trials()
    trials["family"] = "crmnist"
    trials.to_parquet(tmp_path / "trials.parquet")
    space = {"study": "t", "family": "crmnist", "objective": "acc_y_val", "mode": "max"}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    text = leaderboard.render(tmp_path)
    assert "Model selection" in text and "0.350 ± 0.050" in text
    space["family"] = "beta_vae"  # declares no selection: no table
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    assert "Model selection" not in leaderboard.render(tmp_path)
    assert not math.isnan(select(trials, "acc_y_val", "acc_y_ood")["selected_val"].iloc[0])


def test_crmnist_sweep_report_writes_the_selection_and_a_plot(tmp_path):
    from trainables.crmnist import CRMNIST

    paths = CRMNIST.sweep_report(_trials(), tmp_path / "analysis")
    assert [p.name for p in paths] == ["model_selection.md", "accuracy_by_model.png"]
    assert "0.350 ± 0.050" in paths[0].read_text()
