"""The bFLT loader (models fs/binfmt_flat.c ``load_flat_binary``/``load_flat_file``, NOMMU).

bFLT is what elf2flt produces for most no-MMU userlands. The loader makes one
or two mappings through ``vm_mmap`` (the kernel-internal mmap), so how much RAM
a program costs, and whether its text is shared, is decided by the ordinary
no-MMU mapping rules:

* **Case A** (flags without ``FLAT_FLAG_RAM``/``FLAT_FLAG_GZIP``): the text is
  mapped ``MAP_PRIVATE``, ``PROT_READ|PROT_EXEC`` from the file. That request
  is shareable: on romfs on memory-mapped flash it is XIP (no RAM at all), on
  ramfs a direct overlay of the page cache, on disk filesystems one copy that
  every process running the same file shares; a ptraced loader gets its own
  copy. Data, bss, brk and stack share one anonymous RWX mapping of
  ``PAGE_ALIGN(data_len + extra + DATA_START_OFFSET_WORDS * sizeof(long))``
  (one word on ARM, none on RISC-V: :func:`data_start_offset`).
* **Case B** (``FLAT_FLAG_RAM`` or ``FLAT_FLAG_GZIP``): one anonymous RWX
  mapping holds text, data, bss, brk and stack; nothing is shared.

``extra = max(bss_len + stack_len, relocs * sizeof(long))``, where
``stack_len`` is the header's stack size plus the argument area (strings,
the argv and envp arrays, rounded to ``FLAT_STACK_ALIGN``). The brk area is
the slack between the bss and the stack: ``start_brk`` follows the bss,
``end_brk = memp + memp_size - stack_len``; the initial stack pointer sits at
the top of the same mapping, so ``/proc/PID/maps`` labels it ``[stack]``.

What is modelled of the relocation pass (rev 4): the GOT walk for
``FLAT_FLAG_GOTPIC`` (words in CPU order up to ``0xffffffff``), then every
relocation entry: a big-endian offset from the start of the code (offsets
beyond the text fall into the data) naming a word to which the base of the
segment it points into is added (``calc_reloc``; the stored value is
big-endian unless GOTPIC, the result is written in CPU order; zero words are
left alone; an offset beyond code+data+bss kills the process). Rev-2 files
use the old typed relocations (``old_reloc``). Not modelled: shared-library
bFLT (``CONFIG_BINFMT_SHARED_FLAT``, removed in v5.19), per-arch
``flat_set_persistent`` relocation pairs, ``flat_argvp_envp_on_stack``
(off, as on ARM), and the instruction cache.

Compressed files (``FLAT_FLAG_GZIP``/``GZDATA``) need
``Machine(compressed_flat=True)`` (``CONFIG_BINFMT_ZFLAT``); otherwise
ENOEXEC, as the kernel without that option answers.
"""

from __future__ import annotations

import struct
from functools import partial
from typing import TYPE_CHECKING

from nommu.binfmt.exec import (
    NOT_MINE,
    LinuxBinprm,
    LoadedImage,
    clear_user,
    cpu_byteorder,
    put_user,
)
from nommu.binfmt.flat_format import (
    FLAT_DATA_ALIGN,
    FLAT_FLAG_GOTPIC,
    FLAT_FLAG_GZDATA,
    FLAT_FLAG_GZIP,
    FLAT_FLAG_KTRACE,
    FLAT_FLAG_RAM,
    FLAT_HDR_SIZE,
    FLAT_MAGIC,
    OLD_FLAT_VERSION,
    FlatHeader,
    decompress_flat,
    parse_flat_header,
)
from nommu.binfmt.flat_reloc import PlanCache, RelocLayout, RelocPlan, make_plan
from nommu.consts import MAP_PRIVATE, MREMAP_FIXED, PROT_EXEC, PROT_READ, PROT_WRITE
from nommu.errors import Errno, KernelBug, SyscallError
from nommu.mm.memory import PhysicalMemory

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.nommu import Nommu
    from nommu.mm.vma import MM

