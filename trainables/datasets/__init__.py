"""Ground-truth-factor image datasets: one registry, one per-process cache shared by all trials.

``load(name, data_dir, device)`` returns the dataset on ``device``; every trial of a process that asks
for the same (name, data directory, device) gets the same object, so its images exist once per process
(the seed codebases hold a float32 copy per run). Files are read only when a dataset is first asked for.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from trainables.datasets.array_files import DatasetNotFound, require
from trainables.datasets.base import GroundTruthData
from trainables.datasets.dsprites_procedural import ProceduralDSprites
from trainables.datasets.file_loaders import (
    DSPRITES_FILE,
    SHAPES3D_FILE,
    load_dsprites,
    load_mpi3d,
    load_shapes3d,
    mpi3d_file,
)
from trainables.process_cache import ProcessCache


@dataclass(frozen=True)
class DatasetSource:
    """How to build one dataset on the CPU from a data directory, and the file it needs there."""

    build: Callable[[Path], GroundTruthData]
    #: the file that must exist in the data directory; None for generated datasets (no directory used)
    filename: str | None

    def __call__(self, data_dir: Path) -> GroundTruthData:
        return self.build(data_dir)


DATASETS: dict[str, DatasetSource] = {
    "dsprites_procedural": DatasetSource(lambda _data_dir: ProceduralDSprites(), None),
    "dsprites": DatasetSource(load_dsprites, DSPRITES_FILE),
    "shapes3d": DatasetSource(load_shapes3d, SHAPES3D_FILE),
    **{f"mpi3d_{v}": DatasetSource(functools.partial(load_mpi3d, v), mpi3d_file(v))
       for v in ("toy", "realistic", "real")},
}

__all__ = ["DATASETS", "DatasetNotFound", "DatasetSource", "GroundTruthData", "check_available", "load",
           "resolve_data_dir"]


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """The argument, else $SWEEPBED_DATA_DIR, else ~/.sweepbed/data (absolute)."""
    chosen = data_dir or os.environ.get("SWEEPBED_DATA_DIR") or "~/.sweepbed/data"
    return Path(chosen).expanduser().resolve()


def _source(name: str) -> DatasetSource:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def check_available(name: str, data_dir: Path | str | None = None) -> None:
    """Raise DatasetNotFound (one line, naming the path) without reading anything; for pre-flight checks."""
    source = _source(name)
    if source.filename is not None:
        require(resolve_data_dir(data_dir) / source.filename, name)


def _canonical(device: torch.device | str) -> torch.device:
    device = torch.device(device)
    # "cuda" and "cuda:0" are the same memory; one cache entry for both
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    return device


_LOADED: ProcessCache[GroundTruthData] = ProcessCache()


def load(name: str, data_dir: Path | str | None = None, device: torch.device | str = "cpu") -> GroundTruthData:
    """The dataset on ``device``, loaded once per process and shared by every trial that asks."""
    source = _source(name)
    root = resolve_data_dir(data_dir) if source.filename is not None else None
    device = _canonical(device)

    def build() -> GroundTruthData:
        check_available(name, data_dir)
        # Reuse a CPU copy this process already holds; else build one just to move it (not kept).
        base = _LOADED.peek((name, root, "cpu"))
        return (base if base is not None else source(root or Path())).to(device)

    return _LOADED.get((name, root, str(device)), build)
