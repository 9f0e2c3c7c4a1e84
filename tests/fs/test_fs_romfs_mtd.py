"""romfs on MTD and block devices, XIP, /dev/mtdN (fs/romfs/mmap-nommu.c; hazard H15)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from fsutil import (
    A10000,
    FLASH_BASE,
    PRIV,
    PROG,
    RW,
    SHARED,
    P,
    R,
    X,
    errno_of,
    maps_lines,
    pad,
    rom_addr,
    spec_board,
)

import nommu
from conftest import free_pages, meminfo, z1024
from nommu.fs.romfs_image import (
    DeviceSpec,
    FileSpec,
    HardlinkSpec,
    RomfsFormatError,
    RomfsImage,
    SpecialSpec,
    SymlinkSpec,
    build_romfs,
)
from shared_data import REAL_ROOTFS

REAL_IMAGE = REAL_ROOTFS


@pytest.fixture
def board():  # type: ignore[no-untyped-def]
    return spec_board()


def data_ino(board) -> int:  # type: ignore[no-untyped-def]
    return int(board.rom.image.lookup("/data").ino)


# -- C103-C107 XIP -----------------------------------------------------------------------------
def test_c103_xip_private_mapping(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/rom/data", nommu.O_RDONLY)
    x = p1.mmap(0, 10000, R | X, PRIV, fd, 0)
    assert x == rom_addr(board, "data")
    assert x % P != 0  # 16-byte aligned only
    assert x == FLASH_BASE + board.rom.image.lookup("/data").data_offset
    assert free_pages(m) == 1024
    assert meminfo(m, "MmapCopy") == 0
    assert p1.peek(x, 10000) == A10000
    line = pad(f"{x:08x}-{x + 12288:08x} r-xp 00000000 1f:00 {data_ino(board)} ", "/rom/data")
    assert maps_lines(m, p1.pid) == [line]
    assert maps_lines(m) == [line]
    # everybody mapping the same range shares the flash; a contained range too
    p2 = board.spawn("P2")
    fd2 = p2.open("/rom/data", nommu.O_RDONLY)
    assert p2.mmap(0, 10000, R, PRIV, fd2, 0) == x
    assert p2.mmap(0, 4096, R, PRIV, fd2, 4096) == x + 4096
    assert len(maps_lines(m)) == 1
    # a store to flash faults
    assert errno_of(p2.poke, x, b"\0") == errno.EFAULT
    m.validate()


def test_c105_writable_private_on_romfs_is_a_copy(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/rom/data", nommu.O_RDONLY)
    w = p1.mmap(0, 10000, RW, PRIV, fd, 0)
    assert w == 0x00400000
    assert free_pages(m) == 1021
    assert meminfo(m, "MmapCopy") == 12
    assert p1.peek(w, 10000) == A10000
    p1.poke(w, b"\xff")
    assert p1.peek(rom_addr(board, "data"), 1) == b"\x00"
    assert p1.pread(fd, 1, 0) == b"\x00"
    m.validate()


def test_c107_past_eof_on_romfs_on_mtd_is_einval_h15(board) -> None:  # type: ignore[no-untyped-def]
    p1 = board.spawn("P1")
    fd = p1.open("/rom/data", nommu.O_RDONLY)
    assert errno_of(p1.mmap, 0, 16384, R, PRIV, fd, 0) == errno.EINVAL
    assert errno_of(p1.mmap, 0, 4096, R, PRIV, fd, 3 * 4096) == errno.EINVAL
    # the same request on romfs on a block device is a zero-filled copy
    fdb = p1.open("/romb/data", nommu.O_RDONLY)
    c = p1.mmap(0, 16384, R, PRIV, fdb, 0)
    assert p1.peek(c, 16384) == A10000 + bytes(16384 - 10000)
    assert free_pages(board.m) == 1020
    board.m.validate()


def test_xip_shared_mapping_and_exec_checks(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/rom/prog", nommu.O_RDONLY)
    s = p1.mmap(0, 20000, R | X, SHARED, fd, 0)
    assert s == rom_addr(board, "prog")
    ino = board.rom.image.lookup("/prog").ino
    assert maps_lines(m, p1.pid) == [
        pad(f"{s:08x}-{s + 5 * P:08x} r-xS 00000000 1f:00 {ino} ", "/rom/prog")
    ]
    assert p1.peek(s, 20000) == PROG
    # MAP_SHARED PROT_WRITE: the file cannot be open for writing (EROFS), so EACCES
    assert errno_of(p1.open, "/rom/prog", nommu.O_RDWR) == errno.EROFS
    assert errno_of(p1.mmap, 0, 4096, RW, SHARED, fd, 0) == errno.EACCES
    # a read-only private mapping of the same range shares the shared region
    p2 = board.spawn("P2")
    fd2 = p2.open("/rom/prog", nommu.O_RDONLY)
    assert p2.mmap(0, 20000, R, PRIV, fd2, 0) == s
    m.validate()


def test_romfs_on_block_device_copies_only(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/romb/data", nommu.O_RDONLY)
    c = p1.mmap(0, 10000, R | X, PRIV, fd, 0)
    assert c == 0x00400000
    assert p1.peek(c, 10000) == A10000
    assert errno_of(p1.mmap, 0, 4096, R, SHARED, fd, 0) == errno.ENODEV
    ino = board.romb.image.lookup("/data").ino
    assert maps_lines(m, p1.pid) == [
        pad(f"00400000-00403000 r-xp 00000000 01:00 {ino} ", "/romb/data")
    ]
    m.validate()


def test_traced_process_copies_romfs(board) -> None:  # type: ignore[no-untyped-def]
    """Under ptrace the driver's mmap result is overridden (WARN once) and a copy is made."""
    m = board.m
    p1 = board.spawn("P1")
    p1.ptraced = True
    fd = p1.open("/rom/data", nommu.O_RDONLY)
    c = p1.mmap(0, 10000, R | X, PRIV, fd, 0)
    assert c == 0x00400000
    assert p1.peek(c, 10000) == A10000
    assert sum("do_mmap_private" in line for line in m.dmesg()) == 1
    p1.mmap(0, 10000, R | X, PRIV, fd, 0)
    assert sum("do_mmap_private" in line for line in m.dmesg()) == 1  # WARN_ON_ONCE
    m.validate()


