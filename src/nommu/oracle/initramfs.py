"""A newc cpio writer: the initramfs the oracle boots.

The kernel unpacks it into rootfs (init/initramfs.c: ``"070701"`` headers of
thirteen 8-digit hex fields, the name NUL-terminated and padded to four
bytes, then the data padded to four bytes; a ``TRAILER!!!`` entry ends it),
as ``usr/gen_init_cpio`` writes it.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CpioEntry", "write_newc"]

TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class CpioEntry:
    """One file, directory or device node of the archive."""

    name: str  # without the leading "/"
    mode: int  # st_mode: type and permission bits
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)

    @staticmethod
    def directory(name: str, perm: int = 0o755) -> CpioEntry:
        return CpioEntry(name, stat.S_IFDIR | perm)

    @staticmethod
    def file(name: str, data: bytes, perm: int = 0o644) -> CpioEntry:
        return CpioEntry(name, stat.S_IFREG | perm, data)

    @staticmethod
    def chardev(name: str, major: int, minor: int, perm: int = 0o666) -> CpioEntry:
        return CpioEntry(name, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad4(n: int) -> bytes:
    return bytes(-n % 4)


def _header(ino: int, entry: CpioEntry, name: bytes) -> bytes:
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        nlink,
        0,  # mtime
        len(entry.data),
        0,  # dev major
        0,  # dev minor
        entry.rdev[0],
        entry.rdev[1],
        len(name),  # with the NUL
        0,  # check
    )
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def write_newc(entries: Iterable[CpioEntry]) -> bytes:
    """The archive of *entries* in order (parents before children), with the trailer."""
    out = bytearray()
    ino = 1
    for entry in [*entries, CpioEntry(TRAILER, 0)]:
        name = entry.name.lstrip("/").encode() + b"\0"
        out += _header(ino if entry.name != TRAILER else 0, entry, name)
        out += name
        out += _pad4(len(out))
        out += entry.data
        out += _pad4(len(out))
        ino += 1
    return bytes(out)
