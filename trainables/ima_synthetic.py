"""Synthetic IMA data: independent sources pushed through a Möbius or an MLP mixing.

Seed: ``rpatrik96/ima-vae`` ``ima_vae/data/data_generators/gen_synth_dataset.py`` (``non_stationary_data``,
``gen_mobius``, ``gen_mlp``), ``ima_vae/data/utils.py`` (``build_moebius_transform``, ``get_lin_mix``,
``rand_cos_sim``) and ``data/datamodules.py`` (notes/seed-systems.md §1).

- Sources (N, D): ``uniform`` U(0,1) - 0.5; ``gaussian`` N(mean, std) (the seed's ``var`` argument is
  passed to ``np.random.normal`` as the std; ours is named ``source_std``); ``laplace`` Laplace(mean,
  scale = ``source_std``) likewise; ``beta`` Beta(α, β) - 0.5.
- Möbius (``gen_mobius``): f(s) = b + α·A(s - a)/‖s - a‖², α = 1, b = 0, A orthogonal (``ortho_group``),
  every a_i ~ N(0, 1) redrawn until |a_i| > 0.5. Optionally a linear map L breaks the column-orthogonality
  of the (conformal) Möbius Jacobian: ``cos_theta`` is the seed's 2-D ``gen_mobius`` map (rows [1, 0] and a
  random unit vector at cosine ``cos_theta`` to it; identity when 0), ``col_norm``/``unit_det`` are the
  seed's later ``get_lin_mix`` (U(0,1) matrix with unit columns / unit |det|, redrawn until full rank).
  Observations are then mean-centred over the whole dataset.
- MLP (``gen_mlp``): ``mixing_layers`` times: the activation first, then ``h @ M``; M orthogonal if
  ``orthogonal`` else U(1, 3) entries; activation ``smooth_lrelu`` = s·x + (1-s)·softplus(x) with s = 0.2,
  or ``linear``.
- Split 0.7 / 0.2 / 0.1 of a random permutation (train / val / test).

Where we differ from the seed, deliberately:
- One numpy generator, ``default_rng(SeedSequence([data_seed, DATA_STREAM]))``, draws everything: sources,
  then mixing parameters, then the split. The seed mixes a JAX key (uniform and beta sources) with the
  global ``np.random`` state (gaussian/laplace sources and all mixing parameters), and its split is a
  ``random_split`` on the global torch RNG, which ``seed_everything`` sets from the *training* seed, so the
  seed's split (not its data) changes with the training seed. Here the data and the split depend on
  ``data_seed`` only: every training seed sees the same rows.
- The mixing kept for metrics is the very function that generated the data (:class:`Mixing`, float64 torch).
  The seed regenerates it in torch for its metrics and it does not match its numpy generator: the MLP's
  torch ``mixing`` applies ``nn.Linear(M)`` (x·Mᵀ) *before* the activation, while the data were made with
  the activation first and then x·M; the Möbius torch mixing omits the mean-centring. Ours includes both.
- The seed's beta-source shapes default to values drawn from ``np.random.uniform(1, 10)`` at import time;
  ours are config values (3, 11). Its gaussian/laplace ``var`` default is also drawn at import; ours is 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from scipy.stats import ortho_group

DATA_STREAM = 0xDA7A  # the SeedSequence stream of the data generator (kept apart from training streams)
SPLIT_FRACTIONS = (0.7, 0.2, 0.1)
SPLITS = ("train", "val", "test")


@dataclass(unsafe_hash=True)
class DataSpec:
    """Everything that determines a synthetic dataset (hashed by value: the per-process cache key; never
    mutated). Defaults: the seed's trainer.yaml + synth/moebius.yaml. The family's config inherits these
    fields, so a space sets them like any other."""

    mixing: Literal["moebius", "mlp"] = "moebius"
    latent_dim: int = 2  # = observation dimension
    n_obs: int = 60000
    source: Literal["uniform", "gaussian", "laplace", "beta"] = "uniform"
    source_mean: float = 0.0
    source_std: float = 1.0
    source_alpha: float = 3.0
    source_beta: float = 11.0
    linear_map: Literal["none", "cos_theta", "col_norm", "unit_det"] = "none"  # Möbius only
    cos_theta: float = 0.0
    mixing_layers: int = 3  # MLP only
    orthogonal: bool = True
    mixing_activation: Literal["smooth_lrelu", "linear"] = "smooth_lrelu"
    mixing_slope: float = 0.2
    data_seed: int = 1  # the seed's data.seed: fixed while the training seed varies


def smooth_leaky_relu(x: torch.Tensor, slope: float = 0.2) -> torch.Tensor:
    """s·x + (1 - s)·softplus(x): a smooth, strictly increasing leaky ReLU (the seed's ``smooth_lrelu``)."""
    return slope * x + (1.0 - slope) * torch.nn.functional.softplus(x)


@dataclass
class Mixing:
    """The generating function sources -> observations, in float64 torch; the data are made with it."""

    kind: str
    matrices: list[np.ndarray] = field(default_factory=list)  # Möbius: [A]; MLP: one M per layer
    a: np.ndarray | None = None  # Möbius centre
    linear_map: np.ndarray | None = None  # Möbius L (applied as L·f(s))
    offset: np.ndarray | None = None  # subtracted last (the Möbius mean-centring)
    activation: str = "smooth_lrelu"
    slope: float = 0.2

    def __call__(self, sources: torch.Tensor) -> torch.Tensor:
        """Observations of ``sources`` (B, D); differentiable, vmap-compatible (for Jacobians)."""
        t = functools.partial(torch.as_tensor, dtype=sources.dtype, device=sources.device)
        if self.kind == "moebius":
            diff = sources - t(self.a)
            # f(s) = A (s - a) / ||s - a||^2  (row form: (s - a) A^T)
            out = diff @ t(self.matrices[0]).T / (diff**2).sum(-1, keepdim=True)
            if self.linear_map is not None:
                out = out @ t(self.linear_map).T
        else:
            out = sources
            for m in self.matrices:
                if self.activation == "smooth_lrelu":
                    out = smooth_leaky_relu(out, self.slope)
                out = out @ t(m)
        if self.offset is not None:
            out = out - t(self.offset)
        return out


@dataclass
class SyntheticData:
    sources: np.ndarray  # (N, D) float32
    observations: np.ndarray  # (N, D) float32
    splits: dict[str, np.ndarray]  # name -> row indices
    mixing: Mixing


def draw_sources(spec: DataSpec, rng: np.random.Generator) -> np.ndarray:
    shape = (spec.n_obs, spec.latent_dim)
    if spec.source == "uniform":
        return rng.uniform(0.0, 1.0, shape) - 0.5
    if spec.source == "gaussian":
        return rng.normal(spec.source_mean, spec.source_std, shape)
    if spec.source == "laplace":
        return rng.laplace(spec.source_mean, spec.source_std, shape)
    if spec.source == "beta":
        return rng.beta(spec.source_alpha, spec.source_beta, shape) - 0.5
    raise ValueError(f"source: unknown source {spec.source!r}")


def moebius_centre(dim: int, rng: np.random.Generator) -> np.ndarray:
    """a in R^D with every |a_i| > 0.5 (each entry redrawn from N(0, 1) until it is), as the seed."""
    a = []
    while len(a) < dim:
        s = rng.standard_normal()
        if abs(s) > 0.5:
            a.append(s)
    return np.array(a)


def linear_map(spec: DataSpec, rng: np.random.Generator) -> np.ndarray | None:
    d = spec.latent_dim
    if spec.linear_map == "none" or (spec.linear_map == "cos_theta" and spec.cos_theta == 0.0):
        return None
    if spec.linear_map == "cos_theta":  # the seed's rand_cos_sim, 2-D only
        u = np.array([1.0, 0.0])
        r = rng.standard_normal(2)
        perp = r - r.dot(u) * u
        perp /= np.linalg.norm(perp)
        w = spec.cos_theta * u + np.sqrt(1.0 - spec.cos_theta**2) * perp
        return np.stack([u, w])
    while True:  # get_lin_mix
        mat = rng.uniform(0.0, 1.0, (d, d))
        if spec.linear_map == "col_norm":
            mat = mat / np.linalg.norm(mat, axis=0)
        else:
            mat = mat / np.abs(np.linalg.det(mat)) ** (1.0 / d)
        if np.all(np.isfinite(mat)) and np.linalg.matrix_rank(mat, tol=1e-6) == d:
            return mat


def make_mixing(spec: DataSpec, rng: np.random.Generator) -> Mixing:
    d = spec.latent_dim
    if spec.mixing == "moebius":
        a_matrix = ortho_group.rvs(d, random_state=rng) if d > 1 else np.ones((1, 1))
        return Mixing("moebius", [a_matrix], a=moebius_centre(d, rng), linear_map=linear_map(spec, rng))
    mats = []
    for _ in range(spec.mixing_layers):
        if spec.orthogonal:
            mats.append(ortho_group.rvs(d, random_state=rng) if d > 1 else np.ones((1, 1)))
        else:
            mats.append(rng.uniform(1.0, 3.0, (d, d)))
    return Mixing("mlp", mats, activation=spec.mixing_activation, slope=spec.mixing_slope)


def split_sizes(n_obs: int) -> tuple[int, int, int]:
    """Train / val / test sizes: 0.7 and 0.2 rounded down, the rest to test (60000 -> 42000/12000/6000)."""
    n_train, n_val = int(n_obs * SPLIT_FRACTIONS[0]), int(n_obs * SPLIT_FRACTIONS[1])
    return n_train, n_val, n_obs - n_train - n_val


@functools.lru_cache(maxsize=8)
def generate(spec: DataSpec) -> SyntheticData:
    """The dataset of ``spec``, generated once per process (trials of a process share it; treat as read-only)."""
    if spec.linear_map == "cos_theta" and spec.latent_dim != 2:
        raise ValueError("linear_map: 'cos_theta' is defined for latent_dim 2 only (as in the seed)")
    rng = np.random.default_rng(np.random.SeedSequence([spec.data_seed, DATA_STREAM]))
    sources = draw_sources(spec, rng)
    mixing = make_mixing(spec, rng)
    obs = mixing(torch.from_numpy(sources)).numpy()
    if spec.mixing == "moebius":
        mixing.offset = obs.mean(axis=0)
        obs = obs - mixing.offset
    perm = rng.permutation(spec.n_obs)
    n_train, n_val, _ = split_sizes(spec.n_obs)
    splits = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
    return SyntheticData(sources.astype(np.float32), obs.astype(np.float32), splits, mixing)


@functools.lru_cache(maxsize=16)
def device_tensors(spec: DataSpec, device: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Split name -> (observations, sources) as float32 tensors on ``device``, cached per process."""
    data = generate(spec)
    out = {}
    for name, idx in data.splits.items():
        out[name] = (torch.from_numpy(data.observations[idx]).to(device),
                     torch.from_numpy(data.sources[idx]).to(device))
    return out


def boundary_mask(sources: torch.Tensor, bound: float = 0.4) -> torch.Tensor:
    """Rows whose every source lies strictly inside (-bound, bound) (the seed's ``exclude_uniform_boundary``)."""
    return (sources.abs() < bound).all(dim=-1)