def test_h1_romfs_xip_same_start_superset(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1, p2 = board.spawn("P1"), board.spawn("P2")
    fd1 = p1.open("/rom/prog", nommu.O_RDONLY)
    x = p1.mmap(0, 4096, R | X, PRIV, fd1, 0)
    fd2 = p2.open("/rom/prog", nommu.O_RDONLY)
    regions, free = maps_lines(m), free_pages(m)
    with pytest.raises(nommu.KernelOops):
        p2.mmap(0, 8192, R | X, PRIV, fd2, 0)
    assert maps_lines(m) == regions and free_pages(m) == free
    assert maps_lines(m, p2.pid) == []
    # a superset with a different start is allowed: a second, overlapping region
    assert p2.mmap(0, 8192, R, PRIV, fd2, 4096) == x + 4096
    m.validate()


# -- C109 mtdchar ------------------------------------------------------------------------------
def test_c109_mtdchar(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/dev/mtd0", nommu.O_RDONLY)
    s = p1.mmap(0, 4096, R, SHARED, fd, 0)
    assert s == FLASH_BASE
    ino = p1.stat("/dev/mtd0").st_ino
    assert maps_lines(m, p1.pid) == [
        pad(f"10000000-10001000 r--S 00000000 00:0e {ino} ", "/dev/mtd0")
    ]
    assert errno_of(p1.mmap, 0, 4096, R, PRIV, fd, 0) == errno.EACCES
    assert errno_of(p1.mmap, 0, 2 << 20, R, SHARED, fd, 0) == errno.EINVAL
    assert errno_of(p1.mmap, 0, 8192, R, SHARED, fd, (1 << 20) - 4096) == errno.EINVAL
    assert errno_of(p1.mmap, 0, 4096, R, SHARED, fd, 1 << 20) == errno.EINVAL
    assert p1.mmap(0, 4096, R | X, SHARED, fd, 4096) == FLASH_BASE + 4096  # ROM has EXEC
    # NOR flash without point: a private copy would be filled by kernel_read(), which
    # refuses mtdchar's plain ->read since v5.10; MAP_SHARED is ENODEV
    fd1 = p1.open("/dev/mtd1", nommu.O_RDONLY)
    before = free_pages(m)
    assert errno_of(p1.mmap, 0, 4096, R, PRIV, fd1, 0) == errno.EINVAL
    assert m.dmesg()[-1] == "kernel read not supported for file /mtd1 (pid: 1 comm: P1)"
    assert free_pages(m) == before
    assert errno_of(p1.mmap, 0, 4096, R, SHARED, fd1, 0) == errno.ENODEV
    m.validate()


def test_c109_mtdchar_private_copy_before_5_10() -> None:
    """Before v5.10 kernel_read() used mtdchar's ->read: the copy holds the flash bytes."""
    board = spec_board(kernel="4.4")
    m = board.m
    p1 = board.spawn("P1")
    fd1 = p1.open("/dev/mtd1", nommu.O_RDONLY)
    before = free_pages(m)
    c = p1.mmap(0, 4096, R, PRIV, fd1, 0)
    assert free_pages(m) == before - 1
    assert p1.peek(c, 4096) == bytes(range(256)) * 16
    m.validate()


def test_mtdchar_open_read_write_rules(board) -> None:  # type: ignore[no-untyped-def]
    p1 = board.spawn("P1")
    assert errno_of(p1.open, "/dev/mtd0", nommu.O_RDWR) == errno.EACCES  # ROM
    assert errno_of(p1.open, "/dev/mtd1ro", nommu.O_WRONLY) == errno.EACCES
    fd = p1.open("/dev/mtd0", nommu.O_RDONLY)
    assert p1.read(fd, 4) == board.rom.image.data[:4] == b"-rom"
    assert p1.pread(fd, 10, (1 << 20) - 4) == bytes(4)
    assert p1.pread(fd, 10, 1 << 20) == b""
    # NOR: writing only clears bits
    fdw = p1.open("/dev/mtd1", nommu.O_RDWR)
    assert p1.pwrite(fdw, b"\x0f\xf0", 0xFF) == 2
    assert p1.pread(fdw, 2, 0xFF) == bytes([0xFF & 0x0F, 0x00 & 0xF0])
    assert errno_of(p1.pwrite, fdw, b"x", 0x10000) == errno.ENOSPC
    assert p1.pwrite(fdw, b"xyz", 0x10000 - 1) == 1
    assert errno_of(p1.ftruncate, fdw, 0) == errno.EINVAL


def test_mtd_ram_partition_is_writable_and_direct() -> None:
    m = z1024(flash="1M", flash_base=FLASH_BASE)
    rom = m.mount("romfs", "/rom", files={"data": A10000}, mtd_type="ram")
    p = m.spawn(name="P1")
    fd = p.open("/dev/mtd0", nommu.O_RDWR)
    s = p.mmap(0, 8192, RW | X, SHARED, fd, 0)
    assert s == FLASH_BASE
    p.poke(s + 0x1000, b"ram!")
    assert p.pread(fd, 4, 0x1000) == b"ram!"
    assert p.pwrite(fd, b"back", 0x1004) == 4
    assert p.peek(s + 0x1004, 4) == b"back"
    # romfs on MTD_RAM: XIP, and reads come from the (changed) flash bytes
    fdr = p.open("/rom/data", nommu.O_RDONLY)
    x = p.mmap(0, 10000, R | X, PRIV, fdr, 0)
    assert x == FLASH_BASE + rom.image.lookup("/data").data_offset
    p.poke(x, b"XIP")
    assert p.pread(fdr, 3, 0) == b"XIP"
    # private read-only of the device: EACCES from the driver, as for ROM
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fd, 0) == errno.EACCES
    # the rest of the flash stays read-only
    assert errno_of(p.poke, FLASH_BASE + rom.mtd.size, b"x") == errno.EFAULT
    assert free_pages(m) == 1024
    m.validate()


def test_non_pointable_rom(board) -> None:  # type: ignore[no-untyped-def]
    """A ROM whose map driver has no _point: romfs copies, mtdchar fails with ENODEV."""
    m = z1024(flash="1M", flash_base=FLASH_BASE)
    m.mount("romfs", "/rom", files={"data": A10000}, pointable=False)
    p = m.spawn(name="P1")
    fd = p.open("/rom/data", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fd, 0) == errno.ENODEV
    c = p.mmap(0, 10000, R | X, PRIV, fd, 0)
    assert c == 0x00400000
    assert p.peek(c, 10000) == A10000
    assert p.mmap(0, 4096, R, SHARED, fd, 0) == c  # now it attaches to the copy (H6)
    fdm = p.open("/dev/mtd0", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fdm, 0) == errno.ENODEV
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fdm, 0) == errno.ENODEV
    m.validate()


