"""Seed-aware leaderboard of a sweep: one row per config group, mean ± standard error over its seeds.

    python results_analysis/leaderboard.py SWEEP_DIR [--format markdown|csv|latex] [--metrics m1,m2] [--write]

Reads ``trials.parquet`` (or, when absent, the append-only ``trials.jsonl``) and ``space.yaml`` of a
sweep directory (DESIGN.md, "Contracts"). Groups are ranked by the mean of the study's objective over
their *done* seeds, as the seed studies report results over random seeds (Locatello et al. 2019 report
each config over 50 seeds; the IMA and CRMNIST seeds average 5-10). Where we differ from the seeds'
own scripts, which average whatever runs they find: diverged, pruned and failed seeds are counted but
never averaged (a pruned run's last metric is not a final result), and a group with no finished seed is
listed last and unranked, so an early-stopped group can never outrank a finished one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable whatever the cwd
    _HERE = Path(__file__).resolve().parent
    # Python put results_analysis/ itself first on sys.path; its modules would then shadow libraries
    # of the same name for every import (pandas imports many), so swap it for the repo root.
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))
    sys.path.insert(1, str(_HERE.parent / "platform"))  # the engine's results store (no __init__ there)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from results_analysis.cell_format import (  # noqa: E402
    MISSING,
    format_config_value,
    format_mean_se,
    latex_cell,
    latex_escape,
    latex_table,
    markdown_table,
)
from results_analysis.seed_stats import mean_se, numeric  # noqa: E402
from sweepbed.results_store import ResultsStore  # noqa: E402

LOST_STATUSES = ("diverged", "failed", "pruned")  # final states whose metrics are not averaged
_IDENTITY = ("family", "dataset")  # non-config columns that identify a group when a sweep varies them


class LeaderboardError(Exception):
    """A user-facing problem (missing file, unknown metric): the CLI prints it as one line, exit 2."""


def load_trials(sweep_dir: str | Path) -> pd.DataFrame:
    """The trials table of a sweep: ``trials.parquet``, else ``trials.jsonl`` (later lines win per trial id,
    as in the results store, so a retried trial counts once)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise LeaderboardError(f"{sweep_dir}: no such sweep directory")
    parquet, jsonl = sweep_dir / "trials.parquet", sweep_dir / "trials.jsonl"
    if parquet.exists():
        return pd.read_parquet(parquet)
    if not jsonl.exists():
        raise LeaderboardError(f"{sweep_dir}: neither trials.parquet nor trials.jsonl found")
    return ResultsStore(sweep_dir).dataframe()  # the store's own reading: later line wins, cut lines skipped


def read_space(sweep_dir: str | Path) -> dict[str, Any]:
    path = Path(sweep_dir) / "space.yaml"
    if not path.exists():
        raise LeaderboardError(f"{path}: not found (needed for the objective and mode)")
    with open(path, encoding="utf-8") as fh:
        space = yaml.safe_load(fh) or {}
    for key in ("objective", "mode"):
        if key not in space:
            raise LeaderboardError(f"{path}: no top-level '{key}'")
    return space


def _metric_name(name: str) -> str:
    return name[len("metric.") :] if name.startswith("metric.") else name


def _key(v: Any) -> str:
    """A hashable, order-stable stand-in for a config value (lists and arrays come back from parquet)."""
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, float) and math.isnan(v):
        v = None
    return json.dumps(v, sort_keys=True, default=str)


