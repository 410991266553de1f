"""Known-answer tests of the dataset-driven dlib scores: FactorVAE, β-VAE and IRS.

The toy dataset (tests/dlib_toy_data.py) renders factors directly, so ``identity`` is a perfect
representation. Plain per-vote / per-point references written from dlib's algorithm (in
dlib_toy_data.py) check that the
chunked, vectorised implementations draw the same random stream and give the same numbers; when
disentanglement_lib is installed in a separate venv (``SWEEPBED_DLIB_PYTHON``, default
/tmp/dlibvenv/bin/python) the last tests compare against dlib itself, and skip otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.dlib_toy_data import (
    ToyFactorData,
    all_dead,
    entangled,
    identity,
    ref_beta_vae,
    ref_factor_vae,
    ref_irs,
    rotated,
    with_dead_latent,
    without_last_factor,
)
from trainables.metrics.beta_vae_score import beta_vae_score
from trainables.metrics.dci import dci
from trainables.metrics.discretize import discretize
from trainables.metrics.factor_vae_score import factor_vae_score
from trainables.metrics.irs import irs, irs_from_codes

REPO = Path(__file__).resolve().parents[1]
SMALL_FVAE = {"batch_size": 32, "num_train": 200, "num_eval": 150, "num_variance_estimate": 500}
SMALL_BVAE = {"batch_size": 32, "num_train": 200, "num_eval": 150}
SMALL_IRS = {"num_train": 1500, "batch_size": 16}
FVAE_KEYS = ("factor_vae_train_accuracy", "factor_vae_eval_accuracy", "factor_vae_num_active_dims")


def rs(seed=0):
    return np.random.RandomState(seed)


class Counting:
    """Wraps a representation and records the row count of every call."""

    def __init__(self, fn):
        self.fn, self.rows = fn, []

    def __call__(self, obs):
        self.rows.append(len(obs))
        return self.fn(obs)


def plus_dead(fn):
    return lambda obs: np.concatenate([fn(obs), np.zeros((len(obs), 1), np.float32)], axis=1)


# --- FactorVAE ----------------------------------------------------------------------------------


def test_factor_vae_perfect_representation_scores_one():
    out = factor_vae_score(ToyFactorData(), identity, rs(), **SMALL_FVAE)
    assert out == dict(zip(FVAE_KEYS, (1.0, 1.0, 3)))


@pytest.mark.parametrize("rep", [rotated, entangled, without_last_factor])
def test_factor_vae_matches_per_vote_reference(rep):
    out = factor_vae_score(ToyFactorData(), rep, rs(3), **SMALL_FVAE)
    train, evaluation = ref_factor_vae(ToyFactorData(), rep, rs(3), **SMALL_FVAE, threshold=0.05)
    assert out["factor_vae_train_accuracy"] == pytest.approx(train, abs=1e-12)
    assert out["factor_vae_eval_accuracy"] == pytest.approx(evaluation, abs=1e-12)


def test_factor_vae_ignored_factor_loses_exactly_its_votes():
    # Votes for the missing factor go to latents whose majority is another factor: accuracy is the
    # share of evaluation votes that fixed factor 0 or 1 (replayed from the same stream).
    data, state = ToyFactorData(), rs(5)
    out = factor_vae_score(data, without_last_factor, state, **SMALL_FVAE)
    replay = rs(5)
    data.sample_factors(SMALL_FVAE["num_variance_estimate"], replay)
    ks = []
    for _ in range(SMALL_FVAE["num_train"] + SMALL_FVAE["num_eval"]):
        ks.append(replay.randint(3))
        data.sample_factors(SMALL_FVAE["batch_size"], replay)
    eval_ks = np.array(ks[SMALL_FVAE["num_train"] :])
    assert out["factor_vae_eval_accuracy"] == pytest.approx(np.mean(eval_ks != 2), abs=1e-12)
    assert out["factor_vae_num_active_dims"] == 2


@pytest.mark.parametrize("threshold", [0.05, 0.0])
def test_factor_vae_dead_latent_changes_nothing(threshold):
    # dlib with threshold 0 keeps the dead latent, divides 0 by 0 and argmin picks the NaN.
    kwargs = {**SMALL_FVAE, "prune_threshold": threshold}
    base = factor_vae_score(ToyFactorData(), rotated, rs(1), **kwargs)
    dead = factor_vae_score(ToyFactorData(), plus_dead(rotated), rs(1), **kwargs)
    assert dead == base
    assert 0.3 < base["factor_vae_eval_accuracy"] < 0.85  # a rotation scores lower than 1


def test_factor_vae_threshold_prunes_by_std_not_variance():
    # dlib compares the std with the threshold: std 0.04 is pruned, std 0.06 kept (both variances < 0.05).
    small = {**SMALL_FVAE, "num_train": 20, "num_eval": 10}
    unit = np.sqrt(5 / 36)  # std of latent 0 of identity (values 0, 1/3, 2/3, 1)

    def scaled(std):
        return lambda obs: identity(obs)[:, :1] * np.float32(std / unit)

    assert factor_vae_score(ToyFactorData(), scaled(0.04), rs(), **small)["factor_vae_num_active_dims"] == 0
    assert factor_vae_score(ToyFactorData(), scaled(0.06), rs(), **small)["factor_vae_num_active_dims"] == 1


def test_factor_vae_all_dead_is_zero_like_dlib():
    counting = Counting(all_dead)
    out = factor_vae_score(ToyFactorData(), counting, rs(), **SMALL_FVAE)
    assert out == dict(zip(FVAE_KEYS, (0.0, 0.0, 0)))
    assert counting.rows == [SMALL_FVAE["num_variance_estimate"]]  # no votes drawn


def test_factor_vae_calls_representation_on_big_chunks():
    counting, data = Counting(rotated), ToyFactorData()
    factor_vae_score(
        data, counting, rs(), batch_size=64, num_train=200, num_eval=100, num_variance_estimate=5000
    )
    # variance rows in chunks of 4096; then 64 votes x 64 rows per call: 200 -> 4 calls, 100 -> 2 calls.
    assert counting.rows == [4096, 904, 4096, 4096, 4096, 512, 4096, 2304]
    assert data.num_observation_calls == len(counting.rows)


def test_factor_vae_chunking_and_seed():
    a = factor_vae_score(ToyFactorData(), entangled, rs(7), **SMALL_FVAE)
    b = factor_vae_score(ToyFactorData(), entangled, rs(7), **SMALL_FVAE, rows_per_call=1)
    c = factor_vae_score(ToyFactorData(), rotated, rs(8), **SMALL_FVAE)
    assert a == b  # one vote per call gives the same votes as many
    assert c != factor_vae_score(ToyFactorData(), rotated, rs(9), **SMALL_FVAE)


def test_factor_vae_rejects_bad_input():
    with pytest.raises(ValueError, match="batch_size"):
        factor_vae_score(ToyFactorData(), identity, rs(), batch_size=1)
    with pytest.raises(ValueError, match="prune_threshold"):
        factor_vae_score(ToyFactorData(), identity, rs(), prune_threshold=-1.0)
    with pytest.raises(ValueError, match="rows"):
        factor_vae_score(ToyFactorData(), lambda o: identity(o)[:-1], rs(), **SMALL_FVAE)
    with pytest.raises(ValueError, match="NaN"):
        factor_vae_score(ToyFactorData(), lambda o: identity(o) * np.nan, rs(), **SMALL_FVAE)


# --- β-VAE --------------------------------------------------------------------------------------


def test_beta_vae_perfect_representation_scores_one():
    out = beta_vae_score(ToyFactorData(), identity, rs(), **SMALL_BVAE)
    assert out == {"beta_vae_train_accuracy": 1.0, "beta_vae_eval_accuracy": 1.0}


@pytest.mark.parametrize("rep", [rotated, entangled])
def test_beta_vae_matches_per_point_reference(rep):
    out = beta_vae_score(ToyFactorData(), rep, rs(4), **SMALL_BVAE)
    train, evaluation = ref_beta_vae(ToyFactorData(), rep, rs(4), **SMALL_BVAE)
    assert out == {"beta_vae_train_accuracy": train, "beta_vae_eval_accuracy": evaluation}


def test_beta_vae_one_latent_for_three_factors_is_near_two_thirds():
    # Only factor 0 is encoded: k=0 gives feature 0; k=1 and k=2 give the same feature distribution,
    # so they are told apart by chance: accuracy about 1/3 + 1/3.
    out = beta_vae_score(ToyFactorData(), lambda o: identity(o)[:, :1], rs(), **SMALL_BVAE)
    assert out["beta_vae_eval_accuracy"] == pytest.approx(2 / 3, abs=0.1)


def test_beta_vae_rotation_scores_lower_and_is_deterministic():
    a = beta_vae_score(ToyFactorData(), rotated, rs(2), **SMALL_BVAE)
    assert a["beta_vae_eval_accuracy"] < 0.95
    assert a == beta_vae_score(ToyFactorData(), rotated, rs(2), **SMALL_BVAE, rows_per_call=1)
    assert a != beta_vae_score(ToyFactorData(), rotated, rs(3), **SMALL_BVAE)


def test_beta_vae_calls_representation_on_big_chunks():
    counting = Counting(identity)
    beta_vae_score(ToyFactorData(), counting, rs(), batch_size=64, num_train=100, num_eval=40)
    # 32 points x 2 batches x 64 rows per call: 100 -> 4 calls, 40 -> 2 calls.
    assert counting.rows == [4096, 4096, 4096, 512, 4096, 1024]


def test_beta_vae_rejects_single_factor_and_single_label():
    with pytest.raises(ValueError, match="two factors"):
        beta_vae_score(ToyFactorData((5,)), identity, rs(), **SMALL_BVAE)
    data = ToyFactorData((2, 3))

    def first_two_labels(seed):  # replay the stream: label, two batches of 4, label
        state = rs(seed)
        first = state.randint(2)
        data.sample_factors(4, state), data.sample_factors(4, state)
        return first, state.randint(2)

    seed = next(s for s in range(100) if len(set(first_two_labels(s))) == 1)
    with pytest.raises(ValueError, match="same factor"):
        beta_vae_score(data, identity, rs(seed), batch_size=4, num_train=2, num_eval=2)


# --- IRS ----------------------------------------------------------------------------------------


def grid(sizes, repeats=1):
    axes = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
    return np.repeat(np.stack([a.ravel() for a in axes], axis=1), repeats, axis=0)


def test_irs_from_codes_hand_computed():
    f = grid((2, 2))
    assert irs_from_codes(f.astype(float), f) == 1.0
    # z = f0 + f1: fixing either factor leaves a deviation of 0.5 out of a maximal 1 -> 0.5.
    assert irs_from_codes((f[:, :1] + f[:, 1:]).astype(float), f) == pytest.approx(0.5)
    # Weighted by maximal deviation: z0 = f0 (score 1, weight 0.5), z1 = 4 (f0 + f1) (0.5, weight 4).
    z = np.stack([f[:, 0], 4 * (f[:, 0] + f[:, 1])], axis=1).astype(float)
    assert irs_from_codes(z, f) == pytest.approx((0.5 * 1 + 4 * 0.5) / 4.5)


def test_irs_perfect_and_rotated():
    perfect = irs(ToyFactorData(), identity, rs(), **SMALL_IRS)
    assert perfect["irs"] == pytest.approx(1.0, abs=1e-5) and perfect["irs_num_active_dims"] == 3
    assert irs(ToyFactorData(), rotated, rs(), **SMALL_IRS)["irs"] < 0.6


@pytest.mark.parametrize("rep", [rotated, entangled])
def test_irs_matches_reference(rep):
    out = irs(ToyFactorData(), rep, rs(6), **SMALL_IRS)
    assert out["irs"] == pytest.approx(ref_irs(ToyFactorData(), rep, rs(6), **SMALL_IRS), abs=1e-6)


def test_irs_drops_dead_latents_and_all_dead_is_zero():
    base = irs(ToyFactorData(), rotated, rs(2), **SMALL_IRS)
    dead = irs(ToyFactorData(), plus_dead(rotated), rs(2), **SMALL_IRS)
    assert dead == base and base["irs_num_active_dims"] == 3
    assert irs(ToyFactorData(), all_dead, rs(), **SMALL_IRS) == {"irs": 0.0, "irs_num_active_dims": 0}


def test_irs_merges_factor_values_beyond_num_bins():
    # 40 values in 20 bins: neighbouring values share a group, so on a balanced grid a perfect
    # latent deviates by 1/2 value within a group out of a maximal 39/2 -> IRS = 1 - 1/39.
    f = grid((40,))
    assert irs_from_codes(f.astype(float), discretize(f, 20)) == pytest.approx(1 - 1 / 39, abs=1e-12)
    # Sampled groups are not exactly balanced, which moves the group mean a little.
    out = irs(ToyFactorData((40,)), identity, rs(), num_train=4000, batch_size=16)
    assert out["irs"] == pytest.approx(1 - 1 / 39, abs=3e-3)


def test_irs_chunks_and_batch_size_only_changes_the_draws():
    counting = Counting(rotated)
    a = irs(ToyFactorData(), counting, rs(1), num_train=5000, batch_size=16)
    assert counting.rows == [4096, 904]
    assert a == irs(ToyFactorData(), rotated, rs(1), num_train=5000, batch_size=16, rows_per_call=7)
    assert a != irs(ToyFactorData(), rotated, rs(1), num_train=5000, batch_size=5000)


# --- the project's GroundTruthData --------------------------------------------------------------


def test_scores_accept_the_projects_ground_truth_data():
    from tests.grid_dataset import Grid

    def decode(obs):  # (B, 1, 1, 2) in [0, 1] -> the factors
        return np.round(obs.reshape(len(obs), -1) * 255 / 50).astype(np.float32)

    small = {"batch_size": 16, "num_train": 50, "num_eval": 30}
    assert (
        factor_vae_score(Grid(), decode, rs(), **small, num_variance_estimate=200)["factor_vae_eval_accuracy"]
        == 1.0
    )
    assert beta_vae_score(Grid(), decode, rs(), **small)["beta_vae_eval_accuracy"] == 1.0
    assert irs(Grid(), decode, rs(), num_train=500)["irs"] == pytest.approx(1.0, abs=1e-6)


# --- disentanglement_lib itself (skips without a dlib venv) -------------------------------------

DLIB_PYTHON = os.environ.get("SWEEPBED_DLIB_PYTHON", "/tmp/dlibvenv/bin/python")

# Runs dlib's metric functions on the toy data in dlib's own interpreter and prints JSON. dlib
# imports gin.tf only for its decorators; a stub module stands in for TensorFlow.
DLIB_SCRIPT = r"""
import json, sys, types
try:
    import gin
    stub = types.ModuleType("gin.tf"); sys.modules["gin.tf"] = stub; gin.tf = stub
    from disentanglement_lib.evaluation.metrics import beta_vae, dci, factor_vae, irs
