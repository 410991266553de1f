"""``python platform/sweep.py``: validate a space, plan it, run it (locally or on Ray), record it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from sweepbed.planning import GroupPlan, plan_groups, stable_hash
from sweepbed.spaces import SpaceError, load_space
from sweepbed.spec import SweepSpec

EPILOG = """\
examples:
  python platform/sweep.py --space search_spaces/quickstart.yaml
  python platform/sweep.py --space search_spaces/quickstart.yaml --local --set budget.steps=50
  python platform/sweep.py --space search_spaces/lambda_beta.yaml --dry-run
  python platform/sweep.py --space search_spaces/lambda_beta.yaml --address auto --tracking-uri http://head:5000

A sweep writes to OUT/<study>/<sweep_id>/: space.yaml, trials.jsonl and trials.parquet (one row per
trial), leaderboard.{md,csv,tex}. The sweep id hashes the space, so the same space maps to the same
directory; --resume continues it, skipping every finished trial and resuming unfinished ones from
their last checkpoint. Exit status: 0 when every trial reached a final state (done, diverged, pruned,
failed), 2 on a bad space or bad input, 1 when the sweep itself crashed or was interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep.py", description="Run a hyperparameter x seed sweep of a sweepbed family.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, metavar="FILE", help="search space YAML (one study)")
    p.add_argument("--local", action="store_true",
                   help="run in this process without Ray, one group after another (a breakpoint works)")
    p.add_argument("--out", default="runs", metavar="DIR", help="output root (default: runs/)")
    p.add_argument("--address", metavar="ADDR",
                   help="join a running Ray cluster (e.g. 'auto' on a `ray up` head node); code is shipped "
                        "to the workers with Ray's runtime env")
    p.add_argument("--tracking-uri", metavar="URI",
                   help="MLflow tracking URI (default: sqlite:///OUT/mlflow.db, artifacts in OUT/mlartifacts)")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep directory of this space: skip finished trials, resume the rest")
    p.add_argument("--allow-code-change", action="store_true",
                   help="with --resume: continue even though the family's code changed since the sweep "
                        "started (by default refused: results of two code versions would mix)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the space (dotted key, YAML value), e.g. --set budget.steps=100 "
                        "--set seeds=[0,1] --set fixed.beta=4; validated like the file; repeatable")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and print the planned trials (count, ids, configs), then exit")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where dataset files live (default: $SWEEPBED_DATA_DIR or ~/.sweepbed/data)")
    p.add_argument("--num-cpus", type=int, metavar="N", help="CPUs of the local Ray runtime (default: all)")
    p.add_argument("--num-gpus", type=float, metavar="N",
                   help="GPUs of the local Ray runtime (default: detected; a CPU box may declare logical GPUs)")
    return p


def sweep_id_of(spec: SweepSpec) -> str:
    # What changes results identifies the sweep; how it is run (resources, concurrency) does not.
    resolved = spec.resolved()
    for key in ("source", "description", "resources", "max_concurrent_trials"):
        resolved.pop(key, None)
    return stable_hash(resolved, length=10)


def print_plan(spec: SweepSpec, groups: list[GroupPlan] | None, sweep_dir: Path) -> None:
    print(f"study {spec.study}: family {spec.family}, objective {spec.objective} ({spec.mode}), "
          f"method {spec.search.algorithm}, sweep dir {sweep_dir}")
    if groups is None:
        print(f"{spec.search.num_samples} configurations chosen by optuna ({spec.search.sampler}) while the sweep "
              f"runs, each x {len(spec.seeds)} seeds {list(spec.seeds)} = {spec.search.num_samples * len(spec.seeds)} "
              f"trials; searched: {', '.join(p.name for p in spec.params)}")
        return
    n_trials = sum(len(g.trials) for g in groups)
    print(f"{len(groups)} config groups x {len(spec.seeds)} seeds = {n_trials} trials, {spec.budget.steps} steps each")
    searched = [p.name for p in spec.params]
    for g in groups:
        shown = {k: g.config[k] for k in searched} if searched else {}
        print(f"  group {g.group_id} {shown}")
        for t in g.trials:
            print(f"    trial {t.trial_id} seed {t.seed}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = load_space(args.space, args.overrides)
        groups = None if spec.search.algorithm == "optuna" else plan_groups(spec)
    except (SpaceError, FileNotFoundError) as exc:  # a bad space, or no space file at all
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sweep_dir = Path(args.out) / spec.study / sweep_id_of(spec)
    try:
        _check_data(spec, groups, args.data_dir)
    except FileNotFoundError as exc:
        if not args.dry_run:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"note: {exc}")  # planning needs no data; running will
    if args.dry_run:
        print_plan(spec, groups, sweep_dir)
        return 0
    from sweepbed.execute import execute  # heavy imports (mlflow, torch) only when running

    return execute(spec, groups, sweep_dir, args)


def _check_data(spec: SweepSpec, groups: list[GroupPlan] | None, data_dir: str | None) -> None:
    """Fail before anything starts when a dataset file is missing (not minutes into a cluster job)."""
    from trainables.registry import get_family

    family = get_family(spec.family)
    configs = [g.config for g in groups] if groups is not None else [spec.fixed]
    for config in {yaml.safe_dump(c, sort_keys=True): c for c in configs}.values():
        family.check_data(family.make_config(dict(config)), Path(data_dir) if data_dir else None)


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main())
