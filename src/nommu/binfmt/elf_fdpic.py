"""The ELF loader of a no-MMU kernel (models fs/binfmt_elf_fdpic.c, v6.x, ``!CONFIG_MMU``).

On a no-MMU kernel every ELF program goes through the ELF-FDPIC loader:

* an **FDPIC** file (the arch's ``elf_check_fdpic``) gets one mapping per
  ``PT_LOAD`` (``elf_fdpic_map_file_by_direct_mmap``): ``vm_mmap(file, 0,
  p_memsz + disp, prot from p_flags, MAP_PRIVATE, p_offset - disp)``.
  Read-only segments are therefore shareable between processes (and XIP
  where the filesystem allows); writable ones are private copies whose bss
  is cleared;
* anything else — a plain (non-FDPIC) ``ET_DYN`` such as an ordinary PIE —
  is "constdisp" (``elf_fdpic_map_file_constdisp_on_uclinux``): one private
  anonymous RWX copy of the whole ``PT_LOAD`` span, each segment read into
  it, nothing shared. A plain ``ET_EXEC`` is refused with ENOEXEC ("nommu can
  only load ET_DYN (PIE) ELF").

``Machine(elf_as_fdpic=True)`` makes the loader treat every ELF file as
FDPIC (``elf_check_fdpic`` true, no constant displacement), so users can see
what an FDPIC build of their programs would share.

The stack is its own anonymous mapping (``PT_GNU_STACK`` size, default
128 KiB, page-rounded, at least two pages, executable with ``PF_X``) mapped
``MAP_UNINITIALIZED|MAP_GROWSDOWN``; the brk area has size zero
(``start_brk = brk = end_brk`` = the stack mapping's start). A ``PT_INTERP``
is loaded by the kernel exactly like the program (it must exist: ENOENT).
Then ``create_elf_fdpic_tables`` puts the argument strings, the load maps,
the auxiliary vector and argc/argv/envp on the stack, as real bytes.

Shared libraries are not the kernel's business: the FDPIC dynamic linker
maps them when the program starts. With ``Machine(fdpic_libraries=True)``
(the default) the model does that work at exec time: for every ``DT_NEEDED``
name (and theirs, breadth first, each file once, the interpreter excepted)
found in ``/lib`` or ``/usr/lib`` (a name with a ``/`` is used as a path) it
maps the library as the loader above would map it as a program — FDPIC
libraries with per-segment private mappings (text shared between processes,
data per process), others as one private RWX copy. A library that cannot be
found or read is skipped with a ``fdpic-ld:`` line in the kernel log. Not
modelled: symbol resolution and relocation, ``DT_RUNPATH``/``LD_LIBRARY_PATH``,
``dlopen``, and the dynamic linker's own heap; a library that cannot be mapped
for lack of memory makes the process exit with status 127, as ``ld.so``
would.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nommu.binfmt.elf_format import (
    ELF_MAGIC,
    ET_DYN,
    ET_EXEC,
    ElfInfo,
    _elf_check_const_displacement,
    parse_elf,
    stack_size,
)
from nommu.binfmt.exec import (
    NOT_MINE,
    LinuxBinprm,
    LoadedImage,
    clear_user,
    close_exec,
    cpu_byteorder,
    open_exec,
    put_user,
    read_file,
)
from nommu.consts import (
    MAP_ANONYMOUS,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    MAP_UNINITIALIZED,
    O_RDONLY,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import FMODE_READ, File

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.vma import MM
    from nommu.process import Process

__all__ = ["LIBRARY_PATH", "MappedImage", "load_elf_fdpic_binary", "map_elf_file"]

#: Directories searched for DT_NEEDED names by the library emulation.
LIBRARY_PATH = ("/lib", "/usr/lib")
RWX = PROT_READ | PROT_WRITE | PROT_EXEC
#: Auxiliary vector entries create_elf_fdpic_tables writes (DLINFO_ITEMS).
DLINFO_ITEMS = 15
AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_HWCAP, AT_CLKTCK, AT_SECURE, AT_EXECFN = (
    11,
    12,
    13,
    14,
    16,
    17,
    23,
    31,
)
#: sizeof(struct elf32_fdpic_loadmap) and of one elf32_fdpic_loadseg.
LOADMAP_HEADER, LOADSEG_SIZE = 4, 12


@dataclass(slots=True)
class MappedImage:
    """``struct elf_fdpic_params`` after mapping: where the segments went."""

    info: ElfInfo
    segs: list[tuple[int, int, int]] = field(default_factory=list)  # addr, p_vaddr, p_memsz
    entry_addr: int = 0
    ph_addr: int = 0
    elfhdr_addr: int = 0
    dynamic_addr: int = 0


def is_fdpic(machine: Machine, info: ElfInfo) -> bool:
    """``elf_check_fdpic``, or every ELF file with ``elf_as_fdpic``."""
    return info.is_fdpic or bool(machine.options.get("elf_as_fdpic", False))


def is_constdisp(machine: Machine, info: ElfInfo) -> bool:
    """``is_constdisp``: not FDPIC, or FDPIC with constant displacement."""
    if not is_fdpic(machine, info):
        return True
    return _elf_check_const_displacement(info.e_machine, info.e_flags)


def _check_elf(buf: bytes, file: File) -> bool:
    """``is_elf``: magic, ET_EXEC/ET_DYN, a file that can be mapped (any arch)."""
    if buf[:4] != ELF_MAGIC or len(buf) < 18:
        return False
    e_type = int.from_bytes(buf[16:18], "little" if buf[5] == 1 else "big")
    return e_type in (ET_EXEC, ET_DYN) and file.f_op.has_mmap


def load_elf_fdpic_binary(bprm: LinuxBinprm) -> LoadedImage:
    """Load an ELF program (``load_elf_fdpic_binary``).

    Raises SyscallError, before the point of no return: ENOEXEC (not ELF,
    not ET_EXEC/ET_DYN, a plain ET_EXEC, unreadable headers), ENOMEM
    (program header table), ENOENT (interpreter missing or its name
    malformed), EACCES/ETXTBSY (the interpreter's open), ELIBBAD (the
    interpreter is not ELF). After it: the errors of the mappings (ENOMEM
    with the allocator's explanation, EINVAL for a segment whose offset and
    address disagree modulo the page size), ELIBBAD for a bad
    ``PT_DYNAMIC``, EFAULT for a store outside RAM.
    """
    machine = bprm.machine
    file = bprm.file
    if not _check_elf(bprm.buf, file):
        raise SyscallError(Errno.ENOEXEC, f"{NOT_MINE}loadable ELF file")
    info = parse_elf(bprm.read_all(), name=file.path)
    if not is_fdpic(machine, info) and info.e_type != ET_DYN:
        raise SyscallError(
            Errno.ENOEXEC,
            f"{file.path}: a plain (non-FDPIC) ET_EXEC program cannot be "
            f"loaded without an MMU (only ET_DYN/PIE or FDPIC)",
        )
    interp_info: ElfInfo | None = None
    if info.interp is not None:
        bprm.interpreter = open_exec(bprm.process, info.interp)
        ibuf = read_file(bprm.interpreter, 256, 0)
        if len(ibuf) != 256:
            raise SyscallError(
                Errno.ENOEXEC, f"interpreter {info.interp} is shorter than 256 bytes"
            )
        if not _check_elf(ibuf, bprm.interpreter):
            raise SyscallError(Errno.ELIBBAD, f"interpreter {info.interp} is not an ELF file")
        interp_info = parse_elf(
            read_file(bprm.interpreter, bprm.interpreter.inode.i_size), name=bprm.interpreter.path
        )
    size, executable = stack_size(info, interp_info, machine.page_size)

    bprm.begin_new_exec()  # the point of no return

    process = bprm.process
    mm = process.mm
    assert mm is not None
    exec_map = map_elf_file(machine, process, mm, file, info, set_mm=True)
    interp_map: MappedImage | None = None
    if bprm.interpreter is not None:
        assert interp_info is not None
        try:
            interp_map = map_elf_file(
                machine, process, mm, bprm.interpreter, interp_info, set_mm=True
            )
        except SyscallError:
            machine.log("Unable to load interpreter")
            raise
        close_exec(bprm.interpreter)
        bprm.interpreter = None

    # a stack area and a zero-size brk area
    prot = PROT_READ | PROT_WRITE | (PROT_EXEC if executable else 0)
    start = machine.nommu.vm_mmap(
        mm,
        process,
        None,
        0,
        size,
        prot,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_UNINITIALIZED | MAP_GROWSDOWN,
        0,
    )
    mm.start_brk = mm.brk = mm.end_brk = start
    mm.start_stack = start + size
    _create_elf_fdpic_tables(bprm, exec_map, interp_map)

    fmt = "elf-constdisp" if is_constdisp(machine, info) else "elf-fdpic"
    entry = interp_map.entry_addr if interp_map and interp_map.entry_addr else exec_map.entry_addr
    libraries: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    if machine.options.get("fdpic_libraries", True):
        libraries, missing = _map_libraries(process, mm, file, info)
    return LoadedImage(
        format=fmt,
        path=file.path,
        entry=entry,
        interpreter=info.interp,
        libraries=libraries,
        missing_libraries=missing,
    )


def map_elf_file(
    machine: Machine, process: Process, mm: MM, file: File, info: ElfInfo, *, set_mm: bool
) -> MappedImage:
    """Map one ELF image; find its entry, headers and dynamic table (``elf_fdpic_map_file``)."""
    params = MappedImage(info)
    if is_constdisp(machine, info):
        _map_constdisp(machine, process, mm, file, info, params, set_mm)
    else:
        _map_by_direct_mmap(machine, process, mm, file, info, params, set_mm)
    if info.entry:
        for addr, vaddr, memsz in params.segs:
            if vaddr <= info.entry < vaddr + memsz:
                params.entry_addr = info.entry - vaddr + addr
                break
    phentsize = 32 if info.bits == 32 else 56
    stop = info.phoff + info.phnum * phentsize
    for seg in info.segments:
        if seg.p_offset > info.phoff or seg.p_offset + seg.p_filesz < stop:
            continue
        for addr, vaddr, memsz in params.segs:
            if vaddr <= seg.p_vaddr and seg.p_vaddr + seg.p_filesz <= vaddr + memsz:
                params.ph_addr = seg.p_vaddr - vaddr + addr + info.phoff - seg.p_offset
                break
        break
    if info.dynamic_vaddr is not None:
        dyn_vaddr, dyn_memsz = info.dynamic_vaddr, info.dynamic_memsz
        for addr, vaddr, memsz in params.segs:
            if vaddr <= dyn_vaddr and dyn_vaddr + dyn_memsz <= vaddr + memsz:
                params.dynamic_addr = dyn_vaddr - vaddr + addr
                # at least one entry, and the last one DT_NULL (read as Elf32_Dyn)
                if dyn_memsz == 0 or dyn_memsz % 8:
                    raise _dynamic_error(machine, file)
                tag = machine.memory.read(params.dynamic_addr + dyn_memsz - 8, 4)
                if int.from_bytes(tag, info.endian) != 0:
                    raise _dynamic_error(machine, file)
                break
    return params


def _dynamic_error(machine: Machine, file: File) -> SyscallError:
    machine.log(f"ELF FDPIC executable with invalid DYNAMIC section (inode={file.inode.ino})")
    return SyscallError(Errno.ELIBBAD, f"{file.path}: invalid PT_DYNAMIC")


def _set_mm(mm: MM, executable: bool, addr: int, memsz: int) -> None:
    if executable:
        if not mm.start_code:
            mm.start_code = addr
            mm.end_code = addr + memsz
    elif not mm.start_data:
        mm.start_data = addr
        mm.end_data = addr + memsz


def _map_constdisp(
    machine: Machine,
    process: Process,
    mm: MM,
    file: File,
    info: ElfInfo,
    params: MappedImage,
    set_mm: bool,
) -> None:
    """``elf_fdpic_map_file_constdisp_on_uclinux``: one RWX block for every PT_LOAD."""
    mask = (1 << info.bits) - 1
    base = min(seg.p_vaddr for seg in info.segments)
    top = max((seg.p_vaddr + seg.p_memsz) & mask for seg in info.segments)
    maddr = machine.nommu.vm_mmap(mm, process, None, 0, (top - base) & mask, RWX, MAP_PRIVATE, 0)
    for seg in info.segments:
        addr = maddr + (seg.p_vaddr - base)
        params.segs.append((addr, seg.p_vaddr, seg.p_memsz))
        put_user(machine, addr, read_file(file, seg.p_filesz, seg.p_offset))  # read_code
        if seg.p_offset == 0:
            params.elfhdr_addr = addr
        if seg.p_filesz < seg.p_memsz:
            clear_user(machine, addr + seg.p_filesz, seg.p_memsz - seg.p_filesz)
        if set_mm:
            _set_mm(mm, seg.executable, addr, seg.p_memsz)


def _map_by_direct_mmap(
    machine: Machine,
    process: Process,
    mm: MM,
    file: File,
    info: ElfInfo,
    params: MappedImage,
    set_mm: bool,
) -> None:
    """``elf_fdpic_map_file_by_direct_mmap``: one private file mapping per PT_LOAD.

    Kept as the kernel has it: the bss is cleared from ``maddr + p_filesz``
    where ``maddr`` is moved past the in-page displacement only for writable
    segments, and ``start_code`` is the mapping's (page-aligned) start.
    """
    nommu = machine.nommu
    page_mask = nommu.page_mask
    for seg in info.segments:
        prot = seg.prot
        disp = seg.p_vaddr & page_mask
        maddr = nommu.vm_mmap(
            mm,
            process,
            file,
            0,
            seg.p_memsz + disp,
            prot,
            MAP_PRIVATE,
            (seg.p_offset - disp) & nommu.ulong_mask,
        )
        params.segs.append((maddr + disp, seg.p_vaddr, seg.p_memsz))
        if seg.p_offset == 0:
            params.elfhdr_addr = maddr + disp
        if prot & PROT_WRITE and disp > 0:
            clear_user(machine, maddr, disp)
            maddr += disp
        excess = seg.p_memsz - seg.p_filesz
        if excess > 0:
            clear_user(machine, maddr + seg.p_filesz, excess)
        if set_mm:
            _set_mm(mm, seg.executable, maddr, seg.p_memsz)


def _create_elf_fdpic_tables(
    bprm: LinuxBinprm, exec_map: MappedImage, interp_map: MappedImage | None
) -> None:
    """``create_elf_fdpic_tables`` (NOMMU): strings, load maps, auxv, envp, argv, argc."""
    machine = bprm.machine
    process = bprm.process
    mm = process.mm
    assert mm is not None
    word = bprm.word
    order = cpu_byteorder(machine)
    sp, execfn = bprm.transfer_args_to_stack(mm.start_stack)
    arg_start = sp
    sp &= ~15
    sp &= ~7  # no ELF_PLATFORM string is modelled
    for params in (exec_map, interp_map):
        if params is None:
            continue
        # struct elf32_fdpic_loadmap: version 0, nsegs, then {addr, p_vaddr, p_memsz}
        blob = bytearray((0).to_bytes(2, order) + len(params.segs).to_bytes(2, order))
        for seg in params.segs:
            blob += b"".join((v & 0xFFFFFFFF).to_bytes(4, order) for v in seg)
        sp = (sp - len(blob)) & ~7
        put_user(machine, sp, bytes(blob))
    nitems = 1 + DLINFO_ITEMS
    csp = sp
    sp -= nitems * 2 * word
    sp -= (bprm.envc + 1) * word
    sp -= (bprm.argc + 1) * word
    sp -= word
    csp -= sp & 15
    sp -= sp & 15
    uid, gid = process.uid, process.gid
    info = exec_map.info
    aux = [
        (AT_HWCAP, 0),
        (AT_PAGESZ, machine.page_size),
        (AT_CLKTCK, 100),
        (AT_PHDR, exec_map.ph_addr),
        (AT_PHENT, 32 if info.bits == 32 else 56),
        (AT_PHNUM, info.phnum),
        (AT_BASE, interp_map.elfhdr_addr if interp_map else 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, exec_map.entry_addr),
        (AT_UID, uid),
        (AT_EUID, uid),
        (AT_GID, gid),
        (AT_EGID, gid),
        (AT_SECURE, 0),
        (AT_EXECFN, execfn),
    ]
    csp -= 2 * word
    put_user(machine, csp, bytes(2 * word))  # AT_NULL
    csp -= DLINFO_ITEMS * 2 * word
    put_user(
        machine,
        csp,
        b"".join(
            k.to_bytes(word, order) + (v & ((1 << 8 * word) - 1)).to_bytes(word, order)
            for k, v in aux
        ),
    )
    csp -= (bprm.envc + 1) * word
    envp_at = csp
    csp -= (bprm.argc + 1) * word
    argv_at = csp
    csp -= word
    put_user(machine, csp, bprm.argc.to_bytes(word, order))
    assert csp == sp, "create_elf_fdpic_tables: stack arithmetic"
    bprm.fill_tables(arg_start, argv_at, envp_at)
    mm.start_stack = sp


# -- the user-space library loader, emulated ---------------------------------------------
def _lookup_library(machine: Machine, name: str) -> str | None:
    candidates = [name] if "/" in name else [f"{d}/{name}" for d in LIBRARY_PATH]
    for path in candidates:
        try:
            found = machine.ns.lookup(path)
        except SyscallError:
            continue
        if found.inode.is_reg():
            return found.path
    return None


def _map_libraries(
    process: Process, mm: MM, exe: File, info: ElfInfo
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Map the DT_NEEDED libraries as the FDPIC dynamic linker would (see module docs)."""
    machine = process.machine
    seen_inodes = {id(exe.inode)}
    if info.interp is not None:
        with contextlib.suppress(SyscallError):
            seen_inodes.add(id(machine.ns.lookup(info.interp).inode))
    mapped: list[str] = []
    missing: list[str] = []
    queue: deque[str] = deque(info.needed)
    # the dynamic linker knows itself by name: a library naming it is already there
    seen_names: set[str] = set()
    if info.interp is not None:
        seen_names.add(posixpath.basename(info.interp))
    while queue:
        name = queue.popleft()
        if name in seen_names:
            continue
        seen_names.add(name)
        path = _lookup_library(machine, name)
        if path is None:
            machine.log(
                f"fdpic-ld: {exe.path}: {name} not found in {', '.join(LIBRARY_PATH)}; not mapped"
            )
            missing.append(name)
            continue
        found = machine.ns.lookup(path)
        if id(found.inode) in seen_inodes:
            continue
        seen_inodes.add(id(found.inode))
        lib = File(found.inode, found.mount, found.path, O_RDONLY, FMODE_READ)
        try:
            lib_info = parse_elf(read_file(lib, found.inode.i_size), name=found.path)
            map_elf_file(machine, process, mm, lib, lib_info, set_mm=False)
        except SyscallError as e:
            lib.put()
            if e.errno == Errno.ENOMEM:
                machine.log(
                    f"fdpic-ld: {exe.path}: cannot map {found.path}: out of memory; exit 127"
                )
                process.exit(127)
                raise SyscallError(
                    Errno.ENOMEM,
                    f"{e.detail}; the dynamic linker could not map "
                    f"{found.path} and the process exited with status 127",
                ) from None
            machine.log(
                f"fdpic-ld: {exe.path}: cannot load {found.path}: "
                f"{e.detail or e.strerror}; not mapped"
            )
            missing.append(name)
            continue
        lib.put()
        mapped.append(found.path)
        queue.extend(lib_info.needed)
    return tuple(mapped), tuple(missing)
