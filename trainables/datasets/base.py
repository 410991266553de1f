"""What every ground-truth-factor image dataset offers to families and metrics.

Images stay uint8 (N x C x H x W in torch layout) and are produced on the device they live on;
families convert a batch to float only when they use it. A dataset object is shared by all
trials of a process (see ``trainables.datasets.load``), never copied per trial.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch


class GroundTruthData(ABC):
    #: e.g. ("shape", "scale", "orientation", "pos_x", "pos_y")
    factor_names: tuple[str, ...]
    #: number of values of each factor, same order as factor_names
    factor_sizes: tuple[int, ...]
    #: image shape (C, H, W)
    image_shape: tuple[int, int, int]
    #: the name results and tags carry (e.g. "dsprites_procedural", never plain "dsprites" if rendered)
    name: str

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def images(self, indices: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) on the dataset's device for int64 ``indices`` (any device)."""

    @abstractmethod
    def factors(self, indices: torch.Tensor) -> torch.Tensor:
        """int64 (B, K) factor classes (0..size-1) for ``indices``, on the dataset's device."""

    @abstractmethod
    def to(self, device: torch.device) -> GroundTruthData:
        """This dataset with its storage on ``device`` (may return self)."""

    # disentanglement_lib's interface, so dlib-style metrics can score any dataset of this shape.
    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def index_of(self, factors: np.ndarray) -> np.ndarray:
        """Flat indices of the images with the given (B, K) factor classes (full factor grids)."""
        strides = np.cumprod((1,) + tuple(self.factor_sizes[::-1]))[:-1][::-1]
        return np.asarray(factors, dtype=np.int64) @ strides.astype(np.int64)

    def sample_factors(self, n: int, random_state: np.random.RandomState) -> np.ndarray:
        return np.stack([random_state.randint(s, size=n) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        """float32 (B, H, W, C) in [0, 1], dlib's layout."""
        idx = torch.as_tensor(self.index_of(factors))
        imgs = self.images(idx).float().div_(255.0)
        return imgs.permute(0, 2, 3, 1).cpu().numpy()
