"""ELF as the no-MMU ELF-FDPIC loader sees it: program headers, FDPIC test, stack size, a writer.

Modelled on ``fs/binfmt_elf_fdpic.c`` (``is_elf``, ``is_constdisp``,
``elf_fdpic_fetch_phdrs``, the interpreter checks of
``load_elf_fdpic_binary``, ``elf_fdpic_map_file_constdisp_on_uclinux`` and
the no-MMU stack sizing) and on the arch headers that define
``elf_check_fdpic`` / ``elf_check_const_displacement``
(``arch/arm/include/asm/elf.h``, ``arch/sh/include/asm/elf.h``, the former
FR-V and Blackfin ports). On a no-MMU kernel every ELF program goes through
this loader: FDPIC files get one mapping per ``PT_LOAD`` (read-only ones
shareable, possibly XIP), everything else one anonymous RWX block covering
all ``PT_LOAD`` s, so the model needs the segment geometry and the FDPIC
classification exactly.

Parsing uses pyelftools; its exceptions never escape: any failure becomes
``SyscallError(ENOEXEC)`` naming the file and the reason (``ENOMEM`` /
``ENOENT`` where the kernel returns those, see :func:`parse_elf`).
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile

from nommu.consts import PROT_EXEC, PROT_READ, PROT_WRITE
from nommu.errors import Errno, SyscallError

__all__ = [
    "DEFAULT_STACK_SIZE",
    "ELFOSABI_ARM_FDPIC",
    "ET_DYN",
    "ET_EXEC",
    "PF_R",
    "PF_W",
    "PF_X",
    "ElfInfo",
    "GnuStack",
    "LoadSegment",
    "SegmentSpec",
    "build_elf",
    "check_fdpic_exec",
    "constdisp_span",
    "parse_elf",
    "stack_size",
]

ELF_MAGIC = b"\x7fELF"
ET_EXEC = 2
ET_DYN = 3
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_GNU_STACK = 0x6474E551
PF_X = 0x1
PF_W = 0x2
PF_R = 0x4
DT_NULL = 0
DT_NEEDED = 1
DT_STRTAB = 5
DT_STRSZ = 10
DT_SONAME = 14
#: PATH_MAX: longer PT_INTERP strings make the kernel fail with ENOMEM.
PATH_MAX = 4096
#: The loader's stack size when neither file has a PT_GNU_STACK size.
DEFAULT_STACK_SIZE = 131072

# e_machine numbers and the arch headers' FDPIC flags.
EM_ARM = 40
EM_SH = 42
EM_BLACKFIN = 106
EM_FRV = 0x5441
ELFOSABI_ARM_FDPIC = 65
EF_ARM_PIC = 0x20
EF_SH_PIC = 0x100
EF_SH_FDPIC = 0x8000
EF_FRV_PIC = 0x100
EF_FRV_NON_PIC_RELOCS = 0x200
EF_FRV_FDPIC = 0x8000
EF_BFIN_PIC = 0x1
EF_BFIN_FDPIC = 0x2

#: build_elf's machine names: (e_machine, default byte order).
MACHINES: dict[str, tuple[int, Literal["little", "big"]]] = {
    "386": (3, "little"),
    "68K": (4, "big"),
    "ARM": (EM_ARM, "little"),
    "SH": (EM_SH, "little"),
    "H8_300": (46, "big"),
    "X86_64": (62, "little"),
    "OPENRISC": (92, "big"),
    "XTENSA": (94, "little"),
    "BLACKFIN": (EM_BLACKFIN, "little"),
    "TI_C6000": (140, "little"),
    "AARCH64": (183, "little"),
    "MICROBLAZE": (189, "big"),
    "RISCV": (243, "little"),
    "FRV": (EM_FRV, "big"),
}
_MACHINE_ALIASES = {
    "M68K": "68K",
    "I386": "386",
    "X86": "386",
    "C6X": "TI_C6000",
    "BFIN": "BLACKFIN",
}


@dataclass(frozen=True, slots=True)
class LoadSegment:
    """One ``PT_LOAD`` program header."""

    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_flags: int
    p_align: int

    @property
    def readable(self) -> bool:
        return bool(self.p_flags & PF_R)

    @property
    def writable(self) -> bool:
        return bool(self.p_flags & PF_W)

    @property
    def executable(self) -> bool:
        return bool(self.p_flags & PF_X)

    @property
    def prot(self) -> int:
        """``PROT_*`` as ``elf_fdpic_map_file_by_direct_mmap`` derives it from ``p_flags``."""
        return (
            (PROT_READ if self.readable else 0)
            | (PROT_WRITE if self.writable else 0)
            | (PROT_EXEC if self.executable else 0)
        )

    @property
    def flags_str(self) -> str:
        """``RWE``-style text as readelf prints it."""
        return "".join(
            c if self.p_flags & bit else " " for c, bit in (("R", PF_R), ("W", PF_W), ("E", PF_X))
        )


@dataclass(frozen=True, slots=True)
class GnuStack:
    """The first ``PT_GNU_STACK``: requested stack size (0 = unspecified) and PF_X."""

    memsz: int
    executable: bool


@dataclass(frozen=True, slots=True)
class ElfInfo:
    """What the ELF-FDPIC loader reads from a file's header and program headers."""

    name: str
    e_type: int
    """``ET_EXEC`` (2) or ``ET_DYN`` (3); other types are refused while parsing."""
    e_machine: int
    machine: str
    """pyelftools' name without ``EM_`` (``ARM``, ``X86_64``, ``RISCV``...) or ``EM_<n>``."""
    bits: int
    endian: Literal["little", "big"]
    osabi: int
    e_flags: int
    entry: int
    phoff: int
    phnum: int
    segments: tuple[LoadSegment, ...]
    """The ``PT_LOAD`` headers in file order."""
    gnu_stack: GnuStack | None
    interp: str | None
    needed: tuple[str, ...]
    soname: str | None
    dynamic_vaddr: int | None
    dynamic_memsz: int
    is_fdpic: bool
    """The arch's ``elf_check_fdpic``."""
    constdisp: bool
    """``is_constdisp``: not FDPIC, or FDPIC with constant displacement (one block)."""


