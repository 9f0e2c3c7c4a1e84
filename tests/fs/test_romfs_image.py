"""romfs image reader and writer: a real uClinux image, round trips, corrupt images."""

from __future__ import annotations

import struct

import pytest

from nommu.consts import S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK
from nommu.errors import ConfigError, Errno, SyscallError
from nommu.fs.romfs_image import (
    DeviceSpec,
    DirSpec,
    FileSpec,
    HardlinkSpec,
    RomfsFormatError,
    RomfsImage,
    RomfsNodeSpec,
    RomfsType,
    SpecialSpec,
    SymlinkSpec,
    build_romfs,
    romfs_checksum,
)
from shared_data import REAL_ROOTFS

REAL_IMAGE = REAL_ROOTFS
needs_real_image = pytest.mark.skipif(
    not REAL_IMAGE.exists(), reason=f"{REAL_IMAGE} (real uClinux romfs) not present"
)

#: bFLT programs of the real image: path -> (text incl. header, data, relocs) from its README.
REAL_PROGRAMS = {
    "/bin/init": (33224, 3420, 260),
    "/bin/sh": (61136, 10904, 575),
    "/bin/dhcpcd": (71616, 10232, 672),
    "/bin/inetd": (32496, 5180, 230),
    "/bin/ping": (53940, 8696, 462),
    "/bin/telnet": (86528, 21008, 1550),
    "/bin/null": (19076, 4396, 112),
    "/sbin/ifconfig": (50956, 10648, 601),
    "/sbin/route": (49536, 11000, 559),
}


@pytest.fixture(scope="module")
def real() -> RomfsImage:
    return RomfsImage.parse(REAL_IMAGE.read_bytes(), name="rootfs.bin")


# --------------------------------------------------------------------- real image


@needs_real_image
def test_real_superblock(real: RomfsImage) -> None:
    assert real.volume == "ROMdisk"
    assert real.size == 760928
    assert len(real.data) == 761856  # genromfs pads the file to 1 KiB
    assert real.root_offset == 0x20
    assert real.root.ino == 0x20
    assert real.root.mode == S_IFDIR | 0o755
    assert real.root.size == 32  # a directory's i_size is its header length


@needs_real_image
@pytest.mark.parametrize("path", sorted(REAL_PROGRAMS))
def test_real_programs_present_with_readme_sizes(real: RomfsImage, path: str) -> None:
    text, data, relocs = REAL_PROGRAMS[path]
    entry = real.lookup(path)
    assert entry.type is RomfsType.REGULAR
    assert entry.mode == S_IFREG | 0o755
    assert entry.size == text + data + 4 * relocs
    assert entry.data_offset % 16 == 0
    assert entry.data_offset == entry.header_offset + 32  # short names: one 16-byte name block
    assert real.read(entry)[:4] == b"bFLT"


@needs_real_image
def test_real_sh_inode_and_data_offset(real: RomfsImage) -> None:
    sh = real.lookup("/bin/sh")
    assert sh.ino == 0x3CF10 == sh.header_offset
    assert sh.data_offset == 0x3CF30
    assert sh.data_offset % 4096 != 0  # XIP from this image would not be page aligned
    assert sh.size == 74340


@needs_real_image
def test_real_init_symlink(real: RomfsImage) -> None:
    init = real.lookup("/init")
    assert init.type is RomfsType.SYMLINK
    assert init.mode == S_IFLNK | 0o777
    assert init.link_target == "/bin/init"
    assert real.read(init) == b"/bin/init"
    target = real.lookup("/init", follow_symlinks=True)
    assert target.path == "/bin/init"
    assert target.ino == real.lookup("/bin/init").ino


@needs_real_image
def test_real_etc_text(real: RomfsImage) -> None:
    inittab = real.read("/etc/inittab").decode("ascii")
    assert inittab.endswith("\n")
    assert ":" in inittab
    rc = real.read("/etc/rc").decode("ascii")
    assert "mount" in rc
    assert real.lookup("/etc").mode == S_IFDIR | 0o755


