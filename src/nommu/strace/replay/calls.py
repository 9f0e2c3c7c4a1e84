"""Replaying brk, mprotect (reservations), the ENOSYS calls, file size changes and SysV shm."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu import consts
from nommu.analysis.failure import size_text
from nommu.errors import SyscallError
from nommu.strace.libc import file_artefact
from nommu.strace.parse import (
    BrkArgs,
    Event,
    FtruncateArgs,
    MmapArgs,
    MprotectArgs,
    ShmatArgs,
    ShmctlArgs,
    ShmdtArgs,
    ShmgetArgs,
    decode_c_string,
)
from nommu.strace.replay.mappings import (
    Mappings,
)
from nommu.strace.replay.policy import (
    _ANON,
    _RW,
)
from nommu.strace.replay.state import (
    STACK_TAG,
    _BoardFile,
    _Entry,
    _Proc,
)
from nommu.strace.syscalls import ENOSYS_CALLS

if TYPE_CHECKING:
    pass


class OtherCalls(Mappings):
    """brk as mmap, reservations committed by mprotect, ftruncate/unlink, SysV shm."""

    # ---- brk ----------------------------------------------------------------------------
    def on_brk(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, BrkArgs) or ev.result is None:
            return
        h = proc.space.heap
        res = ev.result
        if h.start is None:
            h.start = h.cur = res
            h.top = self.align(res)
            if d.addr == 0 or d.addr == res:
                return
        if d.addr == 0 or res != d.addr or res == h.cur:
            return  # a query, or the break did not move in the trace
        if res < h.start:
            return
        old = h.cur
        h.cur = res
        if res > old:
            self.heap_grow(proc, ev, old, res)
        else:
            self.heap_shrink(proc, ev, res)

    def heap_grow(self, proc: _Proc, ev: Event, old: int, new: int) -> None:
        h = proc.space.heap
        pol = self.policy
        grow = new - old
        if pol.heap == "none":
            self.note(ev, "heap", f"brk grows the heap by {size_text(grow)}: dropped (heap=none)")
            return
        if new <= h.top:
            self.note(
                ev,
                "heap",
                f"brk grows the heap by {size_text(grow)}: within the "
                f"{pol.heap} mapping already made",
            )
            return
        if pol.heap == "mmap-per-brk":
            size = self.align(new) - h.top
            how = "its own anonymous mapping (mmap-per-brk)"
        else:
            chunk = pol.heap_chunk
            size = -(-(new - h.top) // chunk) * chunk
            how = f"a {size_text(chunk)}-chunk anonymous mapping (malloc-chunks)"
        if size <= 0:
            return
        addr = self.mmap(
            proc, ev, 0, size, _RW, _ANON, -1, 0, f"heap growth of {size_text(size)} (brk)"
        )
        if addr is None:
            return
        lo = h.top
        h.top = lo + size
        h.pieces.append((lo, h.top, addr))
        self.note(
            ev,
            "heap",
            f"brk grows the heap by {size_text(grow)} -> {how} of {size_text(size)} at "
            f"{addr:#x} (no-MMU malloc uses mmap: brk has no room under ELF-FDPIC)",
        )

    def heap_shrink(self, proc: _Proc, ev: Event, new: int) -> None:
        h = proc.space.heap
        keep: list[tuple[int, int, int]] = []
        freed = 0
        limit = self.align(new)
        for lo, hi, addr in h.pieces:
            if lo >= limit or (self.policy.heap == "mmap-per-brk" and hi > limit):
                cut = lo if lo >= limit else limit
                try:
                    proc.process.munmap(addr + (cut - lo), hi - cut)
                except SyscallError as err:
                    self.fail(ev, err, f"munmap of {size_text(hi - cut)} of heap (brk shrinks)")
                    keep.append((lo, hi, addr))
                    continue
                freed += hi - cut
                if cut > lo:
                    keep.append((lo, cut, addr))
            else:
                keep.append((lo, hi, addr))
        h.pieces = keep
        h.top = max((p[1] for p in keep), default=self.align(h.start or 0))
        if freed:
            self.note(
                ev, "heap", f"brk shrinks the heap: {size_text(freed)} of heap mappings unmapped"
            )

    # ---- mprotect and other ENOSYS calls ----------------------------------------------
    def on_mprotect(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MprotectArgs):
            return
        lo, hi = d.addr, d.addr + self.align(d.length)
        space = proc.space
        hits = space.overlapping(lo, hi)
        if d.prot & _RW:
            reservations = [e for e in hits if e.kind == "reservation"]
            if reservations:
                self.commit(proc, ev, lo, hi)
                return
        if d.prot == consts.PROT_READ and all(e.kind in ("lib", "libspan") for e in hits):
            where = f"library {hits[0].path}" if hits else "memory the kernel mapped at exec"
            self.note(
                ev,
                "loader_mprotect",
                f"the dynamic loader write-protects RELRO in the {where}: skipped (an FDPIC "
                "loader does not)",
            )
            return
        self.on_enosys(proc, ev)

    def commit(self, proc: _Proc, ev: Event, lo: int, hi: int) -> None:
        space = proc.space
        covered = sorted(
            (max(e.tstart, lo), min(e.tend, hi))
            for e in space.overlapping(lo, hi)
            if e.mstart is not None or e.kind == "failed"
        )
        gaps: list[tuple[int, int]] = []
        cur = lo
        for a, b in covered:
            if a > cur:
                gaps.append((cur, a))
            cur = max(cur, b)
        if cur < hi:
            gaps.append((cur, hi))
        for a, b in gaps:
            inside = any(
                e.kind == "reservation" and e.tstart <= a and b <= e.tend for e in space.entries
            )
            if not inside:
                continue
            addr = self.mmap(
                proc,
                ev,
                0,
                b - a,
                _RW,
                _ANON,
                -1,
                0,
                f"committed part of a reservation ({size_text(b - a)})",
            )
            space.entries.append(
                _Entry(a, b, addr, "commit" if addr is not None else "failed", ev.line)
            )
            if addr is not None:
                self.note(
                    ev,
                    "reservation_commit",
                    f"mprotect makes {size_text(b - a)} of a PROT_NONE reservation "
                    f"accessible -> its own anonymous mapping at {addr:#x}",
                )

    def set_apart(self, proc: _Proc, ev: Event) -> bool:
        """A call only the host's glibc makes (policy ``libc``): noted, not replayed."""
        d = ev.decoded
        libc = self.libc
        if isinstance(d, MmapArgs):
            what = file_artefact(None if d.anonymous else d.path)
            if what is None or not libc.sets_apart(what) or ev.result is None:
                return False
            tend = ev.result + self.align(d.length)
            proc.space.entries.append(_Entry(ev.result, tend, None, "host_libc", ev.line, d.path))
            self.note(ev, "host_libc", f"{what}: a mapping of {d.path}, which only glibc maps")
            return True
        if ev.syscall not in ENOSYS_CALLS:
            return False
        addr, length = getattr(d, "addr", None), getattr(d, "length", None)
        if not isinstance(addr, int) or not isinstance(length, int):
            return False
        lo, hi = addr, addr + self.align(length)
        hits = proc.space.overlapping(lo, hi)
        what = None
        if hits and all(e.kind == "host_libc" for e in hits):
            what = "gconv_cache"
        elif hits and all(e.kind == "stack" or e.path == STACK_TAG for e in hits):
            what = "thread_guard"
        elif any(a <= lo and hi <= b for a, b in proc.space.arenas):
            if isinstance(d, MprotectArgs) and d.prot & _RW:
                return False  # a commit: memory the program uses, replayed as a mapping
            what = "malloc_arena"
        if what is None or not libc.sets_apart(what):
            return False
        self.note(ev, "host_libc", f"{what}: {ev.syscall} of memory only glibc manages")
        return True

    def on_enosys(self, proc: _Proc, ev: Event) -> None:
        if not ev.ok:
            return
        self.note(
            ev, "enosys", f"{ev.syscall} does not exist without an MMU (ENOSYS): skipped", "ENOSYS"
        )

    # ---- files --------------------------------------------------------------------------
    def on_ftruncate(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, FtruncateArgs) or d.path is None:
            return
        bp = self.board_path(d.path)
        if not self.direct(bp):
            return  # disk files are sized when the board is prepared
        if bp not in self.ramfs_created:
            f = self.files.get(bp) or _BoardFile(bp, "data", d.length, ev.line)
            if not self.create_file(proc.process, f, d.length, ev):
                return
            if d.path.startswith("/memfd:"):
                self.note(ev, "memfd", f"{d.path} -> {bp} (a memfd is a tmpfs file)")
            return
        p = proc.process
        try:
            fd = p.open(bp, consts.O_RDWR)
            try:
                p.ftruncate(fd, d.length)
            finally:
                p.close(fd)
        except SyscallError as err:
            self.fail(ev, err, f"ftruncate {bp} to {size_text(d.length)}")

    def on_unlink(self, proc: _Proc, index: int, ev: Event) -> None:
        args = ev.args
        path = None
        for tok in args[:2]:
            if tok.startswith('"'):
                raw, _ = decode_c_string(tok)
                path = raw.decode("utf-8", "surrogateescape")
                break
        if path is None:
            return
        bp = self.board_path(path)
        if bp not in self.ramfs_created:
            return
        try:
            proc.process.unlink(bp)
        except SyscallError as err:
            self.fail(ev, err, f"unlink {bp}")
            return
        self.ramfs_created.discard(bp)

    # ---- SysV shared memory ---------------------------------------------------------
    def on_shmget(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmgetArgs) or ev.result is None:
            return
        try:
            mid = proc.process.shmget(d.key, d.size, d.flags)
        except SyscallError as err:
            self.fail(ev, err, f"shmget of {size_text(d.size)}")
            return
        self.shm_ids[ev.result] = mid

    def on_shmat(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmatArgs) or ev.result is None:
            return
        mid = self.shm_ids.get(d.shmid)
        if mid is None:
            try:
                mid = proc.process.shmget(consts.IPC_PRIVATE, self.ps, consts.IPC_CREAT | 0o600)
            except SyscallError as err:
                self.fail(ev, err, f"shmget of a stand-in for segment {d.shmid}")
                return
            self.shm_ids[d.shmid] = mid
            self.note(
                ev,
                "not_replayed",
                f"shmat of segment {d.shmid}, not created in the trace: a one-page stand-in "
                "is attached",
            )
        try:
            addr = proc.process.shmat(mid, d.addr, d.flags)
        except SyscallError as err:
            self.fail(ev, err, f"shmat of segment {d.shmid}")
            proc.space.entries.append(_Entry(ev.result, ev.result + 1, None, "failed", ev.line))
            return
        proc.space.entries.append(_Entry(ev.result, ev.result + 1, addr, "shm", ev.line))

    def on_shmdt(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmdtArgs):
            return
        for e in proc.space.entries:
            if e.kind == "shm" and e.tstart == d.addr and e.mstart is not None:
                try:
                    proc.process.shmdt(e.mstart)
                except SyscallError as err:
                    self.fail(ev, err, f"shmdt {e.mstart:#x}")
                    return
                proc.space.entries.remove(e)
                return

    def on_shmctl(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmctlArgs) or d.cmd != "IPC_RMID":
            return
        mid = self.shm_ids.get(d.shmid)
        if mid is None:
            return
        try:
            proc.process.shmctl(mid, consts.IPC_RMID)
        except SyscallError as err:
            self.fail(ev, err, f"shmctl IPC_RMID of segment {d.shmid}")
