"""The sweep's figures (DESIGN.md, "Analysis"): boxplots over seeds, β×λ-style heatmaps, parallel coordinates.

    python results_analysis/sweep_plots.py SWEEP_DIR [--out DIR]      (default DIR: SWEEP_DIR/analysis)

Only *done* trials are plotted, as the leaderboard averages only them (a pruned seed's last value is not
a result). Per config group the statistic is the leaderboard's: mean ± SE over seeds (seed_stats.mean_se).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable whatever the cwd
    _HERE = Path(__file__).resolve().parent
    # results_analysis/ first on sys.path would shadow libraries of the same name: swap it for the repo root
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))
    sys.path.insert(1, str(_HERE.parent / "platform"))  # the engine's results store (no __init__ there)

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only, never a display: sweeps run on headless cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from results_analysis.cell_format import format_config_value, format_mean_se, format_number  # noqa: E402
from results_analysis.leaderboard import LeaderboardError, build_leaderboard, load_trials, read_space  # noqa: E402
from results_analysis.seed_stats import mean_se, numeric  # noqa: E402

HEATMAP_MAX_VALUES = 12  # more distinct values per axis than this is a sampled space, not a grid
BOX_MAX_GROUPS = 50  # a random/Optuna sweep of hundreds of groups: box only the best ones, readably


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _sort_key(v: Any) -> tuple:
    """Numbers in numeric order before anything else (strings, lists) in text order."""
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, format_config_value(v))


def _done(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["status"] == "done"] if "status" in trials.columns else trials


def searched_params(trials: pd.DataFrame, space: dict[str, Any]) -> list[dict[str, Any]]:
    """The space's searched parameters that the trials table has a ``config.<name>`` column for."""
    return [p for p in space.get("params") or [] if f"config.{p['name']}" in trials.columns]


def heatmap_table(trials: pd.DataFrame, objective: str, p1: str, p2: str) -> pd.DataFrame:
    """Long form, one row per (p1, p2) cell that has done trials, sorted by p1 then p2: columns
    ``p1, p2, mean, se, n`` of ``metric.<objective>`` over the cell's done seeds (every group in the cell
    pooled; in a two-parameter sweep a cell is one config group)."""
    objective = objective.removeprefix("metric.")
    done = _done(trials)
    c1, c2, m = f"config.{p1}", f"config.{p2}", f"metric.{objective}"
    cells: dict[tuple[str, str], list] = {}
    for (v1, v2, value) in zip(done[c1], done[c2], numeric(done[m]), strict=True):
        cell = cells.setdefault((format_config_value(v1), format_config_value(v2)), [v1, v2, []])
        cell[2].append(value)
    rows = [{p1: v1, p2: v2, **dict(zip(("mean", "se", "n"), mean_se(vals), strict=True))}
            for v1, v2, vals in cells.values()]
    rows.sort(key=lambda r: (_sort_key(r[p1]), _sort_key(r[p2])))
    return pd.DataFrame(rows, columns=[p1, p2, "mean", "se", "n"])


