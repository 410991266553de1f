"""The shared representation evaluation: codes-only suite plus the optional dlib scores, on a
dataset whose images encode their factors (so a perfect encoder is known)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.grid_dataset import Grid
from trainables.factor_scores import (
    OPTIONAL_SCORES,
    check_scores,
    encode_indices,
    metric_directions,
    score_representation,
)


def perfect(x):  # float images in [0, 1] -> the factors, plus a dead latent
    codes = torch.round(x.reshape(len(x), -1) * 255 / 50)
    return torch.cat([codes, torch.zeros(len(x), 1)], dim=1)


def swapped_noise(x):  # ignores the image
    return torch.randn(len(x), 3, generator=torch.Generator().manual_seed(0))


INDICES = torch.as_tensor(np.random.default_rng(0).integers(0, 12, 600))
SMALL = {"dlib_num_train": 60, "dlib_num_eval": 30, "batch_size": 50}


def score(encode, seed=0, extra=()):
    codes = encode_indices(Grid(), encode, INDICES, batch_size=50)
    factors = Grid().factors(INDICES).numpy()
    return score_representation(Grid(), encode, codes, factors, 400, seed=seed, extra_scores=extra, **SMALL)


def test_codes_only_by_default():
    out = score(perfect)
    assert set(out) == {"mig", "sap", "sap_continuous", "im"}
    assert out["mig"] > 0.98  # not 1: the two factors share a little empirical MI in 400 rows


def test_every_optional_score_and_perfect_answers():
    out = score(perfect, extra=tuple(OPTIONAL_SCORES))
    assert set(out) == set(metric_directions())
    assert out["factor_vae_eval_accuracy"] == 1.0 and out["factor_vae_num_active_dims"] == 2
    assert out["beta_vae_eval_accuracy"] == 1.0
    assert out["irs"] == pytest.approx(1.0, abs=1e-6)
    assert out["dci_disentanglement"] > 0.99 and out["dci_informativeness_test"] == 1.0
    noise = score(swapped_noise, extra=("factor_vae",))
    assert noise["factor_vae_eval_accuracy"] < 0.9 and noise["mig"] < 0.2


def test_same_seed_same_scores():
    a = score(perfect, seed=3, extra=("beta_vae_score",))
    b = score(perfect, seed=3, extra=("beta_vae_score",))
    assert a == b


def test_unknown_score_is_named():
    with pytest.raises(ValueError, match="extra_scores: unknown score 'factorvae'"):
        check_scores(["factorvae"])
