"""C_IMA, the Independent Mechanism Analysis contrast of a decoder's Jacobian.

Gresele et al., "Independent Mechanism Analysis, a New Concept?" (NeurIPS 2021): for a
mixing (decoder) f with Jacobian J = ∂f/∂z of shape (out, in), out >= in:

    c_IMA(f, z) = Σ_i log ||J_{:,i}(z)|| - ½ log det(J(z)^T J(z))      (= - log|det J| if square)

the gap in Hadamard's inequality: >= 0, and 0 iff the columns of J(z) are orthogonal. The global
C_IMA is its expectation over z. Two batch versions exist and are both provided, named apart:

- :func:`cima_pointwise` is the paper's definition, as in ``lgresele/independent-mechanism-analysis``
  ``ima/metrics.py::cima_higher_d_fwd`` (pointwise contrast, then the batch mean).
- :func:`cima_of_mean_jacobian` is what the IMA-VAE seed logs as ``Metrics/val/cima``
  (``rpatrik96/ima-vae`` ``runners/runner.py::_log_cima``: ``calc_jacobian(decoder, latent)``,
  ``.mean(0)`` over the batch, then ``metrics/cima.py::cima_kl_diagonality``,
  ½[log det diag(JᵀJ) - log det JᵀJ], the same formula on the averaged J). Not the paper's
  quantity: averaging can cancel or create non-orthogonality (a decoder whose Jacobian is
  [[1, ±2], [0, 1]] at different points has pointwise C_IMA ½ log 5 but mean Jacobian I, C_IMA 0).

Numerics (where we differ from both references, which use the input dtype, often float32): all
log-dets are float64, and the columns are scaled to unit norm first (C_IMA is invariant to column
scaling), so the log-det sees a matrix with unit diagonal Gram instead of columns whose norms may
differ by many orders of magnitude. Square J uses ``slogdet(J)`` as ``cima_higher_d_fwd``;
rectangular J (out > in, e.g. image decoders) uses ½ ``slogdet(JᵀJ)`` as ``cima_kl_diagonality``
(``cima_higher_d_fwd`` supports square J only). Rounding can leave -1e-16; results are clipped at 0.
A rank-deficient J (dependent or zero columns: the decoder is not locally injective) gives +inf;
the references give +inf for dependent columns and NaN (-inf - -inf) for a zero column.

:func:`decoder_jacobians` computes the per-sample Jacobians with ``torch.func`` (vmap of jacrev),
one batched call, in the decoder's dtype; like the seed's ``calc_jacobian`` it evaluates an
``nn.Module`` in eval mode (BatchNorm uses running statistics, Dropout is off) and restores the mode.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

_VARIANTS = ("pointwise", "mean_jacobian")


def _as_jacobians(jacobians: np.ndarray | torch.Tensor) -> np.ndarray:
    """A finite float64 (B, out, in) array with B >= 1 and out >= in >= 1, or ValueError."""
    if isinstance(jacobians, torch.Tensor):
        jacobians = jacobians.detach().cpu().to(torch.float64).numpy()
    arr = np.asarray(jacobians)
    if arr.ndim != 3:
        raise ValueError(f"jacobians must be a (batch, out, in) array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"jacobians must hold real numbers, got dtype {arr.dtype}")
    batch, out, inp = arr.shape
    if batch < 1 or inp < 1:
        raise ValueError(f"jacobians must have at least one sample and one input, got shape {arr.shape}")
    if out < inp:
        raise ValueError(f"C_IMA needs out >= in (an injective decoder), got Jacobians of shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("jacobians contain NaN or inf")
    return arr


def _cima_values(jac: np.ndarray) -> np.ndarray:
    """Pointwise C_IMA of a checked float64 (B, out, in) stack; shape (B,), values in [0, inf]."""
    norms = np.linalg.norm(jac, axis=1)  # (B, in): column norms
    values = np.full(jac.shape[0], np.inf)
    ok = np.all(norms > 0, axis=1)
    if not np.any(ok):
        return values
    # Unit columns: Σ log||J_i|| becomes 0 and C_IMA = -log-volume of the normalised columns.
    unit = jac[ok] / norms[ok][:, np.newaxis, :]
    if unit.shape[1] == unit.shape[2]:
        log_volume = np.linalg.slogdet(unit)[1]
    else:
        log_volume = 0.5 * np.linalg.slogdet(np.swapaxes(unit, 1, 2) @ unit)[1]
    # slogdet reports a singular matrix as -inf, which makes the contrast +inf as intended.
    values[ok] = np.maximum(-log_volume, 0.0)
    return values


def cima_values(jacobians: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-sample C_IMA (the paper's local contrast) of a (B, out, in) stack of Jacobians; float64 (B,)."""
    return _cima_values(_as_jacobians(jacobians))