def box_groups(trials: pd.DataFrame, objective: str, mode: str,
               params: list[str]) -> list[tuple[str, np.ndarray]]:
    """(label, finite seed values) per config group with a finite value, in leaderboard order (best first)."""
    objective = objective.removeprefix("metric.")
    done = _done(trials)
    board = build_leaderboard(done, objective, mode, metrics=[objective])
    values = numeric(done[f"metric.{objective}"])
    out = []
    for gid in board["group_id"]:
        mask = (done["group_id"] == gid).to_numpy()
        finite = values[mask][np.isfinite(values[mask])]
        if len(finite):
            row = done[mask].iloc[0]
            out.append((", ".join(f"{p}={format_config_value(row[f'config.{p}'])}" for p in params), finite))
    return out


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_box(groups: list[tuple[str, np.ndarray]], objective: str, mode: str, path: Path) -> Path:
    shown = groups[:BOX_MAX_GROUPS]
    fig, ax = plt.subplots(figsize=(min(3.5 + 0.6 * len(shown), 24.0), 4.5))
    ax.boxplot([v for _, v in shown], showfliers=False)  # the seeds are drawn as points instead
    rng = np.random.default_rng(0)  # fixed jitter: the same sweep gives the same picture
    for i, (_, v) in enumerate(shown, start=1):
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=12, alpha=0.7, color="tab:blue", zorder=3)
    ax.set_xticks(range(1, len(shown) + 1), [label for label, _ in shown], rotation=45, ha="right", fontsize=8)
    more = f", best {len(shown)} of {len(groups)} groups" if len(groups) > len(shown) else ""
    ax.set_title(f"{objective} over seeds per config group\n({'higher' if mode == 'max' else 'lower'} is "
                 f"better; ranked by seed-mean{more})", fontsize=9)
    ax.set_ylabel(objective)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def plot_heatmap(table: pd.DataFrame, objective: str, p1: str, p2: str, mode: str, path: Path) -> Path:
    rows = sorted({format_config_value(v): v for v in table[p1]}.values(), key=_sort_key)
    cols = sorted({format_config_value(v): v for v in table[p2]}.values(), key=_sort_key)
    ri = {format_config_value(v): i for i, v in enumerate(rows)}
    ci = {format_config_value(v): j for j, v in enumerate(cols)}
    grid = np.full((len(rows), len(cols)), np.nan)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(cols), 1.2 + 0.8 * len(rows)))
    for _, r in table.iterrows():
        i, j = ri[format_config_value(r[p1])], ci[format_config_value(r[p2])]
        grid[i, j] = r["mean"]
        ax.text(j, i, f"{format_mean_se(r['mean'], r['se'])}\nn={int(r['n'])}", ha="center", va="center",
                fontsize=7)
    # a light colormap keeps the black annotations readable; reversed for "min" so better is always darker
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="YlGn" if mode == "max" else "YlGn_r", aspect="auto")
    fig.colorbar(image, ax=ax, label=f"{objective} (seed-mean)")
    ax.set_xticks(range(len(cols)), [format_config_value(v) for v in cols])
    ax.set_yticks(range(len(rows)), [format_config_value(v) for v in rows])
    ax.set_xlabel(p2)
    ax.set_ylabel(p1)
    ax.set_title(f"{objective}: mean ± SE over seeds", fontsize=9)
    return _save(fig, path)


