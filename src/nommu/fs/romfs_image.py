"""The on-disk romfs format: a reader that checks an image the way Linux does, and a writer.

Modelled on the kernel's romfs (``include/uapi/linux/romfs_fs.h``,
``fs/romfs/super.c``, ``fs/romfs/storage.c``, ``Documentation/filesystems/romfs.rst``)
and on the layout ``genromfs`` produces. romfs matters to a no-MMU model because a
file's data sits at a fixed byte offset inside the image (``i_dataoffset``): on an
MTD that can be pointed at, ``romfs_get_unmapped_area`` returns
``MTD base + i_dataoffset + pgoff * PAGE_SIZE`` and the mapping is executed in
place, usually *not* page aligned because romfs aligns data to 16 bytes only.

Format (all words big-endian):

* superblock: ``"-rom1fs-"``, full size, checksum, NUL-terminated volume name
  padded to 16 bytes. The checksum makes the words of the first
  ``min(size, 512)`` bytes sum to zero (``romfs_checksum``).
* file headers, 16-byte aligned: ``next`` (offset of the next header in the
  same directory; low 3 bits the type, bit 3 the executable bit), ``spec.info``
  (directory: first entry; hard link: target header; device:
  ``major << 16 | minor``), ``size``, ``checksum`` (header plus padded name sum
  to zero, as genromfs writes it), then the NUL-terminated name padded to 16
  bytes, then the data padded to 16 bytes.

What the kernel reports and this module reproduces: the inode number is the
offset of the (hard-link resolved) header (``romfs_iget``); the data offset is
``header + ((16 + strlen(name) + 1 + 15) & ~15)``; the mode comes from
``romfs_modemap`` (plus ``S_IXUGO`` for executable directories and regular
files); a directory's ``i_size`` is its header length (``i_metasize``).

The reader is stricter than the kernel where the kernel silently stops (an
offset beyond the image ends a directory listing there) or never looks (file
header checksums): a model should refuse a damaged image with a clear message
instead of showing a truncated tree.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from nommu.consts import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK
from nommu.errors import ConfigError, Errno, SyscallError

__all__ = [
    "ROMFH_EXEC",
    "ROMFH_SIZE",
    "ROMFS_MAGIC",
    "ROMFS_MAXFN",
    "DeviceSpec",
    "DirSpec",
    "FileSpec",
    "HardlinkSpec",
    "RomfsDirent",
    "RomfsEntry",
    "RomfsFormatError",
    "RomfsHeader",
    "RomfsImage",
    "RomfsNodeSpec",
    "RomfsType",
    "SpecialSpec",
    "SymlinkSpec",
    "build_romfs",
    "romfs_checksum",
]

ROMFS_MAGIC = b"-rom1fs-"
ROMFH_SIZE = 16
ROMFH_PAD = ROMFH_SIZE - 1
ROMFH_MASK = ~ROMFH_PAD & 0xFFFFFFFF
ROMFH_TYPE = 7
ROMFH_EXEC = 8
#: Longest name the kernel handles (``ROMFS_MAXFN``); readdir copies at most 127 bytes.
ROMFS_MAXFN = 128
#: Longest name this module reads or writes: what ``romfs_readdir`` can return whole.
MAX_NAME_LEN = ROMFS_MAXFN - 1
#: The superblock checksum covers at most this many bytes.
CHECKSUM_SPAN = 512
#: Symbolic-link levels followed by :meth:`RomfsImage.lookup` (the VFS's MAXSYMLINKS).
MAXSYMLINKS = 40

_WORD = struct.Struct(">I")
_HEADER = struct.Struct(">IIII")
_U32 = 0xFFFFFFFF


class RomfsType(enum.IntEnum):
    """The file type in the low 3 bits of ``next`` (``ROMFH_HRD`` ... ``ROMFH_FIF``)."""

    HARDLINK = 0
    DIRECTORY = 1
    REGULAR = 2
    SYMLINK = 3
    BLOCKDEV = 4
    CHARDEV = 5
    SOCKET = 6
    FIFO = 7


#: ``romfs_modemap`` in fs/romfs/super.c.
_MODEMAP: dict[RomfsType, int] = {
    RomfsType.HARDLINK: 0,
    RomfsType.DIRECTORY: S_IFDIR | 0o644,
    RomfsType.REGULAR: S_IFREG | 0o644,
    RomfsType.SYMLINK: S_IFLNK | 0o777,
    RomfsType.BLOCKDEV: S_IFBLK | 0o600,
    RomfsType.CHARDEV: S_IFCHR | 0o600,
    RomfsType.SOCKET: S_IFSOCK | 0o644,
    RomfsType.FIFO: S_IFIFO | 0o644,
}

#: ``romfs_dtype_table``: the d_type readdir reports for each header type.
_DTYPE: dict[RomfsType, int] = {
    RomfsType.HARDLINK: 0,  # DT_UNKNOWN
    RomfsType.DIRECTORY: 4,  # DT_DIR
    RomfsType.REGULAR: 8,  # DT_REG
    RomfsType.SYMLINK: 10,  # DT_LNK
    RomfsType.BLOCKDEV: 6,  # DT_BLK
    RomfsType.CHARDEV: 2,  # DT_CHR
    RomfsType.SOCKET: 12,  # DT_SOCK
    RomfsType.FIFO: 1,  # DT_FIFO
}

_S_IXUGO = 0o111


class RomfsFormatError(ConfigError):
    """A romfs image is malformed; the message names the image and the byte offset."""


def romfs_checksum(data: bytes | bytearray | memoryview) -> int:
    """``romfs_checksum``: the sum of the big-endian 32-bit words, modulo 2**32.

    Trailing bytes that do not fill a word are ignored, as in the kernel.
    """
    n = len(data) // 4
    return sum(struct.unpack_from(f">{n}I", data)) & _U32 if n else 0


def _align16(n: int) -> int:
    return (n + ROMFH_PAD) & ~ROMFH_PAD


def _metasize(name_len: int) -> int:
    """``i_metasize``: header plus NUL-terminated name, rounded up to 16."""
    return (ROMFH_SIZE + name_len + 1 + ROMFH_PAD) & ~ROMFH_PAD


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _encode(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class RomfsHeader:
    """One raw file header as stored (``struct romfs_inode`` plus its name)."""

    offset: int
    next: int
    """Offset of the next header in the same directory (type bits masked off); 0 ends it."""
    type: RomfsType
    executable: bool
    spec: int
    size: int
    checksum: int
    name: str
    metasize: int
    """Header length including the padded name (the kernel's ``i_metasize``)."""

    @property
    def data_offset(self) -> int:
        """Where this header's data starts (the kernel's ``i_dataoffset``)."""
        return self.offset + self.metasize


@dataclass(frozen=True, slots=True)
class RomfsDirent:
    """One directory entry as ``romfs_readdir`` emits it, ``.`` and ``..`` included."""

    name: str
    ino: int
    """Header offset; for a hard link the raw ``spec`` (the target), as readdir reports."""
    type: RomfsType
    """Type bits of the entry's own header (``HARDLINK`` for hard links)."""
    header_offset: int

    @property
    def d_type(self) -> int:
        """``romfs_dtype_table[type]`` (DT_UNKNOWN for hard links)."""
        return _DTYPE[self.type]


@dataclass(frozen=True, slots=True)
class RomfsEntry:
    """A file as the kernel's inode for it would describe it, reached by *path*."""

    path: str
    """Absolute path through which the entry was found (``/`` for the root)."""
    name: str
    header_offset: int
    """Offset of this directory entry's own header (a hard-link header for links)."""
    ino: int
    """Inode number: offset of the hard-link-resolved header (``romfs_iget``)."""
    type: RomfsType
    """Type of the resolved inode, never ``HARDLINK``."""
    mode: int
    """``st_mode``: ``romfs_modemap`` plus ``S_IXUGO`` for executable dirs and files."""
    size: int
    """``i_size``: the header's size field, or ``i_metasize`` for a directory."""
    data_offset: int
    """``i_dataoffset``: byte offset of the data inside the image (16-byte aligned)."""
    executable: bool
    """The ``ROMFH_EXEC`` bit of the resolved header."""
    link_target: str | None = None
    rdev: tuple[int, int] | None = None
    """``(major, minor)`` for block and character devices."""
    is_hardlink: bool = False
    """True when the directory entry was a hard-link header."""

    @property
    def is_dir(self) -> bool:
        return self.type is RomfsType.DIRECTORY

    @property
    def is_regular(self) -> bool:
        return self.type is RomfsType.REGULAR

    @property
    def is_symlink(self) -> bool:
        return self.type is RomfsType.SYMLINK


class RomfsImage:
    """A parsed, fully checked romfs image; :meth:`read` returns slices of its bytes.

    Build one with :meth:`parse`. Every header reachable from the root is
    read and checked while parsing, so later lookups cannot fail on format
    errors.
    """

    __slots__ = (
        "_by_dirent",
        "_by_ino",
        "_dirents",
        "_entries",
        "_headers",
        "checksum",
        "data",
        "name",
        "root",
        "root_offset",
        "size",
        "volume",
    )

    data: bytes
    """The whole image as given (including any padding after ``size``)."""
    name: str
    """Name used in error messages (usually the image's file name)."""
    volume: str
    size: int
    """The superblock's full-size field: bytes the file system may use."""
    checksum: int
    root_offset: int
    """Offset of the root directory's header (its inode number before resolution)."""
    root: RomfsEntry
    _headers: dict[int, RomfsHeader]
    _dirents: dict[int, list[RomfsDirent]]
    _by_dirent: dict[tuple[int, str], RomfsEntry]
    _by_ino: dict[int, RomfsEntry]
    _entries: list[RomfsEntry]

    def __init__(self) -> None:
        raise TypeError("use RomfsImage.parse(data) to create a RomfsImage")

    # ------------------------------------------------------------------ parsing

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, name: str = "<image>") -> RomfsImage:
        """Read and check an image; raises :class:`RomfsFormatError` on any defect."""
        self = object.__new__(cls)
        self.data = bytes(data)
        self.name = name
        self._headers = {}
        self._dirents = {}
        self._by_dirent = {}
        self._by_ino = {}
        self._entries = []
        self.root_offset = self._parse_superblock()
        self._parse_tree(self.root_offset)
        return self

    def _fail(self, offset: int, reason: str) -> RomfsFormatError:
        return RomfsFormatError(f"{self.name}: offset {offset:#x}: {reason}")

    def _parse_superblock(self) -> int:
        data = self.data
        if len(data) < len(ROMFS_MAGIC) and ROMFS_MAGIC.startswith(data):
            raise self._fail(
                len(data), f"truncated image: {len(data)} bytes, too short for the romfs magic"
            )
        if data[: len(ROMFS_MAGIC)] != ROMFS_MAGIC:
            raise self._fail(
                0, f"bad magic {data[: len(ROMFS_MAGIC)]!r} (expected {ROMFS_MAGIC!r})"
            )
        if len(data) < ROMFH_SIZE:
            raise self._fail(
                len(data),
                f"truncated image: {len(data)} bytes, the superblock needs {ROMFH_SIZE}",
            )
        size, checksum = struct.unpack_from(">II", data, 8)
        if size > len(data):
            raise self._fail(
                8,
                f"size field {size} ({size:#x}) is larger than the image data ({len(data)} bytes)",
            )
        if size < ROMFH_SIZE:
            raise self._fail(8, f"size field {size} is smaller than the superblock ({ROMFH_SIZE})")
        span = min(size, CHECKSUM_SPAN)
        total = romfs_checksum(data[:span])
        if total:
            raise self._fail(
                12,
                f"bad superblock checksum {checksum:#010x}: the words of the first {span} bytes "
                f"sum to {total:#010x}, expected 0",
            )
        self.size = size
        self.checksum = checksum
        vol_len = self._strnlen(ROMFH_SIZE, "volume name")
        self.volume = _decode(data[ROMFH_SIZE : ROMFH_SIZE + vol_len])
        root_offset = _metasize(vol_len)
        if root_offset + ROMFH_SIZE > size:
            raise self._fail(
                root_offset,
                f"truncated image: no room for the root directory header (size {size:#x})",
            )
        self.root_offset = root_offset
        return root_offset

    def _strnlen(self, pos: int, what: str) -> int:
        """Length of the NUL-terminated string at *pos*, which must fit in the image."""
        limit = min(ROMFS_MAXFN, self.size - pos)
        nul = self.data.find(b"\0", pos, pos + limit)
        if nul < 0:
            if limit < ROMFS_MAXFN:
                raise self._fail(pos, f"{what} not NUL-terminated before the end of the image")
            raise self._fail(pos, f"{what} not NUL-terminated within {ROMFS_MAXFN} bytes")
        return nul - pos

    def _header(self, offset: int, referrer: int, what: str) -> RomfsHeader:
        """Read and check the header at *offset* (named by a field at *referrer*)."""
        cached = self._headers.get(offset)
        if cached is not None:
            return cached
        if offset + ROMFH_SIZE > self.size:
            raise self._fail(
                referrer, f"{what} {offset:#x} points outside the image (size {self.size:#x})"
            )
        if offset < self.root_offset:
            raise self._fail(referrer, f"{what} {offset:#x} points into the superblock")
        nxt, spec, size, checksum = _HEADER.unpack_from(self.data, offset)
        name_len = self._strnlen(offset + ROMFH_SIZE, "file name")
        name = _decode(self.data[offset + ROMFH_SIZE : offset + ROMFH_SIZE + name_len])
        metasize = _metasize(name_len)
        if offset + metasize > self.size:
            raise self._fail(offset, f"header of {name!r} extends beyond the image")
        total = romfs_checksum(self.data[offset : offset + metasize])
        if total:
            raise self._fail(
                offset,
                f"bad header checksum {checksum:#010x} for {name!r}: header and name sum to "
                f"{total:#010x}, expected 0",
            )
        hdr = RomfsHeader(
            offset=offset,
            next=nxt & ROMFH_MASK,
            type=RomfsType(nxt & ROMFH_TYPE),
            executable=bool(nxt & ROMFH_EXEC),
            spec=spec,
            size=size,
            checksum=checksum,
            name=name,
            metasize=metasize,
        )
        if hdr.type in (RomfsType.REGULAR, RomfsType.SYMLINK) and (
            hdr.data_offset + size > self.size
        ):
            raise self._fail(
                offset,
                f"data of {name!r} ({size} bytes at {hdr.data_offset:#x}) extends beyond the "
                f"image size {self.size:#x}",
            )
        self._headers[offset] = hdr
        return hdr

    def _resolve(self, hdr: RomfsHeader) -> RomfsHeader:
        """Follow a chain of hard-link headers to the real inode (``romfs_iget``)."""
        seen = {hdr.offset}
        while hdr.type is RomfsType.HARDLINK:
            target = hdr.spec & ROMFH_MASK
            if target in seen:
                raise self._fail(hdr.offset, f"hard link {hdr.name!r} loops back to {target:#x}")
            seen.add(target)
            hdr = self._header(target, hdr.offset + 4, f"hard link {hdr.name!r} target")
        return hdr

    def _make_entry(self, path: str, name: str, hdr: RomfsHeader, inode: RomfsHeader) -> RomfsEntry:
        mode = _MODEMAP[inode.type]
        size = inode.size
        link_target: str | None = None
        rdev: tuple[int, int] | None = None
        if inode.type is RomfsType.DIRECTORY:
            size = inode.metasize
            if inode.executable:
                mode |= _S_IXUGO
        elif inode.type is RomfsType.REGULAR:
            if inode.executable:
                mode |= _S_IXUGO
        elif inode.type is RomfsType.SYMLINK:
            link_target = _decode(self.data[inode.data_offset : inode.data_offset + inode.size])
        elif inode.type in (RomfsType.BLOCKDEV, RomfsType.CHARDEV):
            rdev = (inode.spec >> 16, inode.spec & 0xFFFF)
        return RomfsEntry(
            path=path,
            name=name,
            header_offset=hdr.offset,
            ino=inode.offset,
            type=inode.type,
            mode=mode,
            size=size,
            data_offset=inode.data_offset,
            executable=inode.executable,
            link_target=link_target,
            rdev=rdev,
            is_hardlink=hdr.type is RomfsType.HARDLINK,
        )

    def _parse_tree(self, root_offset: int) -> None:
        root_hdr = self._header(root_offset, 16, "root directory header")
        root_inode = self._resolve(root_hdr)
        if root_inode.type is not RomfsType.DIRECTORY:
            raise self._fail(
                root_inode.offset,
                f"the root header is a {root_inode.type.name.lower()}, not a directory",
            )
        root = self._make_entry("/", "", root_hdr, root_inode)
        self.root = root
        self._by_ino[root.ino] = root
        self._entries.append(root)
        self._dirents[root.ino] = []
        # Depth-first, in image order, without recursion. Each stack item is a
        # directory still being listed, the offset of its next header, the
        # headers of its chain seen so far and where that offset was read from.
        stack: list[tuple[RomfsEntry, int, set[int], int]] = [
            (root, root_inode.spec & ROMFH_MASK, set(), root_inode.offset + 4)
        ]
        while stack:
            dir_entry, offset, seen, referrer = stack[-1]
            if offset == 0:
                stack.pop()
                continue
            what = "next header offset" if seen else "first entry offset"
            if offset in seen:
                raise self._fail(
                    referrer,
                    f"{what} {offset:#x} loops back to an earlier entry of {dir_entry.path}",
                )
            seen.add(offset)
            hdr = self._header(offset, referrer, what)
            stack[-1] = (dir_entry, hdr.next, seen, hdr.offset)
            inode = self._resolve(hdr)
            ino = hdr.spec if hdr.type is RomfsType.HARDLINK else hdr.offset
            self._dirents[dir_entry.ino].append(RomfsDirent(hdr.name, ino, hdr.type, hdr.offset))
            if hdr.name in (".", ".."):
                continue
            key = (dir_entry.ino, hdr.name)
            if key in self._by_dirent:
                continue  # the kernel's lookup only ever finds the first entry of a name
            parent = "" if dir_entry.path == "/" else dir_entry.path
            entry = self._make_entry(f"{parent}/{hdr.name}", hdr.name, hdr, inode)
            self._by_dirent[key] = entry
            self._by_ino.setdefault(entry.ino, entry)
            self._entries.append(entry)
            if entry.is_dir and entry.ino not in self._dirents:
                self._dirents[entry.ino] = []
                stack.append((entry, inode.spec & ROMFH_MASK, set(), inode.offset + 4))

    # ------------------------------------------------------------------ queries

    def walk(self) -> Iterator[RomfsEntry]:
        """Every entry, root first, depth-first in image order (``.``/``..`` left out).

        A hard link yields its own entry (same ``ino`` as its target); a
        directory reached a second time through a hard link is not listed again.
        """
        return iter(self._entries)

    def readdir(self, directory: RomfsEntry | str) -> tuple[RomfsDirent, ...]:
        """The entries ``romfs_readdir`` emits for *directory*, in image order."""
        entry = self.lookup(directory) if isinstance(directory, str) else directory
        if not entry.is_dir:
            raise SyscallError(Errno.ENOTDIR, f"{self.name}: {entry.path} is not a directory")
        return tuple(self._dirents[entry.ino])

    def lookup_in(self, directory: RomfsEntry, name: str) -> RomfsEntry | None:
        """``romfs_lookup``: the first entry called *name* in *directory*, or None."""
        if not directory.is_dir:
            raise SyscallError(Errno.ENOTDIR, f"{self.name}: {directory.path} is not a directory")
        if len(_encode(name)) > ROMFS_MAXFN:
            raise SyscallError(Errno.ENAMETOOLONG, f"{self.name}: name longer than {ROMFS_MAXFN}")
        found = self._by_dirent.get((directory.ino, name))
        if found is not None:
            return found
        for dirent in self._dirents[directory.ino]:
            if dirent.name == name:  # "." or ".." as stored in the image
                hdr = self._headers[dirent.header_offset]
                inode = self._resolve(hdr)
                known = self._by_ino.get(inode.offset)
                if known is not None:
                    return known
                parent = "" if directory.path == "/" else directory.path
                return self._make_entry(f"{parent}/{name}", name, hdr, inode)
        return None

    def lookup(self, path: str | RomfsEntry, *, follow_symlinks: bool = False) -> RomfsEntry:
        """Resolve an absolute path (relative paths start at the root too).

        Symbolic links in the middle of the path are always followed (up to
        40); the last component only with *follow_symlinks*. Failures are
        ``SyscallError`` with ENOENT, ENOTDIR, ELOOP or ENAMETOOLONG.
        """
        if isinstance(path, RomfsEntry):
            return path
        if not path:
            raise SyscallError(Errno.ENOENT, f"{self.name}: empty path")
        return self._walk_path(path, follow_symlinks)

    def _walk_path(self, path: str, follow_last: bool) -> RomfsEntry:
        links = 0
        current = self.root
        pending = [c for c in path.split("/") if c]
        pending.reverse()  # a stack: the next component is at the end
        while pending:
            component = pending.pop()
            if not current.is_dir:
                raise SyscallError(Errno.ENOTDIR, f"{self.name}: {current.path} is not a directory")
            found = self.lookup_in(current, component)
            if found is None:
                raise SyscallError(
                    Errno.ENOENT, f"{self.name}: no {component!r} in {current.path} (path {path!r})"
                )
            if found.is_symlink and (pending or follow_last):
                links += 1
                if links > MAXSYMLINKS:
                    raise SyscallError(Errno.ELOOP, f"{self.name}: too many symlinks in {path!r}")
                target = found.link_target or ""
                extra = [c for c in target.split("/") if c]
                extra.reverse()
                pending.extend(extra)
                if target.startswith("/"):
                    current = self.root
                continue
            current = found
        return current

    def read(self, entry: RomfsEntry | str, offset: int = 0, size: int | None = None) -> bytes:
        """The data of a regular file or symlink (a slice of the image), clipped to its size."""
        entry = self.lookup(entry) if isinstance(entry, str) else entry
        if entry.type not in (RomfsType.REGULAR, RomfsType.SYMLINK):
            raise ValueError(f"{entry.path}: a {entry.type.name.lower()} has no data to read")
        if offset < 0 or (size is not None and size < 0):
            raise ValueError(f"offset and size must not be negative, got {offset}, {size}")
        start = min(offset, entry.size)
        end = entry.size if size is None else min(entry.size, start + size)
        return self.data[entry.data_offset + start : entry.data_offset + end]

    def header(self, offset: int) -> RomfsHeader:
        """The raw header at *offset* (any header reached while parsing)."""
        try:
            return self._headers[offset]
        except KeyError:
            raise KeyError(f"{self.name}: no file header at {offset:#x}") from None

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"RomfsImage(name={self.name!r}, volume={self.volume!r}, size={self.size}, "
            f"entries={len(self._entries)})"
        )


