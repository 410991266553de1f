"""The shared loop on a toy family: lockstep reports, resume bit-identity, divergence, shared prefixes."""

from __future__ import annotations

import math

import pytest

from sweepbed.loop import LoopSettings, run_group, stop_reason
from sweepbed.planning import make_group
from sweepbed.recorder import SweepRecorder
from sweepbed.results_store import ResultsStore
from sweepbed.spec import EarlyStopping
from tests.toy_family import ToyFamily
from trainables import registry


@pytest.fixture(autouse=True)
def toy_registered(monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "toy", "tests.toy_family:ToyFamily")


def settings(tmp_path, steps=30, eval_every=10, checkpoint_every=5):
    return LoopSettings(steps=steps, eval_every=eval_every, checkpoint_every=checkpoint_every, objective="score",
                        sweep_dir=tmp_path / "sweep", shared_dir=tmp_path / "shared")


def test_group_reports_seed_mean_at_every_eval_point(tmp_path):
    group = make_group("toy", {}, (0, 1, 2), 30)
    reports = []
    final = run_group(group, settings(tmp_path), reports.append)
    assert [r["step"] for r in reports] == [10, 20, 30]
    assert [r["final"] for r in reports] == [False, False, True]
    for r in reports:
        scores = [s["metrics"]["score"] for s in r["seeds"]]
        assert r["objective"] == pytest.approx(sum(scores) / 3)
        assert len(set(scores)) == 3  # each seed its own numbers
    assert all(s["status"] == "done" for s in final["seeds"])
    assert not list((tmp_path / "sweep" / "checkpoints").glob("*.pt"))  # cleaned after finishing


def test_same_trial_same_numbers_and_seed_matters(tmp_path):
    a = run_group(make_group("toy", {}, (0, 1), 20), settings(tmp_path / "a", 20), lambda p: None)
    b = run_group(make_group("toy", {}, (0, 1), 20), settings(tmp_path / "b", 20), lambda p: None)
    assert a["seeds"] == b["seeds"]
    assert a["seeds"][0]["metrics"] != a["seeds"][1]["metrics"]


class Killed(Exception):
    pass


def test_killed_and_resumed_group_matches_uninterrupted(tmp_path):
    group = make_group("toy", {}, (0, 1), 30)
    clean = run_group(group, settings(tmp_path / "clean"), lambda p: None)

    def die_after_first_report(payload):
        raise Killed

    with pytest.raises(Killed):
        run_group(group, settings(tmp_path / "killed", checkpoint_every=5), die_after_first_report)
    ckpts = list((tmp_path / "killed" / "sweep" / "checkpoints").glob("*.pt"))
    assert len(ckpts) == 2  # both seeds checkpointed at step 10 before the report
    before = ToyFamily.steps_trained
    resumed_reports = []
    resumed = run_group(group, settings(tmp_path / "killed", checkpoint_every=5), resumed_reports.append)
    assert ToyFamily.steps_trained - before == 2 * 20  # only the remaining steps were trained
    assert [r["step"] for r in resumed_reports] == [10, 20, 30]  # history replayed for the scheduler
    assert [s["metrics"] for s in resumed["seeds"]] == [s["metrics"] for s in clean["seeds"]]


def test_divergence_ends_that_seed_only(tmp_path):
    group = make_group("toy", {"nan_at_step": 12}, (0,), 30)
    healthy = make_group("toy", {}, (0,), 30)
    diverging = run_group(group, settings(tmp_path), lambda p: None)
    seed = diverging["seeds"][0]
    assert seed["status"] == "diverged"
    assert "non-finite loss" in seed["reason"] and "step 13" in seed["reason"]
    assert diverging["final"]
    assert run_group(healthy, settings(tmp_path / "h"), lambda p: None)["seeds"][0]["status"] == "done"


def test_shared_prefix_trained_once_and_reused(tmp_path):
    s = settings(tmp_path, steps=30, eval_every=10)
    lam0 = make_group("toy", {"prefix_steps": 20, "lam": 0.0}, (0,), 30)
    lam1 = make_group("toy", {"prefix_steps": 20, "lam": 0.5}, (0,), 30)
    before = ToyFamily.steps_trained
    r0 = run_group(lam0, s, lambda p: None)
    assert ToyFamily.steps_trained - before == 30
    before = ToyFamily.steps_trained
    reports = []
    r1 = run_group(lam1, s, reports.append)
    assert ToyFamily.steps_trained - before == 10  # the 20 prefix steps came from the cache
    assert [r["step"] for r in reports] == [10, 20, 30]
    # identical to training lam=0.5 from scratch
    fresh = run_group(lam1, settings(tmp_path / "fresh", steps=30, eval_every=10), lambda p: None)
    assert r1["seeds"][0]["metrics"] == fresh["seeds"][0]["metrics"]
    assert r1["seeds"][0]["metrics"] != r0["seeds"][0]["metrics"]


