"""MNIST and Fashion-MNIST from their standard IDX files (LeCun's format), gzipped or not.

Layout in a data directory (what the original distributions and ``../shared/data`` use)::

    <data_dir>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    <data_dir>/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]

``download(name, data_dir)`` fetches the gzipped files for users who are online and checks each against
its published SHA-256 before it is moved into place; nothing in the platform downloads on its own.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.datasets.array_files import DatasetNotFound

# IDX type codes (third byte of the magic number) -> numpy dtype, big-endian as the format specifies
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
SPLITS = ("train", "t10k")


@dataclass(frozen=True)
class IdxCollection:
    folder: str
    base_url: str
    sha256: dict[str, str]  # gzipped file name -> checksum


COLLECTIONS: dict[str, IdxCollection] = {
    "mnist": IdxCollection("mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
        "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
        "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
        "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    }),
    "fashion-mnist": IdxCollection("fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    }),
}


def read_idx(path: Path | str) -> np.ndarray:
    """The array stored in one IDX file (``.gz`` is decompressed), in native byte order."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = raw[4 + 4 * ndim:]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes), file holds {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


def idx_path(name: str, data_dir: Path | str, split: str, kind: str) -> Path:
    """The images (``kind="images"``) or labels file of ``split`` ("train" / "t10k"); DatasetNotFound if absent."""
    if name not in COLLECTIONS:
        raise ValueError(f"unknown IDX collection {name!r}; known: {', '.join(COLLECTIONS)}")
    if split not in SPLITS or kind not in ("images", "labels"):
        raise ValueError(f"split must be one of {SPLITS} and kind images|labels, got {split!r}, {kind!r}")
    folder = Path(data_dir) / COLLECTIONS[name].folder
    stem = f"{split}-{'images-idx3' if kind == 'images' else 'labels-idx1'}-ubyte"
    found = _find(folder, stem)
    if found is None:
        raise DatasetNotFound(f"{name}: {folder / stem}[.gz] not found; put the IDX files there "
                              f"(e.g. `python -m trainables.datasets.idx_files {name} {data_dir}` downloads them)")
    return found


def check_idx_available(name: str, data_dir: Path | str) -> None:
    for split in SPLITS:
        for kind in ("images", "labels"):
            idx_path(name, data_dir, split, kind)


def load_idx_split(name: str, data_dir: Path | str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of one split."""
    images = read_idx(idx_path(name, data_dir, split, "images"))
    labels = read_idx(idx_path(name, data_dir, split, "labels")).astype(np.int64)
    if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != (images.shape[0],):
        raise ValueError(f"{name} {split}: expected uint8 images [N, H, W] and N labels, got "
                         f"{images.dtype} {images.shape} and {labels.shape}")
    return images, labels


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(name: str, data_dir: Path | str, base_url: str | None = None) -> Path:
    """Fetch the four gzipped files of ``name`` into ``<data_dir>/<folder>``, verifying each SHA-256.

    A file that is already there with the right checksum is kept; a failed check leaves nothing behind.
    """
    collection = COLLECTIONS[name]
    folder = Path(data_dir) / collection.folder
    folder.mkdir(parents=True, exist_ok=True)
    for filename, checksum in collection.sha256.items():
        target = folder / filename
        if target.exists() and file_sha256(target) == checksum:
            continue
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=filename, suffix=".part")
        os.close(fd)
        try:
            urllib.request.urlretrieve((base_url or collection.base_url) + filename, tmp)
            got = file_sha256(Path(tmp))
            if got != checksum:
                raise OSError(f"{name}: {filename} downloaded with SHA-256 {got}, expected {checksum}")
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return folder


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Download MNIST / Fashion-MNIST IDX files with checksums.")
    parser.add_argument("name", choices=sorted(COLLECTIONS))
    parser.add_argument("data_dir")
    args = parser.parse_args()
    print(download(args.name, args.data_dir))
