"""The range map standing in for the maple tree, against a dict-of-addresses model."""

from __future__ import annotations

import bisect
import random

from hypothesis import given
from hypothesis import strategies as st

from nommu.mm.maple import RangeMap, SortedInts


def test_store_overwrites_and_trims() -> None:
    t: RangeMap[str] = RangeMap()
    assert t.store(0x1000, 0x4000, "a") == []
    assert t.store(0x2000, 0x3000, "b") == []
    assert list(t.items()) == [(0x1000, 0x2000, "a"), (0x2000, 0x3000, "b"), (0x3000, 0x4000, "a")]
    assert t.values() == ["a", "b"]
    assert t.store(0x1000, 0x4000, "c") == ["a", "b"]
    assert list(t.items()) == [(0x1000, 0x4000, "c")]


def test_exact_overwrite_hides_the_old_value() -> None:
    t: RangeMap[str] = RangeMap()
    t.store(0x1000, 0x2000, "a")
    assert t.store(0x1000, 0x2000, "b") == ["a"]
    assert t.find(0x1800) == "b"


def test_lookups() -> None:
    t: RangeMap[int] = RangeMap()
    t.store(0x1000, 0x2000, 1)
    t.store(0x3000, 0x5000, 2)
    assert t.find(0xFFF) is None and t.find(0x1000) == 1 and t.find(0x2000) is None
    assert t.first_intersecting(0x0, 0x1001) == (0x1000, 0x2000, 1)
    assert t.first_intersecting(0x2000, 0x3000) is None
    assert t.first_intersecting(0x2000, 0x3001) == (0x3000, 0x5000, 2)
    assert t.first_intersecting(0x4FFF, 0x9000) == (0x3000, 0x5000, 2)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.integers(1, 12)), max_size=60))
def test_matches_an_address_dict(ops: list[tuple[bool, int, int]]) -> None:
    t: RangeMap[int] = RangeMap()
    ref: dict[int, int] = {}
    for i, (store, start, length) in enumerate(ops):
        if store:
            t.store(start, start + length, i)
            for a in range(start, start + length):
                ref[a] = i
        else:
            t.erase(start, start + length)
            for a in range(start, start + length):
                ref.pop(a, None)
        t.validate()
        for a in range(0, 75):
            assert t.find(a) == ref.get(a)


@given(
    st.lists(st.integers(-(10**6), 10**6), unique=True, max_size=3000), st.integers(-(10**6), 10**6)
)
def test_sorted_ints(keys: list[int], probe: int) -> None:
    s = SortedInts()
    for k in keys:
        s.add(k)
    ordered = sorted(keys)
    assert list(s) == ordered
    below = [k for k in ordered if k <= probe]
    above = [k for k in ordered if k >= probe]
    assert s.floor(probe) == (below[-1] if below else None)
    assert s.ceiling(probe) == (above[0] if above else None)
    for k in keys[::2]:
        s.remove(k)
    assert list(s) == sorted(keys[1::2])


@given(st.lists(st.integers(-(10**6), 10**6), unique=True, max_size=300))
def test_sorted_ints_add_neighbours(keys: list[int]) -> None:
    """Inserting reports the neighbours the key now has, across chunk boundaries."""
    rnd = random.Random(sum(keys))
    keys = keys + rnd.sample(range(2 * 10**6, 3 * 10**6), 1500)  # more than two chunks
    rnd.shuffle(keys)
    s = SortedInts()
    seen: list[int] = []
    for k in keys:
        lower, higher = s.add_neighbours(k)
        i = bisect.bisect_left(seen, k)
        assert lower == (seen[i - 1] if i else None)
        assert higher == (seen[i] if i < len(seen) else None)
        seen.insert(i, k)
    assert list(s) == seen and len(s) == len(keys)
