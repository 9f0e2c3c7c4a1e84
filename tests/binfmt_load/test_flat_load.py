"""The bFLT loader: layouts from chosen geometry, case 19.E C57, relocations, compression."""

from __future__ import annotations

import errno
import struct

import pytest

import nommu
from exec_helpers import (
    P,
    flat_prog,
    free_pages,
    install,
    maps_lines,
    run,
    strings_for_extra,
    z1024,
)
from nommu import SyscallError
from nommu.binfmt.flat_format import (
    FLAT_FLAG_GOTPIC,
    FLAT_FLAG_GZDATA,
    FLAT_FLAG_GZIP,
    FLAT_FLAG_KTRACE,
    FLAT_FLAG_RAM,
    build_flat,
)
from nommu.fs.romfs_image import FileSpec


def _le(m: nommu.Machine, addr: int) -> int:
    return int.from_bytes(m.memory.read(addr, 4), "little")


def test_C57_layout_and_brk_sequence() -> None:
    """Case C57: ext2 program, text copy T, data D, brk inside D's slack."""
    m = z1024()
    m.mount(
        "ext2",
        "/mnt",
        files={
            "a": bytes(i % 251 for i in range(10000)),
            "prog": FileSpec(flat_prog(), executable=True),
        },
    )
    init = m.spawn(name="sh")
    argv = ["/mnt/prog"]
    envp = strings_for_extra("/mnt/prog", argv, 0x100)
    p1 = run(init, "/mnt/prog", argv, envp)
    mm = p1.mm
    assert mm is not None
    lines = maps_lines(m, p1)
    t, d = 0x00400000, 0x00404000
    ino = p1.stat("/mnt/prog").st_ino
    assert lines == [
        f"00400000-00403000 r-xp 00000000 03:01 {ino}".ljust(48) + " /mnt/prog",
        "00404000-00407000 rwxp 00000000 00:00 0".ljust(48) + " [stack]",
    ]
    assert (mm.start_code, mm.end_code) == (t + 0x40, t + 0x2040)
    assert (mm.start_data, mm.end_data) == (d + 0x20, d + 0x820)
    assert mm.start_brk == mm.brk == d + 0x1020
    assert mm.end_brk == d + 0x1F00
    # the argument area ends at the initial stack pointer D + 0x2FFC
    assert mm.arg_start == d + 0x2FFC - (10 + 10 + len(envp[0]) + 1 + 4)
    free = free_pages(m)
    copy = m.nommu.mmap_pages_allocated
    seq = [
        (0, d + 0x1020),
        (d + 0x1800, d + 0x1800),
        (d + 0x1F00, d + 0x1F00),
        (d + 0x1F04, d + 0x1F00),
        (d + 0x1000, d + 0x1F00),
        (d + 0x1100, d + 0x1100),
        (d + 0x1020, d + 0x1020),
    ]
    for request, result in seq:
        assert p1.brk(request) == result
    assert free_pages(m) == free and m.nommu.mmap_pages_allocated == copy
    m.validate()


def test_C57_initial_stack_tables() -> None:
    """argc, argv[], envp[] and the strings are real bytes on the new stack."""
    m = z1024()
    init = m.spawn()
    install(init, "/bin/prog", flat_prog())
    p = run(init, "/bin/prog", ["prog", "-v"], ["HOME=/", "TERM=vt100"])
    mm = p.mm
    assert mm is not None
    sp = mm.start_stack
    assert sp % 8 == 0
    assert _le(m, sp) == 2
    argv = [_le(m, sp + 4 + 4 * i) for i in range(3)]
    envp = [_le(m, sp + 16 + 4 * i) for i in range(3)]
    assert argv[2] == 0 and envp[2] == 0
    assert p.peek(argv[0], 5) == b"prog\0" and p.peek(argv[1], 3) == b"-v\0"
    assert p.peek(envp[0], 7) == b"HOME=/\0" and p.peek(envp[1], 11) == b"TERM=vt100\0"
    assert (mm.arg_start, mm.arg_end) == (argv[0], envp[0])
    assert p.peek(mm.arg_start, mm.arg_end - mm.arg_start) == b"prog\0-v\0"
    assert p.peek(mm.env_start, mm.env_end - mm.env_start) == b"HOME=/\0TERM=vt100\0"
    # the file name follows the environment (AT_EXECFN's string)
    assert p.peek(mm.env_end, 10) == b"/bin/prog\0"
    assert m.cat(f"/proc/{p.pid}/cmdline") == "prog\0-v\0"
    # the word below the data holds the data's address (DATA_START_OFFSET_WORDS)
    assert _le(m, mm.start_data - 4) == mm.start_data