except ImportError as exc:
    print(exc); sys.exit(77)
import numpy as np
sys.path.insert(0, sys.argv[1])
from tests import dlib_toy_data as toy
cfg = json.loads(sys.argv[2])
gin.parse_config("discretizer.num_bins = 20\ndiscretizer.discretizer_fn = @histogram_discretizer")
out = {}
for name in cfg["reps"]:
    rep, data = toy.REPRESENTATIONS[name], toy.ToyFactorData()
    for thr in (0.05, 0.0):
        gin.bind_parameter("prune_dims.threshold", thr)
        r = factor_vae.compute_factor_vae(data, rep, np.random.RandomState(cfg["seed"]), **cfg["fvae"])
        out[f"fvae/{name}/{thr}"] = [float(r["train_accuracy"]), float(r["eval_accuracy"]), int(r["num_active_dims"])]
    r = beta_vae.compute_beta_vae_sklearn(data, rep, np.random.RandomState(cfg["seed"]), **cfg["bvae"])
    out[f"bvae/{name}"] = [float(r["train_accuracy"]), float(r["eval_accuracy"])]
    r = irs.compute_irs(data, rep, np.random.RandomState(cfg["seed"]), **cfg["irs"])
    out[f"irs/{name}"] = [float(r["IRS"])]
