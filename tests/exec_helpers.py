"""Helpers for the process, exec and shared-memory tests: machines, files, programs."""

from __future__ import annotations

import shutil

import nommu
from nommu.binfmt.elf_format import PF_R, PF_W, PF_X, SegmentSpec, build_elf
from nommu.binfmt.flat_format import build_flat
from shared_data import REAL_ROOTFS

P = 4096
RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
ROOTFS = str(REAL_ROOTFS)


def z1024(**options: object) -> nommu.Machine:
    """Exactly one free order-10 block at 0x00400000 (the Z1024 board), idealised kernel.

    The loaders' worked cases pin addresses without the kernel's own memory
    (``ideal=True`` unless the test passes ``ideal``).
    """
    options.setdefault("ideal", True)
    return nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", **options)  # type: ignore[arg-type]


def install(p: nommu.Process, path: str, data: bytes, mode: int = 0o755) -> None:
    """Create *path* with *data* in one write (so ramfs pages are consecutive)."""
    fd = p.open(path, nommu.O_CREAT | nommu.O_WRONLY | nommu.O_TRUNC, mode)
    p.write(fd, data)
    p.close(fd)


def run(
    parent: nommu.Process, path: str, argv: list[str] | None = None, envp: list[str] | None = None
) -> nommu.Process:
    """vfork + execve, as a shell starts a program; returns the child."""
    child = parent.vfork()
    child.execve(path, argv if argv is not None else [path], envp or [])
    return child


def free_pages(m: nommu.Machine) -> int:
    return m.zone.free_count


def maps_lines(m: nommu.Machine, p: nommu.Process) -> list[str]:
    return m.cat(f"/proc/{p.pid}/maps").splitlines()


def flat_prog(
    text_len: int = 0x2040,
    data_len: int = 0x800,
    bss_len: int = 0x800,
    stack: int = 0x1000,
    relocs: int = 4,
    flags: int = 0,
    **kw: object,
) -> bytes:
    return build_flat(text_len, data_len, bss_len, stack, relocs, flags=flags, **kw)  # type: ignore[arg-type]


def fdpic_prog(
    *,
    fdpic: bool = True,
    e_type: int = 2,
    gnu_stack: tuple[int, bool] | None = None,
    interp: str | None = None,
    needed: tuple[str, ...] = (),
    soname: str | None = None,
    text: int = 0x3000,
    data: int = 0x2000,
    data_file: int = 0x800,
) -> bytes:
    """An ARM ELF: text (R+X, with the headers) at 0, data+bss (RW) at 0x10000 + text."""
    segs = [
        SegmentSpec(0, text, flags=PF_R | PF_X, offset=0),
        SegmentSpec(0x10000 + text, data, filesz=data_file, flags=PF_R | PF_W),
    ]
    return build_elf(
        segs,
        machine="ARM",
        fdpic=fdpic,
        e_type=e_type,
        gnu_stack=gnu_stack,
        interp=interp,
        needed=needed,
        soname=soname,
    )


def strings_for_extra(filename: str, argv: list[str], target: int) -> list[str]:
    """An environment that makes the bFLT argument area contribute exactly *target* bytes.

    ``ALIGN8(strings + word + (argc+1)*4 + (envc+1)*4)`` with one variable.
    """
    base = len(filename) + 1 + sum(len(a) + 1 for a in argv) + 4 + (len(argv) + 1) * 4 + 8
    k = target - base - 3  # "E=" + k chars + NUL
    assert k >= 0
    return ["E=" + "x" * k]


def have_cc() -> bool:
    return shutil.which("cc") is not None