def build_leaderboard(
    trials: pd.DataFrame, objective: str, mode: str, metrics: list[str] | None = None
) -> pd.DataFrame:
    """One row per ``group_id``, ranked by the objective's mean over done seeds (1 = best).

    Columns: ``rank`` (nullable int; NA for groups without a done seed or objective value), the config
    columns that vary across groups (all of them when there is one group), ``n`` (done seeds),
    ``n_diverged`` / ``n_failed`` / ``n_pruned``, then per metric ``<m>_mean``, ``<m>_se`` (NaN when fewer
    than two values) and ``<m>_n`` (done seeds that reported a finite-or-inf value: a NaN metric of a done
    seed is left out of that metric only), and ``group_id``. Ties share the lowest rank.
    """
    objective = _metric_name(objective)
    if mode not in ("max", "min"):
        raise LeaderboardError(f"mode must be 'max' or 'min', not {mode!r}")
    available = [_metric_name(c) for c in trials.columns if c.startswith("metric.")]
    if metrics is None:
        metrics = available
    metrics = [_metric_name(m) for m in metrics]
    metrics = [objective] + [m for m in dict.fromkeys(metrics) if m != objective]
    unknown = [m for m in metrics if m not in available and not (m == objective and _no_results(trials))]
    if unknown:
        raise LeaderboardError(
            f"unknown metric(s) {', '.join(unknown)}; the trials report: {', '.join(available) or 'none'}"
        )
    if "group_id" not in trials.columns or "status" not in trials.columns:
        raise LeaderboardError("trials table lacks 'group_id' or 'status'")

    config_cols = [c for c in trials.columns if c.startswith("config.")]
    config_cols += [c for c in _IDENTITY if c in trials.columns and f"config.{c}" not in trials.columns]
    columns = {
        m: numeric(trials[f"metric.{m}"])
        if f"metric.{m}" in trials.columns
        else np.full(len(trials), np.nan)
        for m in metrics
    }

    rows = []
    for gid, idx in trials.groupby("group_id", sort=False).indices.items():
        group = trials.iloc[idx]
        status = group["status"].astype(str).to_numpy()
        done = status == "done"
        row: dict[str, Any] = {"group_id": gid}
        for c in config_cols:
            row[c] = group[c].iloc[0]
        row["n"] = int(done.sum())
        for s in LOST_STATUSES:
            row[f"n_{s}"] = int((status == s).sum())
        for m in metrics:
            mean, se, k = mean_se(columns[m][idx][done])
            row[f"{m}_mean"], row[f"{m}_se"], row[f"{m}_n"] = mean, se, k
        rows.append(row)
    lb = pd.DataFrame(rows)
    if lb.empty:
        return lb

    # Only what the sweep varies tells groups apart; a lone group keeps its whole config for the record.
    varying = [c for c in config_cols if lb[c].map(_key).nunique() > 1]
    shown = varying if len(lb) > 1 else config_cols
    # Means equal to 12 significant digits are a tie (0.1 + 0.2 vs 0.15 + 0.15 differ only by rounding).
    obj = lb[f"{objective}_mean"].map(lambda v: float(f"{v:.12g}"))
    # NaN (no done seed) ranks as NA, never ahead of a finished group; "min" method: ties share a rank.
    lb["rank"] = obj.rank(method="min", ascending=(mode == "min"), na_option="keep").astype("Int64")
    order = ["rank"] + shown + ["n"] + [f"n_{s}" for s in LOST_STATUSES]
    order += [f"{m}_{part}" for m in metrics for part in ("mean", "se", "n")] + ["group_id"]
    lb = lb[order]
    # Stable sort keeps sweep order among tied and among unranked groups.
    lb = lb.sort_values("rank", kind="stable", na_position="last").reset_index(drop=True)
    lb.attrs.update(objective=objective, mode=mode, metrics=metrics)
    return lb


def _no_results(trials: pd.DataFrame) -> bool:
    # A sweep where nothing finished may have no metric columns at all; it still gets a (unranked) board.
    return "status" not in trials.columns or not (trials["status"] == "done").any()


def _board_metrics(lb: pd.DataFrame, objective: str, metrics: Sequence[str] | None) -> list[str]:
    found = [c[: -len("_mean")] for c in lb.columns if c.endswith("_mean") and f"{c[:-5]}_se" in lb.columns]
    chosen = [_metric_name(m) for m in metrics] if metrics else found
    objective = _metric_name(objective)
    return [objective] + [m for m in chosen if m != objective and m in found]


