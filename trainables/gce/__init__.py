"""Family ``gce``: generative causal explanations of a classifier (see trainables/gce/family.py)."""

from trainables.gce.family import GCE, GCEConfig

__all__ = ["GCE", "GCEConfig"]
