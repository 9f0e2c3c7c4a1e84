"""Memory Technology Devices: flash partitions and ``/dev/mtdN`` (drivers/mtd).

A machine built with ``flash="4M"`` has memory-mapped NOR flash at
``flash_base``. Each :func:`add_mtd` call (a romfs mount on ``device="mtd"``
makes one) takes the next consecutive partition of it: ``mtd0`` at the flash
base, ``mtd1`` after it, each aligned to the 64 KiB erase block. The contents
are programmed into the machine's physical memory (``memory.program``), so a
direct mapping of a partition and a ``read()`` of it see the same bytes.

What mapping sees of an MTD (``drivers/mtd/mtdcore.c``):

- ``mtd_mmap_capabilities``: MTD_RAM → COPY|DIRECT|EXEC|READ|WRITE;
  MTD_ROM → COPY|DIRECT|EXEC|READ; any other type (NOR flash...) → COPY.
- ``mtd_get_unmapped_area`` → ``mtd_point``: a map driver without ``_point``
  gives ``-EOPNOTSUPP`` (``pointable=False``); a range outside the device
  ``-EINVAL``; otherwise the flash address of the byte asked for.

``/dev/mtdN`` (``drivers/mtd/mtdchar.c``, major 90, minor ``2N``; ``/dev/mtdNro``
minor ``2N+1``): opening for write fails with EACCES on the read-only node or a
device without ``MTD_WRITEABLE`` (ROM); ``mtdchar_get_unmapped_area`` turns
``-EOPNOTSUPP`` into ``-ENODEV`` (so a non-pointable ROM/RAM device fails even
private read-only maps); ``mtdchar_mmap`` accepts only ``VM_SHARED`` (a private
read-only map of a pointable device: EACCES).

MTD_RAM (``mtd_type="ram"``): the partition is RAM behind the flash window
(as with the ``mtdram``/``map_ram`` drivers): its part of the address space is
made writable, so stores through a shared mapping and ``write()`` both work.
NOR flash (``mtd_type="nor"``) is never pointable here; a write can only clear
bits, as programming flash without an erase does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nommu.consts import (
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    VM_SHARED,
    parse_size,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import FMODE_WRITE, File, FileOperations

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.memory import PhysicalMemory
    from nommu.mm.vma import VMA

# mtd->type (include/uapi/mtd/mtd-abi.h)
MTD_ABSENT = 0
MTD_RAM = 1
MTD_ROM = 2
MTD_NORFLASH = 3
MTD_NANDFLASH = 4

# mtd->flags
MTD_WRITEABLE = 0x400
MTD_BIT_WRITEABLE = 0x800
MTD_NO_ERASE = 0x1000

MTD_CHAR_MAJOR = 90
MTD_BLOCK_MAJOR = 31
#: Erase block size of the modelled NOR flash: partitions are aligned to it.
MTD_ERASESIZE = 0x10000

MTD_TYPES = {"rom": MTD_ROM, "ram": MTD_RAM, "nor": MTD_NORFLASH}
_TYPE_NAMES = {MTD_ROM: "rom", MTD_RAM: "ram", MTD_NORFLASH: "nor"}


@dataclass(eq=False)
class MtdDevice:
    """``struct mtd_info`` of one partition of the machine's flash."""

    index: int
    name: str
    type: int
    size: int
    base: int
    """Physical address of byte 0 (``map->virt``: virtual = physical)."""
    pointable: bool
    memory: PhysicalMemory
    page_shift: int
    flags: int = 0
    users: list[object] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, str(self.type))

    def point(self, offset: int, length: int) -> int:
        """``mtd_point``: the address of ``[offset, offset+length)`` in flash.

        ``-EOPNOTSUPP`` without a ``_point`` method, ``-EINVAL`` outside the
        device.
        """
        if not self.pointable:
            raise SyscallError(Errno.EOPNOTSUPP, f"{self.name} cannot be pointed at")
        if offset < 0 or offset >= self.size or length > self.size - offset:
            raise SyscallError(
                Errno.EINVAL,
                f"{self.name}: {length} bytes at {offset:#x} "
                f"are outside the {self.size}-byte device",
            )
        return self.base + offset

    def read(self, offset: int, count: int) -> bytes:
        """``mtd_read``: the flash bytes (reads stop at the end of the device)."""
        if offset >= self.size or count <= 0:
            return b""
        return self.memory.read(self.base + offset, min(count, self.size - offset))

    def write(self, offset: int, data: bytes) -> int:
        """``mtd_write``: RAM takes the bytes; NOR programming only clears bits."""
        if not self.flags & MTD_WRITEABLE:
            raise SyscallError(Errno.EROFS, f"{self.name} is not writable")
        data = data[: max(self.size - offset, 0)]
        if self.type == MTD_RAM:
            self.memory.write(self.base + offset, data)
        else:
            old = self.memory.read(self.base + offset, len(data))
            self.memory.program(
                self.base + offset, bytes(a & b for a, b in zip(old, data, strict=True))
            )
        return len(data)


