"""Ground-truth-factor image datasets: one registry, one per-process cache (shared by all trials)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import torch

from trainables.datasets.base import GroundTruthData
from trainables.datasets.dsprites_procedural import ProceduralDSprites
from trainables.datasets.stored_files import (
    DSPRITES_FILE,
    SHAPES3D_FILE,
    DatasetNotFound,
    load_dsprites,
    load_mpi3d,
    load_shapes3d,
    require,
)

# name -> (loader(data_dir), file it needs or None)
DATASETS: dict[str, tuple[Callable[[Path], GroundTruthData], str | None]] = {
    "dsprites_procedural": (lambda data_dir: ProceduralDSprites(), None),
    "dsprites": (load_dsprites, DSPRITES_FILE),
    "shapes3d": (load_shapes3d, SHAPES3D_FILE),
    "mpi3d_toy": (functools.partial(load_mpi3d, "toy"), "mpi3d_toy.npz"),
    "mpi3d_realistic": (functools.partial(load_mpi3d, "realistic"), "mpi3d_realistic.npz"),
    "mpi3d_real": (functools.partial(load_mpi3d, "real"), "mpi3d_real.npz"),
}

__all__ = ["DATASETS", "DatasetNotFound", "GroundTruthData", "check_available", "load", "resolve_data_dir"]


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    if data_dir:
        return Path(data_dir).expanduser().resolve()
    if os.environ.get("SWEEPBED_DATA_DIR"):
        return Path(os.environ["SWEEPBED_DATA_DIR"]).expanduser().resolve()
    return Path("~/.sweepbed/data").expanduser().resolve()


def check_available(name: str, data_dir: Path | str | None = None) -> None:
    """Raise DatasetNotFound (one line, with the path to put the file at) without loading anything."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    filename = DATASETS[name][1]
    if filename is not None:
        require(resolve_data_dir(data_dir) / filename, name)


_CACHE: dict[tuple[str, Path, str], GroundTruthData] = {}


def load(name: str, data_dir: Path | str | None = None, device: torch.device | str = "cpu") -> GroundTruthData:
    """The dataset on ``device``, loaded once per process and shared by every trial that asks."""
    check_available(name, data_dir)
    root = resolve_data_dir(data_dir)
    key = (name, root, str(torch.device(device)))
    if key not in _CACHE:
        cpu_key = (name, root, "cpu")
        if cpu_key not in _CACHE:
            _CACHE[cpu_key] = DATASETS[name][0](root)
        _CACHE[key] = _CACHE[cpu_key].to(device)
    return _CACHE[key]
