"""Image arrays read from .npz / .h5 files without copies the seeds make, and the dataset that serves them.

The seed codebases (λβ-VAE ``datasets.py``, Seitzer's ``SequentialDLIBDataset``) load a whole file into
every process as float32 (dSprites ~12 GB, Shapes3D ~24 GB). Here images stay uint8 and:
- an uncompressed npz member or a contiguous h5 dataset is memory-mapped on the CPU, so the pages are
  read on first use and shared by every process on the node through the OS page cache;
- anything else is read once into uint8 memory;
- binary images (dSprites) are streamed from the file and bit-packed (8x smaller: 377 MB instead of
  3 GB), unpacked per batch;
- moving to an accelerator copies chunk by chunk into one (N, C, H, W) uint8 tensor, so no second
  full-size host copy is ever made.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import torch

from trainables.datasets.factor_grid import GridData

CHUNK_BYTES = 1 << 26  # rows are copied / decoded in pieces of about 64 MB


class DatasetNotFound(FileNotFoundError):
    """A dataset file is missing; the message is one line with the exact path and how to fix it."""


def require(path: Path, name: str) -> Path:
    if not path.is_file():
        raise DatasetNotFound(f"{name}: {path} not found; put the file there or point --data-dir / "
                              f"SWEEPBED_DATA_DIR at the folder that holds it")
    return path


# --- .npz -------------------------------------------------------------------------------------------


def _npy_header(fp) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fp)
    raise ValueError(f".npy format version {version} is not supported here")


def _member(zf: zipfile.ZipFile, path: Path, key: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(f"{key}.npy")
    except KeyError:
        keys = sorted(n.removesuffix(".npy") for n in zf.namelist())
        raise KeyError(f"{path}: no array {key!r} (it holds {', '.join(keys)})") from None


def npz_array(path: Path, key: str) -> np.ndarray:
    """One array of an npz: memory-mapped when stored uncompressed in C order, else read into memory."""
    with zipfile.ZipFile(path) as zf:
        info = _member(zf, path, key)
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                local = raw.read(30)  # zip local file header; name and extra lengths at bytes 26..29
                if local[:4] == b"PK\x03\x04":
                    name_len, extra_len = struct.unpack("<HH", local[26:30])
                    raw.seek(info.header_offset + 30 + name_len + extra_len)
                    shape, fortran, dtype = _npy_header(raw)
                    if not fortran and not dtype.hasobject and int(np.prod(shape)) > 0:
                        return np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape)
    with np.load(path, allow_pickle=False) as f:
        return f[key]


def npz_bits(path: Path, key: str) -> np.ndarray:
    """A binary (N, H, W) npz array, streamed and bit-packed along W: uint8 (N, H, ceil(W/8))."""
    with zipfile.ZipFile(path) as zf, zf.open(_member(zf, path, key)) as fp:
        shape, fortran, dtype = _npy_header(fp)
        if fortran or len(shape) != 3:
            raise ValueError(f"{path}: {key} must be a C-ordered (N, H, W) array, got shape {shape}")
        row_bytes = dtype.itemsize * shape[1] * shape[2]
        out = np.empty((shape[0], shape[1], (shape[2] + 7) // 8), dtype=np.uint8)
        step = max(1, CHUNK_BYTES // row_bytes)
        for start in range(0, shape[0], step):
            n = min(step, shape[0] - start)
            buf = fp.read(n * row_bytes)
            if len(buf) != n * row_bytes:
                raise ValueError(f"{path}: {key} is truncated")
            rows = np.frombuffer(buf, dtype=dtype).reshape(n, shape[1], shape[2])
            out[start:start + n] = np.packbits(rows != 0, axis=2)
    return out


# --- .h5 --------------------------------------------------------------------------------------------


def h5_array(path: Path, key: str) -> np.ndarray:
    """One h5 dataset: memory-mapped when stored contiguous and uncompressed, else read into memory."""
    import h5py  # only the Shapes3D path needs it

    with h5py.File(path, "r") as f:
        if key not in f:
            raise KeyError(f"{path}: no dataset {key!r} (it holds {', '.join(sorted(f))})")
        ds = f[key]
        offset = ds.id.get_offset() if ds.chunks is None and ds.compression is None else None
        if offset is not None and ds.dtype.isnative:
            return np.memmap(path, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)
        return ds[()]


# --- the dataset ------------------------------------------------------------------------------------


def _unpack_bits(packed: torch.Tensor, width: int) -> torch.Tensor:
    """uint8 (B, H, ceil(W/8)) packed MSB-first (np.packbits) -> uint8 (B, H, W) with values 0/255."""
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=packed.device)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.flatten(-2)[..., :width] * 255


class StoredImages(GridData):
    """A full row-major factor grid of stored images, served as uint8 (B, C, H, W).

    ``pixels`` is one of: a numpy (N, H, W, C) or (N, H, W) array on the CPU (possibly a memmap), a
    torch (N, C, H, W) tensor on any device, or, with ``packed_width``, a torch (N, H, ceil(W/8))
    bit-packed tensor of a binary dataset.
    """

    def __init__(self, name: str, pixels: np.ndarray | torch.Tensor, factor_names: tuple[str, ...],
                 factor_sizes: tuple[int, ...], packed_width: int | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.name = name
        self.factor_names = tuple(factor_names)
        device = torch.device(device)
        if isinstance(pixels, np.ndarray) and (packed_width is not None or device.type != "cpu"):
            pixels = _to_tensor(pixels, device, channels_first=packed_width is None)
        self._pixels = pixels
        self._packed_width = packed_width
        if packed_width is not None:
            self.image_shape = (1, pixels.shape[1], packed_width)
        elif isinstance(pixels, np.ndarray):
            self.image_shape = (1, *pixels.shape[1:3]) if pixels.ndim == 3 else (pixels.shape[3], *pixels.shape[1:3])
        else:
            self.image_shape = tuple(pixels.shape[1:])
        self._init_grid(factor_sizes, pixels.device if isinstance(pixels, torch.Tensor) else device)
        if pixels.shape[0] != len(self):
            raise ValueError(f"{name}: {pixels.shape[0]} images but the factor grid "
                             f"{'x'.join(map(str, factor_sizes))} has {len(self)} cells")

    def images(self, indices: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(indices).to(torch.int64)
        if isinstance(self._pixels, np.ndarray):  # CPU (memmap): numpy gathers, the batch becomes a tensor
            batch = torch.from_numpy(np.ascontiguousarray(self._pixels[idx.cpu().numpy()]))
            return batch.unsqueeze(1) if batch.dim() == 3 else batch.permute(0, 3, 1, 2).contiguous()
        batch = self._pixels[idx.to(self.device)]
        if self._packed_width is not None:
            return _unpack_bits(batch, self._packed_width).unsqueeze(1)
        return batch

    def to(self, device: torch.device | str) -> StoredImages:
        device = torch.device(device)
        if device == self.device:
            return self
        pixels = self._pixels
        if isinstance(pixels, torch.Tensor):
            pixels = pixels.to(device)
        return StoredImages(self.name, pixels, self.factor_names, self.factor_sizes, self._packed_width, device)


def _to_tensor(array: np.ndarray, device: torch.device, channels_first: bool) -> torch.Tensor:
    """Copy a (possibly memory-mapped) array to ``device`` in chunks; images become (N, C, H, W)."""
    if channels_first and array.ndim == 3:
        array = array[:, None]
    elif channels_first:
        array = array.transpose(0, 3, 1, 2)
    out = torch.empty(array.shape, dtype=torch.uint8, device=device)
    step = max(1, CHUNK_BYTES // max(1, int(np.prod(array.shape[1:]))))
    for start in range(0, array.shape[0], step):
        # np.array copies: a memmap slice is read-only, which torch.from_numpy warns about
        out[start:start + step] = torch.from_numpy(np.array(array[start:start + step], order="C")).to(device)
    return out
