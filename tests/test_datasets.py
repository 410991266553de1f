"""Datasets: the procedural dSprites renderer's geometry, the per-process cache, and the file loaders on
small files the tests write in the real formats (nothing is downloaded)."""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest
import torch

from trainables import datasets
from trainables.datasets import array_files
from trainables.datasets.dsprites_procedural import FACTOR_SIZES, ProceduralDSprites, render_base_sprites
from trainables.datasets.file_loaders import DSPRITES_FILE, load_mpi3d


@pytest.fixture(scope="module")
def sprites():
    return datasets.load("dsprites_procedural")


def image(d, shape=0, scale=5, orientation=0, x=16, y=16):
    idx = torch.as_tensor(d.index_of(np.array([[shape, scale, orientation, x, y]])))
    return d.images(idx)[0, 0]


def centre_of_mass(img):
    ys, xs = torch.nonzero(img > 0, as_tuple=True)
    return xs.float().mean().item(), ys.float().mean().item()


def grid(sizes):
    return np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, len(sizes))


# --- procedural dSprites -----------------------------------------------------------------------------


def test_grid_shapes_dtype_and_values(sprites):
    assert sprites.name == "dsprites_procedural" and isinstance(sprites, ProceduralDSprites)
    assert len(sprites) == 737_280 and sprites.factor_sizes == FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert sprites.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    imgs = sprites.images(torch.arange(0, len(sprites), 997))
    assert imgs.dtype == torch.uint8 and imgs.shape == (740, 1, 64, 64) and sprites.image_shape == (1, 64, 64)
    assert set(imgs.unique().tolist()) == {0, 255}
    assert (imgs.flatten(1).amax(1) == 255).all()  # every image shows its sprite


