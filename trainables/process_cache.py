"""Values built once per process and shared by every trial of that process that asks for them.

Datasets are the case: the seeds of a group (and trials that Ray runs one after another in one worker)
reuse one copy on the device instead of each building its own. Trials may run as threads of one process,
so a value is built under a lock and never twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ProcessCache(Generic[V]):
    def __init__(self) -> None:
        self._values: dict[Hashable, V] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value of ``key``, built by ``build()`` the first time it is asked for."""
        with self._lock:
            if key not in self._values:
                self._values[key] = build()
            return self._values[key]

    def peek(self, key: Hashable) -> V | None:
        """The value of ``key`` if it was built already (for use inside a ``build``), else None."""
        return self._values.get(key)