__all__ = ["FLAT_STACK_ALIGN", "data_start_offset", "load_flat_binary"]
#: ``max(sizeof(void *), ARCH_SLAB_MINALIGN)``: 8 on ARM and most 32-bit arches.
FLAT_STACK_ALIGN = 8
RWX = PROT_READ | PROT_WRITE | PROT_EXEC
PR_FMT = "binfmt_flat: "
#: Use relocation plans (:mod:`nommu.binfmt.flat_reloc`); False runs the word-by-word pass
#: on every exec (the reference the plans are tested against).
RELOC_PLANS = True


def data_start_offset(machine: Machine, word: int) -> int:
    """Bytes reserved below the data (``DATA_START_OFFSET_WORDS * sizeof(long)``).

    One word on ARM; none on RISC-V, which selects
    ``BINFMT_FLAT_NO_DATA_START_OFFSET`` (the arch profile's
    ``flat_data_start_offset``, counted in words so a ``word_size`` override
    scales it).
    """
    arch = machine.arch
    return arch.flat_data_start_offset // arch.word_size * word


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & ~(alignment - 1)


class _Relocator:
    """``calc_reloc`` over one loaded image (``lib_list[0]``)."""

    def __init__(
        self,
        machine: Machine,
        comm: str,
        start_code: int,
        code_len: int,
        start_data: int,
        end_data: int,
        start_brk: int,
    ) -> None:
        self.machine = machine
        self.comm = comm
        self.start_code = start_code
        self.code_len = code_len
        self.start_data = start_data
        self.end_data = end_data
        self.size = start_brk - start_data + code_len
        self.order = cpu_byteorder(machine)

    def calc(self, r: int) -> int:
        """The address offset *r* names; ENOEXEC (the kernel: SIGSEGV) outside the image."""
        if r > self.size:
            self.machine.log(
                f"{PR_FMT}reloc outside program 0x{r:x} (0 - 0x{self.size:x}/"
                f"0x{self.code_len:x}), killing {self.comm}!"
            )
            raise SyscallError(
                Errno.ENOEXEC,
                f"relocation offset {r:#x} lies outside the program "
                f"(code+data+bss is {self.size:#x} bytes)",
            )
        if r < self.code_len:
            return (r + self.start_code) & 0xFFFFFFFF
        return (r - self.code_len + self.start_data) & 0xFFFFFFFF

    def get(self, addr: int) -> int:
        return int.from_bytes(self.machine.memory.read(addr, 4), self.order)

    def put(self, addr: int, value: int) -> None:
        put_user(self.machine, addr, (value & 0xFFFFFFFF).to_bytes(4, self.order))


def load_flat_binary(bprm: LinuxBinprm) -> LoadedImage:
    """Load a bFLT program into the exec'ing process (``load_flat_binary``).

    Raises SyscallError: ENOEXEC for a file that is not bFLT, a bad
    version, a bad header, a compressed file without ``compressed_flat``,
    or a file shorter than its header describes; ENOMEM when data+bss
    exceed ``Process.rlimit_data`` — all before the point of no return.
    After it: ENOMEM from the allocator (with the explanation of which block
    was missing), ENOEXEC for corrupt compressed data or bad relocations,
    EFAULT for a store outside RAM.
    """
    machine = bprm.machine
    if bprm.buf[:4] != FLAT_MAGIC:
        raise SyscallError(Errno.ENOEXEC, f"{NOT_MINE}bFLT file")
    word = bprm.word
    # load_flat_binary: the argument area and the pointer arrays go on the stack too
    extra_stack = bprm.strings_len + (bprm.argc + 1) * word + (bprm.envc + 1) * word
    extra_stack = _align(extra_stack, FLAT_STACK_ALIGN)
    image = bprm.read_all()
    hdr = parse_flat_header(
        image,
        name=bprm.file.path,
        zflat=bool(machine.options.get("compressed_flat", False)),
        extra_stack=extra_stack,
        rlimit_data=bprm.process.rlimit_data,
        word=word,
        check_size=True,
    )
    if hdr.load_flags & FLAT_FLAG_KTRACE:
        machine.log(f"{PR_FMT}Loading file: {bprm.filename}")

    bprm.begin_new_exec()  # the point of no return

    layout = _load_flat_file(bprm, hdr, image, extra_stack)
    process = bprm.process
    mm = process.mm
    assert mm is not None
    # "Update data segment pointers": the word below the data holds its address
    datapos = mm.start_data
    put_user(machine, datapos - word, datapos.to_bytes(word, cpu_byteorder(machine)))

    stack_len = hdr.stack_size + extra_stack
    mm.start_stack = ((mm.end_brk + stack_len + 3) & ~3) - 4
    arg_start, _ = bprm.transfer_args_to_stack(mm.start_stack)
    mm.start_stack = arg_start
    _create_flat_tables(bprm, arg_start)
    return LoadedImage(
        format=layout, path=bprm.file.path, entry=hdr.entry_offset + (mm.start_code - FLAT_HDR_SIZE)
    )


