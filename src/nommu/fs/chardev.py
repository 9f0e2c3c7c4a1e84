"""Character devices: /dev/null, /dev/zero, /dev/mem (models drivers/char/mem.c).

- ``/dev/zero`` offers only COPY: a private mapping is a zero-filled copy that
  is still *file-backed* (shown as /dev/zero, never split); MAP_SHARED is
  ENODEV, unlike on an MMU where it is shared anonymous memory. Since v5.10
  the copy cannot be filled: ``zero_fops`` has ``->read`` beside
  ``->read_iter`` and ``__kernel_read()`` refuses that (EINVAL).
- ``/dev/null`` has no ``->mmap``: ENODEV.
- ``/dev/mem`` is DIRECT only (no COPY): MAP_SHARED maps the physical address
  given as the offset (the mapping address *is* the physical address);
  MAP_PRIVATE is ENODEV. Opening needs CAP_SYS_RAWIO (EPERM).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.consts import (
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import File, FileOperations
from nommu.mm.region import is_nommu_shared_mapping

if TYPE_CHECKING:
    from nommu.mm.nommu import Nommu
    from nommu.mm.vma import VMA


class NullOperations(FileOperations):
    """``null_fops``: reads return EOF, writes vanish, no mmap."""

    def read(self, file: File, count: int, pos: int) -> bytes:
        return b""

    def write(self, file: File, data: bytes, pos: int) -> int:
        return len(data)


class ZeroOperations(FileOperations):
    """``zero_fops`` on NOMMU: copy only; ``->read`` beside ``->read_iter`` (v5.10+)."""

    has_mmap = True
    legacy_read = True
    has_get_unmapped_area = True
    has_mmap_capabilities = True

    def mmap_capabilities(self, file: File) -> int:
        return NOMMU_MAP_COPY

    def read(self, file: File, count: int, pos: int) -> bytes:
        return bytes(max(count, 0))

    def write(self, file: File, data: bytes, pos: int) -> int:
        return len(data)


class MemOperations(FileOperations):
    """``mem_fops``: physical memory, direct only."""

    has_mmap = True
    has_get_unmapped_area = True
    has_mmap_capabilities = True

    def __init__(self, nommu: Nommu) -> None:
        self.nommu = nommu

    def open(self, file: File) -> None:
        if not getattr(file.private, "cap_sys_rawio", False):
            raise SyscallError(Errno.EPERM, "/dev/mem needs CAP_SYS_RAWIO")

    def mmap_capabilities(self, file: File) -> int:
        return NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE | NOMMU_MAP_EXEC

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``get_unmapped_area_mem``: the physical address ``pgoff << PAGE_SHIFT``."""
        return (pgoff << self.nommu.page_shift) & self.nommu.ulong_mask

    def mmap(self, file: File, vma: VMA) -> None:
        """``mmap_mem``: EINVAL when the offset does not fit ``phys_addr_t`` or the
        range wraps; a non-shareable VMA is -ENOSYS (``private_mapping_ok``)."""
        nommu = self.nommu
        size = vma.vm_end - vma.vm_start
        phys_mask = nommu.ulong_mask  # phys_addr_t is as wide as a long (no LPAE)
        offset = (vma.vm_pgoff << nommu.page_shift) & phys_mask
        if offset >> nommu.page_shift != vma.vm_pgoff:
            raise SyscallError(Errno.EINVAL, "offset does not fit a physical address")
        if offset + size - 1 > phys_mask:
            raise SyscallError(Errno.EINVAL, "physical range wraps")
        if not is_nommu_shared_mapping(vma.vm_flags):
            raise SyscallError(Errno.ENOSYS)

    def read(self, file: File, count: int, pos: int) -> bytes:
        if self.nommu.memory.area_of(pos, max(count, 1)) is None:
            raise SyscallError(Errno.EFAULT, f"no memory at {pos:#x}")
        return self.nommu.memory.read(pos, count)

    def write(self, file: File, data: bytes, pos: int) -> int:
        area = self.nommu.memory.area_of(pos, max(len(data), 1))
        if area is None or not area.writable:
            raise SyscallError(Errno.EFAULT, f"no writable memory at {pos:#x}")
        self.nommu.memory.write(pos, data)
        return len(data)
