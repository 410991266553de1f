"""dSprites rendered procedurally: the original factor grid, no download, a few MB of memory.

Matthey et al. (2017), https://github.com/deepmind/dsprites-dataset: 3 shapes (square, ellipse,
heart) x 6 scales (0.5..1) x 40 orientations (linspace(0, 2π, 40), endpoint *included* as in the
original, so orientation 0 and 39 draw the same sprite) x 32 x 32 positions (0..1), 64x64 binary,
737,280 images in the original row-major order (so ``index_of`` matches the real npz's ordering).

How it differs from the real file (results carry the name ``dsprites_procedural``, never ``dsprites``):
- The sprite outlines are drawn from implicit shapes (a square, a 2:1 ellipse, the heart curve
  (x²+y²-1)³ = x²y³), supersampled 4x4 per pixel and thresholded at half coverage; the original
  sprites were drawn by a different renderer, so pixels differ.
- A sprite's centre moves from pixel 12 to 52 over the 32 positions, rounded to whole pixels (steps of
  1 or 2 px); the original places sprites with sub-pixel precision over a similar range.
Only the 720 centred (shape, scale, orientation) sprites are stored; an image is its sprite translated
to the position, gathered on the device in one vectorised step.
"""

from __future__ import annotations

import numpy as np
import torch

from trainables.datasets.base import GroundTruthData

SIZE = 64
FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
RADIUS_AT_SCALE_1 = 10.0  # pixels: the largest sprite spans about 20 px, as in dSprites
CENTRE_LOW, CENTRE_HIGH = 12.0, 52.0  # pixel range of sprite centres over positions 0..1
SUPERSAMPLE = 4


def _inside(shape: int, u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    """Inside-test of a centred, unrotated shape of the given radius at offsets (u right, v up)."""
    if shape == 0:  # square
        half = 0.8 * radius
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == 1:  # ellipse, twice as wide as high
        return (u / radius) ** 2 + (v / (0.5 * radius)) ** 2 <= 1.0
    # heart: (x²+y²-1)³ - x²y³ <= 0 spans x in [-1.14, 1.14], y in [-1, 1.25]; centre it and fit the radius
    s = radius / 1.15
    x, y = u / s, v / s + 0.12
    return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0


def render_base_sprites() -> np.ndarray:
    """uint8 (3, 6, 40, 64, 64) of sprites centred at pixel (32, 32), values 0/255."""
    offsets = (np.arange(SIZE * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - SIZE / 2  # sub-pixel centres
    x, y = np.meshgrid(offsets, -offsets)  # y up, as a rotation by +θ is counter-clockwise on screen
    out = np.zeros((3, 6, 40, SIZE, SIZE), dtype=np.uint8)
    for k, theta in enumerate(ORIENTATIONS):
        c, s = np.cos(theta), np.sin(theta)
        u, v = c * x + s * y, -s * x + c * y
        for shape in range(3):
            for j, scale in enumerate(SCALES):
                inside = _inside(shape, u, v, RADIUS_AT_SCALE_1 * scale)
                coverage = inside.reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))
                out[shape, j, k] = np.where(coverage >= 0.5, 255, 0)
    return out


class ProceduralDSprites(GroundTruthData):
    name = "dsprites_procedural"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    image_shape = (1, SIZE, SIZE)

    def __init__(self, device: torch.device | str = "cpu", sprites: torch.Tensor | None = None) -> None:
        self.device = torch.device(device)
        if sprites is None:
            sprites = torch.from_numpy(render_base_sprites().reshape(-1, SIZE, SIZE))
        self.sprites = sprites.to(self.device)  # (720, 64, 64) uint8
        shifts = np.rint(CENTRE_LOW + POSITIONS * (CENTRE_HIGH - CENTRE_LOW) - SIZE / 2).astype(np.int64)
        self.shifts = torch.as_tensor(shifts, device=self.device)
        self.strides = torch.as_tensor(
            np.cumprod((1,) + FACTOR_SIZES[::-1])[:-1][::-1].copy(), dtype=torch.int64, device=self.device)
        self.sizes = torch.as_tensor(FACTOR_SIZES, dtype=torch.int64, device=self.device)
        self._grid = torch.arange(SIZE, device=self.device)

    def __len__(self) -> int:
        return int(np.prod(FACTOR_SIZES))

    def factors(self, indices: torch.Tensor) -> torch.Tensor:
        idx = indices.to(self.device, torch.int64)
        return (idx[:, None] // self.strides) % self.sizes

    def images(self, indices: torch.Tensor) -> torch.Tensor:
        f = self.factors(indices)
        sprite = (f[:, 0] * 6 + f[:, 1]) * 40 + f[:, 2]
        dx, dy = self.shifts[f[:, 3]], self.shifts[f[:, 4]]  # pos_x moves right, pos_y moves down
        rows = self._grid[None, :] - dy[:, None]  # (B, 64): source row of each output row
        cols = self._grid[None, :] - dx[:, None]
        valid = ((rows >= 0) & (rows < SIZE))[:, :, None] & ((cols >= 0) & (cols < SIZE))[:, None, :]
        rows, cols = rows.clamp(0, SIZE - 1), cols.clamp(0, SIZE - 1)
        gathered = self.sprites[sprite[:, None, None], rows[:, :, None], cols[:, None, :]]
        return (gathered * valid).to(torch.uint8).unsqueeze(1)

    def to(self, device: torch.device | str) -> ProceduralDSprites:
        if torch.device(device) == self.device:
            return self
        return ProceduralDSprites(device, self.sprites)
