"""Class subsets of MNIST, Fashion-MNIST and CIFAR-10 for the gce family, as uint8 tensors on a device.

MNIST and Fashion-MNIST come from their IDX files through :func:`trainables.datasets.idx_files.load_idx_split`
(``<data_dir>/mnist/``, ``<data_dir>/fashion-mnist/``). CIFAR-10 comes from the python-pickle batches of the
official ``cifar-10-python.tar.gz``, unpacked as ``<data_dir>/cifar-10-batches-py/{data_batch_1..5,test_batch}``.

``include_classes`` keeps the listed original classes and renumbers them 0..M-1 in the order given, as
both seed codebases do (FACT ``include_classes`` / original ``load_*_classSelect(..., class_use, newClass)``);
an empty tuple keeps all classes unchanged.

Splits (:func:`load_splits`): ``test`` is the dataset's own test file. ``val`` is carved out of the class
subset of the training file: ``round(val_fraction · N_train)`` rows drawn by a permutation seeded with
``data_seed`` alone (never the trial seed), so every trial, every seed and the classifier's shared prefix
see the same rows. Those rows are removed from what both stages train on, whichever split is evaluated,
so a trial evaluated on ``test`` trains exactly as its ``val``-evaluated twin. The original
(``load_mnist_idx``) holds out a fixed tail instead: MNIST's training images 50000..59999 (1/6 of the
file, before class selection), and for Fashion-MNIST it splits the test file (val = t10k rows 4000..);
FACT has no validation split and evaluates on test (here ``val_fraction: 0`` with ``eval_split: test``).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.datasets.array_files import DatasetNotFound
from trainables.datasets.idx_files import check_idx_available, load_idx_split
from trainables.process_cache import ProcessCache

IDX_NAMES = {"mnist": "mnist", "fmnist": "fashion-mnist"}  # our dataset name -> IDX collection
DATASETS = (*IDX_NAMES, "cifar10")
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILES = ("test_batch",)
SPLITS = ("train", "test")


def _cifar_files(data_dir: Path | str, split: str) -> list[Path]:
    folder = Path(data_dir) / CIFAR_FOLDER
    names = CIFAR_TRAIN_FILES if split == "train" else CIFAR_TEST_FILES
    paths = [folder / n for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetNotFound(f"cifar10: {missing[0]} not found; unpack the official cifar-10-python.tar.gz "
                              f"into {Path(data_dir)} (it creates {CIFAR_FOLDER}/)")
    return paths


def load_cifar10_split(data_dir: Path | str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 32, 32], labels int64 [N]) from the pickled python batches of one split.

    Each batch is a dict with ``b"data"`` (uint8 [n, 3072], the red, green then blue planes of a 32x32
    image, row-major) and ``b"labels"`` (n ints); that layout reshapes directly to (n, 3, 32, 32).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    images, labels = [], []
    for path in _cifar_files(data_dir, split):
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")  # the official files were written by Python 2
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{path}: expected data of shape [n, 3072], got {data.shape}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def load_split(dataset: str, data_dir: Path | str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, C, H, W], labels int64 [N]) of ``split`` ("train" / "test") of a dataset."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if dataset in IDX_NAMES:
        images, labels = load_idx_split(IDX_NAMES[dataset], data_dir, "train" if split == "train" else "t10k")
        return images[:, None], labels
    if dataset == "cifar10":
        return load_cifar10_split(data_dir, split)
    raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


def select_classes(images: np.ndarray, labels: np.ndarray,
                   include_classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label is in ``include_classes``, labels renumbered to their position in that list."""
    if not include_classes:
        return images, labels
    classes = np.asarray(include_classes, dtype=np.int64)
    keep = np.isin(labels, classes)
    remap = np.full(int(max(labels.max(), classes.max())) + 1, -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))
    return images[keep], remap[labels[keep]]