def _fail(name: str, detail: str, err: Errno = Errno.ENOEXEC) -> SyscallError:
    return SyscallError(err, f"{name}: {detail}")


def _elf_check_fdpic(e_machine: int, osabi: int, e_flags: int) -> bool:
    if e_machine == EM_ARM:
        return osabi == ELFOSABI_ARM_FDPIC
    if e_machine == EM_SH:
        return bool(e_flags & EF_SH_FDPIC)
    if e_machine == EM_FRV:
        return bool(e_flags & EF_FRV_FDPIC) and not e_flags & EF_FRV_NON_PIC_RELOCS
    if e_machine == EM_BLACKFIN:
        return bool(e_flags & EF_BFIN_FDPIC)
    return False  # elf_check_fdpic defaults to 0 (RISC-V, m68k, xtensa, ...)


def _elf_check_const_displacement(e_machine: int, e_flags: int) -> bool:
    if e_machine == EM_ARM:
        return bool(e_flags & EF_ARM_PIC)
    if e_machine == EM_SH:
        return bool(e_flags & EF_SH_PIC)
    if e_machine == EM_FRV:
        return bool(e_flags & EF_FRV_PIC)
    if e_machine == EM_BLACKFIN:
        return bool(e_flags & EF_BFIN_PIC)
    return False


def parse_elf(data: bytes | bytearray | memoryview, *, name: str = "<ELF>") -> ElfInfo:
    """Read an executable's ELF header and program headers.

    Fails with ``SyscallError`` as the kernel does, with the reason in the detail:

    * not ELF (magic), unknown class or byte order, truncated header,
      ``e_type`` neither ``ET_EXEC`` nor ``ET_DYN`` → ENOEXEC (``is_elf``);
    * ``e_phentsize`` not the size of a program header, or too many headers
      for 64 KiB → ENOMEM (``elf_fdpic_fetch_phdrs``); header table beyond
      the end of the file → ENOEXEC;
    * ``PT_INTERP`` longer than ``PATH_MAX`` → ENOMEM, shorter than 2 bytes or
      not NUL-terminated → ENOENT, beyond the end of the file → ENOEXEC;
    * no ``PT_LOAD`` → ENOEXEC (the kernel fails later, at mapping time,
      with ELIBBAD);
    * anything pyelftools cannot read → ENOEXEC.

    The result is a pure function of the bytes, and programs are executed
    again and again (a replayed trace starts the same binary thousands of
    times), so the last few successful parses are kept.
    """
    return _parse_elf_bytes(bytes(data), name)