def test_factor_round_trip(sprites):
    idx = torch.randint(len(sprites), (1000,), generator=torch.Generator().manual_seed(0))
    factors = sprites.factors(idx)
    assert factors.dtype == torch.int64 and ((factors >= 0) & (factors < torch.tensor(FACTOR_SIZES))).all()
    assert torch.equal(torch.as_tensor(sprites.index_of(factors.numpy())), idx)
    # row-major like the real file: the last factor (pos_y) varies fastest
    assert sprites.factors(torch.tensor([1, 32, 737_279])).tolist() == [
        [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [2, 5, 39, 31, 31]]


def test_position_translates_the_sprite(sprites):
    centre = image(sprites)
    for axis, name in ((0, "x"), (1, "y")):  # pos_x moves right, pos_y moves down
        low, high = image(sprites, **{name: 0}), image(sprites, **{name: 31})
        assert centre_of_mass(high)[axis] - centre_of_mass(low)[axis] > 30
        assert centre_of_mass(low)[axis] < centre_of_mass(centre)[axis] < centre_of_mass(high)[axis]
        assert centre_of_mass(low)[1 - axis] == pytest.approx(centre_of_mass(high)[1 - axis])
    # a translation of one sprite: same pixel count, and the sprite is whole even at the corners
    corners = [image(sprites, shape=2, x=x, y=y) for x in (0, 31) for y in (0, 31)]
    assert len({int(c.count_nonzero()) for c in corners + [image(sprites, shape=2)]}) == 1


def test_scale_grows_the_area_of_every_sprite():
    areas = (render_base_sprites().reshape(3, 6, 40, -1) > 0).sum(-1)  # (shape, scale, orientation)
    assert (np.diff(areas, axis=1) > 0).all()
    assert ((areas[:, -1] / areas[:, 0]) > 3).all()  # scale 0.5 -> 1 is about 4x the area


def test_rotation(sprites):
    square = image(sprites, orientation=0)
    for scale in range(6):
        base = image(sprites, scale=scale)
        turned = (image(sprites, scale=scale, orientation=5) != base).sum().item()
        quarter = (image(sprites, scale=scale, orientation=10) != base).sum().item()  # 92.3°: nearly onto itself
        assert turned > 0 and quarter < turned and quarter <= 0.15 * base.count_nonzero().item()
    assert torch.equal(square, image(sprites, orientation=39))  # 2π, endpoint included as in the file
    heart = image(sprites, shape=2)
    assert not torch.equal(heart, image(sprites, shape=2, orientation=20))  # half a turn: a heart is not symmetric
    assert not torch.equal(square, image(sprites, shape=1)) and not torch.equal(square, heart)


def test_base_sprites_render_fast():
    render_base_sprites.cache_clear()
    start = time.perf_counter()
    render_base_sprites()
    assert time.perf_counter() - start < 3.0


def test_dlib_interface(sprites):
    rs = np.random.RandomState(0)
    factors = sprites.sample_factors(6, rs)
    obs = sprites.sample_observations_from_factors(factors, rs)
    assert obs.shape == (6, 64, 64, 1) and obs.dtype == np.float32 and set(np.unique(obs)) == {0.0, 1.0}


# --- registry, cache, errors -------------------------------------------------------------------------


def test_loaded_once_per_process(sprites, tmp_path):
    assert datasets.load("dsprites_procedural") is sprites
    assert datasets.load("dsprites_procedural", tmp_path, torch.device("cpu")) is sprites  # needs no directory
    assert set(datasets.DATASETS) == {"dsprites_procedural", "dsprites", "shapes3d", "mpi3d_toy",
                                      "mpi3d_realistic", "mpi3d_real"}


def test_missing_file_is_one_line_naming_the_path(tmp_path):
    with pytest.raises(datasets.DatasetNotFound) as err:
        datasets.load("dsprites", tmp_path)
    assert isinstance(err.value, FileNotFoundError)
    assert str(err.value) == (f"dsprites: {tmp_path.resolve() / DSPRITES_FILE} not found; put the file there or "
                              f"point --data-dir / SWEEPBED_DATA_DIR at the folder that holds it")
    with pytest.raises(datasets.DatasetNotFound, match="mpi3d_real.npz not found"):
        datasets.check_available("mpi3d_real", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known: dsprites_procedural, dsprites"):
        datasets.load("mnist")


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPBED_DATA_DIR", str(tmp_path))
    assert datasets.resolve_data_dir() == tmp_path.resolve()
    assert datasets.resolve_data_dir(tmp_path / "x") == (tmp_path / "x").resolve()
    monkeypatch.delenv("SWEEPBED_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.resolve_data_dir() == (tmp_path / ".sweepbed" / "data").resolve()


# --- file loaders --------------------------------------------------------------------------------------


def write_dsprites(path, sizes=(3, 2, 2, 2, 2), compressed=True):
    classes = np.concatenate([np.zeros((int(np.prod(sizes)), 1), np.int64), grid(sizes)], axis=1)
    imgs = np.random.default_rng(0).integers(0, 2, (len(classes), 64, 64), dtype=np.uint8)
    save = np.savez_compressed if compressed else np.savez
    save(path / DSPRITES_FILE, imgs=imgs, latents_classes=classes, latents_values=classes.astype(float))
    return imgs, classes


@pytest.mark.parametrize("compressed", [True, False])
def test_dsprites_npz(tmp_path, compressed):
    imgs, classes = write_dsprites(tmp_path, compressed=compressed)
    d = datasets.load("dsprites", tmp_path)
    assert d.name == "dsprites" and len(d) == 48 and d.factor_sizes == (3, 2, 2, 2, 2)
    assert d.image_shape == (1, 64, 64) and datasets.load("dsprites", tmp_path) is d
    idx = torch.tensor([47, 5, 0, 11])
    assert torch.equal(d.factors(idx), torch.as_tensor(classes[idx.numpy(), 1:]))
    out = d.images(idx)
    assert out.dtype == torch.uint8 and out.shape == (4, 1, 64, 64)
    assert torch.equal(out[:, 0], torch.from_numpy(imgs[idx.numpy()]) * 255)  # bit-packed and back, 0/255
    assert np.array_equal(d.index_of(classes[:, 1:]), np.arange(48))


def test_dsprites_out_of_order_is_rejected(tmp_path):
    imgs, classes = write_dsprites(tmp_path)
    np.savez(tmp_path / DSPRITES_FILE, imgs=imgs, latents_classes=classes[::-1])
    with pytest.raises(ValueError, match="not in row-major factor order"):
        datasets.load("dsprites", tmp_path / ".")  # another spelling of the directory resolves the same


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_shapes3d_h5(tmp_path, compression):
    sizes = (2, 3, 1, 2, 1, 2)
    labels = grid(sizes) * np.array([0.1, 0.25, 0.0, 0.3, 1.0, 15.0]) + np.array([0, 0, 0.5, 0.75, 2.0, -30])
    images = np.random.default_rng(1).integers(0, 256, (len(labels), 64, 64, 3), dtype=np.uint8)
    with h5py.File(tmp_path / "3dshapes.h5", "w") as f:
        f.create_dataset("images", data=images, compression=compression)
        f.create_dataset("labels", data=labels)
    # uncompressed: memory-mapped (shared page cache), compressed: read into memory
    assert isinstance(array_files.h5_array(tmp_path / "3dshapes.h5", "images"), np.memmap) == (compression is None)
    d = datasets.load("shapes3d", tmp_path)
    assert d.factor_sizes == sizes and d.image_shape == (3, 64, 64) and len(d) == 24
    assert d.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert d.factors(torch.tensor([13])).tolist() == [grid(sizes)[13].tolist()]
    out = d.images(torch.tensor([13, 2]))
    assert out.shape == (2, 3, 64, 64) and torch.equal(out.permute(0, 2, 3, 1), torch.from_numpy(images[[13, 2]]))


@pytest.mark.parametrize("compressed", [True, False])
def test_mpi3d_npz_rebuilds_the_factor_grid(tmp_path, compressed):
    tiny = (2, 1, 1, 1, 1, 3, 2)
    images = np.arange(12, dtype=np.uint8)[:, None, None, None] * np.ones((1, 64, 64, 3), np.uint8)
    (np.savez_compressed if compressed else np.savez)(tmp_path / "mpi3d_toy.npz", images=images)
    assert isinstance(array_files.npz_array(tmp_path / "mpi3d_toy.npz", "images"), np.memmap) != compressed
    d = load_mpi3d("toy", tmp_path, grid=tiny)
    assert d.name == "mpi3d_toy" and d.factor_sizes == tiny and len(d.factor_names) == 7
    assert d.factors(torch.tensor([7])).tolist() == [[1, 0, 0, 0, 0, 0, 1]]  # 7 = 1*6 + 0*2 + 1
    out = d.images(torch.tensor([7, 0]))
    assert out.shape == (2, 3, 64, 64) and out[:, :, 5, 9].tolist() == [[7] * 3, [0] * 3]
    with pytest.raises(ValueError, match="12 images, expected 1036800 .the factor grid 6x6x2x3x3x40x40."):
        datasets.load("mpi3d_toy", tmp_path)


def test_chunked_copy_to_a_tensor_keeps_every_image(tmp_path, monkeypatch):
    monkeypatch.setattr(array_files, "CHUNK_BYTES", 3 * 64 * 64 * 3)  # 3 images per chunk: 12 = 4 chunks
    images = np.random.default_rng(2).integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
    np.savez(tmp_path / "mpi3d_real.npz", images=images)
    cpu = load_mpi3d("real", tmp_path, grid=(2, 1, 1, 1, 1, 3, 2))
    mapped = array_files.npz_array(tmp_path / "mpi3d_real.npz", "images")
    as_tensor = array_files._to_tensor(mapped, torch.device("cpu"), channels_first=True)
    assert torch.equal(as_tensor, cpu.images(torch.arange(12)))
    assert torch.equal(as_tensor.permute(0, 2, 3, 1), torch.from_numpy(images))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_the_gpu_images_match_the_cpu(tmp_path, sprites):
    idx = torch.randint(len(sprites), (256,), generator=torch.Generator().manual_seed(1))
    gpu = datasets.load("dsprites_procedural", device="cuda")
    assert gpu is datasets.load("dsprites_procedural", device="cuda:0") and gpu.images(idx).is_cuda
    assert torch.equal(gpu.images(idx.cuda()).cpu(), sprites.images(idx))
    write_dsprites(tmp_path)
    cpu, cuda = datasets.load("dsprites", tmp_path), datasets.load("dsprites", tmp_path, "cuda")
    assert torch.equal(cuda.images(torch.arange(48)).cpu(), cpu.images(torch.arange(48)))
    assert torch.equal(cuda.factors(torch.arange(48)).cpu(), cpu.factors(torch.arange(48)))
