"""DomainBed-style model selection over a sweep's trials (Gulrajani & Lopez-Paz 2021, "training-domain
validation"): per model (a value of ``by``) and overall, choose the configuration whose seed-mean
in-domain validation metric is best and report *its* test (OOD) metric, mean ± SE over its seeds, beside
the oracle choice (the configuration with the best seed-mean test metric, which no honest protocol can see).

Differs from DomainBed: DomainBed selects per trial seed and averages the selected test accuracies over
trial seeds; here the configuration is chosen on the seed-mean (the platform's unit is the config group)
and its test metric is averaged over the same seeds. Only ``done`` seeds that report both metrics count
(the leaderboard counts a seed per metric).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from results_analysis.cell_format import format_config_value, format_mean_se, markdown_table
from results_analysis.seed_stats import mean_se, numeric

OVERALL = "(all)"


def _group_stats(trials: pd.DataFrame, val: str, test: str) -> pd.DataFrame:
    """Per group, validation mean and test mean ± SE over the *same* seeds: the done seeds that report both
    metrics finite (a seed with only one of them would otherwise select on seeds it does not report on)."""
    done = trials[trials["status"].astype(str) == "done"]
    rows = []
    for gid, g in done.groupby("group_id", sort=False):
        vals = numeric(g[f"metric.{val}"])
        tests = numeric(g[f"metric.{test}"])
        both = np.isfinite(vals) & np.isfinite(tests)
        val_mean, _, n_val = mean_se(vals[both])
        test_mean, test_se, n = mean_se(tests[both])
        if n == 0:
            continue
        assert n_val == n  # the same seeds on both sides
        rows.append({"group_id": gid, "val_mean": val_mean, "test_mean": test_mean, "test_se": test_se, "n": n,
                     "_first": g.index[0]})
    return pd.DataFrame(rows)


def select(trials: pd.DataFrame, val: str, test: str, by: str | None = None, mode: str = "max") -> pd.DataFrame:
    """One row per value of config column ``by`` (if given and present) plus an overall row.

    Columns: ``by`` value (``(all)`` overall), ``n_configs``, ``selected_group``, ``selected_val``,
    ``selected_test_mean``, ``selected_test_se``, ``selected_n``, ``oracle_group``, ``oracle_val``,
    ``oracle_test_mean``, ``oracle_test_se``, ``oracle_n``. ``mode`` is the direction of both metrics
    (ties go to the group listed first in the trials table). Groups without a done seed that reports
    both metrics are ignored.
    """
    for m in (val, test):
        if f"metric.{m}" not in trials.columns:
            raise ValueError(f"the trials report no metric {m!r}")
    stats = _group_stats(trials, val, test)
    column = f"config.{by}" if by else None
    if stats.empty:
        return pd.DataFrame()
    stats = stats.sort_values("_first", kind="stable")
    if column and column in trials.columns:
        owner = trials.drop_duplicates("group_id").set_index("group_id")[column]
        stats["key"] = stats["group_id"].map(lambda g: format_config_value(owner[g]))
        subsets = [(k, stats[stats["key"] == k]) for k in dict.fromkeys(stats["key"])] + [(OVERALL, stats)]
    else:
        subsets = [(OVERALL, stats)]
    sign = 1.0 if mode == "max" else -1.0
    rows = []
    for key, sub in subsets:
        chosen = sub.iloc[int(np.argmax(sign * sub["val_mean"].to_numpy()))]  # argmax: first of ties
        oracle = sub.iloc[int(np.argmax(sign * sub["test_mean"].to_numpy()))]
        row = {by or "selection": key, "n_configs": len(sub)}
        for name, pick in (("selected", chosen), ("oracle", oracle)):
            row.update({f"{name}_group": pick["group_id"], f"{name}_val": pick["val_mean"],
                        f"{name}_test_mean": pick["test_mean"], f"{name}_test_se": pick["test_se"],
                        f"{name}_n": int(pick["n"])})
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(val=val, test=test, by=by)
    return out


def format_selection(table: pd.DataFrame, val: str, test: str, by: str | None = None) -> str:
    """Markdown: per model, the selected configuration's validation mean and test mean ± SE, then the oracle's."""
    if table.empty:
        return "_no finished trials to select from_\n"
    key = by or "selection"
    header = [key, "configs", f"selected: {val}", f"selected: {test}", "n", f"oracle: {test}", "oracle n",
              "selected group", "oracle group"]
    rows = []
    for _, r in table.iterrows():
        rows.append([str(r[key]), str(int(r["n_configs"])), format_mean_se(r["selected_val"], math.nan),
                     format_mean_se(r["selected_test_mean"], r["selected_test_se"]), str(int(r["selected_n"])),
                     format_mean_se(r["oracle_test_mean"], r["oracle_test_se"]), str(int(r["oracle_n"])),
                     str(r["selected_group"]), str(r["oracle_group"])])
    return markdown_table(header, rows, ["l"] + ["r"] * 6 + ["l", "l"])
