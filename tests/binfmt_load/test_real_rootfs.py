"""The real bFLT programs of a uClinux userland (ARM Versatile PB, Linux 4.4.0-uc0).

Each program in ../shared/data/uclinux-versatile/rootfs.bin is executed from
the romfs image on memory-mapped flash; the layout must be the one its header
gives: all are FLAT_FLAG_RAM (case B), so one RWX mapping of
``PAGE_ALIGN(text + data + max(bss + stack_len, relocs * 4) + 4)`` bytes labelled
``[stack]``, with ``start_brk`` after the bss.
"""

from __future__ import annotations

import os

import pytest

import nommu
from exec_helpers import ROOTFS, P, free_pages, maps_lines, run
from nommu.binfmt.flat_format import FLAT_FLAG_RAM, parse_flat_header
from shared_data import REAL_PROGRAMS

pytestmark = pytest.mark.skipif(
    not os.path.exists(ROOTFS), reason=f"{ROOTFS} is not present (external test data)"
)

PROGRAMS = REAL_PROGRAMS


def _machine() -> nommu.Machine:
    m = nommu.Machine(ram="32M", flash="4M", ideal=True)
    m.mount("romfs", "/rom", image=ROOTFS, device="mtd")
    return m


@pytest.mark.parametrize("path", sorted(PROGRAMS))
def test_real_program_layout(path: str) -> None:
    m = _machine()
    sh = m.spawn(name="sh")
    name = os.path.basename(path)
    fd = sh.open("/rom" + path, nommu.O_RDONLY)
    hdr = parse_flat_header(sh.read(fd, 64), check_size=False)
    sh.close(fd)
    text, data, bss, stack, relocs = PROGRAMS[path]
    assert (hdr.text_len, hdr.data_len, hdr.bss_len, hdr.stack_size, hdr.reloc_count) == (
        text,
        data,
        bss,
        stack,
        relocs,
    )
    assert hdr.flags == FLAT_FLAG_RAM and hdr.rev == 4
    before = free_pages(m)
    argv = [name]
    p = run(sh, "/rom" + path, argv)
    mm = p.mm
    assert mm is not None
    # the argument area: strings (argv[0], the file name) + one word, the two arrays
    stack_len = stack + ((len(name) + 1 + len("/rom" + path) + 1 + 4 + 8 + 4 + 7) & ~7)
    length = (text + data + max(bss + stack_len, relocs * 4) + 4 + P - 1) // P * P
    lines = maps_lines(m, p)
    assert len(lines) == 1
    start, end = int(lines[0][:8], 16), int(lines[0][9:17], 16)
    assert end - start == length
    assert lines[0] == f"{start:08x}-{end:08x} rwxp 00000000 00:00 0".ljust(48) + " [stack]"
    datapos = (start + text + 4 + 0x1F) & ~0x1F
    assert mm.start_data == datapos
    assert mm.start_brk == datapos + data + bss
    assert mm.end_brk == start + length - stack_len
    assert start <= mm.start_stack < end
    pages = length // P
    assert before - free_pages(m) == pages  # trimmed to the page (nr_trim_pages = 1)
    # the program's code is the file's, and its relocated data points into the program
    assert p.peek(start, 4) == b"bFLT"
    assert m.cat(f"/proc/{p.pid}/cmdline") == name + "\0"
    status = m.cat(f"/proc/{p.pid}/status")
    assert f"Name:\t{name}\n" in status
    m.validate()
    p.exit(0)
    sh.wait()
    assert free_pages(m) == before


def test_boot_like_sequence_runs_every_program_at_once() -> None:
    """init, then a shell, then each daemon, as the image's /etc/rc would; all exit cleanly."""
    m = _machine()
    kernel = m.spawn(name="swapper")
    init = run(kernel, "/rom/bin/init", ["/bin/init"])
    assert init.exe_path == "/rom/bin/init" and init.name == "init"
    before = free_pages(m)
    kids = [run(init, "/rom" + path, [os.path.basename(path)]) for path in sorted(PROGRAMS)]
    m.validate()
    gmaps = m.cat("/proc/maps").splitlines()
    assert len(gmaps) == len(PROGRAMS) + 1  # one region per process, nothing shared
    for k in kids:
        k.exit(0)
    for _ in kids:
        init.wait()
    assert free_pages(m) == before