def test_case_B_one_rwx_mapping() -> None:
    m = z1024()
    init = m.spawn()
    install(init, "/bin/ram", flat_prog(flags=FLAT_FLAG_RAM))
    before = free_pages(m)
    p = run(init, "/bin/ram")
    mm = p.mm
    assert mm is not None
    lines = maps_lines(m, p)
    assert len(lines) == 1 and lines[0].endswith("[stack]") and " rwxp " in lines[0]
    start = int(lines[0][:8], 16)
    # PAGE_ALIGN(text + data + max(bss + stack_len, relocs*4) + 4) -> 5 pages, trimmed from 8
    assert int(lines[0][9:17], 16) - start == 5 * P
    assert before - free_pages(m) == 5
    assert mm.start_code == start + 64 and mm.end_code == start + 0x2040
    assert mm.start_data == start + 0x2060  # ALIGN(text_len + 4, 0x20)
    assert mm.end_brk == start + 5 * P - (0x1000 + _stack_extra())
    # text bytes are the file's, header included
    assert p.peek(start, 4) == b"bFLT"


def _stack_extra() -> int:
    # argv ["/bin/ram"], no environment: strings 9 + 9 + 4, arrays 8 + 4, aligned to 8
    return (9 + 9 + 4 + 8 + 4 + 7) & ~7


def test_relocations_add_segment_bases() -> None:
    """Data words hold big-endian offsets into the text; relocated they are addresses."""
    m = z1024()
    init = m.spawn()
    install(init, "/bin/r", flat_prog(relocs=6, flags=FLAT_FLAG_RAM, data_len=16))
    p = run(init, "/bin/r")
    mm = p.mm
    assert mm is not None
    # 4 data words, then text words 1 and 2 (build_flat's layout)
    for i in range(4):
        assert _le(m, mm.start_data + 4 * i) == mm.start_code + (i + 1) * 4
    for i in (4, 5):
        assert _le(m, mm.start_code + 4 * (1 + i - 4)) == mm.start_code + (i + 1) * 4
    # the relocation table (read into the bss) was cleared with the bss
    assert p.peek(mm.end_data, 24) == bytes(24)


def test_gotpic_got_is_relocated_in_place() -> None:
    m = z1024()
    init = m.spawn()
    data = struct.pack("<III", 8, 0, 0xFFFFFFFF) + struct.pack("<I", 12) + bytes(16)
    install(
        init,
        "/bin/g",
        build_flat(
            0x1040, len(data), 0x100, 0x1000, 0, flags=FLAT_FLAG_GOTPIC | FLAT_FLAG_RAM, data=data
        ),
    )
    p = run(init, "/bin/g")
    mm = p.mm
    assert mm is not None
    assert _le(m, mm.start_data) == mm.start_code + 8
    assert _le(m, mm.start_data + 4) == 0
    assert _le(m, mm.start_data + 8) == 0xFFFFFFFF
    assert _le(m, mm.start_data + 12) == 12  # after the terminator: untouched


def test_old_version_relocations() -> None:
    """Rev 2: 30-bit offset from the data and a 2-bit segment type."""
    m = z1024()
    init = m.spawn()
    data = struct.pack("<III", 0x10, 0x4, 0x8) + bytes(4)
    relocs = struct.pack(">III", (0 << 30) | 0, (1 << 30) | 4, (2 << 30) | 8)
    blob = bytearray(
        build_flat(0x1040, len(data), 0x20, 0x1000, 0, flags=FLAT_FLAG_RAM, rev=2, data=data)
    )
    struct.pack_into(">I", blob, 32, 3)  # reloc_count
    install(init, "/bin/old", bytes(blob) + relocs)
    p = run(init, "/bin/old")
    mm = p.mm
    assert mm is not None
    assert _le(m, mm.start_data) == mm.start_code + 0x10
    assert _le(m, mm.start_data + 4) == mm.start_data + 4
    assert _le(m, mm.start_data + 8) == mm.end_data + 8


def test_compressed_needs_the_option() -> None:
    m = z1024()
    init = m.spawn()
    install(init, "/bin/z", flat_prog(flags=FLAT_FLAG_GZIP))
    child = init.vfork()
    with pytest.raises(SyscallError) as e:
        child.execve("/bin/z", ["z"])
    assert e.value.errno == errno.ENOEXEC
    assert child.state == "R" and init.state == "D"  # old image intact, parent still waits
    child.exit(0)
    m.validate()


