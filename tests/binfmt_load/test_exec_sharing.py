"""Where a bFLT program's text lives: XIP on romfs-on-flash, one copy on ext2, the page
cache on ramfs, a private copy for a ptraced loader (fs/binfmt_flat.c, determine_vm_flags())."""

from __future__ import annotations

import pytest

import nommu
from exec_helpers import P, flat_prog, free_pages, install, maps_lines, run
from nommu.binfmt.flat_format import FLAT_FLAG_RAM
from nommu.fs.romfs_image import FileSpec

PROG = flat_prog(text_len=0x5040, data_len=0x800, bss_len=0x800, relocs=4, flags=0)
TEXT_PAGES = 6  # PAGE_ALIGN(0x5040)
DATA_PAGES = 3  # PAGE_ALIGN(0x800 + max(0x800 + stack_len, 16) + 4)


def _text(m: nommu.Machine, p: nommu.Process) -> tuple[int, int, str]:
    """The text line: the file mapping (case A) or the first line (case B)."""
    lines = maps_lines(m, p)
    files = [ln for ln in lines if not ln.endswith((" ", "[stack]"))]
    line = files[0] if files else lines[0]
    return int(line[:8], 16), int(line[9:17], 16), line


def _machine(**kw: object) -> nommu.Machine:
    return nommu.Machine(
        ram="8M",
        ram_base=0,
        kernel_reserved="4M",
        flash="4M",
        flash_base=0x10000000,
        ideal=True,  # exact addresses of the idealised kernel
        **kw,
    )  # type: ignore[arg-type]


def test_romfs_on_flash_text_is_xip_and_shared() -> None:
    m = _machine()
    m.mount("romfs", "/rom", files={"bin/prog": FileSpec(PROG, executable=True)}, device="mtd")
    sh = m.spawn()
    before = free_pages(m)
    a = run(sh, "/rom/bin/prog")
    b = run(sh, "/rom/bin/prog")
    sa, ea, line = _text(m, a)
    assert _text(m, b)[:2] == (sa, ea)
    assert 0x10000000 <= sa < 0x10400000  # in the flash: execute in place
    assert line.endswith("/rom/bin/prog") and " r-xp " in line
    assert before - free_pages(m) == 2 * DATA_PAGES  # no RAM for any text
    assert a.mm is not None and a.peek(a.mm.start_code - 64, 4) == b"bFLT"
    m.validate()


def test_ext2_text_is_one_shared_copy() -> None:
    m = _machine()
    m.mount("ext2", "/mnt", files={"prog": FileSpec(PROG, executable=True)})
    sh = m.spawn()
    before = free_pages(m)
    a = run(sh, "/mnt/prog")
    assert before - free_pages(m) == TEXT_PAGES + DATA_PAGES
    b = run(sh, "/mnt/prog")
    assert _text(m, a)[:2] == _text(m, b)[:2]
    assert before - free_pages(m) == TEXT_PAGES + 2 * DATA_PAGES
    gmaps = m.cat("/proc/maps")
    assert sum(1 for ln in gmaps.splitlines() if ln.endswith("/mnt/prog")) == 1
    a.exit(0)
    assert before - free_pages(m) == TEXT_PAGES + DATA_PAGES  # b still uses the copy
    b.exit(0)
    assert free_pages(m) == before
    m.validate()


def test_ptraced_loader_gets_its_own_text_copy() -> None:
    m = _machine()
    m.mount("romfs", "/rom", files={"bin/prog": FileSpec(PROG, executable=True)}, device="mtd")
    sh = m.spawn()
    a = run(sh, "/rom/bin/prog")
    before = free_pages(m)
    traced = sh.vfork()
    traced.ptraced = True
    traced.execve("/rom/bin/prog", ["prog"])
    st, _, _ = _text(m, traced)
    assert st != _text(m, a)[0] and st < 0x10000000  # a RAM copy
    assert before - free_pages(m) == TEXT_PAGES + DATA_PAGES
    # an untraced instance started afterwards still runs from flash
    c = run(sh, "/rom/bin/prog")
    assert _text(m, c)[0] == _text(m, a)[0]
    m.validate()


def test_ramfs_text_is_the_page_cache() -> None:
    """A read-only private mapping of a contiguous ramfs file is a direct overlay."""
    m = _machine()
    sh = m.spawn()
    install(sh, "/bin/prog", PROG)
    cache = free_pages(m)
    a = run(sh, "/bin/prog")
    b = run(sh, "/bin/prog")
    sa, _, _ = _text(m, a)
    assert _text(m, b)[0] == sa == 0x00400000  # the file's first page
    assert cache - free_pages(m) == 2 * DATA_PAGES
    assert m.nommu.mmap_pages_allocated == 2 * DATA_PAGES


def test_flat_ram_flag_is_never_shared() -> None:
    m = _machine()
    m.mount(
        "romfs",
        "/rom",
        files={"bin/ram": FileSpec(flat_prog(flags=FLAT_FLAG_RAM), executable=True)},
        device="mtd",
    )
    sh = m.spawn()
    before = free_pages(m)
    a = run(sh, "/rom/bin/ram")
    b = run(sh, "/rom/bin/ram")
    assert _text(m, a)[0] != _text(m, b)[0]
    assert before - free_pages(m) == 2 * 5
    assert all(ln.endswith("[stack]") for ln in maps_lines(m, a))


@pytest.mark.parametrize("fstype", ["ext2", "romfs-block"])
def test_text_copy_is_released_with_the_last_user(fstype: str) -> None:
    m = _machine()
    files = {"prog": FileSpec(PROG, executable=True)}
    if fstype == "ext2":
        m.mount("ext2", "/mnt", files=files)
    else:
        m.mount("romfs", "/mnt", files=files, device="block")
    sh = m.spawn()
    before, copy = free_pages(m), m.nommu.mmap_pages_allocated
    kids = [run(sh, "/mnt/prog") for _ in range(3)]
    assert m.nommu.mmap_pages_allocated - copy == TEXT_PAGES + 3 * DATA_PAGES
    for k in kids:
        k.exit(0)
        assert sh.wait()[0] == k.pid
    assert free_pages(m) == before and m.nommu.mmap_pages_allocated == copy
    m.validate()
    assert P == 4096
