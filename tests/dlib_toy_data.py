"""A tiny ground-truth dataset with disentanglement_lib's interface, representations of it, and
plain one-vote-at-a-time references of dlib's FactorVAE, β-VAE and IRS scores.

numpy and sklearn only, so the dlib cross-check can import it from dlib's own interpreter.
Observation of factors f: float32 (1, 1, K) holding f_k / (size_k - 1), so ``identity`` recovers
every factor exactly (a perfect representation).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression


class ToyFactorData:
    """Factors of sizes ``factor_sizes``, sampled uniformly and independently (dlib's per-factor order)."""

    def __init__(self, factor_sizes=(4, 5, 6)):
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.num_observation_calls = 0

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def factors_num_values(self) -> list[int]:
        return list(self.factor_sizes)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (1, 1, self.num_factors)

    def sample_factors(self, num, random_state):
        # Column by column, like dlib's SplitDiscreteStateSpace and our GroundTruthData base.
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        self.num_observation_calls += 1
        scaled = np.asarray(factors, dtype=np.float32) / (np.array(self.factor_sizes, dtype=np.float32) - 1)
        return scaled.reshape(len(factors), 1, 1, self.num_factors)

    # dlib's GroundTruthData base methods (its metrics call these).
    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num, random_state):
        return self.sample(num, random_state)[1]


def identity(observations):
    """The perfect representation: latent k = factor k / (size_k - 1), float32."""
    return np.asarray(observations, dtype=np.float32).reshape(len(observations), -1)


def rotation(num_latents: int, seed: int = 0) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian), fixed by ``seed``."""
    q, _ = np.linalg.qr(np.random.RandomState(seed).randn(num_latents, num_latents))
    return q.astype(np.float32)


def rotated(observations):
    """Every latent mixes every factor: identity times a fixed random rotation."""
    z = identity(observations)
    return z @ rotation(z.shape[1])


def entangled(observations):
    """A partly mixed, non-linear code (non-trivial scores for the dlib cross-check)."""
    z = identity(observations)
    mix = np.eye(z.shape[1], dtype=np.float32) + rotation(z.shape[1], seed=1)
    return np.tanh(z @ mix - np.float32(0.5))


def without_last_factor(observations):
    """Ignores the last factor entirely."""
    return identity(observations)[:, :-1]


def with_dead_latent(observations):
    """The perfect code with a constant 0 latent appended (a collapsed dimension)."""
    z = identity(observations)
    return np.concatenate([z, np.zeros((len(z), 1), dtype=np.float32)], axis=1)


def all_dead(observations):
    """Three constant latents: nothing is encoded."""
    return np.full((len(observations), 3), 0.25, dtype=np.float32)


REPRESENTATIONS = {
    "identity": identity,
    "rotated": rotated,
    "entangled": entangled,
    "without_last_factor": without_last_factor,
    "with_dead_latent": with_dead_latent,
    "all_dead": all_dead,
}


# --- references: one vote / point at a time, in dlib's order ---------------------------------


def dci_codes(n_rows: int = 900, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n, 4) float32, factors (n, 2) int) for DCI: two noisy informative latents, noise, a dead one.

    float32 rounding leaves a few equal values per latent, so the trees meet ties as on real codes.
    """
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 3, n_rows), rng.integers(0, 6, n_rows)], axis=1)
    informative = factors + 0.4 * rng.normal(size=(n_rows, 2))
    informative[:, 0] += 0.3 * factors[:, 1]  # some leakage, so R is not diagonal
    codes = np.hstack([informative, rng.normal(size=(n_rows, 1)), np.zeros((n_rows, 1))])
    return codes.astype(np.float32), factors


def ref_factor_vae(data, rep, state, batch_size, num_train, num_eval, num_variance_estimate, threshold):
    global_var = np.var(rep(data.sample_observations(num_variance_estimate, state)), axis=0, ddof=1)
    # dlib keeps std >= threshold; the "> 0" is our deviation (no 0/0 NaN for a dead latent).
    keep = np.flatnonzero((np.sqrt(global_var) >= threshold) & (global_var > 0))

    def votes(n):
        table = np.zeros((data.num_factors, keep.size), dtype=int)
        for _ in range(n):
            k = state.randint(data.num_factors)
            f = data.sample_factors(batch_size, state)
            f[:, k] = f[0, k]
            local = np.var(rep(data.sample_observations_from_factors(f, state)), axis=0, ddof=1)
            table[k, np.argmin(local[keep] / global_var[keep])] += 1
        return table

    train = votes(num_train)
    best = train.max(axis=0)
    winner = train.argmax(axis=0)
    evals = votes(num_eval)
    return best.sum() / train.sum(), evals[winner, np.arange(keep.size)].sum() / evals.sum()


def ref_beta_vae_features(data, rep, state, batch_size, n):
    xs, ys = [], []
    for _ in range(n):
        k = state.randint(data.num_factors)
        a = data.sample_factors(batch_size, state)
        b = data.sample_factors(batch_size, state)
        b[:, k] = a[:, k]
        za = rep(data.sample_observations_from_factors(a, state))
        zb = rep(data.sample_observations_from_factors(b, state))
        xs.append(np.mean(np.abs(za - zb), axis=0))
        ys.append(k)
    return np.array(xs, dtype=np.float64), np.array(ys)


def ref_beta_vae(data, rep, state, batch_size, num_train, num_eval):
    x, y = ref_beta_vae_features(data, rep, state, batch_size, num_train)
    model = LogisticRegression(random_state=state).fit(x, y)
    ex, ey = ref_beta_vae_features(data, rep, state, batch_size, num_eval)
    return model.score(x, y), model.score(ex, ey)


def ref_irs(data, rep, state, num_train, batch_size):
    ys, zs = [], []
    for start in range(0, num_train, batch_size):
        f, obs = data.sample(min(batch_size, num_train - start), state)
        ys.append(f)
        zs.append(rep(obs))
    y, z = np.concatenate(ys), np.concatenate(zs)
    # dlib's 20-bin histogram discretiser of each factor
    y = np.stack([np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in y.T], axis=1)
    z = z[:, z.var(axis=0) > 0]
    spread = np.abs(z - z.mean(axis=0)).max(axis=0)
    scores = []
    for j in range(z.shape[1]):
        per_factor = []
        for i in range(y.shape[1]):
            devs = []
            for v in np.unique(y[:, i]):
                g = z[y[:, i] == v, j]
                devs.append(np.quantile(np.abs(g - g.mean()), 0.99))
            per_factor.append(1 - np.mean(devs) / spread[j])
        scores.append(max(per_factor))
    return float(np.sum(np.array(scores) * spread) / spread.sum())
