"""benchmarks/metrics_speed.py at tiny size: the suite and the script's reference agree (no timing checks)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainables.metrics import score_codes

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "metrics_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("metrics_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_has_requested_shape_and_a_dead_latent(bench):
    codes, factors = bench.make_data(500)
    assert codes.shape == (500, 10) and codes.dtype == np.float32
    assert factors.shape == (500, 5)
    assert list(factors.max(axis=0)) == [s - 1 for s in bench.DSPRITES_FACTOR_SIZES]  # 500 rows hit all
    assert np.all(codes[:, -1] == codes[0, -1]) and np.all(np.ptp(codes[:, :-1], axis=0) > 0)
    assert np.array_equal(bench.make_data(500)[0], codes)  # seeded


def test_reference_equals_suite_with_dci(bench):
    codes, factors = bench.make_data(240, factor_sizes=(2, 3, 4), n_latents=5)
    reference, seconds = bench.reference_scores(codes, factors, n_train=160)
    reference.update(bench.reference_dci(codes, factors, n_train=160))
    ours = score_codes(codes, factors, n_train=160, n_jobs=2)
    assert set(ours) == set(reference) and set(seconds) == {"mi_mig_im", "sap", "sap_continuous"}
    for key, value in reference.items():
        assert ours[key] == value or ours[key] == pytest.approx(value, rel=1e-9, abs=0), key
    # Only continuous SAP takes a different route (matrix product vs np.cov); the rest is exact.
    assert {k: v for k, v in ours.items() if k != "sap_continuous"} == {
        k: v for k, v in reference.items() if k != "sap_continuous"
    }


def test_main_reports_identical_values_on_dsprites_sizes(bench, capsys):
    assert bench.main(["--n-train", "300", "--n-test", "150", "--repeats", "2", "--no-dci"]) == 0
    out = capsys.readouterr().out
    assert "values identical" in out and "speed-up" in out and "VALUES DIFFER" not in out
    assert "factor sizes (3, 6, 40, 32, 32)" in out


def test_runs_as_a_script_with_dci(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--n-train",
            "90",
            "--n-test",
            "45",
            "--repeats",
            "1",
            "--factor-sizes",
            "2,3",
            "--n-latents",
            "3",
            "--n-jobs",
            "2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dci_disentanglement" in result.stdout and "values identical" in result.stdout


def test_bad_flags_are_rejected(bench):
    with pytest.raises(SystemExit):
        bench.main(["--factor-sizes", "3,x"])
    with pytest.raises(SystemExit):
        bench.main(["--n-test", "1"])