def _axis(values: list[Any], param: dict[str, Any] | None) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Positions in [0, 1] along one parallel axis and (position, label) ticks: numbers linearly
    (log10 for loguniform / log int parameters), anything else as evenly spaced categories."""
    as_numbers = numeric(pd.Series(values, dtype=object))
    log = param is not None and (param.get("kind") == "loguniform" or bool(param.get("log")))
    if np.isfinite(as_numbers).all() and not (log and (as_numbers <= 0).any()):
        x = np.log10(as_numbers) if log else as_numbers
        lo, hi = float(x.min()), float(x.max())
        pos = (x - lo) / (hi - lo) if hi > lo else np.full(len(x), 0.5)
        # a grid's few values are each labelled; a sampled (or the objective's) axis gets its ends
        few = param is not None and len(np.unique(as_numbers)) <= HEATMAP_MAX_VALUES
        shown = np.unique(as_numbers) if few else np.unique([as_numbers[x.argmin()], as_numbers[x.argmax()]])
        fmt = format_config_value if few else format_number  # sampled ends: 4 significant digits
        ticks = [(float(np.interp(np.log10(v) if log else v, [lo, hi], [0.0, 1.0])) if hi > lo else 0.5,
                  fmt(float(v))) for v in shown]
        return pos, ticks
    labels = [format_config_value(v) for v in values]
    cats = sorted({lab: v for lab, v in zip(labels, values, strict=True)}.values(), key=_sort_key)
    where = {format_config_value(v): (k + 0.5) / len(cats) for k, v in enumerate(cats)}
    return np.array([where[lab] for lab in labels]), [(p, lab) for lab, p in where.items()]


def plot_parallel(trials: pd.DataFrame, objective: str, mode: str, params: list[dict[str, Any]],
                  path: Path) -> Path | None:
    done = _done(trials)
    rows = []
    for _, group in done.groupby("group_id", sort=False):
        mean = mean_se(numeric(group[f"metric.{objective}"]))[0]
        if np.isfinite(mean):
            rows.append([group[f"config.{p['name']}"].iloc[0] for p in params] + [mean])
    if not rows:
        return None
    names = [p["name"] for p in params] + [f"{objective} (seed-mean)"]
    axes = [_axis([r[k] for r in rows], p) for k, p in enumerate([*params, None])]
    fig, ax = plt.subplots(figsize=(2.0 + 1.8 * len(names), 4.5))
    means = np.array([r[-1] for r in rows], dtype=float)
    cmap = plt.get_cmap("viridis" if mode == "max" else "viridis_r")  # better is always yellow
    norm = matplotlib.colors.Normalize(means.min(), means.max() if means.max() > means.min() else means.min() + 1)
    for order in np.argsort(means if mode == "max" else -means):  # best drawn last, on top
        ax.plot(range(len(names)), [pos[order] for pos, _ in axes], color=cmap(norm(means[order])), alpha=0.8)
    for k, (_, ticks) in enumerate(axes):
        ax.axvline(k, color="black", lw=0.8)
        for p, label in ticks:
            ax.text(k + 0.03, p, label, fontsize=7, va="center")
    ax.set_xticks(range(len(names)), [n + (" (log)" if p.get("kind") == "loguniform" or p.get("log") else "")
                                      for n, p in zip(names, [*params, {}], strict=True)], fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(names) - 0.6)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=objective)
    ax.set_title(f"{len(rows)} config groups", fontsize=9)
    return _save(fig, path)


def write_sweep_plots(trials: pd.DataFrame, space: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the sweep's PNGs into ``out_dir`` and return their paths: ``box_<objective>.png`` always,
    ``heatmap_<objective>_<p1>_<p2>.png`` for exactly two searched parameters of at most 12 values each,
    ``parallel_<objective>.png`` for two or more. [] when no trial is done or nothing was searched."""
    objective, mode = str(space["objective"]).removeprefix("metric."), space["mode"]
    done = _done(trials)
    params = searched_params(trials, space)
    if done.empty or not params or f"metric.{objective}" not in done.columns:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [p["name"] for p in params]
    paths = []
    groups = box_groups(done, objective, mode, names)
    if groups:
        paths.append(plot_box(groups, objective, mode, out_dir / f"box_{_safe(objective)}.png"))
    if len(names) == 2 and all(done[f"config.{n}"].map(format_config_value).nunique() <= HEATMAP_MAX_VALUES
                               for n in names):
        table = heatmap_table(done, objective, *names)
        if np.isfinite(table["mean"].to_numpy(dtype=float)).any():
            path = out_dir / f"heatmap_{_safe(objective)}_{_safe(names[0])}_{_safe(names[1])}.png"
            paths.append(plot_heatmap(table, objective, *names, mode, path))
    if len(names) >= 2:
        path = plot_parallel(done, objective, mode, params, out_dir / f"parallel_{_safe(objective)}.png")
        paths += [path] if path else []
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sweep_plots.py", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="a sweep directory (holds trials.parquet and space.yaml)")
    parser.add_argument("--out", help="directory for the PNGs (default: SWEEP_DIR/analysis)")
    args = parser.parse_args(argv)
    try:
        trials = load_trials(args.sweep_dir)  # first: a missing directory is reported as such
        space = read_space(args.sweep_dir)
        paths = write_sweep_plots(trials, space, Path(args.out or Path(args.sweep_dir) / "analysis"))
    except (LeaderboardError, OSError, yaml.YAMLError) as exc:
        print(f"sweep_plots.py: error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