@needs_real_image
def test_real_readdir_has_dot_entries(real: RomfsImage) -> None:
    dirents = real.readdir("/bin")
    assert [d.name for d in dirents[:2]] == [".", ".."]
    assert dirents[0].type is RomfsType.HARDLINK and dirents[0].d_type == 0
    assert dirents[0].ino == real.lookup("/bin").ino
    assert dirents[1].ino == real.root.ino
    names = [d.name for d in dirents[2:]]
    assert names == ["dhcpcd", "inetd", "init", "null", "ping", "sh", "telnet"]
    root_names = [d.name for d in real.readdir("/")]
    assert root_names[:2] == [".", ".."]
    assert real.readdir("/")[0].type is RomfsType.DIRECTORY  # the root's "." is the root


@needs_real_image
def test_real_walk_is_image_order(real: RomfsImage) -> None:
    entries = list(real.walk())
    assert entries[0] is real.root
    offsets = [e.header_offset for e in entries]
    assert offsets == sorted(offsets)
    assert len({e.path for e in entries}) == len(entries)
    assert all(e.data_offset % 16 == 0 for e in entries)


@needs_real_image
def test_real_image_rebuilt_byte_for_byte(real: RomfsImage) -> None:
    files: dict[str, RomfsNodeSpec] = {}
    for entry in real.walk():
        if entry.path == "/":
            continue
        if entry.is_dir:
            files[entry.path] = DirSpec(executable=entry.executable)
        elif entry.is_symlink:
            assert entry.link_target is not None
            files[entry.path] = SymlinkSpec(entry.link_target)
        else:
            files[entry.path] = FileSpec(real.read(entry), executable=entry.executable)
    assert build_romfs(files, real.volume) == real.data


@needs_real_image
def test_real_lookup_dot_dot(real: RomfsImage) -> None:
    assert real.lookup("/bin/../etc/./inittab").path == "/etc/inittab"
    assert real.lookup("/..").ino == real.root.ino
    assert real.lookup("/lib/modules/4.4.0-uc0/kernel/fs/..").path == (
        "/lib/modules/4.4.0-uc0/kernel"
    )


# --------------------------------------------------------------------- writer


def _tree() -> dict[str, RomfsNodeSpec]:
    return {
        "bin/sh": FileSpec(b"\x01" * 1000, executable=True),
        "bin/ls": HardlinkSpec("/bin/sh"),
        "etc/inittab": b"::sysinit:/etc/rc\n",
        "etc/motd": b"",
        "/init": SymlinkSpec("/bin/sh"),
        "dev/console": DeviceSpec("char", 5, 1),
        "dev/mtdblock0": DeviceSpec("block", 31, 0),
        "dev/initctl": SpecialSpec("fifo"),
        "dev/log": SpecialSpec("socket"),
        "mnt": DirSpec(),
        "secret": DirSpec(executable=False),
        "lib/a/b/c/deep.txt": b"deep",
        "xip/page": FileSpec(b"P" * 5000, executable=True, align=4096),
    }


def test_round_trip_files_and_metadata() -> None:
    image = RomfsImage.parse(build_romfs(_tree(), "test vol"), name="t")
    assert image.volume == "test vol"
    assert image.size % 16 == 0 and len(image.data) % 1024 == 0
    sh = image.lookup("/bin/sh")
    assert image.read(sh) == b"\x01" * 1000
    assert sh.mode == S_IFREG | 0o755
    assert image.read("/etc/inittab") == b"::sysinit:/etc/rc\n"
    assert image.lookup("/etc/inittab").mode == S_IFREG | 0o644
    assert image.lookup("/etc/motd").size == 0
    ls = image.lookup("/bin/ls")
    assert ls.is_hardlink and ls.ino == sh.ino and ls.data_offset == sh.data_offset
    assert image.read(ls) == image.read(sh)
    console = image.lookup("/dev/console")
    assert console.mode == S_IFCHR | 0o600 and console.rdev == (5, 1)
    assert image.lookup("/dev/mtdblock0").rdev == (31, 0)
    assert image.lookup("/dev/initctl").mode == S_IFIFO | 0o644
    assert image.lookup("/dev/log").mode == S_IFSOCK | 0o644
    assert image.lookup("/mnt").mode == S_IFDIR | 0o755
    assert image.lookup("/secret").mode == S_IFDIR | 0o644
    assert [d.name for d in image.readdir("/mnt")] == [".", ".."]
    assert image.read("/lib/a/b/c/deep.txt") == b"deep"
    assert image.lookup("/init").link_target == "/bin/sh"
    page = image.lookup("/xip/page")
    assert page.data_offset % 4096 == 0
    assert image.read(page) == b"P" * 5000
    for entry in image.walk():
        assert entry.data_offset % 16 == 0
        assert entry.ino % 16 == 0