def _create_flat_tables(bprm: LinuxBinprm, arg_start: int) -> None:
    """``create_flat_tables``: argc, argv[], envp[] below the strings (no argv/envp words)."""
    mm = bprm.process.mm
    assert mm is not None
    word = bprm.word
    sp = arg_start - (bprm.envc + 1 + bprm.argc + 1 + 1) * word
    sp &= -FLAT_STACK_ALIGN
    mm.start_stack = sp
    order = cpu_byteorder(bprm.machine)
    put_user(bprm.machine, sp, bprm.argc.to_bytes(word, order))
    argv_at = sp + word
    envp_at = argv_at + (bprm.argc + 1) * word
    bprm.fill_tables(arg_start, argv_at, envp_at)


def _load_flat_file(bprm: LinuxBinprm, hdr: FlatHeader, image: bytes, extra_stack: int) -> str:
    """``load_flat_file`` after ``flush_old_exec``: map, read, relocate, clear.

    Returns the layout name (``"bflt"`` for case A, ``"bflt-ram"`` for B).
    """
    machine = bprm.machine
    process = bprm.process
    nommu = machine.nommu
    mm = process.mm
    assert mm is not None
    word = bprm.word
    flags = hdr.load_flags
    text_len = hdr.text_len
    data_len = hdr.data_len
    bss_len = hdr.bss_len
    stack_len = hdr.stack_size + extra_stack
    relocs = hdr.reloc_count
    full_data = hdr.full_data(word)
    extra = max(bss_len + stack_len, relocs * word)
    start_offset = data_start_offset(machine, word)
    file = bprm.file

    if not flags & (FLAT_FLAG_RAM | FLAT_FLAG_GZIP):
        layout = "bflt"
        try:
            textpos = nommu.vm_mmap(
                mm, process, file, 0, text_len, PROT_READ | PROT_EXEC, MAP_PRIVATE, 0
            )
        except SyscallError as e:
            machine.log(f"{PR_FMT}Unable to mmap process text, errno {-int(e.errno)}")
            raise
        length = nommu.page_align(data_len + extra + start_offset)
        try:
            realdatastart = nommu.vm_mmap(mm, process, None, 0, length, RWX, MAP_PRIVATE, 0)
        except SyscallError as e:
            machine.log(f"{PR_FMT}Unable to allocate RAM for process data, errno {-int(e.errno)}")
            nommu.do_munmap(mm, process, textpos, text_len)
            raise
        length = _use_slack(nommu, mm, realdatastart, length)
        datapos = _align(realdatastart + start_offset, FLAT_DATA_ALIGN)
        memp, memp_size = realdatastart, length

        def copy() -> tuple[int, int]:
            try:
                if flags & FLAT_FLAG_GZDATA:
                    payload = decompress_flat(image, name=file.path, word=word)[
                        text_len : text_len + full_data
                    ]
                else:
                    payload = image[hdr.data_start : hdr.data_start + full_data]
                put_user(machine, datapos, payload)
            except SyscallError as e:
                machine.log(f"{PR_FMT}Unable to read data+bss, errno {-int(e.errno)}")
                nommu.do_munmap(mm, process, textpos, text_len)
                nommu.do_munmap(mm, process, realdatastart, length)
                raise
            return datapos, datapos + len(payload)

    else:
        layout = "bflt-ram"
        length = nommu.page_align(text_len + data_len + extra + start_offset)
        try:
            textpos = nommu.vm_mmap(mm, process, None, 0, length, RWX, MAP_PRIVATE, 0)
        except SyscallError as e:
            machine.log(
                f"{PR_FMT}Unable to allocate RAM for process text/data, errno {-int(e.errno)}"
            )
            raise
        length = _use_slack(nommu, mm, textpos, length)
        realdatastart = textpos + hdr.data_start
        datapos = _align(realdatastart + start_offset, FLAT_DATA_ALIGN)
        memp, memp_size = textpos, length

        def copy() -> tuple[int, int]:
            try:
                if flags & FLAT_FLAG_GZIP:
                    plain = decompress_flat(image, name=file.path, word=word)
                    # decompress_exec writes after the header; the header stays zero
                    put_user(machine, textpos + FLAT_HDR_SIZE, plain[FLAT_HDR_SIZE:])
                    machine.memory.copy(datapos, realdatastart, full_data)  # memmove
                    ends = (textpos + max(len(plain), FLAT_HDR_SIZE), datapos + full_data)
                    return textpos + FLAT_HDR_SIZE, max(ends)
                if flags & FLAT_FLAG_GZDATA:
                    plain = decompress_flat(image, name=file.path, word=word)
                    payload = plain[text_len : text_len + full_data]
                else:
                    payload = image[hdr.data_start : hdr.data_start + full_data]
                put_user(machine, textpos, image[:text_len])
                put_user(machine, datapos, payload)
            except SyscallError as e:
                machine.log(f"{PR_FMT}Unable to read code+data+bss, errno {-int(e.errno)}")
                nommu.do_munmap(mm, process, textpos, length)
                raise
            return textpos, max(textpos + min(text_len, len(image)), datapos + len(payload))

    reloc = datapos + (hdr.reloc_start - text_len)
    start_code = textpos + FLAT_HDR_SIZE
    end_code = textpos + text_len
    code_len = text_len - FLAT_HDR_SIZE
    lib_start_brk = datapos + data_len + bss_len
    order = cpu_byteorder(machine)
    # the copy and the relocation pass: from the program's plan when it has one
    plans = machine.subsystem("flat_reloc_plans", PlanCache, PlanCache)
    plan = plans.lookup(file.inode, image, extra_stack) if RELOC_PLANS else None
    fast = isinstance(plan, RelocPlan) and plan.fits(memp, start_code, datapos)
    window: bytes | None = None
    reloc_layout: RelocLayout | None = None
    if isinstance(plan, RelocPlan) and fast:
        plan.apply(partial(put_user, machine), memp, start_code, datapos, order)
    else:
        lo, hi = copy()
        if plan is False:
            window = machine.memory.read(memp, memp_size)
            reloc_layout = RelocLayout(
                memp_size,
                lo - memp,
                hi - memp,
                start_code - memp,
                code_len,
                datapos - memp,
                lib_start_brk - datapos + code_len,
                reloc - memp,
                relocs if hdr.rev > OLD_FLAT_VERSION else -1,
                bool(flags & FLAT_FLAG_GOTPIC),
            )

    mm.start_code = start_code
    mm.end_code = end_code
    mm.start_data = datapos
    mm.end_data = datapos + data_len
    # brk: the slack between the bss and the stack, inside the same mapping
    mm.start_brk = datapos + data_len + bss_len
    mm.brk = (mm.start_brk + 3) & ~3
    mm.end_brk = memp + memp_size - stack_len
    if flags & FLAT_FLAG_KTRACE:
        machine.log(
            f"{PR_FMT}Mapping is {textpos:x}, Entry point is {hdr.entry_offset:x}, "
            f"data_start is {hdr.data_start:x}"
        )
        machine.log(
            f"{PR_FMT}Load {bprm.filename}: TEXT={start_code:x}-{end_code:x} "
            f"DATA={datapos:x}-{datapos + data_len:x} BSS={datapos + data_len:x}-"
            f"{(datapos + data_len + bss_len + 3) & ~3:x}"
        )

    if not fast:
        rel = _Relocator(
            machine, process.name, start_code, code_len, datapos, datapos + data_len, lib_start_brk
        )
        _relocate(machine, rel, hdr, datapos, reloc, memp + memp_size)
        if window is not None and reloc_layout is not None:
            new = make_plan(window, memp, reloc_layout, machine.page_size, order)
            if new is not None and not _plan_agrees(new, machine, memp, start_code, datapos):
                raise KernelBug(f"{file.path}: the relocation plan differs from the pass")
            plans.store(file.inode, image, extra_stack, new)

    # zero the bss, the brk area and the stack: everything up to the mapping's end
    clear_user(machine, datapos + data_len, memp + memp_size - (datapos + data_len))
    return layout


