"""Running a validated, planned sweep: sweep directory, tracking, runner, leaderboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from sweepbed.code_fingerprint import check_or_record
from sweepbed.loop import LoopSettings
from sweepbed.planning import GroupPlan
from sweepbed.recorder import SweepRecorder
from sweepbed.results_store import ResultsStore
from sweepbed.searchers import searcher_history
from sweepbed.spec import SweepSpec
from sweepbed.tracking import default_tracking_uri, finish_sweep, start_sweep, ui_command


def execute(spec: SweepSpec, groups: list[GroupPlan] | None, sweep_dir: Path, args: argparse.Namespace) -> int:
    store = ResultsStore(sweep_dir)
    if sweep_dir.exists() and store.records() and not args.resume:
        print(f"error: {sweep_dir} already holds results of this space; pass --resume to continue it "
              f"or --out to start elsewhere", file=sys.stderr)
        return 2
    code_error = check_or_record(sweep_dir, spec.family, args.allow_code_change)
    if code_error:
        print(f"error: {code_error}", file=sys.stderr)
        return 2
    (sweep_dir / "space.yaml").write_text(yaml.safe_dump(spec.resolved(), sort_keys=False))
    settled = store.settled_trial_ids()
    if groups is not None:
        total = len(groups)
        groups = [pending for g in groups if (pending := g.without(settled))]
        if settled:
            print(f"resuming {sweep_dir}: {len(settled)} trials already finished, {len(groups)} groups to run")
        history = []
    else:
        total = spec.search.num_samples
        history = searcher_history(spec, store.records())
        if history:
            print(f"resuming {sweep_dir}: the searcher is told the {len(history)} configurations already run; "
                  f"{max(0, total - len(history))} more to draw")

    out_root = Path(args.out)
    tracking_uri = args.tracking_uri or default_tracking_uri(out_root)
    info = start_sweep(spec.study, sweep_dir.name, sweep_dir, tracking_uri, out_root / "mlartifacts",
                       spec.resolved())
    settings = LoopSettings(
        steps=spec.budget.steps, eval_every=spec.budget.eval_every, checkpoint_every=spec.budget.checkpoint_every,
        objective=spec.objective, sweep_dir=sweep_dir.resolve(), shared_dir=(out_root / "_shared").resolve(),
        data_dir=Path(args.data_dir).resolve() if args.data_dir else None, tracking=info,
        num_threads=max(1, int(spec.resources.cpu)), early_stopping=spec.budget.early_stopping,
    )
    recorder = SweepRecorder(store, spec.objective, total, tracking=info, label_keys=tuple(p.name for p in spec.params))
    status = "FINISHED"
    try:
        if args.local:
            from sweepbed.local_runner import run_local

            run_local(spec, settings, recorder, groups, settled, history)
        else:
            from sweepbed.ray_runner import run_ray

            run_ray(spec, settings, recorder, groups, settled, address=args.address,
                    num_cpus=args.num_cpus, num_gpus=args.num_gpus, history=history)
    except KeyboardInterrupt:
        status = "KILLED"
        print("interrupted: finished trials are kept; run again with --resume to continue", file=sys.stderr)
    finally:
        store.write_parquet()
    return _conclude(spec, sweep_dir, store, info, tracking_uri, status)


def _analysis(spec: SweepSpec, sweep_dir: Path) -> list[Path]:
    """The sweep plots (results_analysis/sweep_plots.py) and the family's own report
    (``Family.sweep_report``) in ``<sweep>/analysis``. They run after every result is stored, so a failure
    is reported in one line and leaves the results and leaderboards intact."""
    from results_analysis.leaderboard import load_trials, read_space
    from results_analysis.sweep_plots import write_sweep_plots
    from trainables.registry import get_family

    trials, out_dir = load_trials(sweep_dir), sweep_dir / "analysis"
    makers = {"sweep plots": lambda: write_sweep_plots(trials, read_space(sweep_dir), out_dir),
              f"{spec.family}.sweep_report": lambda: get_family(spec.family).sweep_report(trials, out_dir)}
    paths: list[Path] = []
    for name, make in makers.items():
        try:
            made = list(make())
        except Exception as exc:  # noqa: BLE001 - analysis must never cost the sweep its results
            print(f"warning: {name} failed ({type(exc).__name__}: {exc}); results are kept", file=sys.stderr)
            continue
        for path in made:
            print(f"analysis: {path}")
        paths += made
    return paths


def _conclude(spec, sweep_dir, store, info, tracking_uri, status) -> int:
    from results_analysis.leaderboard import render, write_leaderboards

    paths = []
    if store.records():
        paths = list(write_leaderboards(sweep_dir).values())
        print()
        print(render(sweep_dir))
        paths += _analysis(spec, sweep_dir)
    finish_sweep(info, status, artifacts=[sweep_dir / "trials.parquet", *paths])
    counts = {}
    for r in store.records():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"\ntrials: {', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none'}; results in {sweep_dir}")
    print(f"MLflow UI: {ui_command(tracking_uri)}")
    return 0 if status == "FINISHED" else 1