def test_round_trip_order_and_paths() -> None:
    image = RomfsImage.parse(build_romfs(_tree()), name="t")
    paths = [e.path for e in image.walk()]
    assert paths[:5] == ["/", "/bin", "/bin/sh", "/bin/ls", "/etc"]
    assert "/lib/a/b/c/deep.txt" in paths
    assert [d.name for d in image.readdir("/")][:4] == [".", "..", "bin", "etc"]
    offsets = [e.header_offset for e in image.walk()]
    assert offsets == sorted(offsets)


def test_read_slices() -> None:
    image = RomfsImage.parse(build_romfs({"f": b"0123456789"}))
    assert image.read("/f", 2, 3) == b"234"
    assert image.read("/f", 8) == b"89"
    assert image.read("/f", 20) == b""
    with pytest.raises(ValueError, match="has no data"):
        image.read(image.root)
    with pytest.raises(ValueError, match="must not be negative"):
        image.read("/f", -1)


def test_lookup_errors_and_symlinks() -> None:
    files: dict[str, RomfsNodeSpec] = {
        "a/file": b"x",
        "loop1": SymlinkSpec("/loop2"),
        "loop2": SymlinkSpec("loop1"),
        "rel": SymlinkSpec("a/file"),
        "dirlink": SymlinkSpec("/a"),
    }
    image = RomfsImage.parse(build_romfs(files), name="t")
    assert image.lookup("/rel", follow_symlinks=True).path == "/a/file"
    assert image.lookup("/dirlink/file").path == "/a/file"
    assert image.lookup("a//file").path == "/a/file"
    with pytest.raises(SyscallError) as info:
        image.lookup("/a/missing")
    assert info.value.errno == Errno.ENOENT
    with pytest.raises(SyscallError) as info:
        image.lookup("/a/file/x")
    assert info.value.errno == Errno.ENOTDIR
    with pytest.raises(SyscallError) as info:
        image.lookup("/loop1", follow_symlinks=True)
    assert info.value.errno == Errno.ELOOP
    with pytest.raises(SyscallError) as info:
        image.lookup("")
    assert info.value.errno == Errno.ENOENT
    with pytest.raises(SyscallError) as info:
        image.lookup("/" + "n" * 129)
    assert info.value.errno == Errno.ENAMETOOLONG
    with pytest.raises(SyscallError) as info:
        image.readdir("/a/file")
    assert info.value.errno == Errno.ENOTDIR
    assert image.lookup_in(image.root, "nothing") is None


def test_empty_image_and_root_spec() -> None:
    image = RomfsImage.parse(build_romfs({}, "e"))
    assert [d.name for d in image.readdir("/")] == [".", ".."]
    assert list(image.walk()) == [image.root]
    closed = RomfsImage.parse(build_romfs({"/": DirSpec(executable=False)}))
    assert closed.root.mode == S_IFDIR | 0o644


