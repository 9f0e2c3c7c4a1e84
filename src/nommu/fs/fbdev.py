"""The frame buffer ``/dev/fb0`` (drivers/video/fbdev/core/fb_chrdev.c, NOMMU).

``fb_fops`` has ``->mmap`` and, on NOMMU with
``CONFIG_FB_PROVIDE_GET_FB_UNMAPPED_AREA``, ``get_fb_unmapped_area``, but no
``mmap_capabilities``, so a character device's default applies: DIRECT |
READ | WRITE, no COPY, no EXEC (hazard H12). Hence MAP_PRIVATE is ENODEV,
MAP_SHARED with PROT_EXEC is EINVAL, and a MAP_SHARED read/write mapping is
the frame buffer memory itself.

``get_fb_unmapped_area`` compares and adds the *page* offset as if it were a
byte offset (``screen_base + pgoff``; ``pgoff > fb_size || len > fb_size -
pgoff`` → EINVAL). With offset 0 that is the frame buffer's address; with a
non-zero offset the address is ``screen_base + pgoff`` bytes, which
``fb_io_mmap`` → ``vm_iomap_memory`` → NOMMU ``remap_pfn_range`` then rejects
(the address is not ``pfn << PAGE_SHIFT``): EINVAL. So only whole-buffer
mappings from offset 0 work.

The machine gets ``/dev/fb0`` (29:0, mode 0660) when built with
``framebuffer="1M"``; its memory is the ``framebuffer`` area at
``framebuffer_base``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import File, FileOperations, Inode

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.memory import PhysicalMemory
    from nommu.mm.vma import VMA

FB_MAJOR = 29


class FbOperations(FileOperations):
    """``fb_fops`` for one ``struct fb_info`` (``smem_start == screen_base``)."""

    has_mmap = True
    has_get_unmapped_area = True

    def __init__(self, memory: PhysicalMemory, base: int, size: int, page_shift: int) -> None:
        self.memory = memory
        self.smem_start = base
        self.smem_len = size
        self.page_shift = page_shift

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``get_fb_unmapped_area``: ``screen_base + pgoff`` (pgoff taken as bytes)."""
        mask = (1 << self.page_shift) - 1
        fb_size = (self.smem_len + mask) & ~mask
        if pgoff > fb_size or length > fb_size - pgoff:
            raise SyscallError(
                Errno.EINVAL,
                f"{length} bytes at offset {pgoff} do not fit the {fb_size}-byte frame buffer",
            )
        return self.smem_start + pgoff

    def mmap(self, file: File, vma: VMA) -> None:
        """``fb_mmap`` → ``fb_io_mmap`` → ``vm_iomap_memory`` → NOMMU ``remap_pfn_range``."""
        shift = self.page_shift
        mask = (1 << shift) - 1
        start, length = self.smem_start, self.smem_len
        length += start & mask
        pfn = start >> shift
        pages = (length + mask) >> shift
        if vma.vm_pgoff > pages:
            raise SyscallError(Errno.EINVAL, "offset beyond the frame buffer")
        pfn += vma.vm_pgoff
        pages -= vma.vm_pgoff
        if (vma.vm_end - vma.vm_start) >> shift > pages:
            raise SyscallError(Errno.EINVAL, "mapping larger than the frame buffer")
        if vma.vm_start != pfn << shift:
            raise SyscallError(
                Errno.EINVAL,
                f"remap_pfn_range: address {vma.vm_start:#x} is not the frame "
                f"buffer page {pfn << shift:#x} (no MMU to translate)",
            )

    def read(self, file: File, count: int, pos: int) -> bytes:
        """``fb_io_read``: up to the end of the frame buffer."""
        total = self.smem_len
        if pos >= total or count <= 0:
            return b""
        count = min(count, total - pos)
        return self.memory.read(self.smem_start + pos, count)

    def write(self, file: File, data: bytes, pos: int) -> int:
        """``fb_io_write``: EFBIG past the end, ENOSPC when nothing fits."""
        total = self.smem_len
        if pos > total:
            raise SyscallError(Errno.EFBIG, "offset past the end of the frame buffer")
        err: Errno | None = None
        count = len(data)
        if count > total:
            err = Errno.EFBIG
            count = total
        if count + pos > total:
            if err is None:
                err = Errno.ENOSPC
            count = total - pos
        if count == 0:
            if err is not None:
                raise SyscallError(err, "no room left in the frame buffer")
            return 0
        self.memory.write(self.smem_start + pos, data[:count])
        return count


def add_framebuffer(machine: Machine) -> Inode:
    """Register ``/dev/fb0`` for the machine's frame buffer area."""
    fops = FbOperations(
        machine.memory, machine.framebuffer_base, machine.framebuffer_size, machine.page_shift
    )
    inode = machine.add_chardev("fb0", fops, (FB_MAJOR, 0), 0o660)
    machine.log(
        f"fb0: frame buffer device, {machine.framebuffer_size >> 10} KiB at "
        f"{machine.framebuffer_base:#010x}"
    )
    return inode
