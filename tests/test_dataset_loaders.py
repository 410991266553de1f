"""Datasets: the procedural dSprites renderer's invariants and the file loaders on small files the
tests write in the real formats (nothing is downloaded)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from trainables import datasets
from trainables.datasets.dsprites_procedural import FACTOR_SIZES, ProceduralDSprites
from trainables.datasets.file_loaders import DSPRITES_FILE, load_mpi3d


@pytest.fixture(scope="module")
def sprites():
    return datasets.load("dsprites_procedural")


def index(d, shape=0, scale=5, orientation=0, x=16, y=16):
    return torch.as_tensor(d.index_of(np.array([[shape, scale, orientation, x, y]])))


def centre_of_mass(img):
    ys, xs = torch.nonzero(img[0, 0] > 0, as_tuple=True)
    return xs.float().mean().item(), ys.float().mean().item()


def test_grid_shape_and_values(sprites):
    assert len(sprites) == 737_280 and sprites.factor_sizes == FACTOR_SIZES
    imgs = sprites.images(torch.arange(0, len(sprites), 7919))
    assert imgs.dtype == torch.uint8 and imgs.shape[1:] == (1, 64, 64)
    assert set(imgs.unique().tolist()) == {0, 255}
    assert (imgs.flatten(1).sum(1) > 0).all()  # every sprite is on screen


def test_factor_round_trip(sprites):
    idx = torch.randint(len(sprites), (500,), generator=torch.Generator().manual_seed(0))
    factors = sprites.factors(idx)
    assert (factors < torch.tensor(FACTOR_SIZES)).all()
    assert torch.equal(torch.as_tensor(sprites.index_of(factors.numpy())), idx)


def test_position_moves_the_sprite(sprites):
    left, right = sprites.images(index(sprites, x=2)), sprites.images(index(sprites, x=29))
    top, bottom = sprites.images(index(sprites, y=2)), sprites.images(index(sprites, y=29))
    assert centre_of_mass(right)[0] - centre_of_mass(left)[0] > 30
    assert centre_of_mass(bottom)[1] - centre_of_mass(top)[1] > 30
    # a translation, not a redraw: the same pixels shifted
    assert left.sum() == right.sum()


def test_scale_grows_the_area_and_rotation_changes_a_square(sprites):
    for shape in range(3):
        areas = [sprites.images(index(sprites, shape=shape, scale=s)).sum().item() for s in range(6)]
        assert areas == sorted(areas) and areas[0] < areas[-1]
    square, turned = sprites.images(index(sprites, orientation=0)), sprites.images(index(sprites, orientation=5))
    assert not torch.equal(square, turned)
    # orientation 39 is 2π: the same sprite as 0, as in the original file
    assert torch.equal(square, sprites.images(index(sprites, orientation=39)))


def test_shapes_differ_and_dlib_interface(sprites):
    imgs = [sprites.images(index(sprites, shape=s)) for s in range(3)]
    assert not torch.equal(imgs[0], imgs[1]) and not torch.equal(imgs[1], imgs[2])
    rs = np.random.RandomState(0)
    factors = sprites.sample_factors(5, rs)
    obs = sprites.sample_observations_from_factors(factors, rs)
    assert obs.shape == (5, 64, 64, 1) and obs.dtype == np.float32 and obs.max() == 1.0


def test_loaded_once_per_process(sprites):
    assert datasets.load("dsprites_procedural") is sprites
    assert isinstance(sprites, ProceduralDSprites) and sprites.name == "dsprites_procedural"


def test_missing_file_message_names_the_path_and_the_flag(tmp_path):
    with pytest.raises(datasets.DatasetNotFound) as err:
        datasets.load("dsprites", tmp_path)
    message = str(err.value)
    assert str(tmp_path / DSPRITES_FILE) in message and "--data-dir" in message and "\n" not in message
    with pytest.raises(datasets.DatasetNotFound, match="3dshapes.h5"):
        datasets.check_available("shapes3d", tmp_path)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPBED_DATA_DIR", str(tmp_path))
    assert datasets.resolve_data_dir() == tmp_path.resolve()
    assert datasets.resolve_data_dir(tmp_path / "x") == (tmp_path / "x").resolve()


def test_dsprites_npz_loader(tmp_path):
    classes = np.array([[0, s, sc, o, x, y] for s in range(2) for sc in range(2) for o in range(1)
                        for x in range(2) for y in range(2)])
    imgs = np.zeros((len(classes), 64, 64), dtype=np.uint8)
    imgs[np.arange(len(classes)), classes[:, 4] * 10, classes[:, 5] * 10] = 1
    np.savez(tmp_path / DSPRITES_FILE, imgs=imgs, latents_classes=classes, latents_values=classes.astype(float))
    d = datasets.load("dsprites", tmp_path)
    assert d.factor_sizes == (2, 2, 1, 2, 2) and d.image_shape == (1, 64, 64)
    idx = torch.tensor([5, 11])
    assert torch.equal(d.factors(idx), torch.as_tensor(classes[[5, 11], 1:]))
    out = d.images(idx)
    assert out.dtype == torch.uint8 and out.max() == 255  # 0/1 in the file, 0/255 like every dataset
    assert out[0, 0, classes[5, 4] * 10, classes[5, 5] * 10] == 255


def test_shapes3d_h5_loader(tmp_path):
    labels = np.array([[h, 0.5, 0.1, sc, 1.0, -30.0] for h in (0.0, 0.3, 0.6) for sc in (0.75, 1.25)])
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 64, 64, 3), dtype=np.uint8)
    with h5py.File(tmp_path / "3dshapes.h5", "w") as f:
        f["images"], f["labels"] = images, labels
    d = datasets.load("shapes3d", tmp_path)
    assert d.factor_sizes == (3, 1, 1, 2, 1, 1)
    assert d.factors(torch.tensor([3])).tolist() == [[1, 0, 0, 1, 0, 0]]
    out = d.images(torch.tensor([3]))
    assert out.shape == (1, 3, 64, 64) and torch.equal(out[0].permute(1, 2, 0), torch.from_numpy(images[3]))


def test_mpi3d_loader_rebuilds_the_factor_grid(tmp_path):
    grid = (2, 1, 1, 1, 1, 3, 2)
    images = np.arange(12, dtype=np.uint8)[:, None, None, None] * np.ones((1, 64, 64, 3), np.uint8)
    np.savez(tmp_path / "mpi3d_toy.npz", images=images)
    d = load_mpi3d("toy", tmp_path, grid=grid)
    assert d.factors(torch.tensor([7])).tolist() == [[1, 0, 0, 0, 0, 0, 1]]  # row-major: 7 = 1*6 + 0*2 + 1
    assert d.images(torch.tensor([7]))[0, 0, 0, 0] == 7
    with pytest.raises(ValueError, match="12 images, expected 1036800"):
        load_mpi3d("toy", tmp_path)
