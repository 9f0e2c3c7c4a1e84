"""An ordered range map standing in for the per-mm maple tree (``mm->mm_mt``).

Since v6.1 each mm indexes its VMAs by address range; a store overwrites
whatever was in the range (which is how one mm can lose sight of a VMA it still
counts, hazard H2). The map keeps non-overlapping ``[start, end) -> value``
entries; starts are held in a chunked sorted list so that insertion, removal
and lookup are O(log n) plus a small memmove, whatever the number of entries.

Usage::

    tree: RangeMap[str] = RangeMap()
    tree.store(0x1000, 0x3000, "a")
    tree.store(0x2000, 0x3000, "b")      # "a" now covers only 0x1000-0x2000
    assert tree.find(0x2800) == "b"
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Generic, TypeVar

from nommu.errors import KernelBug

V = TypeVar("V")
_LOAD = 256


class SortedInts:
    """A sorted list of distinct ints in chunks (the idea of sortedcontainers)."""

    __slots__ = ("_len", "_lists", "_maxes")

    def __init__(self) -> None:
        self._lists: list[list[int]] = []
        self._maxes: list[int] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[int]:
        for chunk in self._lists:
            yield from chunk

    def add(self, key: int) -> None:
        maxes = self._maxes
        if not maxes:
            self._lists.append([key])
            maxes.append(key)
            self._len = 1
            return
        i = bisect.bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            chunk = self._lists[i]
            chunk.append(key)
            maxes[i] = key
        else:
            chunk = self._lists[i]
            bisect.insort(chunk, key)
        self._len += 1
        if len(chunk) > 2 * _LOAD:
            half = chunk[_LOAD:]
            del chunk[_LOAD:]
            maxes[i] = chunk[-1]
            self._lists.insert(i + 1, half)
            maxes.insert(i + 1, half[-1])

    def add_neighbours(self, key: int) -> tuple[int | None, int | None]:
        """Insert *key* (absent) and return its new neighbours ``(lower, higher)``.

        One pair of bisections serves both the insertion and the overlap check
        of a new range, the common case of :meth:`RangeMap.store`.
        """
        maxes = self._maxes
        lists = self._lists
        self._len += 1
        if not maxes:
            lists.append([key])
            maxes.append(key)
            return None, None
        i = bisect.bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            chunk = lists[i]
            lower: int | None = chunk[-1]
            chunk.append(key)
            maxes[i] = key
            higher: int | None = None
        else:
            chunk = lists[i]
            j = bisect.bisect_left(chunk, key)
            chunk.insert(j, key)
            higher = chunk[j + 1]
            if j:
                lower = chunk[j - 1]
            else:
                lower = maxes[i - 1] if i else None
        if len(chunk) > 2 * _LOAD:
            half = chunk[_LOAD:]
            del chunk[_LOAD:]
            maxes[i] = chunk[-1]
            lists.insert(i + 1, half)
            maxes.insert(i + 1, half[-1])
        return lower, higher

    def remove(self, key: int) -> None:
        maxes = self._maxes
        i = bisect.bisect_left(maxes, key)
        chunk = self._lists[i]
        j = bisect.bisect_left(chunk, key)
        if j >= len(chunk) or chunk[j] != key:
            raise KernelBug(f"SortedInts.remove: {key:#x} missing")
        del chunk[j]
        self._len -= 1
        if not chunk:
            del self._lists[i]
            del maxes[i]
        elif j == len(chunk):
            maxes[i] = chunk[-1]

    def floor(self, key: int) -> int | None:
        """The largest element <= key."""
        maxes = self._maxes
        i = bisect.bisect_left(maxes, key)
        if i < len(maxes):
            chunk = self._lists[i]
            j = bisect.bisect_right(chunk, key)
            if j:
                return chunk[j - 1]
        if i:
            return maxes[i - 1]
        return None

    def ceiling(self, key: int) -> int | None:
        """The smallest element >= key."""
        maxes = self._maxes
        i = bisect.bisect_left(maxes, key)
        if i == len(maxes):
            return None
        chunk = self._lists[i]
        return chunk[bisect.bisect_left(chunk, key)]

    def higher(self, key: int) -> int | None:
        """The smallest element > key."""
        return self.ceiling(key + 1)


class RangeMap(Generic[V]):
    """Non-overlapping ``[start, end) -> value`` entries with overwrite-on-store."""

    __slots__ = ("_entries", "_starts")

    def __init__(self) -> None:
        self._starts = SortedInts()
        self._entries: dict[int, tuple[int, V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, start: int, end: int, value: V) -> None:
        if start not in self._entries:
            self._starts.add(start)
        self._entries[start] = (end, value)

    def exact(self, start: int, end: int) -> V | None:
        """The value stored over exactly ``[start, end)``, or None."""
        hit = self._entries.get(start)
        if hit is not None and hit[0] == end:
            return hit[1]
        return None

    def drop(self, start: int) -> None:
        """Remove the entry starting at *start* (it must exist)."""
        del self._entries[start]
        self._starts.remove(start)

    def erase(self, start: int, end: int) -> list[tuple[V, bool]]:
        """Clear ``[start, end)``; entries cut by the range keep their outside parts.

        Returns each entry the range touched as ``(value, kept_a_remnant)``.
        """
        entries, starts = self._entries, self._starts
        exact = entries.get(start)
        if exact is not None and exact[0] == end:  # the common case: one whole entry
            del entries[start]
            starts.remove(start)
            return [(exact[1], False)]
        touched: list[tuple[V, bool]] = []
        key = starts.floor(start)
        if key is None or entries[key][0] <= start:
            key = starts.ceiling(start)
        while key is not None and key < end:
            e_end, value = entries[key]
            nxt = starts.higher(key)
            self.drop(key)
            kept = False
            if key < start:
                self._put(key, start, value)
                kept = True
            if e_end > end:
                self._put(end, e_end, value)
                kept = True
            touched.append((value, kept))
            key = nxt
        return touched

    def store(self, start: int, end: int, value: V) -> list[V]:
        """Store *value* over ``[start, end)``; returns the values now hidden entirely."""
        entries = self._entries
        old = entries.get(start)
        if old is not None and old[0] == end:  # exact overwrite
            entries[start] = (end, value)
            candidates = [old[1]] if old[1] is not value else []
        else:
            if old is None:  # a new start: insert, unless a neighbour overlaps
                lower, higher = self._starts.add_neighbours(start)
                if (lower is None or entries[lower][0] <= start) and (
                    higher is None or higher >= end
                ):
                    entries[start] = (end, value)
                    return []
                self._starts.remove(start)
            touched = self.erase(start, end)
            self._put(start, end, value)
            kept = {id(v) for v, k in touched if k}
            candidates = [v for v, _ in touched if v is not value and id(v) not in kept]
        hidden: list[V] = []
        for v in candidates:
            if all(h is not v for h in hidden) and not self.contains_value(v):
                hidden.append(v)
        return hidden

    def contains_value(self, value: V) -> bool:
        """Whether *value* still owns some range (O(n); only on overwrite paths)."""
        return any(v is value for _, v in self._entries.values())

    def find(self, addr: int) -> V | None:
        """The value whose range contains *addr* (``vma_lookup``)."""
        key = self._starts.floor(addr)
        if key is None:
            return None
        end, value = self._entries[key]
        return value if addr < end else None

    def find_entry(self, addr: int) -> tuple[int, int, V] | None:
        key = self._starts.floor(addr)
        if key is None:
            return None
        end, value = self._entries[key]
        return (key, end, value) if addr < end else None

    def first_intersecting(self, start: int, end: int) -> tuple[int, int, V] | None:
        """The lowest entry intersecting ``[start, end)`` (``vma_find``)."""
        hit = self._entries.get(start)
        if hit is not None:  # entries never overlap: nothing lower can reach start
            return (start, hit[0], hit[1])
        key = self._starts.floor(start)
        if key is not None:
            e_end, value = self._entries[key]
            if e_end > start:
                return (key, e_end, value)
        key = self._starts.higher(start)
        if key is not None and key < end:
            e_end, value = self._entries[key]
            return (key, e_end, value)
        return None

    def items(self) -> Iterator[tuple[int, int, V]]:
        """Entries in address order."""
        entries = self._entries
        for key in list(self._starts):
            e_end, value = entries[key]
            yield key, e_end, value

    def values(self) -> list[V]:
        """Each value once, in address order of its first range."""
        entries = self._entries
        out = [entries[key][1] for chunk in self._starts._lists for key in chunk]
        if len(out) > 1 and len({id(v) for v in out}) < len(out):  # a value split in two
            seen: set[int] = set()
            out = [v for v in out if not (id(v) in seen or seen.add(id(v)))]  # type: ignore[func-returns-value]
        return out

    def validate(self) -> None:
        prev_end = None
        count = 0
        for key in self._starts:
            if key not in self._entries:
                raise KernelBug(f"range map start {key:#x} has no entry")
            end, _ = self._entries[key]
            if end <= key:
                raise KernelBug(f"range map entry {key:#x}-{end:#x} empty")
            if prev_end is not None and key < prev_end:
                raise KernelBug(f"range map overlap at {key:#x}")
            prev_end = end
            count += 1
        if count != len(self._entries):
            raise KernelBug("range map starts and entries differ")
