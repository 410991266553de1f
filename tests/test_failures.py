"""A group that crashes is recorded as `failed` with its error, and the sweep goes on and ends with
every trial in a final state (local and Ray)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import TINY_SPACE, sweep_dir_of, write_space
from trainables.datasets.file_loaders import DSPRITES_FILE


@pytest.fixture
def corrupt_data_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / DSPRITES_FILE).write_bytes(b"not an npz")  # present (passes the pre-flight check), unreadable
    return data


def failing_space(tmp_path):
    """Two groups: one on the corrupt dSprites file (crashes when loading), one on procedural data."""
    fixed = {k: v for k, v in TINY_SPACE["fixed"].items() if k != "dataset"}
    return write_space(tmp_path / "s.yaml", fixed=fixed, seeds=[0, 1],
                       parameters={"dataset": {"values": ["dsprites", "dsprites_procedural"]}},
                       budget={"steps": 4, "eval_every": 4, "checkpoint_every": 4})


def check_failed(out):
    df = pd.read_parquet(sweep_dir_of(out) / "trials.parquet")
    assert len(df) == 4
    bad = df[df["config.dataset"] == "dsprites"]
    good = df[df["config.dataset"] == "dsprites_procedural"]
    assert set(bad["status"]) == {"failed"} and set(good["status"]) == {"done"}
    assert bad["reason"].str.contains("pickle|zip|npz|load", case=False, regex=True).all()


def test_local_group_crash_is_recorded_and_the_sweep_goes_on(tmp_path, corrupt_data_dir):
    from sweepbed.cli import main

    space = failing_space(tmp_path)
    out = tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--local", "--data-dir", str(corrupt_data_dir)]) == 0
    check_failed(out)


@pytest.mark.slow
def test_ray_group_crash_is_recorded_and_the_sweep_goes_on(tmp_path, corrupt_data_dir):
    import ray

    from sweepbed.cli import main

    space = failing_space(tmp_path)
    out = tmp_path / "out"
    try:
        assert main(["--space", str(space), "--out", str(out), "--num-cpus", "2",
                     "--data-dir", str(corrupt_data_dir)]) == 0
    finally:
        ray.shutdown()
    check_failed(out)
