"""Builders shared by the filesystem tests: one board with every filesystem and device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import nommu
from conftest import z1024
from nommu import SyscallError
from nommu.fs.romfs_image import FileSpec, HardlinkSpec

P = 4096
R = nommu.PROT_READ
W = nommu.PROT_WRITE
X = nommu.PROT_EXEC
RW = R | W
PRIV = nommu.MAP_PRIVATE
SHARED = nommu.MAP_SHARED
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS

#: /mnt/a of the spec: 10000 bytes, byte i = i mod 251.
A10000 = bytes(i % 251 for i in range(10000))
#: The flash of that board: mtd0 (1 MiB ROM) at 0x10000000, then mtd1.
FLASH_BASE = 0x10000000
PROG = bytes((i * 7) % 256 for i in range(20000))


def errno_of(call: Any, *args: Any) -> int:
    """Run a system call that must fail; return its errno."""
    with pytest.raises(SyscallError) as info:
        call(*args)
    return int(info.value.errno)


@dataclass
class Board:
    """That machine and the filesystem objects mounted on it."""

    m: nommu.Machine
    ext2: Any
    ext2x: Any
    rom: Any
    romb: Any
    nfs: Any
    nor: Any

    def spawn(self, name: str) -> nommu.Process:
        return self.m.spawn(name=name)


def spec_board(**machine_options: Any) -> Board:
    """Z1024 plus every filesystem and device (mounting allocates no RAM).

    /mnt ext2 (a: 10000 bytes i%251, a2 hard link to a), /mntx ext2 noexec
    (b: 8192 bytes), /ram ramfs, /rom romfs on mtd0 (MTD_ROM, 1 MiB,
    pointable), /romb romfs on a block device, /nfs NFS (n: 8192 bytes),
    /dev/mtd1 NOR flash without point, /dev/fb0 (1 MiB frame buffer).
    """
    options: dict[str, Any] = {
        "flash": "2M",
        "flash_base": FLASH_BASE,
        "framebuffer": "1M",
        "framebuffer_base": 0x30000000,
    }
    options.update(machine_options)
    m = z1024(**options)
    ext2 = m.mount(
        "ext2",
        "/mnt",
        files={"a": A10000, "a2": HardlinkSpec("a"), "prog": FileSpec(PROG, executable=True)},
    )
    ext2x = m.mount("ext2", "/mntx", noexec=True, files={"b": bytes(range(256)) * 32})
    m.mount("ramfs", "/ram")
    rom = m.mount(
        "romfs",
        "/rom",
        device="mtd",
        size="1M",
        files={"data": A10000, "prog": FileSpec(PROG, executable=True)},
    )
    romb = m.mount("romfs", "/romb", device="block", files={"data": A10000})
    nfs = m.mount("nfs", "/nfs", files={"n": bytes(range(256)) * 32})
    from nommu.fs.mtd import add_mtd

    nor = add_mtd(m, bytes(range(256)) * 16, mtd_type="nor")
    return Board(m, ext2, ext2x, rom, romb, nfs, nor)


def rom_addr(board: Board, name: str) -> int:
    """Where the data of ``/rom/<name>`` sits in flash (``flash_base + i_dataoffset``)."""
    entry = board.rom.image.lookup("/" + name)
    return int(board.rom.mtd.base + entry.data_offset)


def maps_lines(m: nommu.Machine, pid: int | None = None) -> list[str]:
    text = m.cat("/proc/maps" if pid is None else f"/proc/{pid}/maps")
    return text.splitlines()


def pad(prefix: str, path: str) -> str:
    """A maps line: *prefix* (ending in the inode and a space) padded to column 48."""
    return prefix.ljust(48) + " " + path
