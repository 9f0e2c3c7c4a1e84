"""/proc/maps and /proc/PID/maps for a mapping of every filesystem and device.

fs/proc/nommu.c nommu_region_show(), fs/proc/task_nommu.c nommu_vma_show().
"""

from __future__ import annotations

from errno import EINVAL

from fsutil import FLASH_BASE, PRIV, RW, SHARED, P, R, X, errno_of, maps_lines, pad, spec_board

import nommu


def test_exact_lines_for_every_backing() -> None:
    board = spec_board()
    m = board.m
    p = board.spawn("P1")
    rom_data = board.rom.image.lookup("/data")
    romb_data = board.romb.image.lookup("/data")

    def ino(path: str) -> int:
        return p.stat(path).st_ino

    def dev(path: str) -> str:
        d = p.stat(path).st_dev
        return f"{d >> 8:02x}:{d & 0xFF:02x}"

    fd = p.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 2 * P)
    ram = p.mmap(0, 2 * P, RW, SHARED, fd, 0)
    ext = p.mmap(0, 10000, R, PRIV, p.open("/mnt/a", nommu.O_RDONLY), 0)
    nfs = p.mmap(0, 4096, RW, PRIV, p.open("/nfs/n", nommu.O_RDWR), 4096)
    romb = p.mmap(0, 10000, R | X, PRIV, p.open("/romb/data", nommu.O_RDONLY), 0)
    anon = p.mmap(0, 3 * P, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    # kernel_read() refuses /dev/zero since v5.10: no copy, nothing listed
    assert errno_of(p.mmap, 0, P, R, PRIV, p.open("/dev/zero", nommu.O_RDONLY), 0) == EINVAL
    xip = p.mmap(0, 10000, R | X, PRIV, p.open("/rom/data", nommu.O_RDONLY), 0)
    mtd = p.mmap(0, P, R, SHARED, p.open("/dev/mtd0", nommu.O_RDONLY), 0)
    fb = p.mmap(0, 2 * P, RW, SHARED, p.open("/dev/fb0", nommu.O_RDWR), 0)
    mem = p.mmap(0, P, RW, SHARED, p.open("/dev/mem", nommu.O_RDWR), 0x00700000)
    # ideal buddy placement from Z1024 (3-page copies trim their order-2 block)
    assert (ram, ext, nfs, romb, anon) == (
        0x00400000,
        0x00404000,
        0x00407000,
        0x00408000,
        0x0040C000,
    )
    assert mtd == FLASH_BASE and fb == 0x30000000 and mem == 0x00700000
    xip_end = xip + 3 * P
    expected = [
        pad(f"00400000-00402000 rw-S 00000000 {dev('/ram/f')} {ino('/ram/f')} ", "/ram/f"),
        pad("00404000-00407000 r--p 00000000 03:01 12 ", "/mnt/a"),
        pad(f"00407000-00408000 rw-p 00001000 {dev('/nfs/n')} {ino('/nfs/n')} ", "/nfs/n"),
        pad(f"00408000-0040b000 r-xp 00000000 01:00 {romb_data.ino} ", "/romb/data"),
        "0040c000-0040f000 rw-p 00000000 00:00 0 ",
        pad(f"00700000-00701000 rw-S 00700000 00:0e {ino('/dev/mem')} ", "/dev/mem"),
        pad(f"10000000-10001000 r--S 00000000 00:0e {ino('/dev/mtd0')} ", "/dev/mtd0"),
        pad(f"{xip:08x}-{xip_end:08x} r-xp 00000000 1f:00 {rom_data.ino} ", "/rom/data"),
        pad(f"30000000-30002000 rw-S 00000000 00:0e {ino('/dev/fb0')} ", "/dev/fb0"),
    ]
    assert maps_lines(m, p.pid) == expected
    assert maps_lines(m) == expected  # one region per mapping here
    assert m.cat("/proc/maps") == "".join(line + "\n" for line in expected)
    for line in expected:
        if not line.endswith(" "):
            assert line.index("/") == 49  # path after column 48 and one space
    m.validate()


def test_sharer_lines_differ_from_the_region_line() -> None:
    board = spec_board()
    m = board.m
    p1, p2 = board.spawn("P1"), board.spawn("P2")
    fd1 = p1.open("/rom/prog", nommu.O_RDONLY)
    s = p1.mmap(0, 8192, R, PRIV, fd1, 0)
    fd2 = p2.open("/rom/prog", nommu.O_RDONLY)
    t = p2.mmap(0, 4096, R | X, PRIV, fd2, 4096)
    ino = board.rom.image.lookup("/prog").ino
    assert t == s + 4096
    assert maps_lines(m) == [pad(f"{s:08x}-{s + 8192:08x} r--p 00000000 1f:00 {ino} ", "/rom/prog")]
    assert maps_lines(m, p2.pid) == [
        pad(f"{t:08x}-{t + 4096:08x} r-xp 00001000 1f:00 {ino} ", "/rom/prog")
    ]


def test_64_bit_padding_and_deleted_files() -> None:
    m = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", word_size=8, ideal=True)
    m.mount("ramfs", "/ram")
    p = m.spawn(name="P1")
    fd = p.open("/ram/gone", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, P)
    p.mmap(0, P, RW, SHARED, fd, 0)
    p.unlink("/ram/gone")
    i = p.fstat(fd).st_ino
    line = f"00400000-00401000 rw-S 00000000 00:11 {i} ".ljust(72) + " /ram/gone (deleted)"
    assert maps_lines(m) == [line]
    assert maps_lines(m, p.pid) == [line]