# dlib's DCI leaves its trees unseeded (numpy's global RNG); seeded as ours so ties break alike.
import functools
from sklearn import ensemble
dci.ensemble = types.SimpleNamespace(
    GradientBoostingClassifier=functools.partial(ensemble.GradientBoostingClassifier, random_state=0))
codes, factors = toy.dci_codes()
r = dci._compute_dci(codes[:600].T, factors[:600].T, codes[600:].T, factors[600:].T)
out["dci"] = [float(r[key]) for key in ("disentanglement", "completeness", "informativeness_train", "informativeness_test")]
print(json.dumps(out))
"""
DLIB_REPS = ["identity", "rotated", "entangled", "without_last_factor", "with_dead_latent"]


@pytest.fixture(scope="module")
def dlib_results():
    if not Path(DLIB_PYTHON).exists():
        pytest.skip(f"no disentanglement_lib venv at {DLIB_PYTHON} (set SWEEPBED_DLIB_PYTHON)")
    cfg = {"reps": DLIB_REPS, "seed": 11, "fvae": SMALL_FVAE, "bvae": SMALL_BVAE, "irs": SMALL_IRS}
    proc = subprocess.run(
        [DLIB_PYTHON, "-c", DLIB_SCRIPT, str(REPO), json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode == 77:
        pytest.skip(f"disentanglement_lib does not import: {proc.stdout.strip()}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", DLIB_REPS)
def test_matches_disentanglement_lib(dlib_results, name):
    from tests import dlib_toy_data

    rep = dlib_toy_data.REPRESENTATIONS[name]
    fvae = factor_vae_score(ToyFactorData(), rep, rs(11), **SMALL_FVAE)
    dlib_train, dlib_eval, dlib_dims = dlib_results[f"fvae/{name}/0.05"]
    assert (fvae["factor_vae_train_accuracy"], fvae["factor_vae_eval_accuracy"]) == (dlib_train, dlib_eval)
    assert dlib_dims == (4 if name == "with_dead_latent" else fvae["factor_vae_num_active_dims"])
    if name != "with_dead_latent":  # with threshold 0 only the dead latent differs (next test)
        assert dlib_results[f"fvae/{name}/0.0"] == dlib_results[f"fvae/{name}/0.05"]
    bvae = beta_vae_score(ToyFactorData(), rep, rs(11), **SMALL_BVAE)
    assert [bvae["beta_vae_train_accuracy"], bvae["beta_vae_eval_accuracy"]] == dlib_results[f"bvae/{name}"]
    ours = irs(ToyFactorData(), rep, rs(11), **SMALL_IRS)["irs"]
    assert ours == pytest.approx(dlib_results[f"irs/{name}"][0], abs=1e-6)


def test_dci_matches_disentanglement_lib(dlib_results):
    # Our default trees are presorted_tree's port of sklearn's builder; dlib fits sklearn's own.
    from tests.dlib_toy_data import dci_codes

    codes, factors = dci_codes()
    ours = dci(codes[:600], factors[:600], codes[600:], factors[600:])
    keys = ("dci_disentanglement", "dci_completeness", "dci_informativeness_train", "dci_informativeness_test")
    assert [ours[key] for key in keys] == dlib_results["dci"]


def test_dlib_dead_latent_nan_quirk_is_what_we_avoid(dlib_results):
    # dlib, threshold 0: every vote goes to the dead latent's NaN ratio; the classifier then names
    # one factor for everything (about 1/3). We prune the dead latent and keep the perfect score.
    dlib_train, dlib_eval, _ = dlib_results["fvae/with_dead_latent/0.0"]
    assert dlib_eval == pytest.approx(1 / 3, abs=0.1)
    ours = factor_vae_score(ToyFactorData(), with_dead_latent, rs(11), **SMALL_FVAE, prune_threshold=0.0)
    assert ours["factor_vae_eval_accuracy"] == 1.0
