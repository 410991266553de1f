"""The shared evaluation of a representation against ground-truth factors.

Any family whose data is a :class:`GroundTruthData` and whose model has an encoder calls
:func:`score_representation`: the codes-only suite (MIG, SAP, I_m and optionally DCI) on encoder means
of a seeded sample, and the dataset-driven scores of disentanglement_lib (FactorVAE, BetaVAE, IRS),
which draw their own observations through dlib's interface. Which of the optional scores run is the
caller's choice: DCI's boosted trees and FactorVAE's 640k encodings cost minutes per evaluation on a
CPU, a few seconds of GPU time on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from trainables.datasets.base import GroundTruthData
from trainables.metrics import DCI_KEYS, beta_vae_score, factor_vae_score, irs, score_codes

#: optional score -> the metric keys it reports (and the direction that is better)
OPTIONAL_SCORES: dict[str, dict[str, str]] = {
    "dci": dict.fromkeys(DCI_KEYS, "max"),
    "factor_vae": {"factor_vae_train_accuracy": "max", "factor_vae_eval_accuracy": "max",
                   "factor_vae_num_active_dims": "max"},
    "beta_vae_score": {"beta_vae_train_accuracy": "max", "beta_vae_eval_accuracy": "max"},
    "irs": {"irs": "max", "irs_num_active_dims": "max"},
}
CODE_METRICS = {"mig": "max", "sap": "max", "sap_continuous": "max", "im": "max"}

Encoder = Callable[[torch.Tensor], torch.Tensor]  # float images (B, C, H, W) on the device -> codes (B, L)


def metric_directions() -> dict[str, str]:
    """Every key :func:`score_representation` can report, with its better direction."""
    out = dict(CODE_METRICS)
    for keys in OPTIONAL_SCORES.values():
        out.update(keys)
    return out


def check_scores(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in OPTIONAL_SCORES]
    if unknown:
        raise ValueError(f"extra_scores: unknown score {unknown[0]!r}; known: {', '.join(OPTIONAL_SCORES)}")


@torch.no_grad()
def encode_indices(data: GroundTruthData, encode: Encoder, indices: torch.Tensor, batch_size: int) -> np.ndarray:
    codes = []
    for start in range(0, len(indices), batch_size):
        x = data.images(indices[start:start + batch_size]).float().div_(255.0)
        codes.append(encode(x).float().cpu())
    return torch.cat(codes).numpy()


def score_representation(data: GroundTruthData, encode: Encoder, codes: np.ndarray, factors: np.ndarray,
                         n_train: int, seed: int, extra_scores: Sequence[str] = (), num_bins: int = 20,
                         batch_size: int = 1024, dlib_num_train: int = 10000, dlib_num_eval: int = 5000,
                         device: torch.device | None = None) -> dict[str, float]:
    """Metrics of the representation ``encode`` of ``data``.

    ``codes``/``factors`` are the encoder means and factor classes of the caller's seeded evaluation
    sample (the first ``n_train`` rows train, the rest test; see :func:`encode_indices`): the codes-only
    suite runs on them. The dlib scores draw their own observations from ``np.random.RandomState(seed)``
    with dlib's defaults except the sample counts ``dlib_num_train`` (also FactorVAE's variance-estimate
    size) and ``dlib_num_eval``.
    """
    check_scores(extra_scores)
    device = device or torch.device("cpu")
    metrics = score_codes(codes, factors, n_train=n_train, num_bins=num_bins, include_dci="dci" in extra_scores)

    @torch.no_grad()
    def representation(observations: np.ndarray) -> np.ndarray:  # dlib's (B, H, W, C) float32 in [0, 1]
        x = torch.from_numpy(observations).to(device).permute(0, 3, 1, 2)
        out = []
        for start in range(0, len(x), batch_size):
            out.append(encode(x[start:start + batch_size].contiguous()).float().cpu())
        return torch.cat(out).numpy()

    if "factor_vae" in extra_scores:
        metrics.update(factor_vae_score(data, representation, np.random.RandomState(seed), num_train=dlib_num_train,
                                        num_eval=dlib_num_eval, num_variance_estimate=dlib_num_train))
    if "beta_vae_score" in extra_scores:
        metrics.update(beta_vae_score(data, representation, np.random.RandomState(seed), num_train=dlib_num_train,
                                      num_eval=dlib_num_eval))
    if "irs" in extra_scores:
        metrics.update(irs(data, representation, np.random.RandomState(seed), num_train=dlib_num_train))
    return {k: float(v) for k, v in metrics.items()}
