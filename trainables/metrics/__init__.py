"""Disentanglement metrics as pure numpy functions (arrays in, floats out).

The λβ-VAE seed's suite (MIG, SAP, I_m; see notes/seed-systems.md §3) lives in discretize.py,
mig.py, sap.py, im.py and suite.py; :func:`score_codes` runs all of them on one set of codes.
FactorVAE, BetaVAE and IRS scores (factor_vae_score.py, beta_vae_score.py, irs.py) sample from a
dataset with disentanglement_lib's interface through a representation function. MCC (mcc.py) compares latents with true sources. C_IMA of a decoder lives in cima.py and is not
imported here: it needs torch, and the codes-only metrics should load without it.
"""

from trainables.metrics.beta_vae_score import beta_vae_score
from trainables.metrics.dci import dci, dci_from_importance, gbt_importance_matrix
from trainables.metrics.discretize import discretize, factor_class_codes, factor_entropies, mutual_info_matrix
from trainables.metrics.factor_vae_score import factor_vae_score
from trainables.metrics.im import im, im_from_mi
from trainables.metrics.irs import irs, irs_from_codes
from trainables.metrics.mcc import MCCMatching, correlation_matrix, mcc, mcc_cdf, mcc_matrix
from trainables.metrics.mig import mig, mig_from_mi
from trainables.metrics.sap import sap, sap_continuous, sap_continuous_matrix, sap_score_matrix
from trainables.metrics.suite import DCI_KEYS, METRIC_DIRECTIONS, default_n_train, score_codes

__all__ = [
    "DCI_KEYS",
    "METRIC_DIRECTIONS",
    "MCCMatching",
    "beta_vae_score",
    "factor_vae_score",
    "gbt_importance_matrix",
    "irs",
    "irs_from_codes",
    "correlation_matrix",
    "mcc",
    "mcc_cdf",
    "mcc_matrix",
    "dci",
    "dci_from_importance",
    "default_n_train",
    "discretize",
    "factor_class_codes",
    "factor_entropies",
    "im",
    "im_from_mi",
    "mig",
    "mig_from_mi",
    "mutual_info_matrix",
    "sap",
    "sap_continuous",
    "sap_continuous_matrix",
    "sap_score_matrix",
    "score_codes",
]
