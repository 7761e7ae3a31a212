"""A bounded least-recently-used cache of loaded models, one per container.

Seed: "Creating a Campaign" (a deployed campaign answers requests at once). A Lambda container
serves many requests: each solution version's model is loaded once (first request, or the
deployment's warm-up in the same container) and reused. The cache holds at most
`RUNTIME_MODEL_CACHE_MODELS` models (default 4) and `RUNTIME_MODEL_CACHE_MB` megabytes of
arrays (default 1024); the least recently used entry goes first, but the entry just loaded
always stays (a single model larger than the budget is still served). Concurrent requests for
a model not yet loaded wait for one load instead of loading it several times.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Optional, TypeVar

T = TypeVar("T")


def _env_int(name, default):
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        return default


class ModelCache(Generic[T]):
    """`get(key, load)` returns the cached value or stores `load()`; values expose `nbytes`."""

    def __init__(self, max_models: Optional[int] = None, max_bytes: Optional[int] = None):
        self.max_models = max_models if max_models is not None else \
            _env_int("RUNTIME_MODEL_CACHE_MODELS", 4)
        self.max_bytes = max_bytes if max_bytes is not None else \
            _env_int("RUNTIME_MODEL_CACHE_MB", 1024) * 1024 * 1024
        self._entries: "OrderedDict[Hashable, T]" = OrderedDict()
        self._loading = {}
        self._lock = threading.Lock()
        self.loads = 0
        self.evictions = 0

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        while True:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
                waiter = self._loading.get(key)
                if waiter is None:
                    waiter = self._loading[key] = threading.Event()
                    break
            waiter.wait()  # another thread loads it; then look again (it may have failed)
        try:
            value = load()
            with self._lock:
                self.loads += 1
                self._entries[key] = value
                self._entries.move_to_end(key)
                self._evict(keep=key)
            return value
        finally:
            with self._lock:
                self._loading.pop(key, None)
            waiter.set()

    def _evict(self, keep):
        while len(self._entries) > 1 and (len(self._entries) > self.max_models
                                          or self.nbytes > self.max_bytes):
            oldest = next(iter(self._entries))
            if oldest == keep:
                break
            self._entries.pop(oldest)
            self.evictions += 1

    @property
    def nbytes(self) -> int:
        return sum(int(getattr(v, "nbytes", 0)) for v in self._entries.values())

    def peek(self, key) -> Optional[T]:
        with self._lock:
            return self._entries.get(key)

    def keys(self):
        with self._lock:
            return list(self._entries)

    def discard(self, key) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
