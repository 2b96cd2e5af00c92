"""gistgate/core/cache.py: RefreshingCache (TTL, stale-if-error, backoff) and ExpiringMap."""

from __future__ import annotations

import pytest

from gistgate.core.cache import ExpiringMap, RefreshingCache
from tests.fixtures.clock import FakeClock


class Upstream(Exception):
    pass


class Loader:
    """Counts calls; returns ``value-N`` or raises while ``down``."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False

    def __call__(self, key: str) -> str:
        self.calls.append(key)
        if self.down:
            raise Upstream(f"{key} unavailable")
        return f"{key}-{len(self.calls)}"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def loader():
    return Loader()


@pytest.fixture
def cache(loader, clock):
    return RefreshingCache(loader, ttl=60, stale_for=300, error_backoff=10, clock=clock)


class TestRefreshingCache:
    def test_loads_once_and_serves_from_cache_within_ttl(self, cache, loader, clock):
        assert cache.get("a") == "a-1"
        clock.advance(59.9)

        assert [cache.get("a") for _ in range(5)] == ["a-1"] * 5
        assert loader.calls == ["a"]

    def test_reloads_once_after_ttl(self, cache, loader, clock):
        cache.get("a")
        clock.advance(60)

        assert cache.get("a") == "a-2"
        assert cache.get("a") == "a-2"
        assert loader.calls == ["a", "a"]
        assert cache.peek("a").loaded_at == clock.now

    def test_keys_are_independent(self, cache, loader):
        assert (cache.get("a"), cache.get("b"), cache.get("a")) == ("a-1", "b-2", "a-1")
        assert loader.calls == ["a", "b"]

    def test_peek_does_not_load(self, cache, loader):
        assert cache.peek("a") is None
        assert loader.calls == []

    def test_reload_loads_even_when_fresh(self, cache, loader):
        cache.get("a")

        assert cache.reload("a") == "a-2"
        assert len(loader.calls) == 2

    def test_one_loader_call_per_backoff_window_during_an_outage(self, cache, loader, clock):
        cache.get("a")
        clock.advance(60)
        loader.down = True
        loader.calls.clear()

        # One request per second for 100 s, all of it after the TTL.
        for _ in range(100):
            assert cache.get("a") == "a-1"
            clock.advance(1)

        assert len(loader.calls) == 10  # t = 60, 70, ..., 150

    def test_stale_value_is_served_until_stale_for_then_the_error_is_raised(
        self, cache, loader, clock
    ):
        cache.get("a")
        loaded_at = clock.now
        loader.down = True

        clock.now = loaded_at + 299.9
        assert cache.get("a") == "a-1"

        clock.now = loaded_at + 300
        with pytest.raises(Upstream, match="a unavailable"):
            cache.get("a")

    def test_after_stale_for_errors_are_still_rate_limited(self, cache, loader, clock):
        cache.get("a")
        loader.down = True
        clock.advance(301)
        with pytest.raises(Upstream):
            cache.get("a")
        calls = len(loader.calls)

        for _ in range(9):
            clock.advance(1)
            with pytest.raises(Upstream):
                cache.get("a")

        assert len(loader.calls) == calls

    def test_cold_failure_raises_and_backs_off(self, cache, loader, clock):
        loader.down = True

        for _ in range(5):
            with pytest.raises(Upstream):
                cache.get("a")
        assert loader.calls == ["a"]

        clock.advance(10)
        loader.down = False
        assert cache.get("a") == "a-2"

    def test_recovery_replaces_the_stale_value_and_clears_the_failure(self, cache, loader, clock):
        cache.get("a")
        clock.advance(60)
        loader.down = True
        assert cache.get("a") == "a-1"

        clock.advance(10)
        loader.down = False
        assert cache.get("a") == "a-3"

        loader.down = True
        clock.advance(60)
        assert cache.get("a") == "a-3"  # stale again, counted from the new load
        assert len(loader.calls) == 4

    def test_clear_forgets_values_and_failures(self, cache, loader):
        loader.down = True
        with pytest.raises(Upstream):
            cache.get("a")
        loader.down = False

        cache.clear()

        assert cache.get("a") == "a-2"


class TestExpiringMap:
    def test_value_is_served_until_it_expires(self, clock):
        items = ExpiringMap(max_entries=10, clock=clock)
        items.put("k", "v", clock.now + 30)

        clock.advance(29.9)
        assert items.get("k") == "v"

        clock.advance(0.1)
        assert items.get("k") is None
        assert len(items) == 0

    def test_missing_key_is_none(self, clock):
        assert ExpiringMap(max_entries=10, clock=clock).get("nope") is None

    @pytest.mark.parametrize("offset", [0, -1, -3600])
    def test_put_of_an_already_expired_value_is_ignored(self, clock, offset):
        items = ExpiringMap(max_entries=10, clock=clock)

        items.put("k", "v", clock.now + offset)

        assert len(items) == 0
        assert items.get("k") is None

    def test_size_is_bounded_by_evicting_the_oldest(self, clock):
        items = ExpiringMap(max_entries=3, clock=clock)
        for key in "abcd":
            items.put(key, key.upper(), clock.now + 60)

        assert len(items) == 3
        assert [items.get(key) for key in "abcd"] == [None, "B", "C", "D"]

    def test_put_again_makes_an_entry_the_newest(self, clock):
        items = ExpiringMap(max_entries=3, clock=clock)
        for key in "abc":
            items.put(key, key.upper(), clock.now + 60)

        items.put("a", "A2", clock.now + 60)
        items.put("d", "D", clock.now + 60)

        assert [items.get(key) for key in "abcd"] == ["A2", None, "C", "D"]

    def test_get_makes_an_entry_recently_used(self, clock):
        items = ExpiringMap(max_entries=3, clock=clock)
        for key in "abc":
            items.put(key, key.upper(), clock.now + 60)

        assert items.get("a") == "A"
        items.put("d", "D", clock.now + 60)

        assert items.get("a") == "A"
        assert items.get("b") is None

    def test_clear(self, clock):
        items = ExpiringMap(max_entries=3, clock=clock)
        items.put("a", 1, clock.now + 60)

        items.clear()

        assert len(items) == 0
        assert items.get("a") is None
