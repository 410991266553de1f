"""Score a representation without training: ``python results_analysis/score_codes.py FILE.npz``.

The npz holds one or both of two pairs of arrays:
- ``codes`` (N x L floats) and ``factors`` (N x K integer values; any integers, mapped to class codes
  per column), optionally ``n_train`` (a scalar: rows before it are the training split; default the
  first two thirds, rounded up): scored with the suite :func:`trainables.metrics.score_codes` (MIG,
  SAP, continuous SAP, I_m, DCI);
- ``sources`` (N x D floats, the true continuous sources) and ``latents`` (N x L floats): scored with
  :func:`trainables.metrics.mcc.mcc`, Pearson (``mcc``) and Spearman (``mcc_spearman``).
Prints one JSON object metric name -> value and exits 0; on a bad file prints one line naming the
file and the problem on stderr and exits 2. Other arrays in the file are ignored.
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
_PAIRS = (("codes", "factors"), ("sources", "latents"))
_MCC_MODULE = "trainables.metrics.mcc"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="score_codes.py",
        description="Score codes against ground-truth factors (MIG, SAP, continuous SAP, I_m, DCI) "
        "and/or latents against true sources (MCC) and print JSON.",
    )
    parser.add_argument(
        "file",
        type=Path,
        help="npz with 'codes' (N x L) and 'factors' (N x K), optional 'n_train'; "
        "and/or 'sources' (N x D) and 'latents' (N x L)",
    )
    parser.add_argument(
        "--num-bins", type=int, default=20, help="histogram bins per latent for MIG/I_m (default 20)"
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="threads for SAP's and DCI's classifiers (-1: all cores)",
    )
    parser.add_argument(
        "--no-dci",
        action="store_true",
        help="skip DCI (its gradient-boosted trees take minutes on 10k rows)",
    )
    args = parser.parse_args(argv)
    if args.num_bins < 1:
        parser.error(f"--num-bins must be positive, got {args.num_bins}")
    return args


def _load(path: Path) -> tuple[dict[str, np.ndarray], int | None]:
    """Read the arrays of every complete pair; every problem is a ValueError with a short message."""
    if not path.is_file():
        raise ValueError("no such file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read as npz: {exc}") from exc
    if not hasattr(data, "files"):
        raise ValueError("not an npz archive (a single .npy array?)")
    with data:
        present = [pair for pair in _PAIRS if any(key in data.files for key in pair)]
        if not present:
            raise ValueError(
                f"missing array(s) codes, factors (or sources, latents); found {sorted(data.files)}"
            )
        for pair in present:
            missing = [key for key in pair if key not in data.files]
            if missing:
                raise ValueError(f"missing array(s) {', '.join(missing)}; found {sorted(data.files)}")
        try:
            arrays = {key: data[key] for pair in present for key in pair}
            n_train = data["n_train"] if "n_train" in data.files else None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"cannot read an array: {exc}") from exc
    if n_train is not None:
        n_train = _scalar_int(n_train)
    return arrays, n_train


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


def _score_sources(sources: np.ndarray, latents: np.ndarray) -> dict[str, float]:
    """MCC, Pearson and Spearman; imported here so the suite works while mcc.py is absent."""
    try:
        from trainables.metrics.mcc import mcc
    except ModuleNotFoundError as exc:
        if exc.name != _MCC_MODULE:
            raise
        raise ValueError(f"has sources/latents but {_MCC_MODULE} is not available") from exc
    return {"mcc": mcc(sources, latents, "pearson"), "mcc_spearman": mcc(sources, latents, "spearman")}


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        arrays, n_train = _load(args.file)
        scores: dict[str, float] = {}
        # MCC first: it is cheap, so a bad sources/latents pair fails before the suite's long fits.
        if "sources" in arrays:
            scores.update(_score_sources(arrays["sources"], arrays["latents"]))
        if "codes" in arrays:
            suite = score_codes(
                arrays["codes"],
                arrays["factors"],
                n_train=n_train,
                num_bins=args.num_bins,
                n_jobs=args.n_jobs,
                include_dci=not args.no_dci,
            )
            scores = {**suite, **scores}
    except ValueError as exc:
        message = " ".join(str(exc).split())  # keep the error on one line
        print(f"score_codes.py: {args.file}: {message}", file=sys.stderr)
        return EXIT_BAD_FILE
    print(json.dumps(scores, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
