"""Replaying mmap, library loading, munmap and mremap onto the board."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu import consts
from nommu.analysis.failure import size_text
from nommu.errors import Errno, SyscallError
from nommu.strace.libc import is_arena_reservation, is_host_default_stack
from nommu.strace.parse import (
    Event,
    MmapArgs,
    MremapArgs,
    MunmapArgs,
)
from nommu.strace.replay.board import (
    BoardSetup,
)
from nommu.strace.replay.plan import (
    LibPlan,
    Seg,
)
from nommu.strace.replay.policy import (
    _ANON,
    _RW,
    _prot_text,
)
from nommu.strace.replay.state import (
    STACK_TAG,
    _BoardFile,
    _Entry,
    _Proc,
)

if TYPE_CHECKING:
    pass


class Mappings(BoardSetup):
    """mmap (files, anonymous memory, libraries placed FDPIC-style), munmap, mremap."""

    # ---- mmap ---------------------------------------------------------------------------
    def on_mmap(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MmapArgs) or ev.result is None:
            return
        tstart = ev.result
        tend = tstart + self.align(d.length)
        lib = self.plan.lib_at_res.get(index)
        if lib is not None:
            self.map_library(proc, ev, lib)
            return
        seg = self.plan.seg_at.get(index)
        if seg is not None:
            self.map_segment(proc, ev, seg[0], seg[1])
            return
        space = proc.space
        if d.anonymous:
            fixed = bool(d.flags & consts.MAP_FIXED)
            if d.flags & consts.MAP_STACK and not fixed:
                length = d.length
                if is_host_default_stack(length, self.ps) and self.libc.sets_apart(
                    "thread_stack_default"
                ):
                    length = self.libc.thread_stack
                    self.note(
                        ev,
                        "host_libc",
                        f"glibc's default thread stack ({size_text(d.length)}, from the host's "
                        f"stack limit) -> {self.libc.name}'s default of {size_text(length)}",
                    )
                what = f"thread stack of {size_text(self.align(length))}"
                addr = self.mmap(proc, ev, 0, length, _RW, _ANON, -1, 0, what)
                if addr is not None:
                    space.entries.append(_Entry(tstart, tend, addr, "stack", ev.line))
                    self.note(
                        ev,
                        "thread_stack",
                        f"MAP_STACK{' PROT_NONE' if d.prot == consts.PROT_NONE else ''} "
                        f"mapping of {size_text(self.align(d.length))} -> one fixed-size "
                        "anonymous mapping, readable and writable (no guard page, never "
                        "grows)",
                    )
                else:  # the stack the board refused, still a thread stack for later calls
                    space.entries.append(_Entry(tstart, tend, None, "failed", ev.line, STACK_TAG))
                return
            if is_arena_reservation(d.prot, d.flags, True):
                space.arenas.append((tstart, tend))
            if d.prot == consts.PROT_NONE and not fixed and self.policy.reservations == "commit":
                space.entries.append(_Entry(tstart, tend, None, "reservation", ev.line))
                self.note(
                    ev,
                    "reservation",
                    f"PROT_NONE reservation of {size_text(self.align(d.length))}: not "
                    "mapped; parts made accessible later are mapped then",
                )
                return
            prot = _RW if d.prot == consts.PROT_NONE else d.prot
            what = f"anonymous mapping of {size_text(self.align(d.length))}"
            addr = self.mmap(proc, ev, tstart if fixed else 0, d.length, prot, d.flags, -1, 0, what)
            space.entries.append(
                _Entry(tstart, tend, addr, "anon" if addr is not None else "failed", ev.line)
            )
            return
        self.map_file(proc, ev, d, tstart, tend)

    def mmap(
        self,
        proc: _Proc,
        ev: Event,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        fd: int,
        offset: int,
        what: str,
    ) -> int | None:
        try:
            return proc.process.mmap(addr, length, prot, flags, fd, offset)
        except SyscallError as err:
            self.fail(ev, err, what)
            return None

    def open_board(self, proc: _Proc, ev: Event, bp: str, write: bool, what: str) -> int | None:
        flags = consts.O_RDWR if write else consts.O_RDONLY
        try:
            return proc.process.open(bp, flags)
        except SyscallError as err:
            self.fail(ev, err, f"open {bp} to {what}")
            return None

    def map_file(self, proc: _Proc, ev: Event, d: MmapArgs, tstart: int, tend: int) -> None:
        space = proc.space
        path = d.path
        if path is None:
            self.note(
                ev,
                "not_replayed",
                f"mmap of fd {d.fd}: the trace does not say which "
                "file it names (record with strace -y)",
            )
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line))
            return
        why = self.special(path)
        if why is not None:
            self.note(ev, "not_replayed", f"mmap of {path}: {why} is not modelled on the board")
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line, path))
            return
        bp = self.board_path(path)
        if path.startswith("/memfd:") and bp not in self.ramfs_created:
            self.note(ev, "memfd", f"{path} -> {bp} (a memfd is a tmpfs file)")
        if not self.ensure_file(proc, ev, bp, d.offset + d.length):
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line, path))
            return
        shared = d.map_type == consts.MAP_SHARED
        write = shared and bool(d.prot & consts.PROT_WRITE)
        what = (
            f"{'MAP_SHARED' if shared else 'MAP_PRIVATE'} mapping of "
            f"{size_text(self.align(d.length))} of {bp} at offset {d.offset:#x}"
        )
        fd = self.open_board(proc, ev, bp, write, "map it")
        if fd is None:
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line, path))
            return
        try:
            fixed = bool(d.flags & consts.MAP_FIXED)
            addr = self.mmap(
                proc, ev, tstart if fixed else 0, d.length, d.prot, d.flags, fd, d.offset, what
            )
        finally:
            proc.process.close(fd)
        space.entries.append(
            _Entry(tstart, tend, addr, "file" if addr is not None else "failed", ev.line, path)
        )

    def ensure_file(self, proc: _Proc, ev: Event, bp: str, need: int) -> bool:
        """The board file exists (ramfs files are created on first use); False if not."""
        if bp in self.missing:
            self.missing_file(ev, bp, "mmap")
            return False
        if bp.startswith("/dev/") and not bp.startswith("/dev/shm/"):
            try:
                proc.process.stat(bp)
            except SyscallError:
                self.note(ev, "not_replayed", f"the device {bp} does not exist on this board")
                return False
            return True
        if self.direct(bp) and bp not in self.ramfs_created:
            f = self.files.get(bp) or _BoardFile(bp, "data", need, ev.line)
            if not self.create_file(proc.process, f, max(need, f.size), ev):
                return False
        return True

    # ---- libraries ----------------------------------------------------------------------
    def lib_where(self, bp: str) -> str:
        fs = self.fs_for(bp)
        return {
            "ramfs": "directly from the ramfs page cache (no copy)",
            "romfs": "in place from flash (XIP, no RAM)",
            "ext2": "as a copy in RAM shared by every process mapping the same range",
        }[fs]

    def map_library(self, proc: _Proc, ev: Event, lib: LibPlan) -> None:
        bp = self.board_path(lib.path)
        segs = ([lib.head] if lib.head is not None else []) + lib.segs
        roles = ", ".join(f"{s.role} {size_text(self.align(s.length))}" for s in segs)
        self.note(
            ev,
            "library",
            f"ld.so reserves {size_text(lib.tend - lib.tstart)} for {lib.path} and places "
            f"{len(lib.segs)} segment(s) with MAP_FIXED; an FDPIC loader maps each "
            f"segment itself ({roles}): read-only ones from {bp} "
            f"{self.lib_where(bp)}, writable ones as private copies, bss anonymous",
        )
        proc.space.entries.append(
            _Entry(lib.tstart, lib.tend, None, "libspan", ev.line, lib.path, lib)
        )
        if lib.head is not None:
            self.map_segment(proc, ev, lib, lib.head)

    def map_segment(self, proc: _Proc, ev: Event, lib: LibPlan, seg: Seg) -> None:
        bp = self.board_path(lib.path)
        size = size_text(self.align(seg.length))
        space = proc.space
        if bp in self.missing:
            self.missing_file(ev, bp, f"{seg.role} segment of {lib.path}")
            return
        if seg.role == "bss":
            addr = self.mmap(
                proc, ev, 0, seg.length, _RW, _ANON, -1, 0, f"bss of {lib.path} ({size})"
            )
            how = "anonymous mapping"
        else:
            writable = bool(seg.prot & consts.PROT_WRITE)
            what = f"{seg.role} segment of {lib.path} ({size} at file offset {seg.offset:#x})"
            fd = self.open_board(proc, ev, bp, False, f"map its {seg.role} segment")
            if fd is None:
                return
            try:
                addr = self.mmap(
                    proc, ev, 0, seg.length, seg.prot, consts.MAP_PRIVATE, fd, seg.offset, what
                )
            finally:
                proc.process.close(fd)
            how = (
                "MAP_PRIVATE private copy"
                if writable
                else f"MAP_PRIVATE read-only mapping {self.lib_where(bp)}"
            )
        if addr is None:
            return
        space.entries.append(_Entry(seg.tstart, seg.tend, addr, "lib", ev.line, lib.path, lib))
        shared_with = ""
        mm = proc.process.mm
        vma = mm.find_vma(addr) if mm is not None else None
        region = vma.vm_region if vma is not None else None
        if region is not None and region.vm_usage > 1:
            shared_with = f"; shares the region at {region.vm_start:#x} already mapped"
        self.note(
            ev,
            "library_segment",
            f"{seg.role} segment of {lib.path} ({size}, {_prot_text(seg.prot)}) -> {how} "
            f"at {addr:#x}{shared_with}",
        )

    # ---- munmap / mremap --------------------------------------------------------------
    def on_munmap(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MunmapArgs):
            return
        lo, hi = d.addr, d.addr + self.align(d.length)
        space = proc.space
        hits = space.overlapping(lo, hi)
        if not hits:
            h = space.heap
            if not any(p[0] < hi and lo < p[1] for p in h.pieces):
                self.note(
                    ev,
                    "not_replayed",
                    f"munmap {lo:#x}-{hi:#x}: no replayed mapping there (memory the "
                    "kernel mapped at exec, or a mapping made before the trace)",
                )
            return
        backed = [e for e in hits if e.mstart is not None]
        if len(backed) > 1:
            self.note(
                ev,
                "munmap_split",
                f"munmap {lo:#x}-{hi:#x} covers {len(backed)} replayed mappings (lines "
                f"{', '.join(str(e.line) for e in backed)}): one munmap each "
                "(do_munmap handles one VMA per call: EINVAL for the call as traced)",
                None if all(e.kind == "lib" for e in backed) else "EINVAL",
            )
        failed = [e for e in hits if e.kind == "failed"]
        if failed and not backed:
            self.note(
                ev,
                "not_replayed",
                f"munmap {lo:#x}-{hi:#x}: the mapping made at line {failed[0].line} "
                "failed on the board",
            )
        for e in hits:
            a, b = max(lo, e.tstart), min(hi, e.tend)
            if e.kind == "lib" and not (a == e.tstart and b == e.tend):
                continue  # the loader trims its span; the pieces are the kernel's
            if e.mstart is not None:
                maddr = e.mstart + (a - e.tstart)
                try:
                    proc.process.munmap(maddr, b - a)
                except SyscallError as err:
                    self.fail(
                        ev,
                        err,
                        f"munmap {size_text(b - a)} at {maddr:#x} (the mapping from line {e.line})",
                    )
                    continue
            space.cut(e, a, b)

    def on_mremap(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MremapArgs) or ev.result is None:
            return
        space = proc.space
        entry = None
        for e in space.entries:
            if e.mstart is not None and e.tstart <= d.old_addr < e.tend and e.kind != "libspan":
                entry = e
                break
        new_lo, new_hi = ev.result, ev.result + self.align(d.new_size)
        if entry is None:
            self.note(ev, "not_replayed", f"mremap {d.old_addr:#x}: no replayed mapping there")
            return
        assert entry.mstart is not None
        maddr = entry.mstart + (d.old_addr - entry.tstart)
        old_hi = d.old_addr + self.align(d.old_size)
        new_addr = d.new_addr or 0
        try:
            result = proc.process.mremap(maddr, d.old_size, d.new_size, d.flags, new_addr)
        except SyscallError as err:
            self.fail(
                ev,
                err,
                f"mremap {size_text(self.align(d.old_size))} -> "
                f"{size_text(self.align(d.new_size))} of the mapping from line "
                f"{entry.line} at {maddr:#x}",
            )
            if (
                self.policy.mremap_fallback
                and err.errno == Errno.ENOMEM
                and entry.kind in ("anon", "commit")
            ):
                self.mremap_fallback(proc, ev, entry, d, maddr, new_lo, new_hi)
            else:  # the board mapping stays; follow the trace's address
                kind, line, path = entry.kind, entry.line, entry.path
                m = maddr
                space.cut(entry, d.old_addr, max(old_hi, d.old_addr + 1))
                space.entries.append(
                    _Entry(new_lo, new_lo + (old_hi - d.old_addr), m, kind, line, path)
                )
            return
        kind, line, path = entry.kind, entry.line, entry.path
        space.cut(entry, d.old_addr, old_hi)
        space.entries.append(_Entry(new_lo, new_hi, result, kind, line, path))

    def mremap_fallback(
        self,
        proc: _Proc,
        ev: Event,
        entry: _Entry,
        d: MremapArgs,
        maddr: int,
        new_lo: int,
        new_hi: int,
    ) -> None:
        space = proc.space
        size = size_text(self.align(d.new_size))
        addr = self.mmap(
            proc,
            ev,
            0,
            d.new_size,
            _RW,
            _ANON,
            -1,
            0,
            f"anonymous mapping of {size} (mremap fallback)",
        )
        if addr is None:
            return
        old_hi = d.old_addr + self.align(d.old_size)
        try:
            proc.process.munmap(maddr, self.align(d.old_size))
        except SyscallError as err:
            self.fail(ev, err, f"munmap of the old mapping at {maddr:#x} (mremap fallback)")
        else:
            space.cut(entry, d.old_addr, old_hi)
        space.entries.append(_Entry(new_lo, new_hi, addr, "anon", ev.line))
        self.note(
            ev,
            "mremap_fallback",
            f"mremap cannot grow the mapping from line {entry.line} without an MMU "
            f"(ENOMEM): replayed as mmap of {size} at {addr:#x} + copy + munmap of the "
            "old one, as a no-MMU realloc does",
        )
