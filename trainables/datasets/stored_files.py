"""Loaders for the real dataset files, when the user has them. Images stay uint8 (the seed codebases
load dSprites/Shapes3D as float32: ~12 / 24 GB per process); channels-last files are permuted per
batch, never copied whole.

- dSprites: ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (keys ``imgs``, ``latents_classes``;
  factors = latents_classes[:, 1:], the colour column is constant), as the λβ-VAE seed reads it.
- Shapes3D: ``3dshapes.h5`` (keys ``images`` N x 64 x 64 x 3, ``labels`` N x 6 floats -> classes per
  column by ``np.unique``).
- MPI3D: ``mpi3d_{toy,realistic,real}.npz`` (key ``images``); factors rebuilt from the grid
  6,6,2,3,3,40,40 in row-major order, as the λβ-VAE seed does (the file stores no labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainables.datasets.base import GroundTruthData


class DatasetNotFound(FileNotFoundError):
    pass


class ArrayDataset(GroundTruthData):
    """Images (N, H, W) or (N, H, W, C) uint8 and integer factor classes (N, K), on one device."""

    def __init__(self, name: str, images: torch.Tensor, factors: torch.Tensor, factor_names: tuple[str, ...],
                 binary: bool = False) -> None:
        self.name = name
        self._images = images
        self._factors = factors.to(torch.int64)
        self.factor_names = factor_names
        self.factor_sizes = tuple(int(v) + 1 for v in self._factors.max(dim=0).values.tolist())
        self.binary = binary  # dSprites stores 0/1: scaled to 0/255 per batch like every other dataset
        channels = 1 if images.dim() == 3 else images.shape[3]
        self.image_shape = (channels, images.shape[1], images.shape[2])
        self.device = images.device

    def __len__(self) -> int:
        return self._images.shape[0]

    def images(self, indices: torch.Tensor) -> torch.Tensor:
        batch = self._images[indices.to(self.device)]
        batch = batch.unsqueeze(1) if batch.dim() == 3 else batch.permute(0, 3, 1, 2).contiguous()
        return batch * 255 if self.binary else batch

    def factors(self, indices: torch.Tensor) -> torch.Tensor:
        return self._factors[indices.to(self.device)]

    def to(self, device: torch.device | str) -> ArrayDataset:
        if torch.device(device) == self.device:
            return self
        return ArrayDataset(self.name, self._images.to(device), self._factors.to(device), self.factor_names,
                            self.binary)


def require(path: Path, name: str) -> Path:
    if not path.exists():
        raise DatasetNotFound(
            f"{name}: {path} not found; put the file there or point --data-dir / SWEEPBED_DATA_DIR at the "
            f"folder that holds it")
    return path


DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SHAPES3D_FILE = "3dshapes.h5"
MPI3D_GRID = (6, 6, 2, 3, 3, 40, 40)
MPI3D_FACTORS = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                 "horizontal_axis", "vertical_axis")


def load_dsprites(data_dir: Path) -> ArrayDataset:
    with np.load(require(data_dir / DSPRITES_FILE, "dsprites"), allow_pickle=False) as f:
        images = torch.from_numpy(np.ascontiguousarray(f["imgs"], dtype=np.uint8))
        factors = torch.from_numpy(f["latents_classes"][:, 1:].astype(np.int64))
    return ArrayDataset("dsprites", images, factors, ("shape", "scale", "orientation", "pos_x", "pos_y"),
                        binary=True)


def load_shapes3d(data_dir: Path) -> ArrayDataset:
    import h5py

    with h5py.File(require(data_dir / SHAPES3D_FILE, "shapes3d"), "r") as f:
        images = torch.from_numpy(np.asarray(f["images"], dtype=np.uint8))
        labels = np.asarray(f["labels"])
    classes = np.stack([np.unique(labels[:, k], return_inverse=True)[1] for k in range(labels.shape[1])], axis=1)
    return ArrayDataset("shapes3d", images, torch.from_numpy(classes.astype(np.int64)),
                        ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"))


def load_mpi3d(variant: str, data_dir: Path, grid: tuple[int, ...] = MPI3D_GRID) -> ArrayDataset:
    name = f"mpi3d_{variant}"
    path = require(data_dir / f"{name}.npz", name)
    with np.load(path, allow_pickle=False) as f:
        images = np.asarray(f["images"], dtype=np.uint8)
    if images.shape[0] != int(np.prod(grid)):
        raise ValueError(f"{path}: {images.shape[0]} images, expected {int(np.prod(grid))} (the factor grid "
                         f"{'x'.join(map(str, grid))})")
    factors = np.stack(np.meshgrid(*[np.arange(n) for n in grid], indexing="ij"), axis=-1).reshape(-1, len(grid))
    return ArrayDataset(name, torch.from_numpy(images), torch.from_numpy(factors), MPI3D_FACTORS)
