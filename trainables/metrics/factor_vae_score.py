"""FactorVAE disentanglement score, sampled from a ground-truth dataset.

Kim & Mnih, "Disentangling by Factorising" (ICML 2018), as implemented by
``disentanglement_lib.evaluation.metrics.factor_vae`` (``compute_factor_vae``) with the
``unsupervised_study_v1`` configuration (batch_size 64, num_train 10000, num_eval 5000,
num_variance_estimate 10000, ``prune_dims.threshold = 0.05``), which the NeurIPS 2019
disentanglement-challenge seed (``mseitzer/neurips2019-disentanglement-challenge``) evaluates with.

Algorithm (dlib's): estimate each latent's global variance (ddof=1) from ``num_variance_estimate``
random observations; a latent is active when its standard deviation is >= ``prune_threshold``
(dlib's ``_prune_dims`` compares the *std*, not the variance). Each vote picks a factor k uniformly,
draws ``batch_size`` factor vectors sharing the value of k (that of the first row), encodes them,
divides each active latent's batch variance (ddof=1) by its global variance and votes
(argmin latent, k). The classifier maps each latent to the factor with most training votes (ties:
the lowest factor index); train/eval accuracy is the share of training/evaluation votes it gets
right. The training accuracy is thus the majority-vote classifier scored on its own votes.

Randomness: the RandomState is consumed in dlib's order (global sample, then per vote
``randint(num_factors)`` followed by ``sample_factors(batch_size)``, train votes before eval votes),
so for a dataset whose ``sample_observations_from_factors`` draws no randomness (all of ours) the
votes are exactly dlib's. Observations and representations are computed in chunks of up to
``rows_per_call`` rows (many votes per call) instead of dlib's one call per vote; a dataset that
draws noise while rendering therefore sees a different (equally distributed) stream than in dlib.

Where we differ from dlib:
- A latent that is constant over the variance sample is never active, whatever the threshold. With
  dlib's own default threshold 0 it is kept, its 0/0 ratio is NaN and ``np.argmin`` returns the
  NaN, so every vote goes to the dead latent. Constancy is tested exactly (max == min), because a
  constant float32 column can get a variance of ~1e-15 from rounding.
- ``factor_vae_num_active_dims`` is the number of active latents. dlib reports ``len(active_dims)``
  of a boolean mask, i.e. the total number of latents (0 only when none is active).
- With no active latent dlib returns accuracies 0 and 0 active dims without drawing any vote; so
  do we (the score is then 0, not undefined).
- Keys are prefixed: dlib's ``train_accuracy``/``eval_accuracy``/``num_active_dims`` are
  ``factor_vae_train_accuracy``/``factor_vae_eval_accuracy``/``factor_vae_num_active_dims``.

The helpers ``num_factors_of``, ``check_count`` and ``encode_factors`` are shared with
beta_vae_score.py and irs.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trainables.metrics.discretize import check_codes

#: ``representation(observations (B, H, W, C) float32) -> codes (B, L)``, dlib's contract.
Representation = Callable[[np.ndarray], np.ndarray]

#: Observation rows per representation call: 64 votes of 64 rows (about 200 MB of 64x64x3 float32).
DEFAULT_ROWS_PER_CALL = 4096


def num_factors_of(ground_truth_data) -> int:
    """Number of factors of a dataset with dlib's interface (``num_factors``) or ours (``factor_sizes``)."""
    n = getattr(ground_truth_data, "num_factors", None)
    if n is None:
        n = len(ground_truth_data.factor_sizes)
    if int(n) < 1:
        raise ValueError(f"the dataset must have at least one factor, got {n}")
    return int(n)


