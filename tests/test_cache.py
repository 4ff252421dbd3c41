"""ByteLRU: least recently used out first, bounded by bytes, with an optional TTL."""

from __future__ import annotations

import threading

import pytest

from wess.cache import ByteLRU


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(max_bytes: int = 10, **options: object) -> ByteLRU[str, bytes]:
    return ByteLRU(max_bytes, weigh=len, **options)  # type: ignore[arg-type]


def test_get_put_pop_clear() -> None:
    """The basic mapping operations keep len and bytes in step."""
    cache = make()
    assert cache.get("a") is None
    assert cache.put("a", b"123")
    assert cache.put("b", b"45")
    assert cache.get("a") == b"123"
    assert (len(cache), cache.bytes) == (2, 5)
    assert cache.pop("a") == b"123"
    assert cache.pop("a") is None
    assert (len(cache), cache.bytes) == (1, 2)
    cache.clear()
    assert (len(cache), cache.bytes) == (0, 0)


def test_replacing_a_value_recounts_its_weight() -> None:
    """A put over an existing key charges the new weight, not both."""
    cache = make()
    cache.put("a", b"12345")
    cache.put("a", b"12")
    assert (len(cache), cache.bytes) == (1, 2)


def test_least_recently_used_goes_first_when_over_budget() -> None:
    """Crossing the byte budget evicts from the least recently used end; get refreshes."""
    evicted: list[str] = []
    cache = make(10, on_evict=evicted.append)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    cache.get("a")  # b is now the least recently used
    cache.put("c", b"1234")
    assert evicted == ["b"]
    assert cache.get("b") is None
    assert cache.get("a") == b"1234"
    assert cache.bytes == 8


def test_never_holds_more_than_the_budget() -> None:
    """After any sequence of puts the total weight is within max_bytes."""
    cache = make(100)
    for i in range(200):
        cache.put(str(i), b"x" * (i % 37))
        assert cache.bytes <= 100
    assert cache.bytes == sum(len(v) for v in (cache.get(str(i)) for i in range(200)) if v)


def test_an_item_bigger_than_the_budget_is_not_cached() -> None:
    """An oversized value is refused without evicting anything else."""
    evicted: list[str] = []
    cache = make(10, on_evict=evicted.append)
    cache.put("small", b"123")
    assert cache.put("huge", b"x" * 11) is False
    assert cache.get("huge") is None
    assert cache.get("small") == b"123"
    assert evicted == []


def test_an_oversized_replacement_drops_the_old_value() -> None:
    """A key whose new value is too big must not keep serving its old value."""
    cache = make(10)
    cache.put("a", b"123")
    cache.put("a", b"x" * 11)
    assert cache.get("a") is None
    assert cache.bytes == 0


def test_entries_expire_after_the_ttl() -> None:
    """With a TTL, a value is served until ttl seconds have passed on the clock, then not."""
    clock = FakeClock()
    evicted: list[str] = []
    cache = make(10, ttl_seconds=5.0, clock=clock, on_evict=evicted.append)
    cache.put("a", b"1")
    clock.now += 4.999
    assert cache.get("a") == b"1"
    clock.now += 0.001
    assert cache.get("a") is None
    assert evicted == ["a"]
    assert (len(cache), cache.bytes) == (0, 0)


def test_a_new_put_restarts_the_ttl() -> None:
    """Putting a key again gives it a fresh time to live."""
    clock = FakeClock()
    cache = make(10, ttl_seconds=5.0, clock=clock)
    cache.put("a", b"1")
    clock.now += 4
    cache.put("a", b"2")
    clock.now += 4
    assert cache.get("a") == b"2"


def test_hooks_see_hits_and_misses() -> None:
    """on_hit and on_miss are called once per get with the key."""
    hits: list[str] = []
    misses: list[str] = []
    cache = make(on_hit=hits.append, on_miss=misses.append)
    cache.get("a")
    cache.put("a", b"1")
    cache.get("a")
    cache.get("a")
    assert (hits, misses) == (["a", "a"], ["a"])


def test_hooks_may_call_back_into_the_cache() -> None:
    """Hooks run outside the lock, so one that reads the cache does not deadlock."""
    seen: list[int] = []
    cache: ByteLRU[str, bytes] = ByteLRU(4, weigh=len, on_evict=lambda _: seen.append(len(cache)))
    cache.put("a", b"12")
    cache.put("b", b"123")
    assert seen == [1]


@pytest.mark.parametrize(("max_bytes", "ttl"), [(-1, None), (10, 0.0), (10, -1.0)])
def test_invalid_settings_are_refused(max_bytes: int, ttl: float | None) -> None:
    """A negative budget or a non-positive TTL is a ValueError."""
    with pytest.raises(ValueError, match="must be"):
        make(max_bytes, ttl_seconds=ttl)


def test_concurrent_use_keeps_the_books_straight() -> None:
    """Threads putting, getting and popping at once leave bytes equal to what is held."""
    cache = make(1000)

    def hammer(seed: int) -> None:
        for i in range(2000):
            key = str((seed * 7919 + i) % 97)
            if i % 5 == 0:
                cache.pop(key)
            elif i % 2:
                cache.put(key, b"x" * (i % 61))
            else:
                cache.get(key)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held = [cache.get(str(k)) for k in range(97)]
    assert cache.bytes == sum(len(v) for v in held if v is not None) <= 1000


def test_an_entry_bound_evicts_the_least_recently_used() -> None:
    """With max_entries, one entry too many pushes out the least recently used one,
    whatever the weights (the original Wess counted modules, not bytes)."""
    evicted: list[str] = []
    cache: ByteLRU[str, bytes] = ByteLRU(None, max_entries=2, weigh=len, on_evict=evicted.append)
    cache.put("a", b"x" * 1000)
    cache.put("b", b"x" * 1000)
    cache.get("a")
    cache.put("c", b"x")
    assert evicted == ["b"]
    assert (len(cache), cache.bytes) == (2, 1001)
    assert (cache.max_bytes, cache.max_entries) == (None, 2)


def test_both_bounds_apply_together() -> None:
    """Bytes and entries bound the cache at once: whichever is crossed evicts."""
    cache: ByteLRU[str, bytes] = ByteLRU(10, max_entries=3, weigh=len)
    for key in "abcd":
        cache.put(key, b"1")
    assert len(cache) == 3
    cache.put("e", b"123456789")
    assert (len(cache), cache.bytes) == (2, 10)


def test_no_entries_caches_nothing() -> None:
    """max_entries=0 is a disabled cache: every put is refused."""
    cache: ByteLRU[str, bytes] = ByteLRU(None, max_entries=0, weigh=len)
    assert not cache.put("a", b"1")
    assert cache.get("a") is None


@pytest.mark.parametrize("bounds", [{"max_bytes": -1}, {"max_bytes": None, "max_entries": -1}])
def test_negative_bounds_are_refused(bounds: dict[str, int | None]) -> None:
    """A negative bound is a programming error."""
    with pytest.raises(ValueError, match="must be >= 0"):
        ByteLRU(weigh=len, **bounds)  # type: ignore[arg-type]
