"""Datasets whose images are the full factor grid in row-major order.

dSprites, Shapes3D and MPI3D all store one image per factor combination, the last factor varying
fastest (disentanglement_lib relies on this too). So the factor classes of an image follow from its
flat index and need not be stored: ``factors`` decodes them on the device, and ``base.index_of``
(the inverse) is exact. Loaders check a file's labels against this order once, at load time, because a
file in another order would silently corrupt every metric that goes through ``index_of``.
"""

from __future__ import annotations

import numpy as np
import torch

from trainables.datasets.base import GroundTruthData


def row_major_strides(sizes: tuple[int, ...]) -> np.ndarray:
    """int64 strides of a row-major grid: index = factors @ strides."""
    return np.cumprod((1,) + tuple(sizes[::-1]), dtype=np.int64)[:-1][::-1].copy()


def decode_grid(indices: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """(B, K) factor classes of flat ``indices`` in a row-major grid of ``sizes`` (numpy)."""
    return (np.asarray(indices, dtype=np.int64)[:, None] // row_major_strides(sizes)) % np.asarray(sizes)


def check_full_grid(classes: np.ndarray, where: str) -> tuple[int, ...]:
    """The factor sizes of ``classes`` (N, K); raises unless row i is the i-th cell of the row-major grid."""
    classes = np.asarray(classes, dtype=np.int64)
    sizes = tuple(int(v) + 1 for v in classes.max(axis=0))
    n_cells = int(np.prod(sizes, dtype=np.int64))
    if classes.shape[0] != n_cells or classes.min() < 0:
        raise ValueError(f"{where}: {classes.shape[0]} labelled images do not form the full factor grid "
                         f"{'x'.join(map(str, sizes))} = {n_cells}")
    # Compare chunk by chunk so checking 1M x 7 labels never builds a second full-size array.
    for start in range(0, n_cells, 1 << 18):
        stop = min(start + (1 << 18), n_cells)
        if not np.array_equal(classes[start:stop], decode_grid(np.arange(start, stop), sizes)):
            raise ValueError(f"{where}: the images are not in row-major factor order (the last factor "
                             f"varying fastest), which index_of and the metrics rely on")
    return sizes


class GridData(GroundTruthData):
    """Common part of every dataset here: length and factor decoding from the grid, on ``self.device``."""

    device: torch.device

    def _init_grid(self, factor_sizes: tuple[int, ...], device: torch.device) -> None:
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.device = device
        self._strides = torch.as_tensor(row_major_strides(self.factor_sizes), device=device)
        self._sizes = torch.as_tensor(self.factor_sizes, dtype=torch.int64, device=device)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    def factors(self, indices: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(indices).to(self.device, torch.int64)
        return (idx[:, None] // self._strides) % self._sizes