def check_count(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a one-line ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def encode_factors(
    ground_truth_data,
    representation: Representation,
    factors: np.ndarray,
    random_state: np.random.RandomState,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
) -> np.ndarray:
    """Codes (N, L) of the observations of ``factors`` (N, K), rendered and encoded in row chunks.

    The codes keep the representation's floating dtype (float32 stays float32, as in dlib).
    """
    rows_per_call = check_count(rows_per_call, "rows_per_call")
    chunks = []
    for start in range(0, len(factors), rows_per_call):
        part = factors[start : start + rows_per_call]
        obs = ground_truth_data.sample_observations_from_factors(part, random_state)
        codes = check_codes(representation(obs), "representation output")
        if codes.shape[0] != len(part):
            raise ValueError(f"representation returned {codes.shape[0]} rows for {len(part)} observations")
        if chunks and codes.shape[1] != chunks[0].shape[1]:
            raise ValueError(f"representation changed width from {chunks[0].shape[1]} to {codes.shape[1]}")
        chunks.append(codes)
    return np.concatenate(chunks, axis=0)


def encode_units(
    ground_truth_data,
    representation: Representation,
    units: list[np.ndarray],
    random_state: np.random.RandomState,
    rows_per_call: int,
):
    """Yield ``(start, stop, codes)`` for consecutive runs of whole units (a vote's batch, a point's
    pair of batches), as many units per representation call as ``rows_per_call`` allows (at least one)."""
    rows_per_unit = len(units[0])
    per_call = max(1, rows_per_call // rows_per_unit)
    for start in range(0, len(units), per_call):
        stop = min(start + per_call, len(units))
        rows = np.concatenate(units[start:stop], axis=0)
        yield start, stop, encode_factors(ground_truth_data, representation, rows, random_state,
                                          rows_per_call=len(rows))


def _draw_fixed_factor_batches(ground_truth_data, num_votes: int, batch_size: int, random_state):
    """dlib's per-vote draws: factor k, then a batch of factors whose column k equals its first row's."""
    num_factors = num_factors_of(ground_truth_data)
    ks = np.empty(num_votes, dtype=np.int64)
    batches = []
    for v in range(num_votes):
        ks[v] = random_state.randint(num_factors)
        f = np.array(ground_truth_data.sample_factors(batch_size, random_state), copy=True)
        f[:, ks[v]] = f[0, ks[v]]
        batches.append(f)
    return ks, batches


def _votes(
    ground_truth_data,
    representation: Representation,
    random_state: np.random.RandomState,
    num_votes: int,
    batch_size: int,
    global_var: np.ndarray,
    active: np.ndarray,
    rows_per_call: int,
) -> np.ndarray:
    """(num_factors, num_active) vote counts; the RNG stream is drawn up front in dlib's order."""
    ks, batches = _draw_fixed_factor_batches(ground_truth_data, num_votes, batch_size, random_state)
    votes = np.zeros((num_factors_of(ground_truth_data), int(active.sum())), dtype=np.int64)
    for start, stop, codes in encode_units(ground_truth_data, representation, batches, random_state, rows_per_call):
        if codes.shape[1] != global_var.shape[0]:
            raise ValueError(f"representation width changed from {global_var.shape[0]} to {codes.shape[1]}")
        local_var = np.var(codes.reshape(stop - start, batch_size, -1), axis=1, ddof=1)
        # Indices are into the active latents, as dlib's (it stores them in a full-width matrix,
        # which only relabels columns and leaves the accuracies unchanged).
        argmin = np.argmin(local_var[:, active] / global_var[active], axis=1)
        np.add.at(votes, (ks[start:stop], argmin), 1)
    return votes


def factor_vae_score(
    ground_truth_data,
    representation: Representation,
    random_state: np.random.RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
) -> dict[str, float | int]:
    """FactorVAE score: ``{"factor_vae_train_accuracy", "factor_vae_eval_accuracy", "factor_vae_num_active_dims"}``.

    ``ground_truth_data`` needs ``sample_factors(n, random_state)``,
    ``sample_observations_from_factors(factors, random_state)`` and ``num_factors`` or
    ``factor_sizes``. ``representation`` maps (B, H, W, C) float32 observations to (B, L) codes and
    is called on up to ``rows_per_call`` rows at a time (whole votes; at least one vote per call).
    Defaults are the unsupervised_study_v1 configuration. See the module docstring for dlib's
    algorithm and where we differ.
    """
    batch_size = check_count(batch_size, "batch_size", minimum=2)  # ddof=1 variances need two rows
    num_train = check_count(num_train, "num_train")
    num_eval = check_count(num_eval, "num_eval")
    num_variance_estimate = check_count(num_variance_estimate, "num_variance_estimate", minimum=2)
    rows_per_call = check_count(rows_per_call, "rows_per_call")
    if not np.isfinite(prune_threshold) or prune_threshold < 0:
        raise ValueError(f"prune_threshold must be a finite number >= 0, got {prune_threshold!r}")

    factors = ground_truth_data.sample_factors(num_variance_estimate, random_state)
    codes = encode_factors(ground_truth_data, representation, factors, random_state, rows_per_call)
    global_var = np.var(codes, axis=0, ddof=1)
    non_constant = codes.max(axis=0) > codes.min(axis=0)
    active = non_constant & (np.sqrt(global_var) >= prune_threshold)
    if not active.any():
        return {
            "factor_vae_train_accuracy": 0.0,
            "factor_vae_eval_accuracy": 0.0,
            "factor_vae_num_active_dims": 0,
        }

    def votes(num_votes: int) -> np.ndarray:
        return _votes(
            ground_truth_data,
            representation,
            random_state,
            num_votes,
            batch_size,
            global_var,
            active,
            rows_per_call,
        )

    train_votes = votes(num_train)
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(train_votes.shape[1])
    eval_votes = votes(num_eval)  # drawn after the training votes, as in dlib
    return {
        "factor_vae_train_accuracy": float(train_votes[classifier, columns].sum() / train_votes.sum()),
        "factor_vae_eval_accuracy": float(eval_votes[classifier, columns].sum() / eval_votes.sum()),
        "factor_vae_num_active_dims": int(active.sum()),
    }
