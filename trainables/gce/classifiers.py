"""The classifiers that gce explains: the seeds' MNIST_CNN (MNIST / Fashion-MNIST) and VGG-11 (CIFAR-10).

Both return logits; callers take the softmax (the seeds return ``(logits, softmax)`` pairs, in opposite
orders in the two codebases). Dropout draws its masks from a generator the family hands in
(:class:`SeededDropout`), so that a trial's classifier depends on its seed only and never on torch's
global generator.
"""

from __future__ import annotations

import torch
from torch import nn


class SeededDropout(nn.Module):
    """Dropout whose masks come from ``self.generator`` (None: torch's default generator).

    ``channelwise=True`` drops whole channels of a 4-D input, as ``nn.Dropout2d`` does on the conv
    features of the seeds' MNIST_CNN; on a 2-D input the seeds' second ``Dropout2d`` acted element-wise
    (torch of 2020 treated an (N, C) input as having no spatial extent), which is what ``channelwise=False``
    does here.
    """

    def __init__(self, p: float, channelwise: bool = False) -> None:
        super().__init__()
        self.p, self.channelwise = p, channelwise
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        shape = (*x.shape[:2], *([1] * (x.dim() - 2))) if self.channelwise else x.shape
        keep = torch.empty(shape, device=x.device, dtype=x.dtype).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)


class MNISTCNN(nn.Module):
    """Conv(1→32, 3) → ReLU → Conv(32→64, 3) → ReLU → MaxPool2 → Dropout2d 0.25 → FC 9216→128 → ReLU →
    Dropout 0.5 → FC→M, for 1x28x28 inputs in [0, 1] (FACT ``MNIST_CNN``, original ``models/CNN_classifier``)."""

    def __init__(self, num_classes: int, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 1), nn.ReLU(),
            nn.MaxPool2d(2),
            SeededDropout(0.25, channelwise=True),
            nn.Flatten(1),
            nn.Linear(9216, 128), nn.ReLU(),
            SeededDropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _vgg11_features(channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers)


class VGG11(nn.Module):
    """VGG-11 with batch norm for 3x32x32 inputs, adaptive average pool to 1x1, then 512→4096→4096→M with
    dropout 0.5 (FACT ``models_classifiers.VGG11``).

    Differs from FACT: its ``forward`` calls ``self.eval()`` on every call, so FACT's VGG never trains its
    batch-norm statistics or dropout; here train/eval mode is the caller's, as for any module.
    """

    def __init__(self, num_classes: int, channels: int = 3) -> None:
        super().__init__()
        self.features = _vgg11_features(channels)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Linear(512, 4096), nn.ReLU(True), SeededDropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), SeededDropout(0.5),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


CLASSIFIERS = {"mnist_cnn": MNISTCNN, "vgg11": VGG11}


def make_classifier(name: str, num_classes: int, channels: int) -> nn.Module:
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; known: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[name](num_classes, channels)


def set_dropout_generator(model: nn.Module, generator: torch.Generator | None) -> None:
    """Point every SeededDropout of ``model`` at ``generator``."""
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = generator