def test_concurrent_group_waits_for_the_prefix_instead_of_training_it_again(tmp_path):
    """Two groups that share a prefix start together (as 16 concurrent Tune trials would): the second
    waits on the first's lock and starts from its cache, so the prefix is trained once."""
    import threading
    import time

    s = settings(tmp_path, steps=40, eval_every=20)
    lam0 = make_group("toy", {"prefix_steps": 20, "lam": 0.0, "noise": 0.2}, (0, 1), 40)
    lam1 = make_group("toy", {"prefix_steps": 20, "lam": 0.5, "noise": 0.2}, (0, 1), 40)
    original = ToyFamily.train_step

    def slow_step(self, step):
        time.sleep(0.01)
        return original(self, step)

    results = {}
    before = ToyFamily.steps_trained
    try:
        ToyFamily.train_step = slow_step
        first = threading.Thread(target=lambda: results.update(a=run_group(lam0, s, lambda p: None)))
        first.start()
        time.sleep(0.1)  # the first group holds the prefix locks by now
        results["b"] = run_group(lam1, s, lambda p: None)
        first.join()
    finally:
        ToyFamily.train_step = original
    assert ToyFamily.steps_trained - before == 2 * 40 + 2 * 20
    alone = run_group(lam1, settings(tmp_path / "alone", steps=40, eval_every=20), lambda p: None)
    assert results["b"]["seeds"] == [{**x, "run_id": None} for x in alone["seeds"]]


def test_recorder_writes_rows_with_final_statuses(tmp_path):
    store = ResultsStore(tmp_path)
    recorder = SweepRecorder(store, "score", 2)
    good = make_group("toy", {}, (0, 1), 20)
    bad = make_group("toy", {"nan_at_step": 3}, (0,), 20)
    for g in (good, bad):
        run_group(g, settings(tmp_path, steps=20), recorder.on_report)
        recorder.finish(g, "completed")
    df = store.dataframe()
    assert sorted(df["status"]) == ["diverged", "done", "done"]
    assert {"trial_id", "group_id", "family", "seed", "config.lr", "metric.score"} <= set(df.columns)
    assert store.settled_trial_ids() == set(df["trial_id"])
    # diverged before its first evaluation: it has no metric values (NaN), and a reason
    assert math.isnan(df.loc[df.status == "diverged", "metric.score"].iloc[0])
    assert "non-finite" in df.loc[df.status == "diverged", "reason"].iloc[0]


def test_recorder_marks_unfinished_group_pruned(tmp_path):
    store = ResultsStore(tmp_path)
    recorder = SweepRecorder(store, "score", 1)
    group = make_group("toy", {}, (0, 1), 30)
    reports = []
    with pytest.raises(Killed):
        run_group(group, settings(tmp_path), lambda p: (reports.append(p), recorder.on_report(p),
                                                        (_ for _ in ()).throw(Killed)))
    rows = recorder.finish(group, "completed")  # Tune reports completion when ASHA stops a trial
    assert [r["status"] for r in rows] == ["pruned", "pruned"]
    assert rows[0]["metric.score"] == reports[0]["seeds"][0]["metrics"]["score"]


# --- early stopping (budget.early_stopping) -------------------------------------------------------------
def stopping_settings(tmp_path, patience=2, **kw):
    rule = EarlyStopping(metric="mse", patience=patience, mode="min")
    return LoopSettings(**{**settings(tmp_path, steps=60, eval_every=5, **kw).__dict__, "early_stopping": rule})


