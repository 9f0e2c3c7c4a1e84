"""The page cache of files whose data lives on a disk (mm/filemap.c, mm/vmscan.c).

Reading a file of ext2, NFS or romfs on a block device goes through the page
cache (``filemap_read``; ``kernel_read`` for private copies and the exec
loaders too): every page read is allocated from the buddy allocator (one
order-0 page each, ``GFP_HIGHUSER_MOVABLE``), filled with the file's bytes
and kept after the read, so ``Cached`` grows, free memory shrinks and later
allocations come from other addresses. Such pages are clean (their bytes are
on the disk), so reclaim may drop them whenever memory is short:
:meth:`DiskPageCache.shrink` frees them oldest first, the order of the
inactive file LRU. ramfs, tmpfs and SysV/POSIX shm pages are not in this
cache and never reclaimed; anonymous memory neither (no swap without an MMU).

The model reads exactly the pages asked for: no readahead window (the
kernel may read some pages more). A write to a cached page updates it in
place and leaves it clean (written through to the disk at once); a
truncate drops the pages past the new size; an evicted inode drops all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nommu.fs.vfs import Inode
    from nommu.mm.memory import PhysicalMemory
    from nommu.mm.page_alloc import BuddyAllocator

#: mm/vmscan.c: pages reclaimed per pass of direct reclaim
SWAP_CLUSTER_MAX = 32
#: gfp of page-cache pages of a regular file (``mapping_gfp_mask``)
GFP_HIGHUSER_MOVABLE = (0x100CCA, "GFP_HIGHUSER_MOVABLE")

#: Allocates one page for the cache (may reclaim or run the OOM killer) or raises.
PageSource = Callable[[], int]


class DiskPageCache:
    """Every cached page of disk-backed files, least recently added first."""

    def __init__(
        self, zone: BuddyAllocator, memory: PhysicalMemory, page_size: int, source: PageSource
    ) -> None:
        self.zone = zone
        self.memory = memory
        self.page_shift = page_size.bit_length() - 1
        self.page_size = page_size
        self.source = source
        #: (inode id, page index) -> pfn, oldest first (the inactive file LRU)
        self.lru: OrderedDict[tuple[int, int], int] = OrderedDict()
        self.inodes: dict[int, Inode] = {}
        self.pages = 0
        self.reclaimed = 0  # pages dropped by reclaim so far

    def fill(self, inode: Inode, pos: int, count: int, read: Callable[[int, int], bytes]) -> None:
        """``filemap_read``: the pages of ``[pos, pos + count)`` are cached.

        A page not yet cached is allocated and filled with the file's bytes
        of that page (``read(offset, length)`` reads the file, zeros past
        its end), so the page in RAM holds what the disk holds.
        """
        if count <= 0:
            return
        shift = self.page_shift
        key = id(inode)
        for index in range(pos >> shift, ((pos + count - 1) >> shift) + 1):
            if (key, index) in self.lru:
                continue
            pfn = self.source()
            self.lru[(key, index)] = pfn
            self.inodes[key] = inode
            self.pages += 1
            base = pfn << shift
            data = read(index << shift, self.page_size)
            self.memory.write(base, data)
            if len(data) < self.page_size:
                self.memory.zero(base + len(data), self.page_size - len(data))

    def write(self, inode: Inode, pos: int, data: bytes) -> None:
        """Update the cached pages a write covers (they stay clean: written through)."""
        shift = self.page_shift
        key = id(inode)
        end = pos + len(data)
        index = pos >> shift
        while index << shift < end:
            pfn = self.lru.get((key, index))
            if pfn is not None:
                start = max(pos, index << shift)
                stop = min(end, (index + 1) << shift)
                self.memory.write(
                    (pfn << shift) + (start & (self.page_size - 1)), data[start - pos : stop - pos]
                )
            index += 1

    def truncate(self, inode: Inode, size: int) -> None:
        """``truncate_inode_pages``: drop the pages wholly past *size*."""
        key = id(inode)
        first = (size + self.page_size - 1) >> self.page_shift
        gone = [k for k in self.lru if k[0] == key and k[1] >= first]
        for k in gone:
            self.zone.free_pages(self.lru.pop(k), 0)
        self.pages -= len(gone)
        if not any(k[0] == key for k in self.lru):
            self.inodes.pop(key, None)

    def shrink(self, nr: int = SWAP_CLUSTER_MAX) -> int:
        """``shrink_inactive_list``: drop up to *nr* clean pages, oldest first."""
        done = 0
        while done < nr and self.lru:
            (key, _), pfn = self.lru.popitem(last=False)
            self.zone.free_pages(pfn, 0)
            done += 1
            if not any(k[0] == key for k in self.lru):
                self.inodes.pop(key, None)
        self.pages -= done
        self.reclaimed += done
        return done

    def spans(self) -> list[tuple[int, int, str]]:
        return [(pfn, pfn + 1, f"page {i} of a disk file") for (_, i), pfn in self.lru.items()]

    def pfns_of(self, inode: Inode) -> dict[int, int]:
        """Page index -> pfn of the cached pages of *inode*."""
        key = id(inode)
        return {i: pfn for (k, i), pfn in self.lru.items() if k == key}