# ---------------------------------------------------------------------- writer


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A regular file. *align* (a power of two >= 16) aligns its data offset."""

    data: bytes
    executable: bool = False
    align: int = ROMFH_SIZE


@dataclass(frozen=True, slots=True)
class DirSpec:
    """A directory (needed only for empty ones or a non-executable one)."""

    executable: bool = True


@dataclass(frozen=True, slots=True)
class SymlinkSpec:
    """A symbolic link; the target is stored as the file data, without a NUL."""

    target: str


@dataclass(frozen=True, slots=True)
class HardlinkSpec:
    """A hard link to another path of the same image (resolved to one inode)."""

    target: str


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A block or character device node (``spec = major << 16 | minor``)."""

    kind: Literal["block", "char"]
    major: int
    minor: int


@dataclass(frozen=True, slots=True)
class SpecialSpec:
    """A FIFO or a socket."""

    kind: Literal["fifo", "socket"]


RomfsNodeSpec: TypeAlias = (
    bytes | FileSpec | DirSpec | SymlinkSpec | HardlinkSpec | DeviceSpec | SpecialSpec
)


@dataclass(slots=True)
class _Node:
    name: str
    spec: RomfsNodeSpec
    path: str
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)
    offset: int = 0
    pad: int = 0
    dot_offset: int = 0  # directories: offset of their "." header
    next_offset: int = 0  # the next sibling's header, 0 for the last one