def test_romfs_on_nor_is_copy_only() -> None:
    m = z1024(flash="1M", flash_base=FLASH_BASE)
    m.mount("romfs", "/rom", files={"data": A10000}, mtd_type="nor")
    p = m.spawn(name="P1")
    fd = p.open("/rom/data", nommu.O_RDONLY)
    assert p.mmap(0, 16384, R, PRIV, fd, 0) == 0x00400000  # copy: no EINVAL past EOF
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fd, 0) == errno.ENODEV


def test_consecutive_partitions() -> None:
    m = z1024(flash="4M", flash_base=FLASH_BASE)
    a = m.mount("romfs", "/a", files={"f": b"a" * 100})
    b = m.mount("romfs", "/b", files={"f": b"b" * 70000})
    c = m.mount("romfs", "/c", files={"f": b"c"}, size="1M")
    assert [x.mtd.base for x in (a, b, c)] == [
        FLASH_BASE,
        FLASH_BASE + 0x10000,
        FLASH_BASE + 0x30000,
    ]
    assert [x.mtd.size for x in (a, b, c)] == [0x10000, 0x20000, 0x100000]
    p = m.spawn(name="P1")
    assert [p.stat(f"/{n}/f").st_dev for n in "abc"] == [0x1F00, 0x1F01, 0x1F02]
    for n in "abc":
        assert p.stat(f"/dev/mtd{'abc'.index(n)}").st_rdev == (90 << 8) | 2 * "abc".index(n)
    fd = p.open("/b/f", nommu.O_RDONLY)
    x = p.mmap(0, 70000, R, PRIV, fd, 0)
    assert p.peek(x, 70000) == b"b" * 70000
    assert x == FLASH_BASE + 0x10000 + b.image.lookup("/f").data_offset
    m.validate()