def check_available(dataset: str, data_dir: Path | str) -> None:
    """DatasetNotFound (one line naming the path) without reading the files."""
    if dataset in IDX_NAMES:
        check_idx_available(IDX_NAMES[dataset], data_dir)
    elif dataset == "cifar10":
        for split in SPLITS:
            _cifar_files(data_dir, split)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


@dataclass(frozen=True)
class ClassSubset:
    """One dataset's class subset on a device: uint8 images (N, C, H, W) and remapped int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


_SUBSETS: ProcessCache[ClassSubset] = ProcessCache()


def load_subset(dataset: str, data_dir: Path | str, include_classes: Sequence[int],
                device: torch.device | str = "cpu") -> ClassSubset:
    """The class subset on ``device``, read once per process and shared by every trial that asks."""
    def build() -> ClassSubset:
        parts = []
        for split in SPLITS:
            images, labels = select_classes(*load_split(dataset, data_dir, split), include_classes)
            parts += [torch.from_numpy(np.ascontiguousarray(images)).to(device), torch.from_numpy(labels).to(device)]
        num_classes = len(include_classes) if include_classes else int(parts[1].max().item()) + 1
        return ClassSubset(*parts, num_classes=num_classes)

    key = (dataset, str(Path(data_dir).resolve()), tuple(include_classes), str(torch.device(device)))
    return _SUBSETS.get(key, build)


def val_rows(n_train: int, val_fraction: float, data_seed: int) -> np.ndarray:
    """Sorted indices (into the subset's training rows) of the validation rows: the first
    round(val_fraction · n_train) of a permutation drawn from ``data_seed`` only."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(val_fraction * n_train))
    return np.sort(np.random.default_rng(data_seed).permutation(n_train)[:n_val])


@dataclass(frozen=True)
class Splits:
    """What one trial uses: the rows it trains on (the subset's training rows minus the validation rows)
    and the rows it evaluates on (``eval_split``: the validation rows, or the test file's subset)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    eval_images: torch.Tensor
    eval_labels: torch.Tensor
    num_classes: int
    eval_split: str
    val_rows: np.ndarray  # indices into the subset's training rows (ClassSubset.train_*)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


EVAL_SPLITS = ("val", "test")
_SPLITS: ProcessCache[Splits] = ProcessCache()


def load_splits(dataset: str, data_dir: Path | str, include_classes: Sequence[int], device: torch.device | str,
                *, eval_split: str, val_fraction: float, data_seed: int) -> Splits:
    """The training rows (validation rows removed) and the evaluation rows of a class subset, built once per
    process for each (subset, split settings) and shared by every trial that asks."""
    if eval_split not in EVAL_SPLITS:
        raise ValueError(f"eval_split must be one of {EVAL_SPLITS}, got {eval_split!r}")
    subset = load_subset(dataset, data_dir, include_classes, device)
    key = (dataset, str(Path(data_dir).resolve()), tuple(include_classes), str(torch.device(device)),
           eval_split, float(val_fraction), int(data_seed))

    def build() -> Splits:
        n = len(subset.train_labels)
        held = val_rows(n, val_fraction, data_seed)
        if eval_split == "val" and len(held) == 0:
            raise ValueError(f"eval_split 'val' needs validation rows: val_fraction {val_fraction} of {n} "
                             "training rows rounds to none")
        keep = np.ones(n, dtype=bool)
        keep[held] = False
        device_rows = torch.from_numpy(np.flatnonzero(keep)).to(subset.train_labels.device)
        held_rows = torch.from_numpy(held).to(subset.train_labels.device)
        if len(held) == 0:  # nothing held out: the subset's own tensors, no copy
            train_images, train_labels = subset.train_images, subset.train_labels
        else:
            train_images, train_labels = subset.train_images[device_rows], subset.train_labels[device_rows]
        if eval_split == "val":
            eval_images, eval_labels = subset.train_images[held_rows], subset.train_labels[held_rows]
        else:
            eval_images, eval_labels = subset.test_images, subset.test_labels
        return Splits(train_images, train_labels, eval_images, eval_labels, subset.num_classes, eval_split, held)

    return _SPLITS.get(key, build)