def cima_pointwise(jacobians: np.ndarray | torch.Tensor) -> float:
    """The IMA paper's C_IMA: the contrast of each sample's Jacobian, averaged over the batch.

    Matches ``cima_higher_d_fwd(...).mean()`` of ``lgresele/independent-mechanism-analysis``. This
    is NOT what the IMA-VAE seed logs; that is :func:`cima_of_mean_jacobian`.
    """
    return float(np.mean(cima_values(jacobians)))


def cima_of_mean_jacobian(jacobians: np.ndarray | torch.Tensor) -> float:
    """The IMA-VAE seed's logged ``cima``: average the Jacobians over the batch, then one C_IMA.

    Kept to compare with the seed's numbers; the paper's definition is :func:`cima_pointwise`.
    The two agree when the Jacobian is the same at every sample (a linear decoder).
    """
    jac = _as_jacobians(jacobians)
    return float(_cima_values(jac.mean(axis=0, keepdims=True))[0])


def decoder_jacobians(
    decoder: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor], latents: torch.Tensor
) -> torch.Tensor:
    """Jacobian of ``decoder`` at every row of ``latents`` (B, D): a detached (B, out, D) tensor.

    ``decoder`` maps a (B, D) batch to (B, ...); outputs beyond the batch axis are flattened
    (an image decoder gives out = C*H*W). Computed as ``vmap(jacrev(one_sample))`` with
    ``torch.func``: one batched pass, no loop over samples. The decoder must therefore be
    vmap-compatible (no ``.item()`` or data-dependent Python control flow). An ``nn.Module`` is
    evaluated in eval mode and put back in its previous mode afterwards. No graph to the decoder's
    parameters is kept (this is a metric, not a regulariser).
    """
    if not isinstance(latents, torch.Tensor):
        raise ValueError(f"latents must be a torch.Tensor, got {type(latents).__name__}")
    if latents.ndim != 2 or latents.shape[0] < 1 or latents.shape[1] < 1:
        raise ValueError(
            f"latents must be a non-empty (batch, latent_dim) tensor, got {tuple(latents.shape)}"
        )
    if not latents.is_floating_point():
        raise ValueError(f"latents must be floating point, got dtype {latents.dtype}")
    if not callable(decoder):
        raise ValueError(f"decoder must be callable, got {type(decoder).__name__}")

    def one_sample(z: torch.Tensor) -> torch.Tensor:
        return decoder(z.unsqueeze(0)).reshape(-1)

    was_training = isinstance(decoder, torch.nn.Module) and decoder.training
    if was_training:
        decoder.eval()
    try:
        # The outer no_grad stops autograd recording to the parameters; torch.func transforms
        # still differentiate with respect to z inside it.
        with torch.no_grad():
            jac = torch.func.vmap(torch.func.jacrev(one_sample))(latents.detach())
    finally:
        if was_training:
            decoder.train()
    return jac


def cima(
    decoder: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    variant: str = "pointwise",
) -> float:
    """C_IMA of ``decoder`` over the batch ``latents``: "pointwise" (paper) or "mean_jacobian" (seed)."""
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be 'pointwise' or 'mean_jacobian', got {variant!r}")
    jac = decoder_jacobians(decoder, latents)
    return cima_pointwise(jac) if variant == "pointwise" else cima_of_mean_jacobian(jac)