def _cells(lb: pd.DataFrame, objective: str, metrics: Sequence[str] | None):
    """Header labels (unescaped), per-row formatted cells, alignment and which header is the objective."""
    metrics = _board_metrics(lb, objective, metrics)
    config = [c for c in lb.columns if c.startswith("config.") or c in _IDENTITY]
    # Lost-seed columns only when something was lost: most boards are all-zero there.
    lost = [f"n_{s}" for s in LOST_STATUSES if f"n_{s}" in lb.columns and lb[f"n_{s}"].sum() > 0]
    header = ["rank"] + [c.removeprefix("config.") for c in config] + metrics + ["n"]
    header += [c.removeprefix("n_") for c in lost]
    align = ["r"] + ["l"] * len(config) + ["r"] * (len(metrics) + 1 + len(lost))
    rows = []
    for _, r in lb.iterrows():
        cells = [MISSING if pd.isna(r["rank"]) else str(int(r["rank"]))]
        cells += [format_config_value(r[c]) for c in config]
        for m in metrics:
            cell = format_mean_se(r[f"{m}_mean"], r[f"{m}_se"])
            k = r.get(f"{m}_n", r["n"])
            if cell != MISSING and not pd.isna(k) and int(k) != int(r["n"]):
                cell += f" (n={int(k)})"  # some done seeds did not report this metric
            cells.append(cell)
        cells.append(str(int(r["n"])))
        cells += [str(int(r[c])) for c in lost]
        rows.append(cells)
    return header, rows, align, 1 + len(config)


def _mode(lb: pd.DataFrame, mode: str | None) -> str | None:
    return mode or lb.attrs.get("mode")


def format_markdown(
    lb: pd.DataFrame, objective: str, metrics: Sequence[str] | None = None, mode: str | None = None
) -> str:
    """A markdown table: rank, varying config, the objective (arrow = direction), other metrics as
    "mean ± se", then n and any lost-seed counts."""
    if lb.empty:
        return "_no trials_\n"
    header, rows, align, obj_col = _cells(lb, objective, metrics)
    arrow = {"max": " ↑", "min": " ↓"}.get(_mode(lb, mode) or "", "")
    header[obj_col] += arrow
    return markdown_table(header, rows, align)


def format_latex(
    lb: pd.DataFrame, objective: str, metrics: Sequence[str] | None = None, mode: str | None = None
) -> str:
    """The same table as booktabs LaTeX (``\\usepackage{booktabs}``)."""
    if lb.empty:
        return "% no trials\n"
    header, rows, align, obj_col = _cells(lb, objective, metrics)
    header = [latex_escape(h) for h in header]
    header[obj_col] += {"max": r" $\uparrow$", "min": r" $\downarrow$"}.get(_mode(lb, mode) or "", "")
    rows = [[latex_cell(c) for c in r] for r in rows]
    return latex_table(header, rows, align)


def format_csv(lb: pd.DataFrame) -> str:
    """Every numeric column (means, SEs, counts, rank) as plain CSV for further analysis."""
    return lb.to_csv(index=False)


def _caption(space: dict[str, Any], trials: pd.DataFrame, lb: pd.DataFrame) -> str:
    counts = trials["status"].value_counts() if "status" in trials.columns else pd.Series(dtype=int)
    states = ", ".join(f"{int(counts[s])} {s}" for s in ("done",) + LOST_STATUSES if s in counts)
    study = space.get("study", "sweep")
    return (
        f"**{study}** — objective `{_metric_name(space['objective'])}` ({space['mode']}), "
        f"mean ± SE over done seeds; {len(lb)} config groups, {len(trials)} trials ({states or 'none'})\n"
    )