@functools.lru_cache(maxsize=16)
def _parse_elf_bytes(blob: bytes, name: str) -> ElfInfo:
    head = blob[:4]
    if head != ELF_MAGIC:
        if head and ELF_MAGIC.startswith(head):
            raise _fail(name, f"truncated: {len(blob)} bytes, too short for the ELF magic")
        raise _fail(name, f"not an ELF file (magic {head!r})")
    if len(blob) < 16:
        raise _fail(name, f"truncated: {len(blob)} bytes, e_ident needs 16")
    ei_class, ei_data, osabi = blob[4], blob[5], blob[7]
    if ei_class not in (1, 2):
        raise _fail(name, f"unknown ELF class {ei_class}")
    if ei_data not in (1, 2):
        raise _fail(name, f"unknown ELF data encoding {ei_data}")
    bits = 32 if ei_class == 1 else 64
    order = "<" if ei_data == 1 else ">"
    ehsize, phentsize_expected = (52, 32) if bits == 32 else (64, 56)
    if len(blob) < ehsize:
        raise _fail(name, f"truncated: {len(blob)} bytes, the ELF header needs {ehsize}")
    e_type, e_machine = struct.unpack_from(order + "HH", blob, 16)
    if bits == 32:
        e_entry, e_phoff, _shoff, e_flags, _eh, e_phentsize, e_phnum = struct.unpack_from(
            order + "IIIIHHH", blob, 24
        )
    else:
        e_entry, e_phoff, _shoff, e_flags, _eh, e_phentsize, e_phnum = struct.unpack_from(
            order + "QQQIHHH", blob, 24
        )
    if e_type not in (ET_EXEC, ET_DYN):
        raise _fail(name, f"e_type {e_type} is neither ET_EXEC nor ET_DYN")
    if e_phentsize != phentsize_expected:
        raise _fail(name, f"e_phentsize {e_phentsize}, expected {phentsize_expected}", Errno.ENOMEM)
    if e_phnum > 65536 // phentsize_expected:
        raise _fail(name, f"e_phnum {e_phnum} exceeds 64 KiB of program headers", Errno.ENOMEM)
    if e_phoff + e_phnum * e_phentsize > len(blob):
        raise _fail(
            name,
            f"truncated: program headers at {e_phoff:#x} ({e_phnum} x {e_phentsize} bytes) "
            f"extend beyond the end of the file ({len(blob)} bytes)",
        )

    try:
        elf = ELFFile(io.BytesIO(blob))
        machine_raw = elf["e_machine"]
        segments: list[LoadSegment] = []
        gnu_stack: GnuStack | None = None
        interp: str | None = None
        dynamic: DynamicSegment | None = None
        for index in range(e_phnum):
            seg = elf.get_segment(index)
            p_type = seg["p_type"]
            if p_type == "PT_LOAD":
                segments.append(
                    LoadSegment(
                        p_offset=seg["p_offset"],
                        p_vaddr=seg["p_vaddr"],
                        p_filesz=seg["p_filesz"],
                        p_memsz=seg["p_memsz"],
                        p_flags=seg["p_flags"],
                        p_align=seg["p_align"],
                    )
                )
            elif p_type == "PT_GNU_STACK" and gnu_stack is None:
                gnu_stack = GnuStack(seg["p_memsz"], bool(seg["p_flags"] & PF_X))
            elif p_type == "PT_INTERP" and interp is None:
                interp = _interp(blob, seg["p_offset"], seg["p_filesz"], name)
            elif p_type == "PT_DYNAMIC" and dynamic is None and isinstance(seg, DynamicSegment):
                dynamic = seg
        needed: list[str] = []
        soname: str | None = None
        dynamic_vaddr: int | None = None
        dynamic_memsz = 0
        if dynamic is not None:
            dynamic_vaddr = dynamic["p_vaddr"]
            dynamic_memsz = dynamic["p_memsz"]
            if dynamic["p_filesz"]:
                for tag in dynamic.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(str(getattr(tag, "needed", "")))
                    elif tag.entry.d_tag == "DT_SONAME" and soname is None:
                        soname = str(getattr(tag, "soname", ""))
    except SyscallError:
        raise
    except Exception as exc:  # pyelftools raises many types; none may escape
        raise _fail(name, f"cannot read ELF: {type(exc).__name__}: {exc}") from exc

    if not segments:
        raise _fail(name, "no PT_LOAD segment")
    if isinstance(machine_raw, str) and machine_raw.startswith("EM_"):
        machine = machine_raw.removeprefix("EM_")
    else:
        machine = f"EM_{e_machine}"
    is_fdpic = _elf_check_fdpic(e_machine, osabi, e_flags)
    return ElfInfo(
        name=name,
        e_type=e_type,
        e_machine=e_machine,
        machine=machine,
        bits=bits,
        endian="little" if ei_data == 1 else "big",
        osabi=osabi,
        e_flags=e_flags,
        entry=e_entry,
        phoff=e_phoff,
        phnum=e_phnum,
        segments=tuple(segments),
        gnu_stack=gnu_stack,
        interp=interp,
        needed=tuple(needed),
        soname=soname,
        dynamic_vaddr=dynamic_vaddr,
        dynamic_memsz=dynamic_memsz,
        is_fdpic=is_fdpic,
        constdisp=not is_fdpic or _elf_check_const_displacement(e_machine, e_flags),
    )


