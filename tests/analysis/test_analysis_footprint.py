"""Per-process footprints: columns from the loader's layout, sharing and PSS."""

from __future__ import annotations

import nommu
from nommu.analysis import capture, footprints
from nommu.binfmt.flat_format import build_flat
from nommu.fs.romfs_image import FileSpec

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
TEXT, DATA, BSS = 20000, 2000, 3000


def board() -> tuple[nommu.Machine, nommu.Process]:
    m = nommu.Machine(ram="4M", kernel_reserved="1M", flash="1M")
    ram = FileSpec(build_flat(TEXT, DATA, BSS, 4096, 50), executable=True)
    xip = FileSpec(build_flat(TEXT, DATA, BSS, 4096, 50, flags=0), executable=True)
    m.mount("romfs", "/xip", files={"app": xip}, device="mtd")
    m.mount("romfs", "/blk", files={"app": xip, "ramapp": ram}, device="block")
    return m, m.spawn(name="init")


def start(parent: nommu.Process, path: str) -> nommu.Process:
    child = parent.vfork()
    child.execve(path, [path])
    return child


def test_a_ram_loaded_program() -> None:
    m, init = board()
    init.execve("/blk/ramapp", ["ramapp"])
    init.mmap(0, 10000, RW, ANON)
    (f,) = footprints(capture(m))
    assert (f.pid, f.name) == (1, "ramapp")
    assert f.text == TEXT and f.bss == BSS
    assert DATA <= f.data < DATA + 64  # the data-start word and alignment
    assert f.stack >= 4096
    assert f.heap == 12288 and f.other == 0 and f.xip == 0
    assert f.text + f.data + f.bss + f.stack + f.heap + f.slack == f.ram
    assert f.shared == 0 and f.pss == f.ram


def test_xip_shared_copies_and_pss() -> None:
    m, init = board()
    for path in ("/xip/app", "/xip/app", "/blk/app", "/blk/app"):
        start(init, path)
    rows = {f.pid: f for f in footprints(capture(m))}
    xip1, xip2, copy1, copy2 = rows[2], rows[3], rows[4], rows[5]
    assert xip1.xip == 20480 and xip1.text == 0 and xip1.shared == 0
    assert copy1.text == 20480 and copy1.shared == 20480
    assert copy1.pss == copy1.ram - 20480 / 2
    assert (copy2.ram, copy2.pss) == (copy1.ram, copy1.pss)
    assert xip2.ram == xip1.ram < copy1.ram
    # PSS adds up to the RAM the regions hold
    snap = capture(m)
    assert sum(f.pss for f in footprints(snap)) == sum(r.ram_bytes for r in snap.regions)


def test_vfork_child_shares_its_parent_s_address_space() -> None:
    m, init = board()
    init.mmap(0, 8192, RW, ANON)
    init.vfork()
    rows = footprints(capture(m))
    assert [f.pid for f in rows] == [1, 2]
    assert rows[0].ram == rows[1].ram == 8192
    # one address space maps it once: as with threads' smaps on Linux, nothing is
    # "shared" and each task shows the whole proportional share
    assert rows[0].shared == rows[1].shared == 0
    assert rows[0].pss == rows[1].pss == 8192