def _load(sweep_dir: str | Path, metrics: list[str] | None = None):
    trials = load_trials(sweep_dir)  # first: a missing directory is reported as such
    space = read_space(sweep_dir)
    lb = build_leaderboard(trials, space["objective"], space["mode"], metrics)
    return space, trials, lb


def selection_section(space: dict[str, Any], trials: pd.DataFrame) -> str:
    """The model-selection table (results_analysis/model_selection.py) when the sweep's family declares
    ``selection = (validation metric, test metric)`` (and optionally ``selection_by``, a config field with
    one selection per value); "" otherwise, or when the trials do not report both metrics."""
    family = space.get("family")
    if not family:
        return ""
    try:
        from trainables.registry import get_family

        family_cls = get_family(family)
    except (KeyError, ImportError):
        return ""
    selection = family_cls.selection
    if not selection or any(f"metric.{m}" not in trials.columns for m in selection):
        return ""
    from results_analysis.model_selection import format_selection, select

    val, test = selection
    by = family_cls.selection_by
    mode = family_cls.metrics.get(val, "max")
    table = select(trials, val, test, by=by, mode=mode)
    return (f"\n**Model selection** (DomainBed training-domain validation): per {by or 'sweep'}, the config with "
            f"the best seed-mean `{val}`, its `{test}` mean ± SE over seeds, beside the oracle (best `{test}`)\n\n"
            + format_selection(table, val, test, by))


def _markdown_text(space: dict[str, Any], trials: pd.DataFrame, lb: pd.DataFrame) -> str:
    """Caption, leaderboard table and (when the family declares one) the model-selection table."""
    return (_caption(space, trials, lb) + "\n" + format_markdown(lb, space["objective"], mode=space["mode"])
            + selection_section(space, trials))


def render(sweep_dir: str | Path, metrics: list[str] | None = None) -> str:
    """The markdown leaderboard (with a one-line caption) that a sweep prints when it ends."""
    space, trials, lb = _load(sweep_dir, metrics)
    return _markdown_text(space, trials, lb)


def write_leaderboards(sweep_dir: str | Path) -> dict[str, Path]:
    """Write leaderboard.md / .csv / .tex / .parquet beside trials.parquet; returns {format: path}."""
    sweep_dir = Path(sweep_dir)
    space, trials, lb = _load(sweep_dir)
    texts = {
        "markdown": _markdown_text(space, trials, lb),
        "csv": format_csv(lb),
        "latex": format_latex(lb, space["objective"], mode=space["mode"]),
    }
    paths = {}
    for fmt, suffix in (("markdown", "md"), ("csv", "csv"), ("latex", "tex")):
        path = sweep_dir / f"leaderboard.{suffix}"
        path.write_text(texts[fmt], encoding="utf-8")
        paths[fmt] = path
    paths["parquet"] = sweep_dir / "leaderboard.parquet"  # typed columns, for notebooks
    lb.to_parquet(paths["parquet"], index=False)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="leaderboard.py", description="Print the seed-aware leaderboard of a sweep directory."
    )
    parser.add_argument("sweep_dir", help="a sweep directory (holds trials.parquet and space.yaml)")
    parser.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown")
    parser.add_argument(
        "--metrics", help="comma-separated metrics to show (default: all; the objective always)"
    )
    parser.add_argument(
        "--write", action="store_true", help="also write leaderboard.md/.csv/.tex into the sweep directory"
    )
    args = parser.parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        space, trials, lb = _load(args.sweep_dir, metrics)
        if args.format == "csv":
            text = format_csv(lb)
        elif args.format == "latex":
            text = format_latex(lb, space["objective"], mode=space["mode"])
        else:
            text = (
                _markdown_text(space, trials, lb)
            )
        if args.write:
            for path in write_leaderboards(args.sweep_dir).values():
                print(f"wrote {path}", file=sys.stderr)
    except (LeaderboardError, OSError, yaml.YAMLError) as exc:
        print(f"leaderboard.py: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
