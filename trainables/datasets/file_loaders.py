"""Loaders for the real dataset files, when the user has them (nothing is downloaded).

As the λβ-VAE seed (Minitechy/lambda_beta_vae, ``datasets.py``) reads them, except that images stay
uint8 (see ``array_files``) and each file's labels are checked against the row-major factor grid once:
- dSprites ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (Matthey et al. 2017): ``imgs`` (N, 64, 64)
  0/1, ``latents_classes`` (N, 6); factors = latents_classes[:, 1:] (the colour column is constant).
  Images come back as 0/255 like every other dataset.
- Shapes3D ``3dshapes.h5`` (Burgess & Kim 2018): ``images`` (N, 64, 64, 3), ``labels`` (N, 6) floats,
  turned into classes per column with ``np.unique(return_inverse=True)``.
- MPI3D ``mpi3d_{toy,realistic,real}.npz`` (Gondal et al. 2019): ``images`` (N, 64, 64, 3) only; the
  factors are the grid 6,6,2,3,3,40,40 in row-major order (the λβ-VAE seed's meshgrid; Seitzer's
  ``SequentialDLIBDataset`` walks the same order).
Factor sizes of dSprites and Shapes3D come from the labels, so a smaller file of the same format loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.datasets.array_files import StoredImages, h5_array, npz_array, npz_bits, require
from trainables.datasets.factor_grid import check_full_grid

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_FACTORS = ("shape", "scale", "orientation", "pos_x", "pos_y")
SHAPES3D_FILE = "3dshapes.h5"
SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
MPI3D_GRID = (6, 6, 2, 3, 3, 40, 40)
MPI3D_FACTORS = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                 "horizontal_axis", "vertical_axis")


def mpi3d_file(variant: str) -> str:
    return f"mpi3d_{variant}.npz"


def _check_uint8(array: np.ndarray, where: str) -> None:
    if array.dtype != np.uint8:
        raise ValueError(f"{where}: images must be uint8, got {array.dtype}")


def load_dsprites(data_dir: Path) -> StoredImages:
    path = require(data_dir / DSPRITES_FILE, "dsprites")
    with np.load(path, allow_pickle=False) as f:
        classes = f["latents_classes"][:, 1:]
    sizes = check_full_grid(classes, f"{path} latents_classes")
    packed = npz_bits(path, "imgs")
    return StoredImages("dsprites", packed, DSPRITES_FACTORS, sizes, packed_width=64)


def load_shapes3d(data_dir: Path) -> StoredImages:
    path = require(data_dir / SHAPES3D_FILE, "shapes3d")
    labels = np.asarray(h5_array(path, "labels"))
    classes = np.stack([np.unique(col, return_inverse=True)[1].reshape(-1) for col in labels.T], axis=1)
    sizes = check_full_grid(classes, f"{path} labels")
    images = h5_array(path, "images")
    _check_uint8(images, str(path))
    return StoredImages("shapes3d", images, SHAPES3D_FACTORS, sizes)


def load_mpi3d(variant: str, data_dir: Path, grid: tuple[int, ...] = MPI3D_GRID) -> StoredImages:
    """``grid`` is only changed by tests (a tiny file in the real format)."""
    name = f"mpi3d_{variant}"
    path = require(data_dir / mpi3d_file(variant), name)
    images = npz_array(path, "images")
    _check_uint8(images, str(path))
    expected = int(np.prod(grid))
    if images.shape[0] != expected:
        raise ValueError(f"{path}: {images.shape[0]} images, expected {expected} (the factor grid "
                         f"{'x'.join(map(str, grid))})")
    return StoredImages(name, images, MPI3D_FACTORS, grid)