def mtd_mmap_capabilities(mtd: MtdDevice) -> int:
    """``mtd_mmap_capabilities``: what a direct mapping of this device may do."""
    if mtd.type == MTD_RAM:
        return NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_EXEC | NOMMU_MAP_READ | NOMMU_MAP_WRITE
    if mtd.type == MTD_ROM:
        return NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_EXEC | NOMMU_MAP_READ
    return NOMMU_MAP_COPY


def mtd_get_unmapped_area(mtd: MtdDevice, length: int, offset: int, flags: int) -> int:
    """``mtd_get_unmapped_area``: point at the range; a partial point is -ENOSYS.

    ``mtd_point`` errors (EOPNOTSUPP, EINVAL) pass through: the callers
    translate EOPNOTSUPP (romfs to ENOSYS, mtdchar to ENODEV).
    """
    return mtd.point(offset, length)


@dataclass
class MtdTable:
    """The machine's MTD partitions, allocated consecutively in flash."""

    devices: list[MtdDevice] = field(default_factory=list)
    next_offset: int = 0


def mtd_table(machine: Machine) -> MtdTable:
    return machine.subsystem("mtd", MtdTable, MtdTable)


def add_mtd(
    machine: Machine,
    data: bytes = b"",
    *,
    size: int | str | None = None,
    mtd_type: str = "rom",
    pointable: bool = True,
    name: str | None = None,
    option: str = "size",
) -> MtdDevice:
    """Create the next flash partition ``mtdN``, program *data* at its start.

    Also creates ``/dev/mtdN`` and ``/dev/mtdNro``. Errors (no flash, not
    enough flash left, a bad type) are ``ValueError`` naming the option.

    Args:
        data: the bytes programmed at the partition's start.
        size: the partition size; default *data* rounded up to the 64 KiB
            erase block.
        mtd_type: ``"rom"`` (MTD_ROM, the default), ``"ram"`` (MTD_RAM) or
            ``"nor"`` (MTD_NORFLASH: copy-only, never pointable).
        pointable: whether the map driver has ``_point`` (XIP possible).
        option: the mount option named when the image does not fit the flash.
    """
    if mtd_type not in MTD_TYPES:
        raise ValueError(f"mtd_type: must be one of {', '.join(MTD_TYPES)}, got {mtd_type!r}")
    if not isinstance(pointable, bool):
        raise TypeError(f"pointable: expected a bool, got {type(pointable).__name__}")
    if not machine.flash_size:
        raise ValueError(
            "device: 'mtd' needs memory-mapped flash, and this machine has none "
            "(build it with Machine(flash='4M'))"
        )
    table = mtd_table(machine)
    free = machine.flash_size - table.next_offset
    if len(data) > free:
        raise ValueError(
            f"{option}: the {len(data)}-byte image does not fit in the {free} "
            f"bytes of flash left (flash is {machine.flash_size} bytes)"
        )
    if size is None:
        nbytes = max(-(-len(data) // MTD_ERASESIZE), 1) * MTD_ERASESIZE
        nbytes = min(nbytes, free)
        if nbytes <= 0:
            raise ValueError(f"{option}: no flash left for another partition")
    else:
        nbytes = parse_size(size, "size")
        if nbytes <= 0 or nbytes % machine.page_size:
            raise ValueError(
                f"size: the partition size must be a positive multiple of the "
                f"page size, got {nbytes}"
            )
        if len(data) > nbytes:
            raise ValueError(
                f"size: the {len(data)}-byte image does not fit the {nbytes}-byte partition"
            )
        if nbytes > free:
            raise ValueError(
                f"size: {nbytes} bytes do not fit in the {free} bytes of flash "
                f"left (flash is {machine.flash_size} bytes)"
            )
    index = len(table.devices)
    mtype = MTD_TYPES[mtd_type]
    flags = {
        MTD_RAM: MTD_WRITEABLE | MTD_BIT_WRITEABLE | MTD_NO_ERASE,
        MTD_ROM: 0,
        MTD_NORFLASH: MTD_WRITEABLE | MTD_BIT_WRITEABLE,
    }[mtype]
    base = machine.flash_base + table.next_offset
    mtd = MtdDevice(
        index=index,
        name=name or f"mtd{index}",
        type=mtype,
        size=nbytes,
        base=base,
        pointable=pointable and mtype != MTD_NORFLASH,
        memory=machine.memory,
        page_shift=machine.page_shift,
        flags=flags,
    )
    if mtype == MTD_RAM:
        machine.memory.split_area(f"mtdram{index}", base, nbytes, writable=True)
    if data:
        machine.memory.program(base, data)
    table.devices.append(mtd)
    step = -(-nbytes // MTD_ERASESIZE) * MTD_ERASESIZE
    table.next_offset = min(table.next_offset + step, machine.flash_size)
    machine.add_chardev(
        f"mtd{index}", MtdcharOperations(mtd, readonly=False), (MTD_CHAR_MAJOR, 2 * index), 0o600
    )
    machine.add_chardev(
        f"mtd{index}ro",
        MtdcharOperations(mtd, readonly=True),
        (MTD_CHAR_MAJOR, 2 * index + 1),
        0o400,
    )
    machine.log(
        f"mtd: {mtd.name}: {mtd_type} partition 0x{base - machine.flash_base:08x}-"
        f"0x{base - machine.flash_base + nbytes:08x} ({nbytes >> 10} KiB)"
    )
    return mtd


class MtdcharOperations(FileOperations):
    """``mtd_fops`` of ``/dev/mtdN`` (drivers/mtd/mtdchar.c, NOMMU build; ``->read`` only)."""

    has_mmap = True
    legacy_read = True
    has_get_unmapped_area = True
    has_mmap_capabilities = True

    def __init__(self, mtd: MtdDevice, *, readonly: bool) -> None:
        self.mtd = mtd
        self.readonly = readonly

    def open(self, file: File) -> None:
        """``mtdchar_open``: no writing through the ``ro`` node or to a ROM."""
        if file.f_mode & FMODE_WRITE and self.readonly:
            raise SyscallError(Errno.EACCES, f"/dev/{self.mtd.name}ro is read-only")
        if file.f_mode & FMODE_WRITE and not self.mtd.flags & MTD_WRITEABLE:
            raise SyscallError(
                Errno.EACCES, f"{self.mtd.name} ({self.mtd.type_name}) is not writable"
            )

    def mmap_capabilities(self, file: File) -> int:
        return mtd_mmap_capabilities(self.mtd)

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``mtdchar_get_unmapped_area``: EINVAL outside the device; EOPNOTSUPP → ENODEV."""
        mtd = self.mtd
        if addr != 0:
            raise SyscallError(Errno.EINVAL, "address hint")
        if length > mtd.size or pgoff >= mtd.size >> mtd.page_shift:
            raise SyscallError(
                Errno.EINVAL,
                f"{length} bytes at page {pgoff} do not fit {mtd.name} ({mtd.size} bytes)",
            )
        offset = pgoff << mtd.page_shift
        if offset > mtd.size - length:
            raise SyscallError(
                Errno.EINVAL, f"{length} bytes at {offset:#x} run past the end of {mtd.name}"
            )
        try:
            return mtd_get_unmapped_area(mtd, length, offset, flags)
        except SyscallError as e:
            if e.errno == Errno.EOPNOTSUPP:
                raise SyscallError(
                    Errno.ENODEV, f"{mtd.name}: the map driver cannot point at flash"
                ) from None
            raise

    def mmap(self, file: File, vma: VMA) -> None:
        """``mtdchar_mmap`` on NOMMU: shared mappings only, else EACCES."""
        if not vma.vm_flags & VM_SHARED:
            raise SyscallError(Errno.EACCES, f"{self.mtd.name}: only MAP_SHARED is allowed")

    def read(self, file: File, count: int, pos: int) -> bytes:
        return self.mtd.read(pos, count)

    def write(self, file: File, data: bytes, pos: int) -> int:
        """``mtdchar_write``: ENOSPC at or past the end, else a clipped write."""
        if pos >= self.mtd.size:
            raise SyscallError(Errno.ENOSPC, f"offset {pos:#x} is past the end of {self.mtd.name}")
        if not data:
            return 0
        return self.mtd.write(pos, data[: self.mtd.size - pos])
