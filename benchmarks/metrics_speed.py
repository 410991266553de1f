#!/usr/bin/env python
"""Speed benchmark: the metric suite (``score_codes``) against a plain reference of the same formulas.

``python benchmarks/metrics_speed.py [--n-train 10000] [--n-test 5000] [--repeats 3] [--n-jobs -1]``

Data: dSprites-like factors (cardinalities 3, 6, 40, 32, 32, drawn uniformly) and float32 codes that
are a noisy mix of the factors plus one dead (constant) latent, all from a fixed seed. Both
implementations run in this process on the same arrays, alternately, ``--repeats`` times; the best
wall time of each is printed with the ratio, and every metric value is compared (equal, or within
``rtol=1e-9``: continuous SAP is a matrix product in the suite and ``np.cov`` per pair here). Exits
1 if any value differs.

The reference is written the obvious way, as the seeds do: ``np.histogram`` per latent,
``sklearn.metrics.mutual_info_score`` per (latent, factor) pair, one ``LinearSVC`` per pair and one
``GradientBoostingClassifier`` per factor, one after the other, ``np.cov`` per pair for continuous
SAP. DCI's trees dominate the reference (sklearn re-sorts every latent in every node of each of the
(classes x 100) trees per factor); the suite fits the very same trees with
``trainables/metrics/presorted_tree.py`` (one presort per fit, compiled with numba, bit for bit
sklearn's trees) and spreads the factors, and each boosting stage's trees, over threads, while the MI and SVC parts gain from
vectorising (``--no-dci`` shows them alone). The first run in a fresh checkout also compiles the
numba code (cached afterwards under __pycache__); ``--repeats 2`` or more keeps that out of the best time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script from any cwd: the repo root must be importable without installing anything.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402
from sklearn.metrics import mutual_info_score  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from trainables.metrics import score_codes  # noqa: E402

DSPRITES_FACTOR_SIZES = (3, 6, 40, 32, 32)
RTOL = 1e-9


def make_data(n_rows: int, factor_sizes=DSPRITES_FACTOR_SIZES, n_latents: int = 10, seed: int = 0):
    """``(codes float32 (n_rows, n_latents), factors int64 (n_rows, K))``; the last latent is dead.

    Latent j < K follows factor j (scaled to [0, 1]) with some leakage of the others and noise; the
    remaining live latents are random mixes; the last one is constant.
    """
    if n_latents < 2:
        raise ValueError("need at least two latents (one is the dead one)")
    rng = np.random.default_rng(seed)
    sizes = np.asarray(factor_sizes)
    factors = np.stack([rng.integers(0, size, n_rows) for size in sizes], axis=1)
    scaled = factors / np.maximum(sizes - 1, 1)
    live = n_latents - 1
    mixing = 0.15 * rng.normal(size=(len(sizes), live))
    for j in range(min(len(sizes), live)):
        mixing[j, j] = 1.0
    codes = scaled @ mixing + 0.05 * rng.normal(size=(n_rows, live))
    codes = np.hstack([codes, np.zeros((n_rows, 1))])
    return codes.astype(np.float32), factors


def _top_two_gap(matrix: np.ndarray) -> float:
    ordered = np.sort(matrix, axis=0)
    return float(np.mean(ordered[-1] - ordered[-2]))


def _entropy_specificity(columns: np.ndarray, base: int) -> np.ndarray:
    """1 - entropy (given base) of each column of ``columns``, smoothed by 1e-11 as dlib."""
    return 1.0 - scipy.stats.entropy(columns + 1e-11, base=base)


def reference_scores(codes, factors, n_train: int, num_bins: int = 20) -> tuple[dict[str, float], dict]:
    """Every suite metric computed pair by pair, sequentially; returns (scores, seconds per part)."""
    seconds = {}
    classes = np.stack([np.unique(col, return_inverse=True)[1] for col in factors.T], axis=1)
    x_train, x_test = codes[:n_train], codes[n_train:]
    y_train, y_test = classes[:n_train], classes[n_train:]
    num_latents, num_factors = codes.shape[1], classes.shape[1]

    start = time.perf_counter()
    discrete = np.empty(x_train.shape, dtype=np.int64)
    for i in range(num_latents):
        edges = np.histogram(x_train[:, i], num_bins)[1]
        discrete[:, i] = np.digitize(x_train[:, i], edges[:-1])
    mi = np.zeros((num_latents, num_factors))
    for i in range(num_latents):
        for k in range(num_factors):
            mi[i, k] = mutual_info_score(y_train[:, k], discrete[:, i])
    entropy = np.array([mutual_info_score(y_train[:, k], y_train[:, k]) for k in range(num_factors)])
    ordered = np.sort(mi, axis=0)
    scores = {"mig": float(np.mean((ordered[-1] - ordered[-2]) / entropy))}
    rows, cols = linear_sum_assignment(-mi)
    scores["im"] = float(mi[rows, cols].sum())
    seconds["mi_mig_im"] = time.perf_counter() - start

    start = time.perf_counter()
    accuracy = np.zeros((num_latents, num_factors))
    for i in range(num_latents):
        for k in range(num_factors):
            svc = LinearSVC(C=0.01, class_weight="balanced", random_state=0)
            svc.fit(x_train[:, i : i + 1], y_train[:, k])
            accuracy[i, k] = np.mean(svc.predict(x_test[:, i : i + 1]) == y_test[:, k])
    scores["sap"] = _top_two_gap(accuracy)
    seconds["sap"] = time.perf_counter() - start

    start = time.perf_counter()
    r_squared = np.zeros((num_latents, num_factors))
    for i in range(num_latents):
        for k in range(num_factors):
            cov = np.cov(x_train[:, i], y_train[:, k], ddof=1)
            if cov[0, 0] > 1e-12:
                r_squared[i, k] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
    scores["sap_continuous"] = _top_two_gap(r_squared)
    seconds["sap_continuous"] = time.perf_counter() - start
    return scores, seconds


def reference_dci(codes, factors, n_train: int) -> dict[str, float]:
    """dlib's DCI: one GradientBoostingClassifier per factor, one after the other."""
    classes = np.stack([np.unique(col, return_inverse=True)[1] for col in factors.T], axis=1)
    x_train, x_test = codes[:n_train], codes[n_train:]
    y_train, y_test = classes[:n_train], classes[n_train:]
    importance = np.zeros((codes.shape[1], classes.shape[1]))
    acc_train, acc_test = [], []
    for k in range(classes.shape[1]):
        model = GradientBoostingClassifier(random_state=0).fit(x_train, y_train[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        acc_train.append(np.mean(model.predict(x_train) == y_train[:, k]))
        acc_test.append(np.mean(model.predict(x_test) == y_test[:, k]))
    per_code = _entropy_specificity(importance.T, base=importance.shape[1])
    per_factor = _entropy_specificity(importance, base=importance.shape[0])
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    return {
        "dci_disentanglement": float(np.sum(per_code * (weights.sum(axis=1) / weights.sum()))),
        "dci_completeness": float(np.sum(per_factor * (weights.sum(axis=0) / weights.sum()))),
        "dci_informativeness_train": float(np.mean(acc_train)),
        "dci_informativeness_test": float(np.mean(acc_test)),
    }


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="metrics_speed.py", description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=10000, help="training rows (default 10000)")
    parser.add_argument("--n-test", type=int, default=5000, help="test rows (default 5000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best time counts")
    parser.add_argument("--n-jobs", type=int, default=-1, help="the suite's threads (default -1: all cores)")
    parser.add_argument(
        "--factor-sizes",
        default=",".join(map(str, DSPRITES_FACTOR_SIZES)),
        help="comma-separated factor cardinalities (default dSprites': 3,6,40,32,32)",
    )
    parser.add_argument("--n-latents", type=int, default=10, help="latents, the last one dead (default 10)")
    parser.add_argument("--no-dci", action="store_true", help="leave DCI out of both implementations")
    args = parser.parse_args(argv)
    try:
        args.factor_sizes = tuple(int(size) for size in args.factor_sizes.split(","))
    except ValueError:
        parser.error(f"--factor-sizes must be comma-separated integers, got {args.factor_sizes!r}")
    if min(args.n_train, args.n_test) < 2 or args.repeats < 1 or min(args.factor_sizes) < 2:
        parser.error("need --n-train, --n-test >= 2, --repeats >= 1 and every factor size >= 2")
    return args


def _same(ours: float, ref: float) -> bool:
    return ours == ref or bool(np.isclose(ours, ref, rtol=RTOL, atol=0.0))


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    codes, factors = make_data(args.n_train + args.n_test, args.factor_sizes, args.n_latents)
    print(
        f"{args.n_train} train + {args.n_test} test rows, {args.n_latents} latents (1 dead), "
        f"factor sizes {args.factor_sizes}, suite n_jobs={args.n_jobs}, best of {args.repeats}"
    )
    best_ref, best_ours, ref_parts = np.inf, np.inf, {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        ref, parts = reference_scores(codes, factors, args.n_train)
        if not args.no_dci:
            dci_start = time.perf_counter()
            ref.update(reference_dci(codes, factors, args.n_train))
            parts["dci"] = time.perf_counter() - dci_start
        elapsed = time.perf_counter() - start
        if elapsed < best_ref:
            best_ref, ref_parts = elapsed, parts
        start = time.perf_counter()
        ours = score_codes(
            codes, factors, n_train=args.n_train, n_jobs=args.n_jobs, include_dci=not args.no_dci
        )
        best_ours = min(best_ours, time.perf_counter() - start)

    mismatched = sorted(key for key in ref if not _same(ours[key], ref[key]))
    if set(ours) != set(ref):
        mismatched.append(f"keys {sorted(set(ours) ^ set(ref))}")
    for key in sorted(ref):
        exact = (
            "exact"
            if ours.get(key) == ref[key]
            else f"rel diff {abs(ours[key] - ref[key]) / abs(ref[key]):.1e}"
        )
        print(f"  {key:27s} suite {ours[key]:.12f}  reference {ref[key]:.12f}  ({exact})")
    print("reference parts: " + ", ".join(f"{name} {sec:.3f}s" for name, sec in ref_parts.items()))
    print(f"reference {best_ref:.3f}s  suite {best_ours:.3f}s  speed-up {best_ref / best_ours:.2f}x")
    if mismatched:
        print(f"VALUES DIFFER: {', '.join(mismatched)}")
        return 1
    print(f"values identical (exact or rtol {RTOL:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
