"""A 12-image dataset of the project's GroundTruthData kind whose pixels encode its factors, so a
perfect representation is known (shared by the dlib-score and the shared-evaluation tests)."""

from __future__ import annotations

import torch

from trainables.datasets.base import GroundTruthData


class Grid(GroundTruthData):
    """12 images of 2 pixels; pixel k = 50 * factor k."""

    factor_names, factor_sizes, image_shape, name = ("a", "b"), (3, 4), (2, 1, 1), "grid"

    def __len__(self):
        return 12

    def factors(self, indices):
        return torch.stack([indices // 4, indices % 4], dim=1)

    def images(self, indices):
        return (50 * self.factors(indices)).to(torch.uint8).reshape(-1, 2, 1, 1)

    def to(self, device):
        return self
