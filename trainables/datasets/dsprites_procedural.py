"""dSprites rendered procedurally: the original factor grid, no file, under 1 MB of memory.

Matthey et al. (2017), https://github.com/deepmind/dsprites-dataset, as the λβ-VAE seed
(Minitechy/lambda_beta_vae, ``datasets.py``) uses it: factors shape 3 (square, ellipse, heart) x
scale 6 (linspace(0.5, 1, 6)) x orientation 40 x pos_x 32 x pos_y 32 (linspace(0, 1, 32)), 64x64
binary, 737,280 images in the original row-major order, so ``index_of`` and ``factors`` agree with the
real file's ``latents_classes[:, 1:]``.

Where it differs from the real file (so results carry the name ``dsprites_procedural``, never
``dsprites``):
- Orientation is linspace(0, 2π, 40) with the endpoint *included*, as in the original file: class 0
  and class 39 are the same sprite, and one step is 2π/39 ≈ 9.2°, so +10 classes turn a square by
  92.3° (nearly, not exactly, onto itself).
- Outlines come from implicit inside-tests (a square, a 2:1 ellipse, the heart curve
  (x²+y²-1)³ ≤ x²y³), supersampled 4x4 per pixel and thresholded at half coverage; the original was
  drawn by another renderer, so edge pixels differ. The largest sprite spans 20-24 px, the
  smallest about half that, roughly as in dSprites.
- Position: pos in [0, 1] moves the sprite centre linearly from pixel 13 to pixel 51 (x to the right,
  y downwards, as in the file), rounded to whole pixels, so consecutive positions are 1 or 2 px apart;
  the original places sprites with sub-pixel precision over a similar range. Every sprite stays
  fully inside the frame.

Only the 720 centred (shape, scale, orientation) sprites are stored (26x26 windows); an image is its sprite
translated to (pos_x, pos_y), gathered on the dataset's device for the whole batch at once.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from trainables.datasets.factor_grid import GridData

SIZE = 64
FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)  # endpoint included, as in the original latents_values
POSITIONS = np.linspace(0.0, 1.0, 32)
RADIUS_AT_SCALE_1 = 10.0  # px: the reach of a shape of scale 1 from its centre
CENTRE_LOW, CENTRE_HIGH = 13.0, 51.0  # px: sprite centre at pos 0 and pos 1 (the widest sprite just fits)
SUPERSAMPLE = 4  # sub-pixels per pixel side, for anti-aliased coverage before thresholding
# Sprites are rendered and stored in a CROP x CROP window around the centre (every shape reaches at most
# 12 px from it, the heart at scale 1), then pasted into the 64x64 frame: 7x less work and memory than full frames.
CROP = 26


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of an unrotated shape of radius 1 at offsets (u right, v up) from its centre."""
    if shape == 0:  # square, half-side 0.8 so that its corners (at 1.13) stay near the others' reach
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == 1:  # ellipse twice as wide as high
        return u * u + (2.0 * v) ** 2 <= 1.0
    # heart (x²+y²-1)³ ≤ x²y³ spans x in [-1.14, 1.14], y in [-1, 1.25]: shift up to centre it, shrink to reach ~1
    x, y = u * 1.15, v * 1.15 + 0.12
    r = x * x + y * y - 1.0
    return r * r * r <= x * x * y * y * y


@functools.lru_cache(maxsize=1)
def render_base_sprites() -> np.ndarray:
    """uint8 (720, CROP, CROP), values 0/255: sprite (shape*6 + scale)*40 + orientation, centred.

    Vectorised over orientations and sub-pixels (3 shapes x 6 scales iterations), in numpy: ~0.1 s on
    one core (torch's intra-op threads made it 10x slower on a busy 2-core machine). Cached: every
    dataset object of the process reuses the same array.
    """
    n = CROP * SUPERSAMPLE
    offsets = ((np.arange(n) + 0.5) / SUPERSAMPLE - CROP / 2).astype(np.float32)  # sub-pixel centres
    x, y = np.meshgrid(offsets, -offsets)  # row i is y = -offset: y points up on screen
    theta = ORIENTATIONS.astype(np.float32)[:, None, None]
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * x + s * y, -s * x + c * y  # rotate the pixel grid by -θ = the shape by +θ (counter-clockwise)
    out = np.empty((3, len(SCALES), len(ORIENTATIONS), CROP, CROP), dtype=np.uint8)
    for shape in range(3):
        for j, scale in enumerate(SCALES):
            radius = np.float32(RADIUS_AT_SCALE_1 * scale)
            inside = _inside(shape, u / radius, v / radius)
            coverage = inside.reshape(len(ORIENTATIONS), CROP, SUPERSAMPLE, CROP, SUPERSAMPLE).mean(axis=(2, 4))
            out[shape, j] = np.where(coverage >= 0.5, 255, 0)
    sprites = out.reshape(-1, CROP, CROP)
    # The window must hold the whole sprite: an empty border proves nothing was cut off.
    assert not (sprites[:, [0, -1], :].any() or sprites[:, :, [0, -1]].any())
    sprites.setflags(write=False)
    return sprites


def position_shifts() -> np.ndarray:
    """int64 (32,) pixel offset of the sprite centre from the frame centre, per position class."""
    return np.rint(CENTRE_LOW + POSITIONS * (CENTRE_HIGH - CENTRE_LOW) - SIZE / 2).astype(np.int64)


class ProceduralDSprites(GridData):
    name = "dsprites_procedural"
    factor_names = FACTOR_NAMES
    image_shape = (1, SIZE, SIZE)

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self._init_grid(FACTOR_SIZES, torch.device(device))
        self._sprites = torch.from_numpy(render_base_sprites().copy()).to(self.device).view(-1, CROP * CROP)
        # Flat frame index of the crop window's top-left pixel, per position class (x and y alike).
        corner = position_shifts() + (SIZE - CROP) // 2
        assert corner.min() >= 0 and corner.max() + CROP <= SIZE  # the sprite never leaves the frame
        self._corner = torch.as_tensor(corner, device=self.device)
        window = torch.arange(CROP, device=self.device)
        self._window = (window[:, None] * SIZE + window[None, :]).view(1, -1)  # (1, CROP*CROP) frame offsets

    def images(self, indices: torch.Tensor) -> torch.Tensor:
        f = self.factors(indices)
        sprite = (f[:, 0] * FACTOR_SIZES[1] + f[:, 1]) * FACTOR_SIZES[2] + f[:, 2]
        origin = self._corner[f[:, 4]] * SIZE + self._corner[f[:, 3]]  # pos_y moves down, pos_x right
        out = torch.zeros(len(sprite), SIZE * SIZE, dtype=torch.uint8, device=self.device)
        out.scatter_(1, origin[:, None] + self._window, self._sprites[sprite])
        return out.view(-1, 1, SIZE, SIZE)

    def to(self, device: torch.device | str) -> ProceduralDSprites:
        return self if torch.device(device) == self.device else ProceduralDSprites(device)
