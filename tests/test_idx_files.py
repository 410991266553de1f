"""MNIST / Fashion-MNIST IDX reading (on files the test writes and on ../shared/data), and the checked
download (served from a local HTTP server, never the internet)."""

from __future__ import annotations

import functools
import gzip
import http.server
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from trainables.datasets.array_files import DatasetNotFound
from trainables.datasets.idx_files import COLLECTIONS, check_idx_available, download, load_idx_split, read_idx


def write_idx(path: Path, array: np.ndarray, code: int = 0x08, compress: bool = True) -> None:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if compress else open)(path, "wb").write(body)


def test_read_idx_round_trips_images_and_big_endian_ints(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", images)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), images)
    ints = np.array([1, -2, 70000], dtype=np.int32)
    write_idx(tmp_path / "b", ints, code=0x0C, compress=False)
    assert read_idx(tmp_path / "b").tolist() == [1, -2, 70000]


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    write_idx(tmp_path / "a", np.zeros((2, 2, 2), np.uint8), compress=False)
    data = (tmp_path / "a").read_bytes()
    (tmp_path / "a").write_bytes(data[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "a")
    (tmp_path / "c").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "c")


def test_load_split_and_missing_file_message(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", np.full((5, 28, 28), 7, np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(5, dtype=np.uint8), compress=False)
    images, labels = load_idx_split("mnist", tmp_path, "train")
    assert images.shape == (5, 28, 28) and labels.tolist() == [0, 1, 2, 3, 4] and labels.dtype == np.int64
    with pytest.raises(DatasetNotFound, match=r"t10k-images-idx3-ubyte\[\.gz\] not found"):
        check_idx_available("mnist", tmp_path)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data/mnist not present")
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_real_files(name):
    images, labels = load_idx_split(name, SHARED_DATA, "t10k")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == (
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009] if name == "mnist" else [1000] * 10)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data/mnist not present")
def test_download_checks_sha256_and_keeps_nothing_bad(tmp_path):
    served = tmp_path / "served"
    shutil.copytree(SHARED_DATA / "mnist", served)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        folder = download("mnist", tmp_path / "data", base_url=url)
        assert sorted(p.name for p in folder.iterdir()) == sorted(COLLECTIONS["mnist"].sha256)
        check_idx_available("mnist", tmp_path / "data")
        # a corrupted file on the server: the check fails and no partial file is left
        (served / "t10k-labels-idx1-ubyte.gz").write_bytes(b"corrupt")
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
        with pytest.raises(OSError, match="expected"):
            download("mnist", tmp_path / "data", base_url=url)
        assert sorted(p.name for p in folder.iterdir()) == sorted(set(COLLECTIONS["mnist"].sha256)
                                                                  - {"t10k-labels-idx1-ubyte.gz"})
    finally:
        server.shutdown()
