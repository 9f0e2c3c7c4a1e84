"""Physical memory with real bytes: RAM, memory-mapped flash and device memory.

Without an MMU every address a program sees is a physical address, so this is
the single store behind every mapping: a direct mapping and the file it maps
are the same bytes here, while a copy is a copy.

Storage is lazy and page-grained: a page that was never written reads as zero
and costs nothing, so a 4 GiB machine costs what its touched pages cost.
Flash (and other read-only areas) are written only by :meth:`program`, as a
flash programmer would; stores from the CPU model (``poke``) fault there.

Usage::

    mem = PhysicalMemory(page_size=4096)
    mem.add_area("ram", 0x80000000, 8 << 20, writable=True)
    mem.write(0x80001000, b"hello")
    assert mem.read(0x80001000, 5) == b"hello"
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from nommu.errors import KernelBug


@dataclass(frozen=True, slots=True)
class MemoryArea:
    """One physical address range: RAM, flash or device memory."""

    name: str
    base: int
    size: int
    writable: bool

    @property
    def end(self) -> int:
        return self.base + self.size


class PhysicalMemory:
    """The machine's physical address space, holding bytes per touched page."""

    __slots__ = ("_bases", "_mask", "_pages", "_shift", "areas", "page_size")

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self._shift = page_size.bit_length() - 1
        self._mask = page_size - 1
        self._pages: dict[int, bytearray] = {}
        self.areas: list[MemoryArea] = []
        self._bases: list[int] = []

    def add_area(self, name: str, base: int, size: int, *, writable: bool) -> MemoryArea:
        """Declare a physical range; ranges must not overlap."""
        area = MemoryArea(name, base, size, writable)
        for other in self.areas:
            if base < other.end and other.base < base + size:
                raise ValueError(
                    f"{name}: range {base:#x}-{base + size:#x} overlaps {other.name} "
                    f"({other.base:#x}-{other.end:#x})"
                )
        i = bisect.bisect(self._bases, base)
        self.areas.insert(i, area)
        self._bases.insert(i, base)
        return area

    def split_area(self, name: str, base: int, size: int, *, writable: bool) -> MemoryArea:
        """Give ``[base, base+size)`` of an existing area its own name and writability.

        Used for a RAM-backed device behind the flash window (an MTD_RAM
        partition): the rest of the enclosing area keeps its properties.
        """
        outer = self.area_of(base, size)
        if outer is None:
            raise ValueError(f"{name}: {base:#x}-{base + size:#x} is not inside one memory area")
        i = self.areas.index(outer)
        parts = []
        if base > outer.base:
            parts.append(MemoryArea(outer.name, outer.base, base - outer.base, outer.writable))
        new = MemoryArea(name, base, size, writable)
        parts.append(new)
        if base + size < outer.end:
            parts.append(
                MemoryArea(outer.name, base + size, outer.end - base - size, outer.writable)
            )
        self.areas[i : i + 1] = parts
        self._bases[i : i + 1] = [a.base for a in parts]
        return new

    def area_of(self, addr: int, length: int = 1) -> MemoryArea | None:
        """The area holding all of ``[addr, addr+length)``, or None."""
        i = bisect.bisect(self._bases, addr) - 1
        if i < 0:
            return None
        area = self.areas[i]
        if addr + (length if length > 0 else 1) <= area.base + area.size:
            return area
        return None

    @property
    def touched_pages(self) -> int:
        """Pages that hold data (the model's real memory cost)."""
        return len(self._pages)

    def read(self, addr: int, length: int) -> bytes:
        """Load ``length`` bytes; untouched memory reads as zero."""
        if length <= 0:
            return b""
        shift, mask, pages, psize = self._shift, self._mask, self._pages, self.page_size
        off = addr & mask
        if off + length <= psize:  # fast path: inside one page
            page = pages.get(addr >> shift)
            return bytes(page[off : off + length]) if page is not None else bytes(length)
        # several pages: one join of the pages' own buffers (whole pages are not sliced)
        parts: list[bytes | bytearray | memoryview] = []
        append = parts.append
        get = pages.get
        pfn = addr >> shift
        end = addr + length
        first = psize - off
        page = get(pfn)
        append(memoryview(page)[off:] if page is not None else bytes(first))
        addr += first
        pfn += 1
        whole_end = end & ~mask
        zero: bytes | None = None
        while addr < whole_end:
            page = get(pfn)
            if page is not None:
                append(page)
            else:
                if zero is None:
                    zero = bytes(psize)
                append(zero)
            addr += psize
            pfn += 1
        if addr < end:
            page = get(pfn)
            append(memoryview(page)[: end - addr] if page is not None else bytes(end - addr))
        return b"".join(parts)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Store bytes, allocating backing pages as they are first touched."""
        shift, mask, pages, psize = self._shift, self._mask, self._pages, self.page_size
        total = len(data)
        off = addr & mask
        if off + total <= psize:  # fast path: inside one page
            if not total:
                return
            pfn = addr >> shift
            page = pages.get(pfn)
            if page is None:
                if total == psize:
                    pages[pfn] = bytearray(data)
                    return
                page = pages[pfn] = bytearray(psize)
            page[off : off + total] = data
            return
        view = memoryview(data)
        pos = 0
        while pos < total:
            off = addr & mask
            n = psize - off
            if n > total - pos:
                n = total - pos
            pfn = addr >> shift
            if n == psize:
                pages[pfn] = bytearray(view[pos : pos + n])  # a whole page replaces the old one
            else:
                page = pages.get(pfn)
                if page is None:
                    page = pages[pfn] = bytearray(psize)
                page[off : off + n] = view[pos : pos + n]
            addr += n
            pos += n

    def program(self, addr: int, data: bytes) -> None:
        """Write read-only memory (flash) as a programmer would, before use."""
        self.write(addr, data)

    def zero(self, addr: int, length: int) -> None:
        """Clear ``[addr, addr+length)``; whole pages are simply forgotten."""
        shift, mask, pages, psize = self._shift, self._mask, self._pages, self.page_size
        if not pages:  # nothing was ever written: already zero
            return
        if not (addr | length) & mask:  # whole pages: forget them
            pop = pages.pop
            for pfn in range(addr >> shift, (addr + length) >> shift):
                pop(pfn, None)
            return
        end = addr + length
        while addr < end:
            off = addr & mask
            n = min(psize - off, end - addr)
            if n == psize:
                pages.pop(addr >> shift, None)
            else:
                page = pages.get(addr >> shift)
                if page is not None:
                    page[off : off + n] = bytes(n)
            addr += n

    def copy(self, dst: int, src: int, length: int) -> None:
        """memmove within physical memory."""
        self.write(dst, self.read(src, length))

    def validate(self) -> None:
        for pfn in self._pages:
            addr = pfn << self._shift
            if self.area_of(addr, self.page_size) is None:
                raise KernelBug(f"page {addr:#x} holds data outside every memory area")
