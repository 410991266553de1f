"""Score a representation without training: ``python results_analysis/score_codes.py FILE.npz``.

The npz holds ``codes`` (N x L floats), ``factors`` (N x K integer values; any integers, mapped to
class codes per column) and optionally ``n_train`` (a scalar: rows before it are the training split;
default the first two thirds, rounded up). Prints one JSON object metric name -> value (the
λβ-VAE seed's suite, :func:`trainables.metrics.score_codes`) and exits 0; on a bad file prints one
line naming the file and the problem on stderr and exits 2. Other arrays in the file are ignored.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

# Run as a script from any cwd, sys.path[0] is results_analysis/; the repo root must come first so
# `trainables` is importable without installing anything.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

import numpy as np  # noqa: E402

from trainables.metrics import score_codes  # noqa: E402

EXIT_BAD_FILE = 2


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="score_codes.py",
        description="Score codes against ground-truth factors (MIG, SAP, continuous SAP, I_m) and print JSON.",
    )
    parser.add_argument(
        "file", type=Path, help="npz with 'codes' (N x L), 'factors' (N x K), optional 'n_train'"
    )
    parser.add_argument(
        "--num-bins", type=int, default=20, help="histogram bins per latent for MIG/I_m (default 20)"
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="threads for SAP's per-(latent, factor) classifiers (-1: all cores)",
    )
    args = parser.parse_args(argv)
    if args.num_bins < 1:
        parser.error(f"--num-bins must be positive, got {args.num_bins}")
    return args


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Read the arrays; every problem is a ValueError with a short message."""
    if not path.is_file():
        raise ValueError("no such file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read as npz: {exc}") from exc
    if not hasattr(data, "files"):
        raise ValueError("not an npz archive (a single .npy array?)")
    with data:
        missing = [key for key in ("codes", "factors") if key not in data.files]
        if missing:
            raise ValueError(f"missing array(s) {', '.join(missing)}; found {sorted(data.files)}")
        try:
            codes, factors = data["codes"], data["factors"]
            n_train = data["n_train"] if "n_train" in data.files else None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"cannot read an array: {exc}") from exc
    if n_train is not None:
        n_train = _scalar_int(n_train)
    return codes, factors, n_train


def _scalar_int(value: np.ndarray) -> int:
    flat = value.reshape(-1)
    if (
        flat.size != 1
        or flat.dtype.kind not in "iuf"
        or not np.isfinite(flat[0])
        or flat[0] != np.round(flat[0])
    ):
        raise ValueError(f"n_train must be a single integer, got {value.tolist()!r}")
    return int(flat[0])


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        codes, factors, n_train = _load(args.file)
        scores = score_codes(codes, factors, n_train=n_train, num_bins=args.num_bins, n_jobs=args.n_jobs)
    except ValueError as exc:
        message = " ".join(str(exc).split())  # keep the error on one line
        print(f"score_codes.py: {args.file}: {message}", file=sys.stderr)
        return EXIT_BAD_FILE
    print(json.dumps(scores, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
