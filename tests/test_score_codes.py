"""score_codes (the suite) and the results_analysis/score_codes.py CLI: split, validation, output, exit codes."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from results_analysis.score_codes import main
from trainables.metrics import METRIC_DIRECTIONS, im, mig, sap, sap_continuous, score_codes

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data():
    """900 rows: a shuffled full grid of three factors, codes = factors + noise and one noise latent."""
    rng = np.random.default_rng(0)
    grid = np.array(list(itertools.product(range(3), range(4), range(3))))
    factors = np.repeat(grid, 25, axis=0)[rng.permutation(900)]
    codes = np.hstack([factors + 0.2 * rng.normal(size=factors.shape), rng.normal(size=(900, 1))])
    return codes, factors


def test_keys_directions_and_default_split(data):
    codes, factors = data
    scores = score_codes(codes, factors)
    assert set(scores) == set(METRIC_DIRECTIONS) == {"mig", "sap", "sap_continuous", "im"}
    assert all(v == "max" for v in METRIC_DIRECTIONS.values())
    assert all(isinstance(v, float) and math.isfinite(v) for v in scores.values())
    n_train = math.ceil(2 * 900 / 3)
    assert n_train == 600
    assert scores == score_codes(codes, factors, n_train=n_train)
    # MIG and I_m use the training rows only; SAP fits on train and tests on the rest.
    assert scores["mig"] == mig(codes[:600], factors[:600])
    assert scores["im"] == im(codes[:600], factors[:600])
    assert scores["sap"] == sap(codes[:600], factors[:600], codes[600:], factors[600:])
    assert scores["sap_continuous"] == sap_continuous(codes[:600], factors[:600])
    assert 0.5 < scores["mig"] <= 1.0 and scores["sap"] > 0.2 and scores["sap_continuous"] > 0.8


def test_arbitrary_integer_factor_values_are_mapped_to_classes(data):
    codes, factors = data
    relabelled = factors.copy()
    relabelled[:, 0] = np.array([-7, 3, 100])[factors[:, 0]]  # increasing, unevenly spaced
    relabelled[:, 1] = factors[:, 1] * 10 - 5  # affine
    assert score_codes(codes, relabelled) == score_codes(codes, factors)


@pytest.mark.parametrize(
    ("codes", "factors", "n_train", "message"),
    [
        (np.zeros((10, 2)), np.zeros((9, 1), dtype=int), None, "9 rows but codes have 10"),
        (np.zeros(10), np.zeros((10, 1), dtype=int), None, "2-D"),
        (np.ones((10, 2)), np.full((10, 1), 0.5), None, "integer"),
        (np.full((10, 2), np.nan), np.zeros((10, 1), dtype=int), None, "NaN or inf"),
        (np.full((10, 2), np.inf), np.zeros((10, 1), dtype=int), None, "NaN or inf"),
        (np.ones((3, 2)), np.zeros((3, 1), dtype=int), None, "need at least 2 and 2"),
        (np.ones((10, 2)), np.zeros((10, 1), dtype=int), 9, "1 test rows"),
        (np.ones((10, 2)), np.zeros((10, 1), dtype=int), 2.5, "n_train must be an integer"),
    ],
)
def test_invalid_inputs_raise_clear_value_errors(codes, factors, n_train, message):
    with pytest.raises(ValueError, match=message):
        score_codes(codes, factors, n_train=n_train)


def test_cli_main_prints_json_and_honours_n_train(data, tmp_path, capsys):
    codes, factors = data
    path = tmp_path / "rep.npz"
    np.savez(path, codes=codes.astype(np.float32), factors=factors, n_train=np.int64(450))
    assert main([str(path), "--num-bins", "10"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx(score_codes(codes.astype(np.float32), factors, n_train=450, num_bins=10))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"not a zip at all", "cannot read as npz"),
        ({"codes": np.zeros((30, 2))}, "missing array(s) factors"),
        ({"codes": np.zeros((30, 2)), "factors": np.zeros((29, 1), dtype=int)}, "29 rows"),
        (
            {
                "codes": np.zeros((30, 2)),
                "factors": np.zeros((30, 1), dtype=int),
                "n_train": np.array([1, 2]),
            },
            "n_train must be a single integer",
        ),
    ],
)
def test_cli_main_bad_file_exits_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and message in lines[0]


def test_cli_runs_as_a_script_from_another_cwd(data, tmp_path):
    codes, factors = data
    path = tmp_path / "rep.npz"
    np.savez(path, codes=codes, factors=factors)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "results_analysis" / "score_codes.py"), str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == pytest.approx(score_codes(codes, factors))
