"""A metric's mean ± standard error over seeds versus one config parameter: a table and a plot with error bars.

    python results_analysis/metric_vs_param.py SWEEP_DIR_OR_TRIALS_FILE --metric mcc --param decoder_var
        [--log-x] [--out DIR] [--all-statuses]

The IMA-VAE study's figure (MCC and C_IMA versus the decoder variance γ over 20 seeds). Each point pools
every done trial with that parameter value, whatever the other config values: filter the table first
when the sweep varies more than one parameter. Standard error = sample std (ddof=1) / sqrt(n), as the
leaderboard; undefined (NaN, no error bar) for one seed. Non-finite metric values (an infinite C_IMA of
a singular decoder) are left out of the mean and counted in ``n_nonfinite``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo root importable whatever the cwd
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))
    sys.path.insert(1, str(_HERE.parent / "platform"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from results_analysis.cell_format import format_config_value, format_mean_se, markdown_table  # noqa: E402
from results_analysis.seed_stats import mean_se, numeric  # noqa: E402


def _column(trials: pd.DataFrame, name: str, prefix: str) -> str:
    for col in (name, f"{prefix}.{name}"):
        if col in trials.columns:
            return col
    raise KeyError(f"no column {name!r} or {prefix}.{name!r} in the trials table")


def metric_vs_param(trials: pd.DataFrame, metric: str, param: str,
                    statuses: Sequence[str] | None = ("done",)) -> pd.DataFrame:
    """One row per value of ``param`` (sorted): columns param, mean, se, n, n_nonfinite.

    ``metric``/``param`` may be bare names or the trials table's ``metric.``/``config.`` columns.
    ``statuses``: the trial statuses pooled (None: every row, e.g. a hand-made table without status).
    """
    mcol, pcol = _column(trials, metric, "metric"), _column(trials, param, "config")
    rows = trials
    if statuses is not None and "status" in trials.columns:
        rows = trials[trials["status"].isin(list(statuses))]
    out = []
    for value, group in rows.groupby(pcol, sort=True, dropna=False):
        values = numeric(group[mcol])
        mean, se, n = mean_se(values)
        out.append({param: value, "mean": mean, "se": se, "n": n, "n_nonfinite": len(values) - n})
    return pd.DataFrame(out, columns=[param, "mean", "se", "n", "n_nonfinite"])


def format_table(table: pd.DataFrame, metric: str, param: str) -> str:
    """A markdown table: param | metric (mean ± SE) | n."""
    rows = [[format_config_value(r[param]), format_mean_se(r["mean"], r["se"]),
             f"{int(r['n'])}" + (f" (+{int(r['n_nonfinite'])} non-finite)" if r["n_nonfinite"] else "")]
            for _, r in table.iterrows()]
    return markdown_table([param, f"{metric} (mean ± SE)", "n"], rows, ["r", "r", "r"])


def plot_metric_vs_param(table: pd.DataFrame, metric: str, param: str, path: Path, log_x: bool = False) -> Path:
    """Mean with ±1 SE error bars against the parameter; a log x-axis with ``log_x``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = numeric(table[param])
    ax.errorbar(x, table["mean"].to_numpy(dtype=float), yerr=np.nan_to_num(table["se"].to_numpy(dtype=float)),
                marker="o", capsize=3)
    if log_x:
        ax.set_xscale("log")
    n = table["n"].tolist()
    ax.set_xlabel(param)
    ax.set_ylabel(f"{metric} (mean ± SE, n = {min(n) if n else 0}..{max(n) if n else 0})")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(trials: pd.DataFrame, metrics: Sequence[str], param: str, out_dir: Path,
                 log_x: bool = False) -> list[Path]:
    """For each metric: ``<metric>_vs_<param>.md`` and ``.png`` in ``out_dir``. Metrics or a parameter
    the table lacks are skipped (a sweep that never varied γ gets no γ plot)."""
    paths: list[Path] = []
    try:
        _column(trials, param, "config")
    except KeyError:
        return paths
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for metric in metrics:
        try:
            table = metric_vs_param(trials, metric, param)
        except KeyError:
            continue
        md = out_dir / f"{metric}_vs_{param}.md"
        md.write_text(format_table(table, metric, param))
        paths += [md, plot_metric_vs_param(table, metric, param, out_dir / f"{metric}_vs_{param}.png", log_x)]
    return paths


def load_table(source: str | Path) -> pd.DataFrame:
    """A sweep directory (its trials.parquet / trials.jsonl) or a .parquet / .csv / .jsonl file."""
    source = Path(source)
    if source.is_dir():
        from results_analysis.leaderboard import load_trials

        return load_trials(source)
    if source.suffix == ".parquet":
        return pd.read_parquet(source)
    if source.suffix == ".jsonl":
        return pd.read_json(source, lines=True)
    return pd.read_csv(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="sweep directory, or a trials .parquet/.csv/.jsonl file")
    parser.add_argument("--metric", required=True, help="metric name, e.g. mcc")
    parser.add_argument("--param", required=True, help="config parameter, e.g. decoder_var")
    parser.add_argument("--log-x", action="store_true", help="logarithmic x-axis")
    parser.add_argument("--out", help="directory for <metric>_vs_<param>.png (default: none, table only)")
    parser.add_argument("--all-statuses", action="store_true", help="pool every trial, not only done ones")
    args = parser.parse_args(argv)
    from results_analysis.leaderboard import LeaderboardError

    try:
        trials = load_table(args.source)
        table = metric_vs_param(trials, args.metric, args.param, None if args.all_statuses else ("done",))
    except (KeyError, OSError, ValueError, LeaderboardError) as exc:
        print(f"metric_vs_param: {exc}", file=sys.stderr)
        return 2
    print(format_table(table, args.metric, args.param), end="")
    if args.out:
        print(plot_metric_vs_param(table, args.metric, args.param, Path(args.out) / f"{args.metric}_vs_{args.param}.png",
                                   args.log_x))
    return 0


if __name__ == "__main__":
    sys.exit(main())
