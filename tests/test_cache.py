"""hen_demo.cache.ByteCache: bounded by bytes (shared buffers once), by idle age, one build per key."""

import threading

import numpy as np
import pytest
import torch

from hen_demo.cache import ByteCache, budget_from_env, parse_bytes, sizeof


def arr(nbytes):
    return np.zeros(nbytes, dtype=np.uint8)


def test_evicts_least_recently_used_when_over_budget():
    c = ByteCache(1000, max_age=None)
    c.get("a", lambda: arr(400))
    c.get("b", lambda: arr(400))
    c.get("a", lambda: pytest.fail("a is cached"))  # a is now the most recent
    c.get("c", lambda: arr(400))  # 1,200 > 1,000: b (least recent) goes
    assert "a" in c and "c" in c and "b" not in c
    assert c.nbytes == 800 and c.evictions == 1


def test_shared_buffers_count_once():
    t = torch.zeros(250)  # 1,000 bytes
    c = ByteCache(2500, max_age=None)
    c.get("bank", lambda: {"codes": t})
    c.get("pipeline", lambda: {"bank_codes": t, "view": t[:10], "own": arr(400)})
    # t once, not three times (3 × 1,000 + 400 would be over budget); the rest is the dicts' own overhead
    assert len(c) == 2 and 1400 <= c.nbytes < 2100
    assert 1000 <= sizeof([t, t[:5], t.view(25, 10)]) < 1100  # one buffer + the list


def test_value_over_the_whole_budget_is_returned_but_not_kept_and_evicts_nothing():
    c = ByteCache(1000, max_age=None)
    c.get("small", lambda: arr(300))
    big = c.get("big", lambda: arr(5000))
    assert big.nbytes == 5000 and "big" not in c and "small" in c


def test_entries_idle_past_max_age_are_dropped():
    now = [0.0]
    c = ByteCache(10**6, max_age=10.0, clock=lambda: now[0])
    c.get("old", lambda: arr(10))
    now[0] = 5.0
    c.get("new", lambda: arr(10))
    now[0] = 12.0  # old idle 12 s, new 7 s
    assert c.sweep() == 1 and "old" not in c and "new" in c
    now[0] = 30.0
    built = []
    c.get("other", lambda: built.append(1) or arr(1))  # any get drops expired entries too
    assert "new" not in c and built == [1]


class _CountingLock:
    """Wraps the key's build lock: counts the threads that arrived to wait for it (no sleeps: a Condition)."""

    def __init__(self, real, arrived):
        self.real, self.arrived = real, arrived
        self.count = 0

    def __enter__(self):
        with self.arrived:
            self.count += 1
            self.arrived.notify_all()
        return self.real.__enter__()

    def __exit__(self, *exc):
        return self.real.__exit__(*exc)


def test_one_build_per_key_under_concurrency():
    """Seven threads ask for a key while its first build is held open: all wait for it, one build in all."""
    c = ByteCache(10**6)
    calls, building, release, arrived = [], threading.Event(), threading.Event(), threading.Condition()

    def make():
        calls.append(1)
        building.set()
        assert release.wait(timeout=60)  # held open until every other thread is waiting on the build
        return arr(10)

    first = threading.Thread(target=c.get, args=("k", make))
    first.start()
    assert building.wait(timeout=60)
    lock = _CountingLock(c._key_locks["k"], arrived)  # later arrivals take the key's lock from this dict
    c._key_locks["k"] = lock
    others = [threading.Thread(target=c.get, args=("k", make)) for _ in range(7)]
    for t in others:
        t.start()
    with arrived:
        assert arrived.wait_for(lambda: lock.count == 7, timeout=60)  # all seven wait on the build in progress
    release.set()
    for t in [first, *others]:
        t.join(timeout=60)
    assert len(calls) == 1 and c.get("k", make).shape == arr(10).shape


def test_failed_build_is_not_cached_and_can_be_retried():
    c = ByteCache(10**6)
    with pytest.raises(RuntimeError):
        c.get("k", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert c.get("k", lambda: 7) == 7


def test_budget_from_env(monkeypatch):
    monkeypatch.setenv("HEN_CACHE_BYTES", "1.5G")
    assert budget_from_env() == int(1.5 * 2**30)
    monkeypatch.setenv("HEN_CACHE_BYTES", "2e9")
    assert budget_from_env() == 2_000_000_000
    monkeypatch.setenv("HEN_CACHE_BYTES", "lots")
    with pytest.raises(ValueError, match="HEN_CACHE_BYTES must be a number of bytes"):
        budget_from_env()
    with pytest.raises(ValueError, match="positive"):
        parse_bytes("-5", "X")


def test_app_resources_share_one_byte_budget(monkeypatch):
    """Banks are weighed in bytes: a small budget keeps one bank of two, whatever their count."""
    from hen_demo.ui import resources

    monkeypatch.setattr(resources, "build_bank", lambda dataset, enc, n, **kw: {"codes": arr(n * 100)})
    monkeypatch.setattr(resources.Resources, "encoder", lambda self, name: None)
    res = resources.Resources(budget=151_000, max_age=None)
    res.bank("tiles", "pixels", 1000)  # 100 kB
    res.bank("tiles", "pixels", 500)  # 50 kB: both fit
    assert len(res.cache) == 2
    res.bank("tiles", "pixels", 200)  # 20 kB more: the least recently used (N = 1,000) goes
    assert len(res.cache) == 2 and 70_000 <= res.cache.nbytes < 71_000