def _interp(blob: bytes, offset: int, filesz: int, name: str) -> str:
    """The interpreter path, checked as ``load_elf_fdpic_binary`` checks it."""
    if filesz > PATH_MAX:
        raise _fail(name, f"PT_INTERP of {filesz} bytes exceeds PATH_MAX", Errno.ENOMEM)
    if filesz < 2:
        raise _fail(name, f"PT_INTERP of {filesz} bytes is too short", Errno.ENOENT)
    raw = blob[offset : offset + filesz]
    if len(raw) != filesz:
        raise _fail(name, f"PT_INTERP at {offset:#x} extends beyond the end of the file")
    if raw[-1] != 0:
        raise _fail(name, "PT_INTERP is not NUL-terminated", Errno.ENOENT)
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def check_fdpic_exec(info: ElfInfo, *, machine: str | None = None) -> None:
    """The ELF-FDPIC loader's acceptance test on no-MMU: ENOEXEC unless it would load.

    A non-FDPIC file must be ``ET_DYN`` ("nommu can only load ET_DYN (PIE)
    ELF"); with *machine*, ``e_machine`` must be that (``elf_check_arch``).
    """
    if machine is not None and info.machine != _machine_key(machine):
        raise _fail(info.name, f"machine {info.machine} is not {machine}")
    if not info.is_fdpic and info.e_type != ET_DYN:
        raise _fail(info.name, "not FDPIC and not ET_DYN: a no-MMU kernel cannot load it")


def constdisp_span(info: ElfInfo) -> tuple[int, int]:
    """``(base, top)`` of the one block ``elf_fdpic_map_file_constdisp_on_uclinux`` allocates.

    Exactly the kernel's arithmetic: ``base`` is the lowest ``p_vaddr`` and
    ``top`` the highest ``p_vaddr + p_memsz`` of the ``PT_LOAD`` s, neither
    rounded. The kernel maps ``top - base`` bytes (``vm_mmap`` rounds the
    length up to pages) and puts each segment at ``maddr + (p_vaddr - base)``,
    so the first segment's offset within its page is not preserved: the
    block starts with the lowest segment's first byte.
    """
    mask = (1 << info.bits) - 1
    base = min(seg.p_vaddr for seg in info.segments)
    top = max((seg.p_vaddr + seg.p_memsz) & mask for seg in info.segments)
    return base, top