def test_stop_reason_counts_evaluations_without_improvement():
    rule = EarlyStopping(metric="m", patience=2, mode="min", min_delta=0.1)
    hist = lambda *vals: [{"step": 10 * (i + 1), "metrics": {"m": v}} for i, v in enumerate(vals)]  # noqa: E731
    assert stop_reason(rule, hist(5, 4, 3.95)) is None  # 3.95 is within min_delta: one bad evaluation
    assert "did not improve on 4 for 2 evaluations" in stop_reason(rule, hist(5, 4, 3.95, 4.5))
    assert stop_reason(rule, hist(5, 4, 3.95, 3.5)) is None  # improvement resets the count
    assert stop_reason(rule, hist(5, float("nan"), float("nan"))) is not None  # NaN never improves
    assert stop_reason(rule, hist(9, 9, 9, 1, 2), after_step=30) is None  # earlier evaluations do not count
    maxi = EarlyStopping(metric="m", patience=1, mode="max")
    assert stop_reason(maxi, hist(1, 2)) is None and stop_reason(maxi, hist(2, 1)) is not None


def test_seed_that_stops_improving_stops_while_its_sibling_goes_on(tmp_path):
    group = make_group("toy", {"freeze_at_step": 10, "noise": 0.0}, (0, 1), 60)
    before = ToyFamily.steps_trained
    reports = []
    final = run_group(group, stopping_settings(tmp_path), reports.append)
    s0, s1 = final["seeds"]
    # seed 0 freezes at step 10: evaluations at 15 and 20 do not improve -> stops at 20; seed 1 (frozen at 20) at 30
    assert (s0["step"], s1["step"]) == (20, 30)
    assert s0["status"] == s1["status"] == "done" and "early stopped at step 20: mse" in s0["reason"]
    assert ToyFamily.steps_trained - before == 20 + 30  # no step is trained after stopping
    assert reports[-1]["final"] and reports[-1]["step"] == 30  # the group ends when its last seed stops
    assert final["mean"]["mse"] == pytest.approx((s0["metrics"]["mse"] + s1["metrics"]["mse"]) / 2)


def test_early_stopped_group_resumes_to_the_same_end(tmp_path):
    group = make_group("toy", {"freeze_at_step": 10, "noise": 0.0}, (0, 1), 60)
    clean = run_group(group, stopping_settings(tmp_path / "clean"), lambda p: None)
    seen = []

    def die_at_step_25(payload):
        seen.append(payload["step"])
        if payload["step"] == 25:  # seed 0 has stopped (at 20), seed 1 has not
            raise Killed

    with pytest.raises(Killed):
        run_group(group, stopping_settings(tmp_path / "killed"), die_at_step_25)
    before = ToyFamily.steps_trained
    resumed = run_group(group, stopping_settings(tmp_path / "killed"), lambda p: None)
    assert ToyFamily.steps_trained - before == 5  # only seed 1's steps 25..30; seed 0 stays stopped
    assert resumed["seeds"] == clean["seeds"]


def test_early_stopping_is_part_of_the_trial_identity():
    rule = EarlyStopping(metric="mse", patience=2, mode="min")
    plain, stopped = make_group("toy", {}, (0,), 60), make_group("toy", {}, (0,), 60, rule)
    assert plain.trials[0].trial_id != stopped.trials[0].trial_id
    assert stopped.trials[0].trial_id == make_group("toy", {}, (0,), 60, rule).trials[0].trial_id


def test_prefix_cached_under_other_evaluation_points_is_not_evaluated_in_the_past(tmp_path):
    """A prefix cached by a sweep evaluating every 10 steps, reused by one evaluating every 15: the reused
    trial starts at step 20 and must not evaluate its step-20 model as 'step 15'."""
    lam0 = make_group("toy", {"prefix_steps": 20, "lam": 0.0}, (0,), 30)
    lam1 = make_group("toy", {"prefix_steps": 20, "lam": 0.5}, (0,), 30)
    run_group(lam0, settings(tmp_path, steps=30, eval_every=10), lambda p: None)
    reports = []
    before = ToyFamily.evaluations
    run_group(lam1, settings(tmp_path, steps=30, eval_every=15), reports.append)
    assert [r["step"] for r in reports] == [15, 30]
    first = reports[0]["seeds"][0]
    assert first["step"] == 20 and first["eval_step"] == 10  # reported what it has: the cached step-10 evaluation
    assert ToyFamily.evaluations - before == 1  # only at step 30


def test_prefix_cache_is_per_device_type(tmp_path):
    import torch

    from sweepbed.loop import GroupLoop

    group = make_group("toy", {"prefix_steps": 20}, (0,), 30)
    s = settings(tmp_path)
    cpu = GroupLoop(group, s, lambda p: None, device=torch.device("cpu")).prefix_path(0)
    cuda = GroupLoop(group, s, lambda p: None, device=torch.device("cuda")).prefix_path(0)
    assert cpu != cuda and cpu.parent == cuda.parent