def test_checksums_of_built_image() -> None:
    data = build_romfs({"a": b"hello"}, "v", pad_to=1)
    assert romfs_checksum(data[:512]) == 0
    image = RomfsImage.parse(data)
    for entry in image.walk():
        header = image.header(entry.header_offset)
        assert romfs_checksum(data[header.offset : header.offset + header.metasize]) == 0


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a": b"1", "/a": b"2"}, "given twice"),
        ({"a": b"1", "a/b": b"2"}, "/a is not a directory"),
        ({"a/b": b"1", "a": b"2"}, "is a directory of earlier paths"),
        ({"l": HardlinkSpec("/nothing")}, "no target"),
        ({"l": HardlinkSpec("/m"), "m": HardlinkSpec("/l")}, "loops back"),
        ({"x/./y": b""}, "'.' and '..'"),
        ({"n" * 128: b""}, "longer than 127"),
        ({"/": b""}, "only be given a DirSpec"),
        ({"f": FileSpec(b"", align=24)}, "power of two"),
        ({"d": DeviceSpec("char", 1 << 16, 0)}, "16 bits"),
        ({"s": SymlinkSpec("")}, "empty symlink"),
    ],
)
def test_build_errors(files: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_romfs(files)  # type: ignore[arg-type]


def test_build_rejects_bad_volume() -> None:
    with pytest.raises(ValueError, match="volume name"):
        build_romfs({}, "v" * 200)


# --------------------------------------------------------------------- corrupt images

# build_romfs({"a": b"hello", "b": b"world"}, "v", pad_to=1): 192 bytes, root "." at
# 0x20, ".." at 0x40, "a" at 0x60 (data 0x80), "b" at 0x90 (data 0xb0).


def _small() -> bytearray:
    return bytearray(build_romfs({"a": b"hello", "b": b"world"}, "v", pad_to=1))


def _fix_checksums(data: bytearray, header: int | None = None, metasize: int = 32) -> bytes:
    """Recompute a header's checksum (if given) and the superblock checksum."""
    if header is not None:
        struct.pack_into(">I", data, header + 12, 0)
        total = romfs_checksum(data[header : header + metasize])
        struct.pack_into(">I", data, header + 12, -total & 0xFFFFFFFF)
    struct.pack_into(">I", data, 12, 0)
    size = struct.unpack_from(">I", data, 8)[0]
    total = romfs_checksum(data[: min(size, 512, len(data))])
    struct.pack_into(">I", data, 12, -total & 0xFFFFFFFF)
    return bytes(data)


def _parse_error(data: bytes) -> str:
    with pytest.raises(RomfsFormatError) as info:
        RomfsImage.parse(data, name="img")
    assert isinstance(info.value, ConfigError)
    return str(info.value)


def test_small_image_layout() -> None:
    image = RomfsImage.parse(bytes(_small()), name="img")
    assert [(e.path, e.header_offset, e.data_offset) for e in image.walk()] == [
        ("/", 0x20, 0x40),
        ("/a", 0x60, 0x80),
        ("/b", 0x90, 0xB0),
    ]
    assert image.size == 192


def test_corrupt_bad_magic() -> None:
    data = _small()
    data[4] = ord("2")
    assert _parse_error(bytes(data)) == (
        "img: offset 0x0: bad magic b'-rom2fs-' (expected b'-rom1fs-')"
    )


def test_corrupt_truncated() -> None:
    assert _parse_error(bytes(_small()[:10])) == (
        "img: offset 0xa: truncated image: 10 bytes, the superblock needs 16"
    )
    assert _parse_error(b"-rom") == (
        "img: offset 0x4: truncated image: 4 bytes, too short for the romfs magic"
    )
    assert _parse_error(b"ab") == "img: offset 0x0: bad magic b'ab' (expected b'-rom1fs-')"


def test_corrupt_size_larger_than_data() -> None:
    assert _parse_error(bytes(_small()[:100])) == (
        "img: offset 0x8: size field 192 (0xc0) is larger than the image data (100 bytes)"
    )


def test_corrupt_size_too_small() -> None:
    data = _small()
    struct.pack_into(">I", data, 8, 8)
    assert _parse_error(bytes(data)) == (
        "img: offset 0x8: size field 8 is smaller than the superblock (16)"
    )
    data = _small()
    struct.pack_into(">I", data, 8, 0x20)
    assert _parse_error(_fix_checksums(data)) == (
        "img: offset 0x20: truncated image: no room for the root directory header (size 0x20)"
    )
    data = _small()
    struct.pack_into(">I", data, 8, 0x30)
    assert _parse_error(_fix_checksums(data)) == (
        "img: offset 0x30: file name not NUL-terminated before the end of the image"
    )


def test_corrupt_superblock_checksum() -> None:
    data = _small()
    data[0x80] ^= 0x01  # a byte of /a's data, inside the first 512 bytes
    assert _parse_error(bytes(data)) == (
        "img: offset 0xc: bad superblock checksum 0x78523dce: the words of the first 192 "
        "bytes sum to 0x01000000, expected 0"
    )


def test_corrupt_header_checksum() -> None:
    data = _small()
    data[0x70] = ord("z")  # rename "a" to "z" without fixing the header checksum
    assert _parse_error(_fix_checksums(data)) == (
        "img: offset 0x60: bad header checksum 0x9effff69 for 'z': header and name sum to "
        "0x19000000, expected 0"
    )


def test_corrupt_next_outside_image() -> None:
    data = _small()
    struct.pack_into(">I", data, 0x60, 0x10000 | 2)  # "a": next far away, still a file
    assert _parse_error(_fix_checksums(data, 0x60)) == (
        "img: offset 0x60: next header offset 0x10000 points outside the image (size 0xc0)"
    )


def test_corrupt_next_into_superblock() -> None:
    data = _small()
    struct.pack_into(">I", data, 0x60, 0x10 | 2)
    assert _parse_error(_fix_checksums(data, 0x60)) == (
        "img: offset 0x60: next header offset 0x10 points into the superblock"
    )


def test_corrupt_next_loop() -> None:
    data = _small()
    struct.pack_into(">I", data, 0x90, 0x60 | 2)  # "b" points back to "a"
    assert _parse_error(_fix_checksums(data, 0x90)) == (
        "img: offset 0x90: next header offset 0x60 loops back to an earlier entry of /"
    )


def test_corrupt_directory_first_entry_outside() -> None:
    data = _small()
    struct.pack_into(">I", data, 0x24, 0x1000)  # root ".": spec (first entry)
    assert _parse_error(_fix_checksums(data, 0x20)) == (
        "img: offset 0x24: first entry offset 0x1000 points outside the image (size 0xc0)"
    )


def test_corrupt_hardlink_loop() -> None:
    data = _small()
    struct.pack_into(">I", data, 0x44, 0x40)  # "..": a hard link to itself
    assert _parse_error(_fix_checksums(data, 0x40)) == (
        "img: offset 0x40: hard link '..' loops back to 0x40"
    )


def test_corrupt_name_not_terminated_at_end() -> None:
    data = _small()
    data[0xA0:0xC0] = b"w" * 32  # "b"'s name runs into its data up to the end
    assert _parse_error(_fix_checksums(data)) == (
        "img: offset 0xa0: file name not NUL-terminated before the end of the image"
    )


def test_corrupt_name_not_terminated_within_limit() -> None:
    data = bytearray(build_romfs({"a": b"x" * 300}, "v", pad_to=1))
    data[0x70 : 0x70 + 200] = b"n" * 200
    assert _parse_error(_fix_checksums(data)) == (
        "img: offset 0x70: file name not NUL-terminated within 128 bytes"
    )


def test_corrupt_volume_name_not_terminated() -> None:
    data = bytearray(b"-rom1fs-" + struct.pack(">II", 64, 0) + b"V" * 48)
    assert _parse_error(_fix_checksums(data)) == (
        "img: offset 0x10: volume name not NUL-terminated before the end of the image"
    )


def test_corrupt_file_data_beyond_image() -> None:
    data = _small()
    struct.pack_into(">I", data, 0x98, 1000)  # "b": size field
    assert _parse_error(_fix_checksums(data, 0x90)) == (
        "img: offset 0x90: data of 'b' (1000 bytes at 0xb0) extends beyond the image size 0xc0"
    )


def test_corrupt_root_not_directory() -> None:
    data = _small()
    struct.pack_into(">I", data, 0x20, 0x40 | 2)  # root "." becomes a regular file
    assert _parse_error(_fix_checksums(data, 0x20)) == (
        "img: offset 0x20: the root header is a regular, not a directory"
    )


def test_parse_accepts_memoryview_and_keeps_padding() -> None:
    raw = build_romfs({"a": b"1"})
    image = RomfsImage.parse(memoryview(raw))
    assert image.data == raw
    assert len(image) == 2
    assert "entries=2" in repr(image)
    with pytest.raises(TypeError):
        RomfsImage()
    with pytest.raises(KeyError, match="no file header"):
        image.header(0x1234)
