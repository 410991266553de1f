"""Family gce: data (class subsets, CIFAR-10 batches written here), one step of each stage, the frozen
classifier, determinism and resume across the stage boundary, evaluation, artifacts, and the classifier
stage shared through the real loop (trained once for two explainer trials with different λ)."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sweepbed.loop import LoopSettings, run_group
from sweepbed.planning import make_group
from tests.conftest import SHARED_DATA
from trainables.datasets.array_files import DatasetNotFound
from trainables.family import RunContext
from trainables.gce import GCE, GCEConfig
from trainables.gce import data as gce_data
from trainables.gce.family import constrained_flow

DATA = SHARED_DATA
needs_mnist = pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason="MNIST IDX files not in ../shared/data")
CPU = RunContext(device=torch.device("cpu"), data_dir=DATA)
TINY = {"classifier_steps": 2, "classifier_batch_size": 8, "batch_size": 8, "n_alpha": 1, "n_beta": 2,
        "sample_counts": "custom", "n_alpha_samples": 3, "n_beta_samples": 4, "eval_samples": 16,
        "eval_batch_size": 16, "classifier_eval_samples": 32}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these models are tiny, and on a shared 2-core machine two threads spin-wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make(seed=0, **kw) -> GCE:
    return GCE(GCEConfig(**{**TINY, **kw}), seed, CPU)


def params(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


# --- data -------------------------------------------------------------------------------------------
def write_cifar(root: Path, per_batch: int = 3) -> None:
    folder = root / gce_data.CIFAR_FOLDER
    folder.mkdir(parents=True)
    for b, name in enumerate((*gce_data.CIFAR_TRAIN_FILES, *gce_data.CIFAR_TEST_FILES)):
        data = np.zeros((per_batch, 3072), dtype=np.uint8)
        for i in range(per_batch):
            data[i, :1024], data[i, 1024:2048], data[i, 2048:] = 10 * b + i, 100, 200  # R, G, B planes
            data[i, 1] = 7  # red plane, row 0, column 1
        labels = [(b + i) % 10 for i in range(per_batch)]
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh, protocol=2)


def test_cifar10_batches_load_as_nchw_with_labels(tmp_path):
    write_cifar(tmp_path)
    images, labels = gce_data.load_cifar10_split(tmp_path, "train")
    assert images.shape == (15, 3, 32, 32) and images.dtype == np.uint8
    assert labels.tolist() == [(b + i) % 10 for b in range(5) for i in range(3)]
    assert images[4, 0, 5, 5] == 11 and images[4, 1, 5, 5] == 100 and images[4, 2, 31, 31] == 200  # batch 2, row 1
    assert images[0, 0, 0, 1] == 7  # byte 1 of the red plane is row 0, column 1
    test_images, test_labels = gce_data.load_split("cifar10", tmp_path, "test")
    assert test_images.shape == (3, 3, 32, 32) and test_labels.tolist() == [5, 6, 7]
    subset = gce_data.load_subset("cifar10", tmp_path, (6, 5), "cpu")
    assert subset.image_shape == (3, 32, 32) and subset.num_classes == 2
    assert subset.test_labels.tolist() == [1, 0]  # class 5 -> 1, class 6 -> 0: the order of include_classes


def test_missing_cifar_names_the_file(tmp_path):
    with pytest.raises(DatasetNotFound, match="cifar-10-batches-py/data_batch_1 not found"):
        gce_data.check_available("cifar10", tmp_path)
    with pytest.raises(FileNotFoundError, match="fashion-mnist"):
        GCE.check_data(GCEConfig(dataset="fmnist"), tmp_path)


def test_select_classes_keeps_and_renumbers_in_the_given_order():
    images = np.arange(6)[:, None]
    labels = np.array([3, 8, 1, 8, 3, 9])
    kept, remapped = gce_data.select_classes(images, labels, (8, 3))
    assert kept[:, 0].tolist() == [0, 1, 3, 4] and remapped.tolist() == [1, 0, 0, 1]
    assert gce_data.select_classes(images, labels, ())[1].tolist() == labels.tolist()


@needs_mnist
def test_mnist_subset_is_the_two_digits():
    subset = gce_data.load_subset("mnist", DATA, (3, 8), "cpu")
    assert len(subset.train_labels) == 6131 + 5851 and len(subset.test_labels) == 1010 + 974
    assert set(subset.train_labels.unique().tolist()) == {0, 1} and subset.image_shape == (1, 28, 28)


# --- the validation split -----------------------------------------------------------------------------
def test_val_rows_depend_on_the_data_seed_only():
    rows = gce_data.val_rows(600, 1 / 6, 0)
    assert len(rows) == 100 and len(set(rows.tolist())) == 100 and rows.tolist() == sorted(rows.tolist())
    assert np.array_equal(rows, gce_data.val_rows(600, 1 / 6, 0))
    assert not np.array_equal(rows, gce_data.val_rows(600, 1 / 6, 1))
    assert len(gce_data.val_rows(600, 0.0, 0)) == 0


@needs_mnist
def test_val_rows_are_held_out_of_training_the_same_for_every_trial_seed_and_evaluated():
    subset = gce_data.load_subset("mnist", DATA, (3, 8), "cpu")
    a, b = make(0, eval_samples=0, classifier_eval_samples=0), make(7, eval_samples=0, classifier_eval_samples=0)
    n_train = len(subset.train_labels)
    val = a.data.val_rows
    assert len(val) == round(n_train / 6) and np.array_equal(val, b.data.val_rows)  # trial seed plays no part
    assert a.data.eval_images is b.data.eval_images  # one copy per process, shared by trials
    # training rows and validation rows partition the subset's training rows: nothing validated is trained on
    rest = np.setdiff1d(np.arange(n_train), val)
    assert len(rest) + len(val) == n_train and len(a.data.train_labels) == len(rest)
    assert torch.equal(a.data.train_images, subset.train_images[torch.from_numpy(rest)])
    assert torch.equal(a.data.eval_images, subset.train_images[torch.from_numpy(val)])
    assert torch.equal(a.data.eval_labels, subset.train_labels[torch.from_numpy(val)])
    assert len(a.eval_rows()) == len(val)  # NLL / accuracy drops evaluate every validation row
    test = make(0, eval_samples=0, eval_split="test")
    assert len(test.eval_rows()) == len(subset.test_labels)
    assert torch.equal(test.data.train_images, a.data.train_images)  # training is the same for either split


@needs_mnist
def test_evaluation_uses_the_chosen_split():
    """classifier_acc is the accuracy over every validation row; the test split gives other numbers."""
    val, test = make(2, classifier_eval_samples=0), make(2, classifier_eval_samples=0, eval_split="test")
    for s in range(3):
        assert val.train_step(s) == test.train_step(s)  # identical training
    acc = val.evaluate()["classifier_acc"]
    assert len(val.data.eval_labels) == len(val.data.val_rows)
    preds = val.classifier(val.as_float(val.data.eval_images)).argmax(-1)
    assert acc == pytest.approx(float((preds == val.data.eval_labels).double().mean()))
    assert test.evaluate() != val.evaluate()


def test_split_settings_are_in_the_shared_prefix_key_and_validated():
    base = GCE.shared_prefix(GCEConfig()).key
    for change in ({"eval_split": "test"}, {"val_fraction": 0.1}, {"data_seed": 1}):
        assert GCE.shared_prefix(GCEConfig(**change)).key != base, change
    with pytest.raises(ValueError, match="val_fraction"):
        GCE.validate_config({"val_fraction": 0.0})
    GCE.validate_config({"val_fraction": 0.0, "eval_split": "test"})  # FACT: no hold-out, test only
    with pytest.raises(ValueError, match="eval_split"):
        GCE.validate_config({"eval_split": "train"})


# --- the two stages ---------------------------------------------------------------------------------
@needs_mnist
def test_one_step_of_each_stage_and_the_classifier_is_frozen_in_stage_two():
    model = make()
    enc, clf = params(model.encoder), params(model.classifier)
    out = model.train_step(0)
    assert set(out) == {"classifier_loss"} and math.isfinite(out["classifier_loss"])
    assert not torch.equal(params(model.classifier), clf) and torch.equal(params(model.encoder), enc)
    model.train_step(1)
    clf = params(model.classifier)
    out = model.train_step(2)  # the first explainer step
    assert set(out) == {"loss", "nll", "nll_recon", "nll_kl", "info_flow"}
    assert out["loss"] == pytest.approx(0.05 * out["nll"] - out["info_flow"], rel=1e-5)
    assert torch.equal(params(model.classifier), clf)  # frozen
    assert not torch.equal(params(model.encoder), enc)
    assert not model.classifier.training and all(not p.requires_grad for p in model.classifier.parameters())


@needs_mnist
def test_evaluation_per_stage_and_it_does_not_touch_training_streams():
    a, b = make(1), make(1)
    for s in range(2):
        a.train_step(s)
        b.train_step(s)
    assert set(a.evaluate()) == {"classifier_acc", "classifier_loss"}  # stage 1: classifier metrics only
    a.train_step(2)
    b.train_step(2)
    metrics = a.evaluate()
    expected = {"classifier_acc", "classifier_loss", "info_flow", "info_flow_constrained", "nll", "nll_recon",
                "nll_kl", "loss", "acc_original", "acc_reencoded", *(f"info_flow_z{d}" for d in range(3)),
                *(f"acc_drop_z{d}" for d in range(3))}
    assert set(metrics) == expected and expected <= set(GCE.metrics)
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics == a.evaluate()  # fixed evaluation draws
    assert a.train_step(3) == b.train_step(3)  # evaluating did not change what training draws


@needs_mnist
def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = make(0), make(0), make(1)
    la = [a.train_step(s) for s in range(4)]
    assert la == [b.train_step(s) for s in range(4)]
    assert la != [c.train_step(s) for s in range(4)]
    assert torch.equal(params(a.decoder), params(b.decoder))


@needs_mnist
def test_resume_across_the_stage_boundary_is_bit_identical():
    straight = make(3)
    losses = [straight.train_step(s) for s in range(5)]
    first = make(3)
    first.train_step(0)
    saved = first.state_dict()
    resumed = make(3)
    resumed.load_state_dict(saved)
    assert [resumed.train_step(s) for s in range(1, 5)] == losses[1:]
    assert torch.equal(params(resumed.decoder), params(straight.decoder))
    mid = make(3)
    for s in range(4):
        mid.train_step(s)
    again = make(3)
    again.load_state_dict(mid.state_dict())
    assert again.train_step(4) == losses[4]
    boundary = make(3)  # exactly at the end of stage 1, where the state leaves the explainer out
    for s in range(2):
        boundary.train_step(s)
    fresh = make(3)
    fresh.load_state_dict(boundary.state_dict())
    assert [fresh.train_step(s) for s in range(2, 5)] == losses[2:]


@needs_mnist
def test_end_of_stage_one_state_holds_nothing_of_the_explainer():
    """The shared prefix's snapshot: a K=2 trial can start from a K=1 trial's classifier."""
    one = make(0)
    for s in range(2):
        one.train_step(s)
    state = one.state_dict()
    assert not {"encoder", "decoder", "exp_opt", "exp_gen"} & set(state)
    other = make(0, n_alpha=2, n_beta=3, lam=0.5)
    other.load_state_dict(state)
    assert torch.equal(params(other.classifier), params(one.classifier))
    assert torch.equal(params(other.encoder), params(make(0, n_alpha=2, n_beta=3).encoder))  # fresh init kept


@needs_mnist
def test_stage_one_does_not_depend_on_the_explainer_config():
    """What the shared prefix relies on: trained alone, stage 1 ends in the same state and history for any
    explainer settings (the cache test above cannot see this: it never trains stage 1 twice)."""
    explainer = {"n_alpha": 2, "n_beta": 3, "lam": 0.5, "lr": 1e-3, "batch_size": 4, "init": "default",
                 "n_alpha_samples": 5, "nll": "bce_meankl", "adam_beta1": 0.9}
    a, b = make(4), make(4, **explainer)
    assert [a.train_step(s) for s in range(2)] == [b.train_step(s) for s in range(2)]
    assert a.evaluate() == b.evaluate()
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    assert all(torch.equal(sa["classifier"][k], sb["classifier"][k]) for k in sa["classifier"])
    assert torch.equal(sa["clf_gen"], sb["clf_gen"])
    mom_a, mom_b = (s["clf_opt"]["state"] for s in (sa, sb))
    assert all(torch.equal(mom_a[i]["momentum_buffer"], mom_b[i]["momentum_buffer"]) for i in mom_a)


def test_frozen_vgg_keeps_its_batch_norm_statistics_and_drops_no_units(tmp_path):
    """Stage 2 on a VGG-11 (CIFAR-10 files written here): batch-norm running statistics and every weight
    stay as stage 1 left them, and the classifier is deterministic (dropout off)."""
    write_cifar(tmp_path, per_batch=4)
    config = GCEConfig(**{**TINY, "dataset": "cifar10", "include_classes": (), "classifier": "vgg11",
                          "classifier_steps": 1, "classifier_batch_size": 4, "batch_size": 2,
                          "n_alpha_samples": 2, "n_beta_samples": 2, "eval_samples": 4, "eval_batch_size": 4,
                          "classifier_eval_samples": 4})
    model = GCE(config, 0, RunContext(device=torch.device("cpu"), data_dir=tmp_path))
    before = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    model.train_step(0)  # stage 1 trains in train mode: the running statistics move
    after_one = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    assert any(not torch.equal(before[k], after_one[k]) for k in before if "running_mean" in k)
    model.train_step(1)
    model.train_step(2)
    state = model.classifier.state_dict()
    assert all(torch.equal(after_one[k], state[k]) for k in state)  # incl. running_mean/var, num_batches
    codes = torch.randn(3, config.n_latents, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.probs_of(codes), model.probs_of(codes))


@needs_mnist
def test_information_flow_trains_the_decoder_and_only_the_nll_trains_the_encoder():
    """λ = 0 leaves −I(α; Ŷ) alone in the loss: it must reach the decoder (through the frozen classifier)
    and must not move the encoder, which the prior-sampled estimator never calls."""
    model = make(5, lam=0.0)
    for s in range(2):
        model.train_step(s)
    enc, dec = params(model.encoder), params(model.decoder)
    out = model.train_step(2)
    assert out["loss"] == pytest.approx(-out["info_flow"])
    assert torch.equal(params(model.encoder), enc)
    assert not torch.equal(params(model.decoder), dec)


@needs_mnist
def test_smoke_values_run_both_stages_in_seconds():
    model = GCE(GCEConfig(**GCE.smoke_values), 0, CPU)
    assert set(model.train_step(0)) == {"classifier_loss"}
    assert "info_flow" in model.train_step(1)
    assert math.isfinite(model.evaluate()["info_flow_z1"])


def test_shared_prefix_key_is_the_classifier_settings_only():
    a = GCE.shared_prefix(GCEConfig(lam=0.05, n_alpha=1, n_beta=7))
    b = GCE.shared_prefix(GCEConfig(lam=0.5, n_alpha=2, n_beta=4, lr=1e-4, sample_counts="fact"))
    c = GCE.shared_prefix(GCEConfig(classifier_lr=0.01))
    d = GCE.shared_prefix(GCEConfig(include_classes=(3, 9)))
    assert a == b and a.steps == GCEConfig().classifier_steps
    assert a.key != c.key and a.key != d.key
    assert GCE.shared_prefix(GCEConfig(classifier_steps=0)) is None


@needs_mnist
def test_classifier_trained_once_for_two_lambda_groups_through_the_loop(tmp_path, monkeypatch):
    trained, weights = [], {}
    original_step, original_eval = GCE._classifier_step, GCE.evaluate

    def counting_step(self, step):  # a spy: counts, then runs the real step
        trained.append((self.config.lam, step))
        return original_step(self, step)

    def recording_eval(self):
        weights.setdefault(self.config.lam, []).append(params(self.classifier).clone())
        return original_eval(self)

    monkeypatch.setattr(GCE, "_classifier_step", counting_step)
    monkeypatch.setattr(GCE, "evaluate", recording_eval)
    settings = LoopSettings(steps=5, eval_every=3, checkpoint_every=100, objective="info_flow",
                            sweep_dir=tmp_path / "sweep", shared_dir=tmp_path / "shared", data_dir=DATA)
    values = {**TINY, "classifier_steps": 3}
    # different λ and a different K, L: the classifier stage does not depend on the explainer's shape
    results = [run_group(make_group("gce", {**values, **explainer}, (0,), 5), settings, lambda p: None)
               for explainer in ({"lam": 0.05}, {"lam": 0.5, "n_alpha": 2, "n_beta": 3})]
    assert trained == [(0.05, 0), (0.05, 1), (0.05, 2)]  # stage 1 ran once, in the first group
    assert len(list((tmp_path / "shared" / "prefixes").glob("*.pt"))) == 1
    assert len(weights[0.5]) == 1  # the second group's step-3 evaluation was replayed from the cache
    assert torch.equal(weights[0.05][-1], weights[0.5][-1])  # the same classifier explained in both
    first, second = (r["seeds"][0]["metrics"] for r in results)
    assert first["classifier_acc"] == second["classifier_acc"] and first["nll"] != second["nll"]


# --- artifacts, config, the Algorithm 1 objective ------------------------------------------------------
@needs_mnist
def test_artifacts_are_pngs(tmp_path):
    model = make()
    for s in range(3):
        model.train_step(s)
    model.evaluate()
    paths = model.write_artifacts(tmp_path)
    assert {p.name for p in paths} == {"latent_sweep_class0.png", "latent_sweep_class1.png", "information_flow.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_constrained_flow_ranks_every_feasible_config_above_every_infeasible_one():
    assert constrained_flow(0.4, 50.0, 0.0, 0.05) == 0.4  # no target: the flow itself
    assert constrained_flow(0.4, 52.0, 50.0, 0.05) == 0.4
    assert constrained_flow(0.9, 60.0, 50.0, 0.05) == pytest.approx(-0.15)
    assert constrained_flow(0.0, 52.0, 50.0, 0.05) > constrained_flow(1.0, 53.0, 50.0, 0.05)


def test_total_latents_fixes_the_capacity():
    config = GCEConfig(n_alpha=3, total_latents=8)
    assert (config.n_latents, config.n_noncausal) == (8, 5)


@pytest.mark.parametrize("values, message", [
    ({"dataset": "svhn"}, "dataset"),
    ({"include_classes": (3, 3)}, "include_classes"),
    ({"include_classes": (4,)}, "include_classes"),
    ({"dataset": "cifar10"}, "classifier"),
    ({"n_alpha": 40, "n_beta": 30}, "n_beta"),
    ({"total_latents": 1, "n_alpha": 2}, "total_latents"),
    ({"lr": 0.0}, "lr"),
])
def test_validate_config_names_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        GCE.validate_config(values)


def test_sweep_report_averages_latents_over_seeds(tmp_path):
    import pandas as pd

    trials = pd.DataFrame([
        {"trial_id": f"t{s}", "group_id": "g", "seed": s, "status": status, "config.n_alpha": 1,
         "metric.info_flow_z0": 0.6 + 0.1 * s, "metric.info_flow_z1": 0.01, "metric.acc_drop_z0": 0.4,
         "metric.acc_drop_z1": 0.0}
        for s, status in ((0, "done"), (1, "done"), (2, "diverged"))])
    paths = GCE.sweep_report(trials, tmp_path)
    assert [p.name for p in paths] == ["gce_latents.csv", "gce_latents.png"]
    table = pd.read_csv(paths[0])
    alpha = table[(table["latent"] == "α1") & (table["kind"] == "info_flow")].iloc[0]
    assert alpha["mean"] == pytest.approx(0.65) and alpha["n"] == 2  # the diverged seed is left out
    assert alpha["se"] == pytest.approx(0.05)
    assert set(table["latent"]) == {"α1", "β1"}