def test_romfs_metadata_links_devices_and_erofs() -> None:
    m = z1024(flash="1M", flash_base=FLASH_BASE)
    rom = m.mount(
        "romfs",
        "/rom",
        files={
            "bin/app": FileSpec(b"\x7fapp", executable=True),
            "bin/link": HardlinkSpec("bin/app"),
            "sh": SymlinkSpec("/rom/bin/app"),
            "dev/zero": DeviceSpec("char", 1, 5),
            "dev/nothing": DeviceSpec("char", 250, 0),
            "dev/blk": DeviceSpec("block", 3, 1),
            "fifo": SpecialSpec("fifo"),
            "sock": SpecialSpec("socket"),
        },
    )
    p = m.spawn(name="P1")
    st = p.stat("/rom/bin/app")
    assert st.st_ino == rom.image.lookup("/bin/app").ino
    assert st.st_mode == 0o100755
    assert p.stat("/rom/bin/link").st_ino == st.st_ino
    assert st.st_nlink == 1  # romfs_iget: "Hard to decide.."
    assert p.stat("/rom/sh").st_ino == st.st_ino  # the symlink resolves
    fd = p.open("/rom/sh", nommu.O_RDONLY)
    assert p.read(fd, 10) == b"\x7fapp"
    assert p.mmap(0, 4, R, PRIV, fd, 0) == rom.mtd.base + rom.image.lookup("/bin/app").data_offset
    # writes: EROFS everywhere
    assert errno_of(p.open, "/rom/bin/app", nommu.O_WRONLY) == errno.EROFS
    assert errno_of(p.open, "/rom/new", nommu.O_CREAT | nommu.O_RDWR) == errno.EROFS
    assert errno_of(p.unlink, "/rom/bin/app") == errno.EROFS
    assert errno_of(p.mkdir, "/rom/d") == errno.EROFS
    assert errno_of(p.truncate, "/rom/bin/app", 0) == errno.EROFS
    assert errno_of(p.link, "/rom/bin/app", "/rom/x") == errno.EROFS
    assert errno_of(p.chmod, "/rom/bin/app", 0o777) == errno.EROFS
    # device nodes open the machine's drivers; unknown numbers are ENXIO
    fdz = p.open("/rom/dev/zero", nommu.O_RDONLY)
    assert p.read(fdz, 3) == bytes(3)
    assert p.stat("/rom/dev/zero").st_rdev == (1 << 8) | 5
    # a private mapping of it is refused by kernel_read() (v5.10+); %pD4 names the
    # node inside the romfs mounted on /rom
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fdz, 0) == errno.EINVAL
    assert m.dmesg()[-1] == f"kernel read not supported for file /dev/zero (pid: {p.pid} comm: P1)"
    assert errno_of(p.open, "/rom/dev/nothing", nommu.O_RDONLY) == errno.ENXIO
    assert errno_of(p.open, "/rom/dev/blk", nommu.O_RDONLY) == errno.ENXIO
    assert errno_of(p.open, "/rom/sock", nommu.O_RDONLY) == errno.ENXIO
    fdf = p.open("/rom/fifo", nommu.O_RDWR)  # a FIFO on a read-only fs can be written
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fdf, 0) == errno.ENODEV
    m.validate()


