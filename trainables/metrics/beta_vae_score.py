"""β-VAE disentanglement score, sampled from a ground-truth dataset.

Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework"
(ICLR 2017), as implemented by ``disentanglement_lib.evaluation.metrics.beta_vae``
(``compute_beta_vae_sklearn``) with the ``unsupervised_study_v1`` configuration (batch_size 64,
num_train 10000, num_eval 5000).

Algorithm (dlib's): each point picks a factor k uniformly, draws two batches of ``batch_size``
factor vectors, copies column k of the first into the second (pairs share k, everything else is
independent), encodes both and takes the *batch mean* of ``|z1 - z2|`` as a (L,) feature with label
k. A logistic regression is fitted on ``num_train`` points; the scores are its accuracy on them and
on ``num_eval`` fresh points (drawn after the fit, from the same RandomState).

Classifier: dlib calls ``sklearn.linear_model.LogisticRegression(random_state=random_state)`` and
leaves every other argument at the installed sklearn's defaults. We pin today's defaults
(sklearn >= 0.22): L2 penalty, C=1.0, solver lbfgs, max_iter 100, multinomial over the K classes;
lbfgs draws nothing from ``random_state``. dlib's published study ran sklearn 0.20, whose default
was liblinear one-vs-rest (which also draws one seed from the RandomState): scores from that era are
not reproduced, scores from dlib on a current sklearn are. Features are not standardised (dlib
neither), so lbfgs may warn that it did not converge on large-scale codes, as it would in dlib.

Randomness: the RandomState is consumed in dlib's order (per point ``randint(num_factors)``, then
``sample_factors`` twice), so for a dataset whose ``sample_observations_from_factors`` draws no
randomness the features are exactly dlib's. Observations are rendered and encoded for many points
per call (up to ``rows_per_call`` rows) instead of dlib's two calls per point.

Where we differ from dlib: keys are ``beta_vae_train_accuracy``/``beta_vae_eval_accuracy`` (dlib:
``train_accuracy``/``eval_accuracy``); a dataset with a single factor, or training points that
all got the same label, raise a one-line ValueError (sklearn's fit fails there in dlib).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from trainables.metrics.factor_vae_score import (
    DEFAULT_ROWS_PER_CALL,
    Representation,
    check_count,
    encode_units,
    num_factors_of,
)


def _features(
    ground_truth_data,
    representation: Representation,
    random_state: np.random.RandomState,
    num_points: int,
    batch_size: int,
    rows_per_call: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(num_points, L) float64 features and (num_points,) int64 labels, drawn in dlib's RNG order."""
    num_factors = num_factors_of(ground_truth_data)
    labels = np.empty(num_points, dtype=np.int64)
    pairs = []
    for p in range(num_points):
        labels[p] = random_state.randint(num_factors)
        f1 = ground_truth_data.sample_factors(batch_size, random_state)
        f2 = np.array(ground_truth_data.sample_factors(batch_size, random_state), copy=True)
        f2[:, labels[p]] = f1[:, labels[p]]
        pairs.append(np.concatenate([f1, f2], axis=0))  # rendered in dlib's order: batch 1, then 2
    features = []
    for start, stop, codes in encode_units(ground_truth_data, representation, pairs, random_state, rows_per_call):
        codes = codes.reshape(stop - start, 2, batch_size, -1)
        if features and codes.shape[-1] != features[0].shape[1]:
            raise ValueError(f"representation changed width from {features[0].shape[1]} to {codes.shape[-1]}")
        # Mean in the codes' dtype, then float64 storage: dlib's arithmetic.
        features.append(np.mean(np.abs(codes[:, 0] - codes[:, 1]), axis=1).astype(np.float64))
    return np.concatenate(features, axis=0), labels


def beta_vae_score(
    ground_truth_data,
    representation: Representation,
    random_state: np.random.RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
) -> dict[str, float]:
    """β-VAE score: ``{"beta_vae_train_accuracy", "beta_vae_eval_accuracy"}``.

    Same dataset and representation contract as :func:`factor_vae_score`; ``representation`` is
    called on up to ``rows_per_call`` rows (whole points of 2 x batch_size rows; at least one point
    per call). Defaults are the unsupervised_study_v1 configuration. See the module docstring.
    """
    batch_size = check_count(batch_size, "batch_size")
    num_train = check_count(num_train, "num_train", minimum=2)
    num_eval = check_count(num_eval, "num_eval")
    rows_per_call = check_count(rows_per_call, "rows_per_call")
    if num_factors_of(ground_truth_data) < 2:
        raise ValueError("the β-VAE score needs at least two factors to classify")

    args = (batch_size, rows_per_call)
    train_x, train_y = _features(ground_truth_data, representation, random_state, num_train, *args)
    if np.unique(train_y).size < 2:
        raise ValueError(f"all {num_train} training points fixed the same factor; raise num_train")
    model = LogisticRegression(C=1.0, solver="lbfgs", max_iter=100, random_state=random_state)
    model.fit(train_x, train_y)
    train_accuracy = float(np.mean(model.predict(train_x) == train_y))
    eval_x, eval_y = _features(ground_truth_data, representation, random_state, num_eval, *args)
    return {
        "beta_vae_train_accuracy": train_accuracy,
        "beta_vae_eval_accuracy": float(np.mean(model.predict(eval_x) == eval_y)),
    }
