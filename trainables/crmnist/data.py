"""Colored rotated MNIST (CRMNIST): the seed's generation, cached on disk and shared by every trial.

Generation (SamuelS0/NVAE ``core/CRMNIST/data_generation.py`` + ``utils_crmnist.py``, notes §4):
- a *base split* of the source's training images into train / validation (80/20, ``data_seed`` 42) is
  taken before any domain transform, so no validation image is ever seen in training in any domain;
- each of six domains copies the whole base set; digits in the domain's ``subset`` get the domain's colour
  with probability p = 0.5; the spurious digit 7, when outside the subset, gets **red** with p = 0.5
  (``color_subsets: none`` empties every subset, as the seed's conf/crmnist.json at bea13b7 did);
- ``AddColor``: the colour's channels are multiplied by the intensity (1.5), the others by 0.5, clipped
  (orange: R, G, B times 1.5·(1, 0.6, 0.1)); then every image is rotated by the domain angle
  ``domain × rotation_step`` (PIL nearest-neighbour about the centre, black fill, as torchvision's
  ``rotate`` on a PIL image);
- the OOD domain (default the last) is withheld from train and validation.
Where we differ from the seed:
- the OOD test set is the source's *test* split (MNIST t10k) rendered in the OOD domain; its images are
  disjoint from the base set (the seed's test loader also renders the MNIST test split);
- colouring works on uint8 directly: ``floor(min(x · w, 255))`` (the seed round-trips through float
  tensors and PIL, which can lose one grey level); draws come from numpy generators seeded by
  (``data_seed``, split, domain), not Python's global ``random`` seeded once at import;
- ``digits8x8`` (scikit-learn's 8×8 digits upscaled to 28×28 by nearest neighbour, first 80% of a fixed
  permutation as the "train" split, the rest as "test") exists only for machines without MNIST, and its
  dataset name never says MNIST.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.datasets.idx_files import file_sha256
from trainables.process_cache import ProcessCache

GENERATION_VERSION = 1  # bump when the generation's output changes, so old caches are not reused
NUM_DOMAINS, NUM_CLASSES = 6, 10
# colour name -> channel multipliers relative to the intensity; other channels are multiplied by 0.5
DOMAIN_COLORS = ("blue", "green", "yellow", "cyan", "magenta", "orange")
COLOR_NAMES = (*DOMAIN_COLORS, "red")  # c label: index here, -1 when uncoloured
SUBSETS = ((0, 1, 2, 3, 4), (2, 3, 4, 5, 6), (4, 5, 6, 7, 8), (6, 7, 8, 9, 0), (8, 9, 0, 1, 2), (0, 2, 4, 6, 8))
COLOR_SUBSETS = ("head", "none")  # GenerationConfig.color_subsets: SUBSETS, or every subset empty
_CHANNELS = {"red": (0,), "green": (1,), "blue": (2,), "yellow": (0, 1), "magenta": (0, 2), "cyan": (1, 2)}
SOURCES = ("mnist", "digits8x8")
SPLITS = ("train", "val", "ood")


def color_weights(color: str, intensity: float) -> np.ndarray:
    """Per-channel multipliers of AddColor (seed ``utils_crmnist.AddColor``)."""
    if color == "orange":
        return intensity * np.array([1.0, 0.6, 0.1])
    return np.array([intensity if ch in _CHANNELS[color] else 0.5 for ch in range(3)])


@dataclass(frozen=True)
class GenerationConfig:
    """Everything the generated arrays depend on; its hash names the cache file."""

    source: str = "mnist"
    rotation_step: int = 15
    intensity: float = 1.5
    color_prob: float = 0.5
    spurious_digit: int = 7
    # "head": each domain colours its SUBSETS digits (the seed's HEAD); "none": every subset empty, so
    # only the spurious digit is ever coloured (red) -- the seed's conf/crmnist.json at bea13b7.
    color_subsets: str = "head"
    ood_domain: int = 5  # -1: no OOD domain (all six are in-domain)
    data_seed: int = 42
    val_fraction: float = 0.2
    max_base_images: int = 0  # 0: every training image of the source; N: the first N of a fixed permutation

    def key(self) -> str:
        """Hash of the generation settings alone; the cache file adds the source's identity (``cache_key``)."""
        blob = json.dumps({**asdict(self), "version": GENERATION_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def in_domains(self) -> list[int]:
        return [d for d in range(NUM_DOMAINS) if d != self.ood_domain]

    def angle(self, domain: int) -> int:
        return domain * self.rotation_step


def load_source(source: str, data_dir: Path | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (uint8 [N, 28, 28], int64 [N]), "test": ...} of the source."""
    if source == "mnist":
        from trainables.datasets import resolve_data_dir
        from trainables.datasets.idx_files import load_idx_split

        root = resolve_data_dir(data_dir)
        return {split: load_idx_split("mnist", root, name) for split, name in (("train", "train"), ("test", "t10k"))}
    if source == "digits8x8":
        from sklearn.datasets import load_digits

        digits = load_digits()
        # 0..16 grey levels -> 0..255, 8x8 -> 24x24 by nearest neighbour, padded to 28x28 as MNIST is
        small = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
        big = np.zeros((len(small), 28, 28), np.uint8)
        big[:, 2:26, 2:26] = small.repeat(3, axis=1).repeat(3, axis=2)
        order = np.random.default_rng(0).permutation(len(big))
        cut = int(0.8 * len(big))
        labels = digits.target.astype(np.int64)
        return {"train": (big[order[:cut]], labels[order[:cut]]), "test": (big[order[cut:]], labels[order[cut:]])}
    raise ValueError(f"source: unknown {source!r}; known: {', '.join(SOURCES)}")


# (resolved path, size, mtime_ns, inode) -> SHA-256 of the file's bytes: each source file is hashed once per
# process, and again only when it is replaced or rewritten
_FILE_DIGESTS: dict[tuple[str, int, int, int], str] = {}
_DIGITS_IDENTITY: list[str] = []


def _file_digest(path: Path) -> str:
    path = path.resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if memo not in _FILE_DIGESTS:
        _FILE_DIGESTS[memo] = f"{st.st_size}:{file_sha256(path)}"
    return _FILE_DIGESTS[memo]


def source_identity(source: str, data_dir: Path | None) -> str:
    """A digest of the source data the generation reads, so that two different copies of a source (other
    data directories, a corrupted and a good download) never share a cache entry.

    mnist: size and SHA-256 of each of the four IDX files (their bytes, so a gzipped and an unzipped copy of
    the same data are two entries; a cache miss, never a wrong hit). digits8x8: scikit-learn's bundled
    array, hashed. Either is computed once per process.
    """
    if source == "mnist":
        from trainables.datasets import resolve_data_dir
        from trainables.datasets.idx_files import SPLITS as IDX_SPLITS
        from trainables.datasets.idx_files import idx_path

        root = resolve_data_dir(data_dir)
        parts = [f"{split}-{kind}:{_file_digest(idx_path('mnist', root, split, kind))}"
                 for split in IDX_SPLITS for kind in ("images", "labels")]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    if source == "digits8x8":
        if not _DIGITS_IDENTITY:
            from sklearn.datasets import load_digits

            digits = load_digits()
            digest = hashlib.sha256(np.ascontiguousarray(digits.images, dtype=np.float64).tobytes())
            digest.update(np.ascontiguousarray(digits.target, dtype=np.int64).tobytes())
            _DIGITS_IDENTITY.append(digest.hexdigest())
        return _DIGITS_IDENTITY[0]
    raise ValueError(f"source: unknown {source!r}; known: {', '.join(SOURCES)}")


def cache_key(cfg: GenerationConfig, data_dir: Path | None) -> str:
    """Name of the cached arrays: the generation settings and the identity of the source they read."""
    blob = f"{cfg.key()}:{source_identity(cfg.source, data_dir)}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def base_split(n: int, cfg: GenerationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the source's training images that form the train / validation base sets."""
    order = np.random.default_rng(cfg.data_seed).permutation(n)
    if cfg.max_base_images > 0:
        order = order[: cfg.max_base_images]
    n_val = int(round(cfg.val_fraction * len(order)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def rotate_nearest(images: np.ndarray, angle: float) -> np.ndarray:
    """uint8 [N, 3, H, W] rotated counter-clockwise by ``angle`` degrees (PIL NEAREST, black fill)."""
    if angle % 360 == 0:
        return images.copy()
    from PIL import Image

    out = np.empty_like(images)
    for i, img in enumerate(images):
        pil = Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)))
        out[i] = np.asarray(pil.rotate(angle, resample=Image.NEAREST, fillcolor=(0, 0, 0))).transpose(2, 0, 1)
    return out


def render_domain(grey: np.ndarray, labels: np.ndarray, domain: int, cfg: GenerationConfig,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The images of one domain (uint8 [N, 3, 28, 28]) and their colour labels (-1 = uncoloured)."""
    subset = np.isin(labels, SUBSETS[domain] if cfg.color_subsets == "head" else ())
    draw = rng.random(len(labels)) < cfg.color_prob  # one draw per image, whether or not it is eligible
    colors = np.full(len(labels), -1, np.int64)
    colors[subset & draw] = domain  # domain d's colour is DOMAIN_COLORS[d]
    colors[~subset & (labels == cfg.spurious_digit) & draw] = COLOR_NAMES.index("red")
    rgb = np.repeat(grey[:, None], 3, axis=1)
    for c in np.unique(colors[colors >= 0]):
        w = color_weights(COLOR_NAMES[c], cfg.intensity)[None, :, None, None]
        sel = colors == c
        rgb[sel] = np.floor(np.minimum(rgb[sel].astype(np.float64) * w, 255.0)).astype(np.uint8)
    return rotate_nearest(rgb, cfg.angle(domain)), colors


def generate(cfg: GenerationConfig, data_dir: Path | None) -> dict[str, np.ndarray]:
    """Arrays ``<split>_{x,y,d,c}`` for splits train / val (in-domain) and ood (OOD domain, test images),
    plus ``train_base`` / ``val_base`` (source indices, to check the split)."""
    src = load_source(cfg.source, data_dir)
    train_x, train_y = src["train"]
    tr, va = base_split(len(train_x), cfg)
    parts = {"train": (train_x[tr], train_y[tr], cfg.in_domains()), "val": (train_x[va], train_y[va], cfg.in_domains())}
    if cfg.ood_domain >= 0:
        parts["ood"] = (*src["test"], [cfg.ood_domain])
    out: dict[str, np.ndarray] = {"train_base": tr, "val_base": va}
    for s, (grey, labels, domains) in parts.items():
        xs, ds, cs = [], [], []
        for d in domains:
            rng = np.random.default_rng([cfg.data_seed, SPLITS.index(s), d])
            x, c = render_domain(grey, labels, d, cfg, rng)
            xs.append(x)
            cs.append(c)
            ds.append(np.full(len(labels), d, np.int64))
        out[f"{s}_x"] = np.concatenate(xs)
        out[f"{s}_y"] = np.tile(labels, len(domains))
        out[f"{s}_d"] = np.concatenate(ds)
        out[f"{s}_c"] = np.concatenate(cs)
    return out


def cached_arrays(cfg: GenerationConfig, data_dir: Path | None, cache_dir: Path | None) -> tuple[dict, bool]:
    """The generated arrays and whether they came from the disk cache.

    ``<cache_dir>/crmnist/<cache_key>.npz`` (settings and source identity), written to a temporary file and
    renamed (atomic), under a file lock so that concurrent trials generate once and never read half a file.
    No cache_dir: generate.
    """
    if cache_dir is None:
        return generate(cfg, data_dir), False
    folder = Path(cache_dir) / "crmnist"
    folder.mkdir(parents=True, exist_ok=True)
    identity = source_identity(cfg.source, data_dir)
    key = cache_key(cfg, data_dir)
    path = folder / f"{key}.npz"
    with open(folder / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when the process dies
        if path.exists():
            with np.load(path) as f:
                return {k: f[k] for k in f.files}, True
        arrays = generate(cfg, data_dir)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.stem, suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        (folder / f"{key}.json").write_text(json.dumps({**asdict(cfg), "source_identity": identity}, indent=1))
    return arrays, False


@dataclass
class Split:
    x: torch.Tensor  # uint8 [N, 3, 28, 28] on the device
    y: torch.Tensor
    d: torch.Tensor
    c: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        return self.x[idx].float().div_(255.0)


class CRMNISTData:
    """The three splits of one generation config as tensors on one device."""

    def __init__(self, arrays: dict[str, np.ndarray], cfg: GenerationConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.splits = {s: Split(*(torch.from_numpy(arrays[f"{s}_{k}"]).to(device) for k in "xydc"))
                       for s in SPLITS if f"{s}_x" in arrays}

    def __getitem__(self, split: str) -> Split:
        return self.splits[split]


_MEMORY: ProcessCache[CRMNISTData] = ProcessCache()


def load(cfg: GenerationConfig, data_dir: Path | None, cache_dir: Path | None, device: torch.device) -> CRMNISTData:
    """The data of ``cfg`` on ``device``, once per process (the seeds of a group share it)."""
    # by content, not by path: two directories holding the same files share one copy, two copies differ
    key = (cfg.key(), source_identity(cfg.source, data_dir), str(device))
    return _MEMORY.get(key, lambda: CRMNISTData(cached_arrays(cfg, data_dir, cache_dir)[0], cfg, device))
