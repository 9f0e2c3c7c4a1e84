"""Memory system calls (mm/nommu.c entry points; ``brk`` as NOMMU ``sys_brk``).

``mmap``, ``mmap2``, ``munmap``, ``mremap`` and ``brk`` check their
arguments as unsigned longs and enter the engine (:mod:`nommu.mm.nommu`); the
calls that need page tables (``mprotect``, ``mlock``...) are ENOSYS, as in a
kernel built without an MMU. ``peek``/``poke`` are the CPU's loads and stores.
"""

from __future__ import annotations

from nommu.consts import MAP_ANONYMOUS
from nommu.errors import Errno, SyscallError
from nommu.process.task import TaskStruct


class MmanCalls(TaskStruct):
    """``mmap`` and friends."""

    def mmap(
        self, addr: int, length: int, prot: int, flags: int, fd: int = -1, offset: int = 0
    ) -> int:
        """``mmap()`` with a byte offset (the C library's mmap on 32-bit: mmap2).

        A misaligned offset is EINVAL before anything else, as the C library
        and byte-offset system calls check it first.
        """
        if not self.runnable:
            self._enter()
        nommu = self.nommu
        nommu.current = self
        kmem = self.machine.kmem
        if kmem is not None and kmem.rcu:  # a system call: an RCU grace period has passed
            kmem.rcu_flush()
        if (
            type(addr) is not int
            or type(length) is not int
            or type(prot) is not int
            or type(flags) is not int
            or type(offset) is not int
        ):
            self._check_ints(addr=addr, length=length, prot=prot, flags=flags, offset=offset)
        if offset & nommu.page_mask:
            raise SyscallError(Errno.EINVAL, "offset not a multiple of the page size")
        mask = nommu.ulong_mask
        mm = self.mm
        if mm is None:
            mm = self._mm()
        file = None if flags & MAP_ANONYMOUS else self._fget(fd)
        return nommu.do_mmap(
            mm,
            self,
            file,
            addr & mask,
            length & mask,
            prot & mask,
            flags & mask,
            (offset >> nommu.page_shift) & mask,
        )

    def mmap2(
        self, addr: int, length: int, prot: int, flags: int, fd: int = -1, pgoff: int = 0
    ) -> int:
        """``mmap2()``: the offset in 4096-byte units."""
        self._enter()
        nommu = self.nommu
        self._check_ints(addr=addr, length=length, prot=prot, flags=flags, pgoff=pgoff)
        mask = nommu.ulong_mask
        file = None if flags & MAP_ANONYMOUS else self._fget(fd)
        return nommu.do_mmap(
            self._mm(),
            self,
            file,
            addr & mask,
            length & mask,
            prot & mask,
            flags & mask,
            pgoff & mask,
        )

    def munmap(self, addr: int, length: int) -> None:
        if not self.runnable:
            self._enter()
        nommu = self.nommu
        nommu.current = self
        kmem = self.machine.kmem
        if kmem is not None and kmem.rcu:  # a system call: an RCU grace period has passed
            kmem.rcu_flush()
        if type(addr) is not int or type(length) is not int:
            self._check_ints(addr=addr, length=length)
        mask = nommu.ulong_mask
        mm = self.mm
        if mm is None:
            mm = self._mm()
        nommu.do_munmap(mm, self, addr & mask, length & mask)

    def mremap(
        self, old_address: int, old_size: int, new_size: int, flags: int = 0, new_address: int = 0
    ) -> int:
        self._enter()
        nommu = self.machine.nommu
        mask = nommu.ulong_mask
        return nommu.do_mremap(
            self._mm(),
            self._uint("old_address", old_address, mask),
            self._uint("old_size", old_size, mask),
            self._uint("new_size", new_size, mask),
            self._uint("flags", flags, mask),
            self._uint("new_address", new_address, mask),
        )

    def brk(self, addr: int) -> int:
        """``brk()``: returns the (possibly unchanged) break; never fails."""
        self._enter()
        return self.machine.nommu.sys_brk(
            self._mm(), self._uint("addr", addr, self.machine.nommu.ulong_mask)
        )

    def _enosys(self, name: str) -> None:
        self._enter()
        raise SyscallError(Errno.ENOSYS, f"{name}() does not exist without an MMU")

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self._enosys("mprotect")

    def pkey_mprotect(self, addr: int, length: int, prot: int, pkey: int) -> None:
        self._enosys("pkey_mprotect")

    def msync(self, addr: int, length: int, flags: int) -> None:
        self._enosys("msync")

    def madvise(self, addr: int, length: int, advice: int) -> None:
        self._enosys("madvise")

    def mlock(self, addr: int, length: int) -> None:
        self._enosys("mlock")

    def mlock2(self, addr: int, length: int, flags: int) -> None:
        self._enosys("mlock2")

    def munlock(self, addr: int, length: int) -> None:
        self._enosys("munlock")

    def mlockall(self, flags: int) -> None:
        self._enosys("mlockall")

    def munlockall(self) -> None:
        self._enosys("munlockall")

    def mincore(self, addr: int, length: int) -> bytes:
        self._enosys("mincore")
        return b""

    def remap_file_pages(self, addr: int, size: int, prot: int, pgoff: int, flags: int) -> None:
        self._enosys("remap_file_pages")

    def peek(self, addr: int, count: int) -> bytes:
        """Load from physical memory as the CPU would (no MMU: any RAM or flash)."""
        mem = self.machine.memory
        if not isinstance(addr, int) or not isinstance(count, int):
            raise TypeError("addr and count must be ints")
        if count < 0:
            raise ValueError(f"count: must not be negative, got {count}")
        if count == 0:
            return b""
        if mem.area_of(addr, count) is None:
            raise SyscallError(Errno.EFAULT, f"no memory at {addr:#x}-{addr + count:#x}")
        return mem.read(addr, count)

    def poke(self, addr: int, data: bytes) -> None:
        """Store to physical memory as the CPU would; flash and holes fault."""
        mem = self.machine.memory
        if not isinstance(addr, int):
            raise TypeError(f"addr: expected an int, got {type(addr).__name__}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        if not data:
            return
        area = mem.area_of(addr, len(data))
        if area is None or not area.writable:
            raise SyscallError(Errno.EFAULT, f"cannot store at {addr:#x}-{addr + len(data):#x}")
        mem.write(addr, data)