def stack_size(
    info: ElfInfo,
    interp_info: ElfInfo | None = None,
    page_size: int = 4096,
    *,
    default_exec: bool = False,
) -> tuple[int, bool]:
    """``(size, executable)`` of the no-MMU stack the ELF-FDPIC loader allocates.

    The executable's ``PT_GNU_STACK`` ``p_memsz``; if that is 0 (or absent) and
    there is an interpreter, the interpreter's, whose PF_X then decides
    executability too (without one, the executable's PF_X stands); if still
    0, 131072. Rounded up to a page, at least two pages. Executable when the
    deciding ``PT_GNU_STACK`` has PF_X; when no header decides
    (``EXSTACK_DEFAULT``) *default_exec* stands for ``VM_STACK_FLAGS & VM_EXEC``.
    """
    mask = (1 << info.bits) - 1

    def mode(stack: GnuStack | None) -> bool | None:
        return None if stack is None else stack.executable

    size = info.gnu_stack.memsz if info.gnu_stack else 0
    exec_mode = mode(info.gnu_stack)
    if size == 0 and interp_info is not None:  # ELF_FDPIC_FLAG_PRESENT
        interp_stack = interp_info.gnu_stack
        size = interp_stack.memsz if interp_stack else 0
        exec_mode = mode(interp_stack)
    if size == 0:
        size = DEFAULT_STACK_SIZE
    size = ((size + page_size - 1) & ~(page_size - 1)) & mask
    size = max(size, 2 * page_size)
    executable = exec_mode if exec_mode is not None else default_exec
    return size, executable


# ---------------------------------------------------------------------- writer


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """A ``PT_LOAD`` for :func:`build_elf`.

    *filesz* defaults to *memsz*. *offset* defaults to the first free file
    offset congruent to *vaddr* modulo *align*; ``offset=0`` makes the
    segment start with the ELF header and program headers, as a linker's
    first segment does. *data* (``filesz`` bytes) defaults to a pattern.
    """

    vaddr: int
    memsz: int
    filesz: int | None = None
    flags: int = PF_R | PF_X
    align: int = 4096
    offset: int | None = None
    data: bytes | None = None


def _machine_key(machine: str) -> str:
    key = machine.upper().removeprefix("EM_")
    return _MACHINE_ALIASES.get(key, key)


def _fdpic_flags(e_machine: int, machine: str) -> tuple[int | None, int]:
    """(osabi, e_flags bits) that make ``elf_check_fdpic`` true for *e_machine*."""
    if e_machine == EM_ARM:
        return ELFOSABI_ARM_FDPIC, 0
    if e_machine == EM_SH:
        return None, EF_SH_FDPIC
    if e_machine == EM_FRV:
        return None, EF_FRV_FDPIC
    if e_machine == EM_BLACKFIN:
        return None, EF_BFIN_FDPIC
    raise ValueError(f"machine {machine}: the kernel has no FDPIC ELF test for it")


