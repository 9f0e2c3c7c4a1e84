"""The ``files=`` mount option: what a filesystem image holds, given from Python.

romfs, ext2 and NFS mounts take ``files={"bin/app": b"...", "etc/motd": "/host/motd"}``:
each key is a path inside the filesystem (``"a"``, ``"/a"`` and ``"dir/a"`` all
work; parent directories are created), each value one of

- ``bytes``: a regular file with these contents (mode 0644);
- ``str`` or ``os.PathLike``: a host file whose bytes are read now;
- a :mod:`nommu.fs.romfs_image` node: :class:`FileSpec` (``executable=True``
  gives mode 0755), :class:`DirSpec`, :class:`SymlinkSpec`,
  :class:`HardlinkSpec` (another path of the same filesystem: one inode),
  :class:`DeviceSpec` and :class:`SpecialSpec` (FIFOs, sockets).

Bad values raise ``ValueError``/``TypeError`` naming the option and the path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from nommu.fs.romfs_image import (
    DeviceSpec,
    DirSpec,
    FileSpec,
    HardlinkSpec,
    RomfsNodeSpec,
    SpecialSpec,
    SymlinkSpec,
)

__all__ = [
    "DeviceSpec",
    "DirSpec",
    "FileSpec",
    "HardlinkSpec",
    "NodeSpec",
    "SpecialSpec",
    "SymlinkSpec",
    "parse_files",
    "split_fs_path",
]

#: What a value of ``files=`` may be.
NodeSpec = RomfsNodeSpec | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class Entry:
    """One checked entry: its path components and the normalised node."""

    parts: tuple[str, ...]
    spec: RomfsNodeSpec

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)


def split_fs_path(path: object, option: str) -> tuple[str, ...]:
    """Components of a path inside a filesystem; ValueError names *option*."""
    if not isinstance(path, str):
        raise TypeError(f"{option}: paths must be str, got {type(path).__name__}")
    parts = tuple(p for p in path.split("/") if p)
    for part in parts:
        if part in (".", ".."):
            raise ValueError(f"{option}: path {path!r} must not contain '.' or '..'")
        if "\0" in part:
            raise ValueError(f"{option}: path {path!r} contains NUL")
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise ValueError(f"{option}: a name in {path!r} is longer than 255 bytes")
    return parts


def _host_bytes(value: str | os.PathLike[str], path: str, option: str) -> bytes:
    try:
        with open(value, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError(
            f"{option}: {path!r}: cannot read host file {os.fspath(value)!r}: {e.strerror}"
        ) from None


def parse_files(files: object, option: str = "files") -> list[Entry]:
    """Check and normalise a ``files=`` mapping (host files are read here).

    Returns the entries in the order given; host paths become ``bytes``. The
    root itself (``"/"`` or ``""``) may only be given a :class:`DirSpec`.
    """
    if files is None:
        return []
    if not isinstance(files, Mapping):
        raise TypeError(
            f"{option}: expected a mapping of path to contents, got {type(files).__name__}"
        )
    out: list[Entry] = []
    seen: set[tuple[str, ...]] = set()
    for raw_path, value in files.items():
        parts = split_fs_path(raw_path, option)
        if parts in seen:
            raise ValueError(f"{option}: path {raw_path!r} given twice")
        seen.add(parts)
        spec: RomfsNodeSpec
        if isinstance(value, bytes | bytearray | memoryview):
            spec = bytes(value)
        elif isinstance(value, str | os.PathLike):
            spec = _host_bytes(value, raw_path, option)
        elif isinstance(
            value, FileSpec | DirSpec | SymlinkSpec | HardlinkSpec | DeviceSpec | SpecialSpec
        ):
            spec = value
        else:
            raise TypeError(
                f"{option}: {raw_path!r}: expected bytes, a host path or a file "
                f"spec, got {type(value).__name__}"
            )
        if not parts and not isinstance(spec, DirSpec):
            raise ValueError(f"{option}: the root directory can only be given a DirSpec")
        out.append(Entry(parts, spec))
    return out