@pytest.mark.parametrize("flags", [FLAT_FLAG_GZIP, FLAT_FLAG_GZDATA], ids=["gzip", "gzdata"])
def test_compressed_loads_with_option(flags: int) -> None:
    m = z1024(compressed_flat=True)
    init = m.spawn()
    install(init, "/bin/z", flat_prog(flags=flags))
    install(
        init,
        "/bin/plain",
        flat_prog(
            flags=flags & ~(FLAT_FLAG_GZIP | FLAT_FLAG_GZDATA)
            | (FLAT_FLAG_RAM if flags == FLAT_FLAG_GZIP else 0)
        ),
    )
    z = run(init, "/bin/z")
    plain = run(init, "/bin/plain")
    assert z.image is not None and plain.image is not None
    assert (
        z.image.format == plain.image.format == ("bflt-ram" if flags == FLAT_FLAG_GZIP else "bflt")
    )
    zm, pm = z.mm, plain.mm
    assert zm is not None and pm is not None
    # the same code and relocated data, each at its own address
    assert z.peek(zm.start_code, 0x2000) == plain.peek(pm.start_code, 0x2000)
    for i in range(4):
        assert (
            _le(m, zm.start_data + 4 * i) - zm.start_code
            == _le(m, pm.start_data + 4 * i) - pm.start_code
        )
    if flags == FLAT_FLAG_GZIP:
        assert z.peek(zm.start_code - 64, 64) == bytes(64)  # the header is not copied
    m.validate()


def test_rlimit_data_is_checked_before_the_point_of_no_return() -> None:
    m = z1024()
    init = m.spawn()
    install(init, "/bin/prog", flat_prog())
    child = init.vfork()
    a = child.mmap(0, P, nommu.PROT_READ, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    child.rlimit_data = 0x800 + 0x800 - 1
    with pytest.raises(SyscallError) as e:
        child.execve("/bin/prog", ["prog"])
    assert e.value.errno == errno.ENOMEM
    assert child.mm is init.mm and child.mm is not None and child.mm.find_vma(a) is not None
    child.rlimit_data = 0x1000
    child.execve("/bin/prog", ["prog"])
    assert init.state == "R"
    assert init.mm is not None and init.mm.find_vma(a) is not None  # the parent's mm lives on
    m.validate()


def test_ktrace_logs_the_load() -> None:
    m = z1024()
    init = m.spawn()
    install(init, "/bin/k", flat_prog(flags=FLAT_FLAG_KTRACE))
    run(init, "/bin/k")
    log = m.dmesg()
    assert "binfmt_flat: Loading file: /bin/k" in log
    assert any(line.startswith("binfmt_flat: Load /bin/k: TEXT=") for line in log)


def test_exec_releases_old_image_before_loading() -> None:
    """The point of no return frees the old program first: a re-exec fits in the same RAM."""
    m = nommu.Machine(ram="16M", ram_base=0, kernel_reserved="4M", ideal=True)
    init = m.spawn()
    # two order-10 blocks; the file's pages break one: only one copy fits at a time
    install(init, "/bin/big", flat_prog(bss_len=700 * P, flags=FLAT_FLAG_RAM, relocs=0))
    p = run(init, "/bin/big")
    before = free_pages(m)
    p.execve("/bin/big", ["big", "again"])
    assert free_pages(m) == before
    assert m.cat(f"/proc/{p.pid}/cmdline") == "big\0again\0"
    m.validate()


@pytest.mark.parametrize(("arch", "data"), [("arm", 0x2060), ("riscv64", 0x2040)])
def test_data_start_offset_follows_the_arch(arch: str, data: int) -> None:
    """load_flat_file(): ARM reserves one word below the data; RISC-V selects
    BINFMT_FLAT_NO_DATA_START_OFFSET, so its data sits 0x20 lower (ALIGN(.., 0x20))."""
    m = z1024(arch=arch, word_size=4)  # the same 32-bit image on both
    init = m.spawn()
    install(init, "/bin/ram", flat_prog(flags=FLAT_FLAG_RAM))
    p = run(init, "/bin/ram")
    mm = p.mm
    assert mm is not None
    start = int(maps_lines(m, p)[0][:8], 16)
    assert mm.start_data == start + data