def _plan_agrees(
    plan: RelocPlan, machine: Machine, memp: int, start_code: int, start_data: int
) -> bool:
    """Whether *plan* gives the bytes the word-by-word pass has just stored at *memp*."""
    scratch = PhysicalMemory(machine.page_size)
    scratch.add_area("ram", memp, plan.layout.memp_size, writable=True)
    plan.apply(scratch.write, memp, start_code, start_data, cpu_byteorder(machine))
    lo, hi = memp + plan.layout.lo, memp + plan.layout.hi
    return scratch.read(lo, hi - lo) == machine.memory.read(lo, hi - lo)


def _relocate(
    machine: Machine, rel: _Relocator, hdr: FlatHeader, datapos: int, reloc: int, end: int
) -> None:
    """The relocation pass word by word, as ``load_flat_file`` does it (the reference)."""
    flags = hdr.load_flags
    if flags & FLAT_FLAG_GOTPIC:
        rp = datapos
        while True:
            if rp + 4 > end:
                raise SyscallError(Errno.ENOEXEC, "the GOT has no 0xffffffff terminator")
            value = rel.get(rp)
            if value == 0xFFFFFFFF:
                break
            if value:
                rel.put(rp, rel.calc(value))
            rp += 4
    if hdr.rev > OLD_FLAT_VERSION:
        for i in range(hdr.reloc_count):
            relval = struct.unpack(">I", machine.memory.read(reloc + 4 * i, 4))[0]
            rp = rel.calc(relval)
            addr = rel.get(rp)
            if addr != 0:
                if not flags & FLAT_FLAG_GOTPIC:
                    addr = int.from_bytes(addr.to_bytes(4, rel.order), "big")  # ntohl
                rel.put(rp, rel.calc(addr))
    else:
        for i in range(hdr.reloc_count):
            relval = struct.unpack(">I", machine.memory.read(reloc + 4 * i, 4))[0]
            _old_reloc(machine, rel, relval)


