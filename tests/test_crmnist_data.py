"""CRMNIST generation invariants on the digits8x8 stand-in (no download): domain counts and angles, colour
rules, the spurious cue's rate, the withheld OOD domain, the leak-free base split, the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from trainables.crmnist import data as crdata
from trainables.crmnist.data import COLOR_NAMES, SUBSETS, GenerationConfig

CFG = GenerationConfig(source="digits8x8", max_base_images=400)
RED = COLOR_NAMES.index("red")


@pytest.fixture(scope="module")
def arrays():
    return crdata.generate(CFG, None)


@pytest.fixture(scope="module")
def source():
    return crdata.load_source("digits8x8", None)


def test_domain_counts_and_the_ood_domain_only_in_the_ood_split(arrays):
    n_train, n_val = len(arrays["train_base"]), len(arrays["val_base"])
    assert (n_train, n_val) == (320, 80)
    for split, n in (("train", n_train), ("val", n_val)):
        counts = np.bincount(arrays[f"{split}_d"], minlength=6)
        assert counts.tolist() == [n] * 5 + [0]  # five in-domain copies of the base set, domain 5 withheld
    assert set(arrays["ood_d"].tolist()) == {5}
    assert len(arrays["ood_d"]) == len(crdata.load_source("digits8x8", None)["test"][1])


def test_base_split_is_disjoint_and_taken_before_the_domains(arrays, source):
    tr, va = set(arrays["train_base"].tolist()), set(arrays["val_base"].tolist())
    assert not tr & va and len(tr) + len(va) == 400
    grey, labels = source["train"]
    # domain 0 is not rotated: its uncoloured images are the base images themselves, in base order
    n = len(arrays["train_base"])
    x0, c0 = arrays["train_x"][:n], arrays["train_c"][:n]
    plain = c0 == -1
    assert np.array_equal(x0[plain][:, 0], grey[arrays["train_base"]][plain])
    assert np.array_equal(arrays["train_y"][:n], labels[arrays["train_base"]])
    # every domain holds the same digits in the same order
    assert all(np.array_equal(arrays["train_y"][k * n:(k + 1) * n], arrays["train_y"][:n]) for k in range(5))


def test_colour_rules(arrays):
    y, d, c = arrays["train_y"], arrays["train_d"], arrays["train_c"]
    in_subset = np.array([yy in SUBSETS[dd] for yy, dd in zip(y, d)])
    coloured_by_domain = c == d
    assert np.all(in_subset[coloured_by_domain])  # domain colour only on the domain's subset
    assert np.all((c == -1) | coloured_by_domain | (c == RED))
    red = c == RED
    assert np.all(y[red] == 7) and not np.any(in_subset[red])  # red only on 7s outside the subset
    assert not np.any(red & (d == 3))  # domain 3's subset contains 7: no red there
    # about half of the eligible images are coloured
    assert 0.35 < coloured_by_domain[in_subset].mean() < 0.65
    # uncoloured images stay grey (equal channels)
    x = arrays["train_x"]
    plain = x[c == -1]
    assert np.array_equal(plain[:, 0], plain[:, 1]) and np.array_equal(plain[:, 1], plain[:, 2])


def test_add_color_multipliers_on_the_unrotated_domain(arrays, source):
    n = len(arrays["train_base"])
    grey = source["train"][0][arrays["train_base"]].astype(np.float64)
    x, c = arrays["train_x"][:n].astype(np.float64), arrays["train_c"][:n]
    blue = c == 0  # domain 0 = blue: B x 1.5 (clipped), R and G x 0.5, floored
    assert blue.sum() > 10
    assert np.array_equal(x[blue][:, 2], np.floor(np.minimum(grey[blue] * 1.5, 255)))
    assert np.array_equal(x[blue][:, 0], np.floor(grey[blue] * 0.5))
    assert np.allclose(crdata.color_weights("orange", 1.5), [1.5, 0.9, 0.15])
    assert np.allclose(crdata.color_weights("yellow", 1.5), [1.5, 1.5, 0.5])


def test_spurious_cue_rate():
    cfg = GenerationConfig(source="digits8x8", max_base_images=0)  # all 1437 stand-in training digits
    arrays = crdata.generate(cfg, None)
    y, d, c = arrays["train_y"], arrays["train_d"], arrays["train_c"]
    eligible = (y == 7) & np.array([7 not in SUBSETS[k] for k in d])
    rate = (c[eligible] == RED).mean()
    n = eligible.sum()
    assert abs(rate - 0.5) < 4 * np.sqrt(0.25 / n)  # within four standard errors of p = 0.5
    assert (c[y != 7] != RED).all()


def test_empty_colour_subsets_leave_only_the_red_spurious_digit():
    arrays = crdata.generate(GenerationConfig(source="digits8x8", max_base_images=400, color_subsets="none"), None)
    y, d, c = arrays["train_y"], arrays["train_d"], arrays["train_c"]
    assert set(np.unique(c)) == {-1, RED}  # no domain colour anywhere
    assert np.all(y[c == RED] == 7)
    assert set(np.unique(d[c == RED])) == set(GenerationConfig().in_domains())  # red 7s in every domain
    assert GenerationConfig(color_subsets="none").key() != GenerationConfig().key()


def test_angles_and_rotation():
    assert [GenerationConfig(rotation_step=10).angle(k) for k in range(6)] == [0, 10, 20, 30, 40, 50]
    assert [CFG.angle(k) for k in range(6)] == [0, 15, 30, 45, 60, 75]
    img = np.zeros((1, 3, 28, 28), np.uint8)
    img[0, :, 4, 14] = 255  # a dot above the centre
    turned = crdata.rotate_nearest(img, 90)  # counter-clockwise: the dot goes left of the centre
    ys, xs = np.nonzero(turned[0, 0])
    assert (ys.tolist(), xs.tolist()) == ([13], [4])  # PIL turns about (14, 14) in pixel-edge coordinates
    assert np.array_equal(crdata.rotate_nearest(img, 0), img)


def test_rendered_domain_is_the_rotated_coloured_image(arrays, source):
    n = len(arrays["train_base"])
    k = 2
    x_k, c_k = arrays["train_x"][k * n:(k + 1) * n], arrays["train_c"][k * n:(k + 1) * n]
    grey = source["train"][0][arrays["train_base"]]
    plain = np.nonzero(c_k == -1)[0][:5]
    expected = crdata.rotate_nearest(np.repeat(grey[plain][:, None], 3, axis=1), CFG.angle(k))
    assert np.array_equal(x_k[plain], expected)
    assert not np.array_equal(x_k[plain], np.repeat(grey[plain][:, None], 3, axis=1))


def test_cache_hit_on_the_second_call_and_same_arrays(tmp_path):
    cfg = GenerationConfig(source="digits8x8", max_base_images=60)
    first, hit1 = crdata.cached_arrays(cfg, None, tmp_path)
    second, hit2 = crdata.cached_arrays(cfg, None, tmp_path)
    assert (hit1, hit2) == (False, True)
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    files = sorted(p.name for p in (tmp_path / "crmnist").iterdir())
    assert f"{crdata.cache_key(cfg, None)}.npz" in files and not any(".tmp" in f for f in files)
    other = GenerationConfig(source="digits8x8", max_base_images=60, data_seed=1)
    assert other.key() != cfg.key()
    assert crdata.cached_arrays(other, None, tmp_path)[1] is False


def _write_idx(path, array: np.ndarray) -> None:
    """An IDX file (LeCun's format: magic 0 0 0x08 ndim, big-endian dims, uint8 body), gzipped."""
    import gzip
    import struct

    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", 20), ("t10k", 6)):
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def test_cache_key_follows_the_source_files_not_the_settings_alone(tmp_path):
    import shutil

    cfg = GenerationConfig(source="mnist")
    cache = tmp_path / "cache"
    _fake_mnist(tmp_path / "a", seed=0)
    _fake_mnist(tmp_path / "b", seed=1)  # another MNIST copy: same layout and shapes, other pixels
    shutil.copytree(tmp_path / "a", tmp_path / "a_copy")  # the same files in another directory
    key_a, key_b = crdata.cache_key(cfg, tmp_path / "a"), crdata.cache_key(cfg, tmp_path / "b")
    assert key_a != key_b and crdata.cache_key(cfg, tmp_path / "a_copy") == key_a
    arrays_a, hit_a = crdata.cached_arrays(cfg, tmp_path / "a", cache)
    arrays_b, hit_b = crdata.cached_arrays(cfg, tmp_path / "b", cache)
    assert (hit_a, hit_b) == (False, False)  # b must not be served a's arrays
    assert not np.array_equal(arrays_a["train_x"], arrays_b["train_x"])
    assert sorted(p.name for p in (cache / "crmnist").glob("*.npz")) == sorted([f"{key_a}.npz", f"{key_b}.npz"])
    again, hit = crdata.cached_arrays(cfg, tmp_path / "a_copy", cache)
    assert hit and np.array_equal(again["train_x"], arrays_a["train_x"])
    # a replaced file (a corrupted or re-downloaded copy in the same place) is a new source
    _write_idx(tmp_path / "a" / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((20, 28, 28)))
    assert crdata.cache_key(cfg, tmp_path / "a") not in (key_a, key_b)
    assert crdata.cached_arrays(cfg, tmp_path / "a", cache)[1] is False


def test_mnist_source_reads_the_idx_files_when_present():
    root = SHARED_DATA
    if not (root / "mnist").exists():
        pytest.skip("no MNIST in ../shared/data")
    arrays = crdata.generate(GenerationConfig(max_base_images=100), root)
    assert arrays["train_x"].shape == (400, 3, 28, 28) and arrays["ood_x"].shape == (10000, 3, 28, 28)