# -- mount options -----------------------------------------------------------------------------
def test_romfs_mount_option_errors(tmp_path: Path) -> None:
    m = z1024()
    with pytest.raises(ValueError, match="device"):
        m.mount("romfs", "/r", files={"a": b"x"}, device="mtd")
    with pytest.raises(ValueError, match="device"):
        m.mount("romfs", "/r", files={"a": b"x"}, device="nand")
    with pytest.raises(ValueError, match="files"):
        m.mount("romfs", "/r")
    with pytest.raises(ValueError, match="files"):
        m.mount("romfs", "/r", files={"a": b"x"}, image=b"")
    with pytest.raises(ValueError, match="color"):
        m.mount("romfs", "/r", files={"a": b"x"}, color="red")
    with pytest.raises(ValueError, match="mtd_type"):
        m.mount("romfs", "/r", files={"a": b"x"}, device="block", mtd_type="ram")
    with pytest.raises(ValueError, match="image"):
        m.mount("romfs", "/r", image=str(tmp_path / "missing.img"))
    with pytest.raises(TypeError, match="files"):
        m.mount("romfs", "/r", files=[("a", b"x")])
    with pytest.raises(TypeError, match="files"):
        m.mount("romfs", "/r", files={"a": 42})
    with pytest.raises(ValueError, match="files"):
        m.mount("romfs", "/r", files={"../a": b"x"})
    small = z1024(flash="64K")
    with pytest.raises(ValueError, match="image"):
        small.mount("romfs", "/r", image=build_romfs({"big": bytes(70000)}))
    with pytest.raises(ValueError, match="files"):
        small.mount("romfs", "/r", files={"big": bytes(70000)})
    with pytest.raises(ValueError, match="size"):
        small.mount("romfs", "/r", files={"a": b"x"}, size="1M")
    with pytest.raises(ValueError, match="mtd_type"):
        small.mount("romfs", "/r", files={"a": b"x"}, mtd_type="flash")
    # nothing was left half-mounted
    assert "/r" not in small.ns.mounts and "/r" not in m.ns.mounts


def test_corrupt_image_is_a_clear_error() -> None:
    m = z1024()
    image = bytearray(build_romfs({"a": b"hello"}))
    image[12] ^= 0xFF  # superblock checksum
    with pytest.raises(RomfsFormatError, match="checksum"):
        m.mount("romfs", "/r", image=bytes(image))
    with pytest.raises(ValueError, match="magic"):
        m.mount("romfs", "/r", image=b"not a romfs image at all")
    assert isinstance(RomfsFormatError("x"), nommu.NommuError)


def test_host_files_and_image_paths(tmp_path: Path) -> None:
    host = tmp_path / "motd"
    host.write_bytes(b"welcome\n")
    img = tmp_path / "fs.img"
    img.write_bytes(build_romfs({"etc/motd": b"from image\n"}))
    m = z1024(flash="1M")
    m.mount("romfs", "/a", files={"etc/motd": str(host)})
    m.mount("romfs", "/b", image=img)
    m.mount("ext2", "/c", files={"motd": host})
    assert m.cat("/a/etc/motd") == "welcome\n"
    assert m.cat("/b/etc/motd") == "from image\n"
    assert m.cat("/c/motd") == "welcome\n"
    with pytest.raises(ValueError, match="files"):
        m.mount("ext2", "/d", files={"x": str(tmp_path / "nope")})


