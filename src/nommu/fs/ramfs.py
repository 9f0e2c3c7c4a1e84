"""ramfs (and tmpfs, /dev/shm) on NOMMU (models fs/ramfs/file-nommu.c).

Pages live only in the page cache. Truncating an *empty* file up to a size is
the one way to get a physically contiguous, directly mappable file: it takes
one ``alloc_pages_exact`` run at once (EFBIG above MAX_PAGE_ORDER, the size set
before allocating). Growing a non-empty file leaves holes; ``write()`` fills
them one page at a time. ``get_unmapped_area`` answers with the address of
page ``pgoff`` only when every page asked for exists, lies inside EOF and is
physically consecutive; otherwise -ENOSYS (copy, or ENODEV for MAP_SHARED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.consts import (
    MAP_SHARED,
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
    VM_SHARED,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import DirOperations, File, FileOperations, Inode, SuperBlock
from nommu.mm.nommu import shrink_inode_mappings
from nommu.mm.region import is_nommu_shared_mapping

if TYPE_CHECKING:
    from nommu.mm.nommu import Nommu
    from nommu.mm.vma import VMA

RAMFS_CAPS = NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ | NOMMU_MAP_WRITE | NOMMU_MAP_EXEC


class RamfsFileOperations(FileOperations):
    """``ramfs_file_operations`` (NOMMU)."""

    has_mmap = True
    has_get_unmapped_area = True
    has_mmap_capabilities = True

    def __init__(self, sb: RamfsSuperBlock) -> None:
        self.sb = sb

    def mmap_capabilities(self, file: File) -> int:
        return RAMFS_CAPS

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``ramfs_nommu_get_unmapped_area``."""
        nommu = self.sb.nommu
        if not nommu.ramfs_private_direct and not flags & MAP_SHARED:
            return addr  # before 2.6.29 only MAP_SHARED mappings were placed on the cache
        shift, mask = nommu.page_shift, nommu.page_mask
        inode = file.inode
        lpages = (length + mask) >> shift
        maxpages = (inode.i_size + mask) >> shift
        if pgoff >= maxpages or maxpages - pgoff < lpages:
            raise SyscallError(Errno.ENOSYS, "the mapping would reach beyond the end of file")
        cache = inode.page_cache
        first = cache.get(pgoff)
        if first is None:
            raise SyscallError(Errno.ENOSYS, f"page {pgoff} of the file is a hole")
        for i in range(1, lpages):
            pfn = cache.get(pgoff + i)
            if pfn is None:
                raise SyscallError(Errno.ENOSYS, f"page {pgoff + i} of the file is a hole")
            if pfn != first + i:
                raise SyscallError(Errno.ENOSYS, "the file's pages are not physically contiguous")
        return first << shift

    def mmap(self, file: File, vma: VMA) -> None:
        """``ramfs_nommu_mmap``: only shareable mappings use the page cache."""
        if not is_nommu_shared_mapping(vma.vm_flags) or (
            not self.sb.nommu.ramfs_private_direct and not vma.vm_flags & VM_SHARED
        ):
            raise SyscallError(Errno.ENOSYS)

    def read(self, file: File, count: int, pos: int) -> bytes:
        return self.sb.read_inode(file.inode, count, pos)

    def write(self, file: File, data: bytes, pos: int) -> int:
        return self.sb.write_inode(file.inode, data, pos)


