"""Relocation plans (the bFLT loader's fast path) against the word-by-word pass they replace.

Every exec is run twice, on two machines built the same way: one with plans
(the first exec of a program makes its plan, later ones apply it, at other
addresses too), one with ``RELOC_PLANS`` off, where every exec takes the
word-by-word pass. Results, the kernel log, ``/proc`` and the bytes of every
mapping must be the same.
"""

from __future__ import annotations

import gzip
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nommu
import nommu.binfmt.flat as flat
from nommu import KernelBug, SyscallError
from nommu.binfmt.flat_format import (
    FLAT_FLAG_GOTPIC,
    FLAT_FLAG_GZIP,
    FLAT_FLAG_RAM,
    FLAT_HDR_SIZE,
    build_flat,
    parse_flat_header,
)
from nommu.binfmt.flat_reloc import RelocLayout, make_plan
from nommu.fs.romfs_image import FileSpec

FLAGS = [0, FLAT_FLAG_RAM, FLAT_FLAG_GOTPIC, FLAT_FLAG_RAM | FLAT_FLAG_GOTPIC, FLAT_FLAG_GZIP]


def _program(seed: int, flags: int, relocs: int, hazard: str) -> bytes:
    """A bFLT file with *relocs* relocations, some of them made hazardous on purpose."""
    rng = random.Random(seed)
    text_len = FLAT_HDR_SIZE + 4 * rng.randrange(16, 600)
    data_len = 4 * rng.randrange(4, 400)
    bss_len = 4 * rng.randrange(0, 300)
    relocs = min(relocs, data_len // 4 - 1 + (text_len - FLAT_HDR_SIZE) // 4 - 1)
    plain = flags & ~FLAT_FLAG_GZIP
    image = bytearray(build_flat(text_len, data_len, bss_len, 4096, relocs, flags=plain))
    hdr = parse_flat_header(image, check_size=False)
    code_len = text_len - FLAT_HDR_SIZE
    size = code_len + data_len + bss_len
    table = hdr.reloc_start
    entries = [struct.unpack_from(">I", image, table + 4 * i)[0] for i in range(relocs)]
    if relocs and hazard != "none":
        i = rng.randrange(relocs)
        if hazard == "duplicate":
            entries[i] = entries[rng.randrange(relocs)]
        elif hazard == "unaligned":
            entries[i] += rng.randrange(1, 4)
        elif hazard == "outside":
            entries[i] = size + 4 * rng.randrange(1, 50)
        elif hazard == "text":
            entries[i] = 4 * rng.randrange(1, code_len // 4)
        elif hazard == "bss":
            entries[i] = code_len + data_len + 4 * rng.randrange(0, max(bss_len // 4, 1))
        elif hazard == "table":  # a relocation that patches a later entry of the table
            entries[i] = code_len + data_len + 4 * rng.randrange(relocs)
        elif hazard == "value":  # a word whose value lies outside the program
            off = entries[i] - code_len
            if 0 <= off < data_len - 4:
                struct.pack_into(">I", image, text_len + off, size + 8)
    for i, e in enumerate(entries):
        struct.pack_into(">I", image, table + 4 * i, e)
    if flags & FLAT_FLAG_GZIP:
        struct.pack_into(">I", image, 36, flags)  # the header's flags word
        return bytes(image[:FLAT_HDR_SIZE]) + gzip.compress(bytes(image[FLAT_HDR_SIZE:]), mtime=0)
    return bytes(image)


def _trace(
    image: bytes, plans: bool, monkeypatch: pytest.MonkeyPatch, arg: str = "x"
) -> list[object]:
    """Exec *image* several times (with a process in between shifting addresses)."""
    monkeypatch.setattr(flat, "RELOC_PLANS", plans)
    m = nommu.Machine(ram="4M", ram_base=0, kernel_reserved="1M", flash="1M", compressed_flat=True)
    m.mount("romfs", "/rom", files={"prog": FileSpec(image, executable=True)})
    sh = m.spawn(name="sh")
    fd = sh.open("/prog", nommu.O_CREAT | nommu.O_WRONLY, 0o755)
    sh.write(fd, image)
    sh.close(fd)
    out: list[object] = []
    keep = []
    for round_ in range(4):
        for path in ("/prog", "/rom/prog"):
            child = sh.vfork()
            try:
                child.execve(path, ["prog", arg * round_], [])
            except SyscallError as e:
                out.append((path, e.errno, e.detail))
                sh.wait()
                continue
            mm = child.mm
            assert mm is not None
            out.append(m.cat(f"/proc/{child.pid}/maps"))
            for vma in mm.vmas():
                out.append(child.peek(vma.vm_start, vma.vm_end - vma.vm_start))
            keep.append(child)
        # a live buffer moves the next programs to other addresses
        keep.append(
            sh.mmap(
                0, 4096 * (round_ + 1), nommu.PROT_READ, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
            )
        )
    out.append(m.dmesg())
    m.validate()
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32),
    flags=st.sampled_from(FLAGS),
    relocs=st.integers(0, 700),
    hazard=st.sampled_from(
        ["none", "none", "duplicate", "unaligned", "outside", "text", "bss", "table", "value"]
    ),
)
def test_plans_give_what_the_word_by_word_pass_gives(
    seed: int, flags: int, relocs: int, hazard: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _program(seed, flags, relocs, hazard)
    assert _trace(image, True, monkeypatch) == _trace(image, False, monkeypatch)


def test_the_default_programs_take_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain RAM program gets a plan, and the second exec uses it (no second pass)."""
    image = build_flat(48192, 6144, 12288, 8192, 600)
    calls = []
    real = flat._relocate
    monkeypatch.setattr(flat, "_relocate", lambda *a: calls.append(1) or real(*a))
    assert _trace(image, True, monkeypatch, "") == _trace(image, False, monkeypatch, "")
    # with plans: one pass per file (ramfs and romfs); without: one per exec
    assert len(calls) == 2 + 8


def _layout(image: bytes, memp: int = 0x400000) -> tuple[bytes, RelocLayout]:
    """The mapping of a RAM program after the copy, as the loader lays it out."""
    hdr = parse_flat_header(image)
    text_len, data_len = hdr.text_len, hdr.data_len
    datapos = (memp + text_len + 4 + 31) & ~31
    size = 1 << 16
    window = bytearray(size)
    window[:text_len] = image[:text_len]
    full = hdr.full_data()
    window[datapos - memp : datapos - memp + full] = image[text_len : text_len + full]
    layout = RelocLayout(
        size,
        0,
        datapos - memp + full,
        FLAT_HDR_SIZE,
        text_len - FLAT_HDR_SIZE,
        datapos - memp,
        text_len - FLAT_HDR_SIZE + data_len + hdr.bss_len,
        datapos - memp + hdr.reloc_start - text_len,
        hdr.reloc_count,
        False,
    )
    return bytes(window), layout


def test_make_plan_refuses_what_depends_on_order() -> None:
    image = build_flat(0x1040, 0x400, 0x100, 4096, 8)
    window, layout = _layout(image)
    assert make_plan(window, 0x400000, layout, 4096, "little") is not None
    hdr = parse_flat_header(image)
    table = hdr.reloc_start
    first = struct.unpack_from(">I", image, table)[0]
    for bad in (first + 2, layout.size + 4):  # unaligned; outside the program
        patched = bytearray(image)
        struct.pack_into(">I", patched, table + 4, bad)
        w, lay = _layout(bytes(patched))
        assert make_plan(w, 0x400000, lay, 4096, "little") is None
    patched = bytearray(image)
    struct.pack_into(">I", patched, table + 4, first)  # the same word twice
    w, lay = _layout(bytes(patched))
    assert make_plan(w, 0x400000, lay, 4096, "little") is None
    assert make_plan(window, 0xFFFF0000, layout, 4096, "little") is None  # addresses wrap


def test_a_plan_that_disagrees_with_the_pass_is_a_model_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = flat.make_plan

    def corrupt(*args: object) -> object:
        plan = real(*args)  # type: ignore[arg-type]
        assert plan is not None
        start, n, page, text, data = plan.chunks[0]
        plan.chunks[0] = (start, n, page + 1, text, data)
        return plan

    monkeypatch.setattr(flat, "make_plan", corrupt)
    m = nommu.Machine(ram="4M", ram_base=0, kernel_reserved="1M")
    sh = m.spawn(name="sh")
    fd = sh.open("/prog", nommu.O_CREAT | nommu.O_WRONLY, 0o755)
    sh.write(fd, build_flat(0x1040, 0x400, 0x100, 4096, 8))
    sh.close(fd)
    with pytest.raises(KernelBug, match="relocation plan differs"):
        sh.vfork().execve("/prog", ["prog"], [])


def test_a_rewritten_file_gets_a_new_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans are keyed by content: the same inode with other bytes is relocated anew."""
    m = nommu.Machine(ram="4M", ram_base=0, kernel_reserved="1M")
    sh = m.spawn(name="sh")
    a = build_flat(0x1040, 0x400, 0x100, 4096, 8)
    b = bytearray(a)
    struct.pack_into(">I", b, 0x1040 + 8, 0x20)  # another pointer in the data
    for image in (a, bytes(b)):
        fd = sh.open("/prog", nommu.O_CREAT | nommu.O_WRONLY | nommu.O_TRUNC, 0o755)
        sh.write(fd, image)
        sh.close(fd)
        child = sh.vfork()
        child.execve("/prog", ["prog"], [])
        mm = child.mm
        assert mm is not None
        word = int.from_bytes(child.peek(mm.start_data + 8, 4), "little")
        child.exit(0)
        sh.wait()
        expected = struct.unpack_from(">I", image, 0x1040 + 8)[0] + mm.start_code
        assert word == expected
