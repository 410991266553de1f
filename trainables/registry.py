"""The one registry of model families: name -> "module:Class". Adding a family is one line here.

Modules are imported lazily so that validating a space or listing families does not import torch
models it does not need.
"""

from __future__ import annotations

import importlib

from trainables.family import Family

FAMILIES: dict[str, str] = {
    "beta_vae": "trainables.beta_vae:BetaVAE",
    "crmnist": "trainables.crmnist:CRMNIST",
    "gce": "trainables.gce:GCE",
    "ima_vae": "trainables.ima_vae:ImaVAE",
}


class UnknownFamily(KeyError):
    pass


def get_family(name: str) -> type[Family]:
    try:
        target = FAMILIES[name]
    except KeyError:
        raise UnknownFamily(f"unknown family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