class RamfsSuperBlock(SuperBlock):
    """A ramfs or tmpfs instance; its pages come from the machine's allocator."""

    def __init__(self, nommu: Nommu, dev: tuple[int, int], fstype: str = "ramfs") -> None:
        super().__init__(fstype, dev)
        self.nommu = nommu
        self.fops = RamfsFileOperations(self)
        self.dir_ops = DirOperations()
        self.root = Inode(self, S_IFDIR | 0o755, self.dir_ops)
        self.root.i_nlink = 2
        self.cached_pages = 0
        self.inodes: dict[Inode, None] = {}  # regular files alive (linked or still open)

    # -- namespace -----------------------------------------------------------------
    def create(self, parent: Inode, name: str, mode: int) -> Inode:
        assert parent.children is not None
        inode = Inode(self, S_IFREG | (mode & 0o7777), self.fops)
        parent.children[name] = inode
        self.inodes[inode] = None
        return inode

    def mkdir(self, parent: Inode, name: str, mode: int) -> Inode:
        """``ramfs_mkdir``."""
        return self.new_dir(parent, name, mode, self.dir_ops)

    def evict_inode(self, inode: Inode) -> None:
        """``truncate_inode_pages`` on the last reference: free the page cache."""
        if (inode.i_mode & S_IFMT) == S_IFREG:
            self._drop_pages(inode, 0)
            self.inodes.pop(inode, None)

    # -- data ------------------------------------------------------------------------
    def read_inode(self, inode: Inode, count: int, pos: int) -> bytes:
        """``generic_file_read_iter`` → ``filemap_read()`` over the page cache.

        A hole inside the file has no page: ``filemap_get_pages()`` reads it
        in (ramfs has no readahead window, so one page at a time, each from
        ``page_cache_sync_ra()``; ``simple_read_folio()`` zeroes it), so the
        read caches a zeroed page per hole page it touches (``Cached`` grows;
        seen on 6.1 and 6.12). Readahead allocates with ``__GFP_NORETRY |
        __GFP_NOWARN``: no log line; without a free page the read ends there
        (ENOMEM when nothing was read).
        """
        size = inode.i_size
        if pos >= size or count <= 0:
            return b""
        count = min(count, size - pos)
        nommu = self.nommu
        shift, mask, psize = nommu.page_shift, nommu.page_mask, nommu.page_size
        out = bytearray()
        end = pos + count
        while pos < end:
            index = pos >> shift
            off = pos & mask
            n = min(psize - off, end - pos)
            pfn = inode.page_cache.get(index)
            if pfn is None:
                pfn = nommu.zone.alloc_pages(0)
                if pfn is None:
                    if out:
                        break
                    raise SyscallError(Errno.ENOMEM, "no free page to read a hole into")
                nommu.memory.zero(pfn << shift, psize)
                inode.page_cache[index] = pfn
                self.cached_pages += 1
            out += nommu.memory.read((pfn << shift) + off, n)
            pos += n
        return bytes(out)

    def write_inode(self, inode: Inode, data: bytes, pos: int) -> int:
        """``generic_file_write_iter``: missing pages are allocated one at a time."""
        nommu = self.nommu
        nommu.check_write(inode)  # a design that must refuse it (the page-cache design)
        shift, mask, psize = nommu.page_shift, nommu.page_mask, nommu.page_size
        written = 0
        total = len(data)
        while written < total:
            index = (pos + written) >> shift
            off = (pos + written) & mask
            n = min(psize - off, total - written)
            pfn = inode.page_cache.get(index)
            if pfn is None:
                pfn = nommu.zone.alloc_pages(0)
                if pfn is None:
                    if written:
                        break
                    raise SyscallError(Errno.ENOMEM, "no free page for the page cache")
                nommu.memory.zero(pfn << shift, psize)
                inode.page_cache[index] = pfn
                self.cached_pages += 1
            nommu.memory.write((pfn << shift) + off, data[written : written + n])
            written += n
        if pos + written > inode.i_size:
            inode.i_size = pos + written
        return written

    def setattr_size(self, inode: Inode, size: int) -> None:
        """``ramfs_nommu_setattr`` → ``ramfs_nommu_resize``."""
        self.nommu.check_write(inode)
        old = inode.i_size
        if size == old:
            return
        if old == 0:
            if size >> 32:
                raise SyscallError(Errno.EFBIG, "size above 4 GiB")
            self.expand_for_mapping(inode, size)
            return
        if size < old:
            shrink_inode_mappings(self.nommu, inode, old, size)
        self.truncate_setsize(inode, size)

    def expand_for_mapping(self, inode: Inode, size: int) -> None:
        """``ramfs_nommu_expand_for_mapping``: one contiguous, zeroed run."""
        nommu = self.nommu
        shift = nommu.page_shift
        npages = (size + nommu.page_mask) >> shift
        order = max(npages - 1, 0).bit_length()
        if order > nommu.zone.max_order:
            raise SyscallError(
                Errno.EFBIG,
                f"{size} bytes need an order-{order} block, above MAX_PAGE_ORDER "
                f"{nommu.zone.max_order}",
            )
        inode.i_size = size  # set before allocating, as the kernel does
        pfn = nommu.zone.alloc_pages_exact(npages)
        if pfn is None:
            raise nommu.alloc_failed(None, size, order, mmap_line=False)
        nommu.memory.zero(pfn << shift, npages << shift)
        for i in range(npages):
            inode.page_cache[i] = pfn + i
        self.cached_pages += npages

    def truncate_setsize(self, inode: Inode, size: int) -> None:
        """Set the size; free whole pages past it and zero a partial last page."""
        nommu = self.nommu
        shift, mask = nommu.page_shift, nommu.page_mask
        inode.i_size = size
        first_gone = (size + mask) >> shift
        self._drop_pages(inode, first_gone)
        if size & mask:
            pfn = inode.page_cache.get(size >> shift)
            if pfn is not None:
                start = (pfn << shift) + (size & mask)
                nommu.memory.zero(start, nommu.page_size - (size & mask))

    def _drop_pages(self, inode: Inode, first: int) -> None:
        cache = inode.page_cache
        gone = sorted(i for i in cache if i >= first)
        for index in gone:
            self.nommu.zone.free_pages(cache.pop(index), 0)
        self.cached_pages -= len(gone)
