"""Two small caches that every fetch-and-keep in gistgate is built from.

* :class:`RefreshingCache` keeps one loaded value per key, refreshes it after
  ``ttl`` seconds and, when the refresh fails, keeps serving the old value for
  up to ``stale_for`` seconds (stale-if-error). After a failed load it waits
  ``error_backoff`` seconds before trying again, so an outage upstream costs
  one timeout per backoff window, not one per request. JWKS and metadata use it.
* :class:`ExpiringMap` is a bounded map whose entries carry their own expiry.
  Introspection results and unknown-``kid`` markers use it.

Both take a ``clock`` so tests can move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

__all__ = ["Clock", "ExpiringMap", "RefreshingCache"]

K = TypeVar("K")
V = TypeVar("V")

Clock = Callable[[], float]


class Entry(NamedTuple, Generic[V]):
    """A loaded value and when it was loaded."""

    value: V
    loaded_at: float


class RefreshingCache(Generic[K, V]):
    """Load-on-miss with a TTL and stale-if-error; loads for one key are serialised."""

    def __init__(
        self,
        loader: Callable[[K], V],
        *,
        ttl: float,
        stale_for: float,
        error_backoff: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        self._loader = loader
        self.ttl = ttl
        self.stale_for = stale_for
        self.error_backoff = error_backoff
        self._clock = clock
        self._entries: dict[K, Entry[V]] = {}
        self._failed: dict[K, tuple[float, Exception]] = {}
        self._lock = threading.Lock()

    def peek(self, key: K) -> Entry[V] | None:
        """The entry as it stands, fresh or not, without loading."""
        return self._entries.get(key)

    def get(self, key: K) -> V:
        """The cached value while fresh; otherwise reload (falling back to stale)."""
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now - entry.loaded_at < self.ttl:
            return entry.value
        failed = self._failed.get(key)
        if failed is not None and now < failed[0]:
            return self._stale_or_raise(key, failed[1])
        return self.reload(key)

    def reload(self, key: K) -> V:
        """Load now. On failure serve the previous value while it is within ``stale_for``."""
        with self._lock:
            try:
                value = self._loader(key)
            except Exception as exc:
                self._failed[key] = (self._clock() + self.error_backoff, exc)
                return self._stale_or_raise(key, exc)
            self._failed.pop(key, None)
            self._entries[key] = Entry(value, self._clock())
            return value

    def _stale_or_raise(self, key: K, error: Exception) -> V:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.loaded_at < self.stale_for:
            return entry.value
        raise error

    def forgive(self, key: K) -> None:
        """Forget ``key``'s last failure, so the next ``get`` loads again at once."""
        self._failed.pop(key, None)

    def clear(self) -> None:
        """Forget everything (tests, and a settings change)."""
        self._entries.clear()
        self._failed.clear()


class ExpiringMap(Generic[K, V]):
    """A size-bounded map of values that each expire at their own time (LRU eviction)."""

    def __init__(self, *, max_entries: int, clock: Clock = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._items: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value, or None if absent or expired."""
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, expires_at: float) -> None:
        """Store ``value`` until ``expires_at``; evict the oldest entry when full."""
        if expires_at <= self._clock():
            return
        self._items[key] = (value, expires_at)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget ``key`` (no error if absent)."""
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