def _split_path(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if part in (".", ".."):
            raise ValueError(f"romfs path {path!r}: '.' and '..' are created by the writer")
        if "\0" in part:
            raise ValueError(f"romfs path {path!r}: names must not contain NUL")
        if len(_encode(part)) > MAX_NAME_LEN:
            raise ValueError(f"romfs path {path!r}: name longer than {MAX_NAME_LEN} bytes")
    return parts


def build_romfs(
    files: Mapping[str, RomfsNodeSpec], volume: str = "rom", *, pad_to: int = 1024
) -> bytes:
    """Lay out a valid romfs image the way genromfs does.

    *files* maps paths (``"bin/sh"`` or ``"/bin/sh"``) to ``bytes`` (a plain
    file, mode 0644), a :class:`FileSpec`, :class:`DirSpec`,
    :class:`SymlinkSpec`, :class:`HardlinkSpec`, :class:`DeviceSpec` or
    :class:`SpecialSpec`. Parent directories are created as needed; entries
    appear in each directory in the order they are first mentioned. The key
    ``"/"`` may give the root's :class:`DirSpec`. Every directory starts with
    ``.`` (the root's is a directory header whose first entry is itself, the
    others are hard links) and ``..`` (a hard link), as genromfs writes them.
    Header checksums and the superblock checksum are filled in; the size
    field is the end of the last data, and the output is zero-padded to a
    multiple of *pad_to* (genromfs pads to 1024; 0 or 1 means no padding).
    """
    vol_raw = _encode(volume)
    if b"\0" in vol_raw or len(vol_raw) > MAX_NAME_LEN:
        raise ValueError(f"volume name {volume!r}: no NUL, at most {MAX_NAME_LEN} bytes")
    root = _Node(".", DirSpec(), "/")
    nodes: dict[str, _Node] = {"/": root}
    explicit: set[str] = set()
    for raw_path, spec in files.items():
        parts = _split_path(raw_path)
        if not parts:
            if not isinstance(spec, DirSpec):
                raise ValueError("the root '/' can only be given a DirSpec")
            root.spec = spec
            continue
        _check_spec(raw_path, spec)
        path = "/" + "/".join(parts)
        if path in explicit:
            raise ValueError(f"romfs path {raw_path!r} given twice")
        explicit.add(path)
        parent = root
        for depth, part in enumerate(parts):
            sub = "/" + "/".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            existing = nodes.get(sub)
            if existing is None:
                existing = _Node(part, spec if last else DirSpec(), sub, parent)
                parent.children.append(existing)
                nodes[sub] = existing
            elif last:
                if not isinstance(spec, DirSpec):
                    raise ValueError(f"romfs path {raw_path!r} is a directory of earlier paths")
                existing.spec = spec
            elif not isinstance(existing.spec, DirSpec):
                raise ValueError(f"romfs path {raw_path!r}: {sub} is not a directory")
            parent = existing
    for node in nodes.values():
        if isinstance(node.spec, HardlinkSpec):
            _check_hardlink_chain(node, nodes)

    # Pass 1: offsets, depth-first in the order the headers are written.
    order: list[_Node] = []
    offset = _metasize(len(vol_raw))
    root.offset = root.dot_offset = offset
    offset += _metasize(1)  # root "."
    dotdot_root = offset
    offset += _metasize(2)

    def place(node: _Node, pos: int) -> int:
        spec = node.spec
        name_len = len(_encode(node.name))
        if isinstance(spec, FileSpec) and spec.align > ROMFH_SIZE:
            misalign = (pos + _metasize(name_len)) & (spec.align - 1)
            if misalign:
                node.pad = spec.align - misalign
                pos += node.pad
        node.offset = pos
        pos += _metasize(name_len) + _align16(len(_node_data(node)))
        order.append(node)
        if isinstance(spec, DirSpec):
            node.dot_offset = pos
            pos += _metasize(1) + _metasize(2)
            for child in node.children:
                pos = place(child, pos)
        return pos

    for child in root.children:
        offset = place(child, offset)
    image_size = offset
    if image_size > _U32:
        raise ValueError(f"romfs image of {image_size} bytes exceeds the 32-bit size field")
    for directory in nodes.values():
        for index, child in enumerate(directory.children[:-1]):
            child.next_offset = directory.children[index + 1].offset

    # Pass 2: emit.
    out = bytearray(image_size)
    out[0:8] = ROMFS_MAGIC
    _WORD.pack_into(out, 8, image_size)
    out[16 : 16 + len(vol_raw)] = vol_raw

    def emit(
        pos: int,
        next_off: int,
        rtype: RomfsType,
        exec_bit: bool,
        spec: int,
        name: str,
        size: int,
        data: bytes = b"",
    ) -> None:
        raw = _encode(name)
        word0 = next_off | int(rtype) | (ROMFH_EXEC if exec_bit else 0)
        _HEADER.pack_into(out, pos, word0, spec, size, 0)
        out[pos + ROMFH_SIZE : pos + ROMFH_SIZE + len(raw)] = raw
        meta = _metasize(len(raw))
        _WORD.pack_into(out, pos + 12, -romfs_checksum(out[pos : pos + meta]) & _U32)
        out[pos + meta : pos + meta + len(data)] = data

    root_exec = isinstance(root.spec, DirSpec) and root.spec.executable
    emit(root.offset, dotdot_root, RomfsType.DIRECTORY, root_exec, root.offset, ".", 0)
    first = root.children[0].offset if root.children else 0
    emit(dotdot_root, first, RomfsType.HARDLINK, False, root.offset, "..", 0)

    for node in order:
        owner = node.parent if node.parent is not None else root
        nxt = node.next_offset
        spec = node.spec
        data = _node_data(node)
        if isinstance(spec, DirSpec):
            emit(
                node.offset,
                nxt,
                RomfsType.DIRECTORY,
                spec.executable,
                node.dot_offset,
                node.name,
                0,
            )
            dotdot = node.dot_offset + _metasize(1)
            emit(node.dot_offset, dotdot, RomfsType.HARDLINK, False, node.offset, ".", 0)
            child0 = node.children[0].offset if node.children else 0
            emit(dotdot, child0, RomfsType.HARDLINK, False, owner.offset, "..", 0)
        elif isinstance(spec, bytes | FileSpec):
            exec_bit = isinstance(spec, FileSpec) and spec.executable
            emit(node.offset, nxt, RomfsType.REGULAR, exec_bit, 0, node.name, len(data), data)
        elif isinstance(spec, SymlinkSpec):
            emit(node.offset, nxt, RomfsType.SYMLINK, False, 0, node.name, len(data), data)
        elif isinstance(spec, HardlinkSpec):
            target = nodes["/" + "/".join(_split_path(spec.target))]
            emit(node.offset, nxt, RomfsType.HARDLINK, False, target.offset, node.name, 0)
        elif isinstance(spec, DeviceSpec):
            rtype = RomfsType.BLOCKDEV if spec.kind == "block" else RomfsType.CHARDEV
            emit(node.offset, nxt, rtype, False, spec.major << 16 | spec.minor, node.name, 0)
        else:
            rtype = RomfsType.FIFO if spec.kind == "fifo" else RomfsType.SOCKET
            emit(node.offset, nxt, rtype, False, 0, node.name, 0)

    span = min(image_size, CHECKSUM_SPAN)
    _WORD.pack_into(out, 12, -romfs_checksum(out[:span]) & _U32)
    if pad_to > 1 and len(out) % pad_to:
        out.extend(bytes(pad_to - len(out) % pad_to))
    return bytes(out)


def _node_data(node: _Node) -> bytes:
    spec = node.spec
    if isinstance(spec, bytes):
        return spec
    if isinstance(spec, FileSpec):
        return spec.data
    if isinstance(spec, SymlinkSpec):
        return _encode(spec.target)
    return b""


def _check_spec(path: str, spec: RomfsNodeSpec) -> None:
    if isinstance(spec, FileSpec):
        if spec.align < ROMFH_SIZE or spec.align & (spec.align - 1):
            raise ValueError(f"{path}: align must be a power of two >= 16, got {spec.align}")
    elif isinstance(spec, DeviceSpec):
        if spec.kind not in ("block", "char"):
            raise ValueError(f"{path}: device kind must be 'block' or 'char', got {spec.kind!r}")
        if not (0 <= spec.major <= 0xFFFF and 0 <= spec.minor <= 0xFFFF):
            raise ValueError(f"{path}: major and minor must fit in 16 bits")
    elif isinstance(spec, SpecialSpec):
        if spec.kind not in ("fifo", "socket"):
            raise ValueError(f"{path}: special kind must be 'fifo' or 'socket', got {spec.kind!r}")
    elif isinstance(spec, SymlinkSpec):
        if not spec.target:
            raise ValueError(f"{path}: empty symlink target")
    elif not isinstance(spec, bytes | DirSpec | HardlinkSpec):
        raise TypeError(f"{path}: unsupported romfs node {type(spec).__name__}")


def _check_hardlink_chain(node: _Node, nodes: Mapping[str, _Node]) -> None:
    seen = {node.path}
    spec = node.spec
    while isinstance(spec, HardlinkSpec):
        path = "/" + "/".join(_split_path(spec.target))
        if path in seen:
            raise ValueError(f"hard link {node.path}: loops back to {path}")
        seen.add(path)
        target = nodes.get(path)
        if target is None:
            raise ValueError(f"hard link {node.path}: no target {path!r} in the image")
        spec = target.spec
