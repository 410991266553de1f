"""Every registered family keeps the contract the shared loop relies on (DomainBed's habit: one test over
the whole registry, so a new family is checked the day it is registered). Each runs on CPU with its
``smoke_values``: steps return finite floats, evaluation reports only declared metrics, the same
(config, seed) gives the same numbers, and a state_dict round trip continues bit-identically."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
import torch

from tests.conftest import SHARED_DATA
from trainables.family import RunContext
from trainables.registry import FAMILIES, get_family


def build(name, seed, tmp_path):
    family = get_family(name)
    config = family.make_config(dict(family.smoke_values))
    context = RunContext(device=torch.device("cpu"), data_dir=SHARED_DATA if SHARED_DATA.is_dir() else None,
                         cache_dir=tmp_path / "cache")
    return family(config, seed, context)


@pytest.fixture(params=sorted(FAMILIES))
def name(request):
    return request.param


def test_family_declares_what_the_platform_reads(name):
    family = get_family(name)
    assert family.name == name
    assert family.metrics and set(family.metrics.values()) <= {"max", "min"}
    config = family.make_config(dict(family.smoke_values))
    assert dataclasses.is_dataclass(config)
    assert pickle.loads(pickle.dumps(config)) == config  # configs travel to Ray workers


def test_steps_evaluation_determinism_and_resume(name, tmp_path):
    torch.set_num_threads(1)
    a = build(name, 0, tmp_path)
    first = [a.train_step(step) for step in range(2)]
    for losses in first:
        assert losses and all(isinstance(v, float) and math.isfinite(v) for v in losses.values()), losses
    metrics = a.evaluate()
    assert set(metrics) <= set(a.metrics), f"undeclared metrics: {set(metrics) - set(a.metrics)}"
    state = pickle.loads(pickle.dumps(a.state_dict()))  # checkpoints are torch.save'd: must pickle
    after_a = [a.train_step(step) for step in range(2, 4)]

    again = build(name, 0, tmp_path)
    assert [again.train_step(step) for step in range(2)] == first  # same trial, same numbers
    # ... and evaluating in between never changes the training numbers (evaluation has its own generator)
    assert [again.train_step(step) for step in range(2, 4)] == after_a

    resumed = build(name, 0, tmp_path)
    resumed.load_state_dict(state)
    assert [resumed.train_step(step) for step in range(2, 4)] == after_a  # resume continues bit-identically