@pytest.mark.skipif(not REAL_IMAGE.exists(), reason="the uClinux rootfs.bin is not present")
def test_real_uclinux_image_mounts_and_executes_in_place() -> None:
    m = z1024(flash="1M", flash_base=FLASH_BASE)
    rom = m.mount("romfs", "/rom", image=str(REAL_IMAGE))
    parsed = RomfsImage.parse(REAL_IMAGE.read_bytes())
    p = m.spawn(name="P1")
    assert m.cat("/rom/etc/inittab") == parsed.read("/etc/inittab").decode()
    # /init -> /bin/init is absolute: it resolves in the machine's root, not the image
    assert errno_of(p.stat, "/rom/init") == errno.ENOENT
    assert p.stat("/rom/bin/init").st_ino == parsed.lookup("/bin/init").ino
    assert p.stat("/rom/bin/sh").st_size == 74340
    fd = p.open("/rom/bin/init", nommu.O_RDONLY)
    x = p.mmap(0, 37684, R | X, PRIV, fd, 0)
    assert x == FLASH_BASE + parsed.lookup("/bin/init").data_offset
    assert p.peek(x, 4) == b"bFLT"
    assert p.peek(x, 37684) == parsed.read("/bin/init")
    assert rom.image.volume == "ROMdisk"
    assert free_pages(m) == 1024
    m.validate()


# -- C111 cramfs ---------------------------------------------------------------------------------
def test_c111_cramfs_physmem() -> None:
    m = z1024(flash="1M", flash_base=FLASH_BASE)
    u, c = bytes(range(256)) * 32, bytes(range(255, -1, -1)) * 32
    cram = m.mount("cramfs", "/cram", files={"u": FileSpec(u, executable=True), "c": c}, xip=["u"])
    p = m.spawn(name="P1")
    fdu = p.open("/cram/u", nommu.O_RDONLY)
    lc = p.mmap(0, 8192, R | X, PRIV, fdu, 0)
    assert lc % P == 0 and cram.mtd.base <= lc < cram.mtd.base + cram.mtd.size
    assert p.peek(lc, 8192) == u
    assert free_pages(m) == 1024
    assert errno_of(p.mmap, 0, 12288, R, PRIV, fdu, 0) == errno.EINVAL  # past EOF
    assert p.mmap(0, 8192, R, SHARED, fdu, 0) == lc
    fdc = p.open("/cram/c", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fdc, 4096) == errno.ENODEV
    copy = p.mmap(0, 8192, R, PRIV, fdc, 0)  # compressed: ENOSYS, so a copy
    assert copy == 0x00400000 and p.peek(copy, 8192) == c
    assert p.read(fdc, 4) == c[:4]
    assert errno_of(p.open, "/cram/c", nommu.O_RDWR) == errno.EROFS
    assert p.stat("/cram/u").st_dev == 0x1F00
    ino = p.stat("/cram/u").st_ino
    # the MAP_SHARED mapping of the same range hid the first VMA (H2); the region is r-xp
    assert maps_lines(m, p.pid)[-1] == pad(
        f"{lc:08x}-{lc + 8192:08x} r--S 00000000 1f:00 {ino} ", "/cram/u"
    )
    assert maps_lines(m)[-1] == pad(
        f"{lc:08x}-{lc + 8192:08x} r-xp 00000000 1f:00 {ino} ", "/cram/u"
    )
    # on a block device cramfs has no capabilities: copies only
    m.mount("cramfs", "/cramb", device="block", files={"u": u}, xip=["u"])
    fdb = p.open("/cramb/u", nommu.O_RDONLY)
    b = p.mmap(0, 8192, R | X, PRIV, fdb, 0)
    assert b % P == 0 and b < FLASH_BASE and p.peek(b, 8192) == u
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fdb, 0) == errno.ENODEV
    with pytest.raises(ValueError, match="xip"):
        m.mount("cramfs", "/x", files={"a": b"1"}, xip=["b"])
    m.validate()


def test_mount_on_a_mountpoint_takes_no_flash() -> None:
    m = z1024(flash="1M", flash_base=FLASH_BASE)
    m.mount("romfs", "/rom", files={"a": b"1"})
    with pytest.raises(ValueError, match="target"):
        m.mount("romfs", "/rom", files={"a": b"2"})
    assert errno_of(m.spawn().open, "/dev/mtd1", nommu.O_RDONLY) == errno.ENOENT
    assert m.mount("romfs", "/rom2", files={"a": b"2"}).mtd.index == 1