def _old_reloc(machine: Machine, rel: _Relocator, relval: int) -> None:
    """``old_reloc``: a rev-2 relocation (30-bit signed offset, 2-bit segment type).

    The offset is relative to the data (ColdFire: the code, not modelled).
    """
    offset = relval & 0x3FFFFFFF
    if offset & 0x20000000:
        offset -= 0x40000000
    kind = relval >> 30
    ptr = rel.start_data + offset
    val = rel.get(ptr)
    if kind == 0:
        val += rel.start_code
    elif kind == 1:
        val += rel.start_data
    elif kind == 2:
        val += rel.end_data
    else:
        machine.log(f"{PR_FMT}Unknown relocation type={kind:x}")
    rel.put(ptr, val)


def _use_slack(nommu: Nommu, mm: MM, addr: int, length: int) -> int:
    """Before 2.6.29 the loader grew the mapping over its kmalloc object's slack.

    2.6.24's load_flat_file(): "Remap to use all availabe slack region space":
    ``do_mremap(addr, len, ksize(addr), MREMAP_FIXED, addr)`` when the object
    is larger, so the stack and the brk area end where the object ends. The
    newer engines report no slack (``ksize`` is the length) and nothing moves.
    """
    reallen = nommu.ksize(addr, length)
    if reallen > length:
        nommu.do_mremap(mm, addr, length, reallen, MREMAP_FIXED, addr)
    return max(reallen, length)
