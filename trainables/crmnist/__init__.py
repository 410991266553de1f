"""Family ``crmnist`` (colored rotated MNIST: NVAE, DIVA, DANN, AugmentedDANN, IRM); see family.py."""

from trainables.crmnist.family import CRMNIST, CRMNISTConfig

__all__ = ["CRMNIST", "CRMNISTConfig"]