def _pattern(length: int, seed: int) -> bytes:
    cycle = bytes((seed + 13 * i) & 0xFF for i in range(251))
    return (cycle * (length // len(cycle) + 1))[:length]


def build_elf(
    segments: Sequence[SegmentSpec | LoadSegment],
    machine: str = "ARM",
    fdpic: bool = False,
    e_type: int = ET_EXEC,
    gnu_stack: GnuStack | tuple[int, bool] | None = None,
    interp: str | None = None,
    needed: Sequence[str] = (),
    bits: int = 32,
    *,
    soname: str | None = None,
    entry: int | None = None,
    e_flags: int = 0,
    osabi: int | None = None,
    endian: Literal["little", "big"] | None = None,
) -> bytes:
    """A minimal valid ELF file: header, program headers and segment contents, no sections.

    *fdpic* sets what the arch's ``elf_check_fdpic`` tests (ARM: OSABI 65;
    SH, FR-V: ``e_flags`` 0x8000; Blackfin: 0x2). *gnu_stack* adds a
    ``PT_GNU_STACK`` of that ``p_memsz`` (RW, plus X when executable).
    *interp* adds a ``PT_INTERP`` (string placed after the program headers).
    *needed* / *soname* add a ``PT_DYNAMIC`` whose table (``DT_NEEDED``,
    ``DT_SONAME``, ``DT_STRTAB``, ``DT_STRSZ``, ``DT_NULL``) and string table
    are written over the end of the file part of the last writable segment
    (which must be large enough); the segments keep the given geometry.
    *entry* defaults to the first executable segment's ``vaddr``.
    """
    key = _machine_key(machine)
    if key not in MACHINES:
        raise ValueError(f"unknown machine {machine!r}; known: {', '.join(sorted(MACHINES))}")
    e_machine, default_endian = MACHINES[key]
    if bits not in (32, 64):
        raise ValueError(f"bits must be 32 or 64, got {bits}")
    if e_type not in (ET_EXEC, ET_DYN):
        raise ValueError(f"e_type must be ET_EXEC or ET_DYN, got {e_type}")
    if not segments:
        raise ValueError("an executable needs at least one PT_LOAD segment")
    byte_order = endian or default_endian
    order = "<" if byte_order == "little" else ">"
    osabi_value = 0 if osabi is None else osabi
    flags_value = e_flags
    if fdpic:
        fd_osabi, fd_flags = _fdpic_flags(e_machine, machine)
        if fd_osabi is not None and osabi is None:
            osabi_value = fd_osabi
        flags_value |= fd_flags

    specs = [
        SegmentSpec(s.p_vaddr, s.p_memsz, s.p_filesz, s.p_flags, s.p_align, s.p_offset)
        if isinstance(s, LoadSegment)
        else s
        for s in segments
    ]
    word = bits // 8
    ehsize, phentsize = (52, 32) if bits == 32 else (64, 56)
    want_dynamic = bool(needed) or soname is not None
    nphdr = len(specs) + (interp is not None) + want_dynamic + (gnu_stack is not None)
    headers_end = ehsize + nphdr * phentsize
    interp_raw = interp.encode("utf-8", "surrogateescape") + b"\0" if interp is not None else b""
    if interp is not None and (b"\0" in interp_raw[:-1] or len(interp_raw) < 2):
        raise ValueError(f"interp {interp!r}: must be a non-empty string without NUL")
    cursor = headers_end + len(interp_raw)

    placed: list[tuple[SegmentSpec, int, int]] = []  # spec, offset, filesz
    for spec in specs:
        filesz = spec.memsz if spec.filesz is None else spec.filesz
        if filesz > spec.memsz or filesz < 0:
            raise ValueError(f"segment at {spec.vaddr:#x}: filesz {filesz} > memsz {spec.memsz}")
        if spec.data is not None and len(spec.data) != filesz:
            raise ValueError(f"segment at {spec.vaddr:#x}: data is not filesz ({filesz}) bytes")
        if spec.offset == 0:
            if filesz < cursor or spec.data is not None:
                raise ValueError(
                    f"segment at {spec.vaddr:#x} with offset 0 must hold the {cursor} header "
                    "bytes and take no data"
                )
            offset = 0
        elif spec.offset is not None:
            if spec.offset < cursor:
                raise ValueError(f"segment at {spec.vaddr:#x}: offset {spec.offset} overlaps")
            offset = spec.offset
        else:
            offset = cursor
            if spec.align > 1:
                offset += (spec.vaddr - offset) % spec.align
        placed.append((spec, offset, filesz))
        cursor = max(cursor, offset + filesz)
    size = cursor
    out = bytearray(size)
    for spec, offset, filesz in placed:
        if offset == 0:
            out[headers_end:filesz] = _pattern(filesz - headers_end, 0x31)
        else:
            out[offset : offset + filesz] = (
                spec.data if spec.data is not None else _pattern(filesz, 0x31 + offset)
            )

    phdrs: list[tuple[int, int, int, int, int, int, int]] = []  # type, off, vaddr, fsz, msz, fl, al
    if interp is not None:
        out[headers_end : headers_end + len(interp_raw)] = interp_raw
        phdrs.append((PT_INTERP, headers_end, 0, len(interp_raw), len(interp_raw), PF_R, 1))
    for spec, offset, filesz in placed:
        phdrs.append((PT_LOAD, offset, spec.vaddr, filesz, spec.memsz, spec.flags, spec.align))
    if want_dynamic:
        phdrs.append(_write_dynamic(out, placed, needed, soname, order, word, headers_end))
    if gnu_stack is not None:
        stack = gnu_stack if isinstance(gnu_stack, GnuStack) else GnuStack(*gnu_stack)
        stack_flags = PF_R | PF_W | (PF_X if stack.executable else 0)
        phdrs.append((PT_GNU_STACK, 0, 0, 0, stack.memsz, stack_flags, 16))

    if entry is None:
        exec_segs = [spec for spec in specs if spec.flags & PF_X]
        entry = (exec_segs or specs)[0].vaddr
    ident = ELF_MAGIC + bytes(
        [1 if bits == 32 else 2, 1 if byte_order == "little" else 2, 1, osabi_value, 0]
    )
    ident = ident.ljust(16, b"\0")
    shentsize = 40 if bits == 32 else 64
    addr = "I" if bits == 32 else "Q"
    struct.pack_into(
        order + f"16sHHI{addr}{addr}{addr}IHHHHHH",
        out,
        0,
        ident,
        e_type,
        e_machine,
        1,
        entry,
        ehsize,
        0,
        flags_value,
        ehsize,
        phentsize,
        len(phdrs),
        shentsize,
        0,
        0,
    )
    for index, (p_type, off, vaddr, fsz, msz, fl, al) in enumerate(phdrs):
        pos = ehsize + index * phentsize
        if bits == 32:
            struct.pack_into(order + "8I", out, pos, p_type, off, vaddr, vaddr, fsz, msz, fl, al)
        else:
            struct.pack_into(
                order + "IIQQQQQQ", out, pos, p_type, fl, off, vaddr, vaddr, fsz, msz, al
            )
    return bytes(out)


def _write_dynamic(
    out: bytearray,
    placed: Sequence[tuple[SegmentSpec, int, int]],
    needed: Sequence[str],
    soname: str | None,
    order: str,
    word: int,
    headers_end: int,
) -> tuple[int, int, int, int, int, int, int]:
    """Write the dynamic table and its strings into the last writable segment."""
    strtab = bytearray(b"\0")
    tags: list[tuple[int, int]] = []
    for lib in [*needed, *([soname] if soname is not None else [])]:
        raw = lib.encode("utf-8", "surrogateescape")
        if not raw or b"\0" in raw:
            raise ValueError(f"dynamic name {lib!r}: must be non-empty without NUL")
    for lib in needed:
        tags.append((DT_NEEDED, len(strtab)))
        strtab += lib.encode("utf-8", "surrogateescape") + b"\0"
    if soname is not None:
        tags.append((DT_SONAME, len(strtab)))
        strtab += soname.encode("utf-8", "surrogateescape") + b"\0"
    ntags = len(tags) + 3  # DT_STRTAB, DT_STRSZ, DT_NULL
    table_len = ntags * 2 * word
    block_len = table_len + len(strtab)
    host = None
    for spec, offset, filesz in reversed(placed):
        start = max(offset, headers_end if offset == 0 else offset)
        if spec.flags & PF_W and offset + filesz - start >= block_len + word:
            host = (spec, offset, filesz)
            break
    if host is None:
        raise ValueError(
            f"needed/soname need a writable segment with at least {block_len + word} file bytes"
        )
    spec, offset, filesz = host
    table_off = (offset + filesz - block_len) & ~(word - 1)
    strtab_off = table_off + table_len
    tags += [(DT_STRTAB, spec.vaddr + strtab_off - offset), (DT_STRSZ, len(strtab)), (DT_NULL, 0)]
    fmt = order + ("iI" if word == 4 else "qQ")
    for index, (tag, value) in enumerate(tags):
        struct.pack_into(fmt, out, table_off + index * 2 * word, tag, value)
    out[strtab_off : strtab_off + len(strtab)] = strtab
    vaddr = spec.vaddr + table_off - offset
    return (PT_DYNAMIC, table_off, vaddr, table_len, table_len, PF_R | PF_W, word)
