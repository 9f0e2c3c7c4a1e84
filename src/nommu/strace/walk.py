"""The walk of ``nommu check`` over a trace: address spaces as the MMU trace left them.

:class:`Checker` follows each traced address space (pids joined by
``CLONE_VM`` share one, a fork-like child starts with a copy, ``execve``
starts afresh) with the trace's own addresses, so that a later ``munmap``,
``mremap`` or ``mprotect`` knows what it applies to. For every decision it
asks :class:`~nommu.strace.decisions.Decisions`; see :mod:`nommu.strace.check`
for the kinds. Memory mapped by the kernel at exec is not in the trace:
calls on it are not judged as munmap problems.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from nommu import consts
from nommu.consts import format_size, page_align
from nommu.strace.decisions import Answer, Decisions
from nommu.strace.findings import BoardLimits, Finding, Kind, Note, Severity
from nommu.strace.forks import fork_detail, shared_anon_detail
from nommu.strace.libc import (
    LibcProfile,
    file_artefact,
    is_arena_reservation,
    is_host_default_stack,
)
from nommu.strace.parse import (
    BrkArgs,
    CloneArgs,
    Event,
    EventKind,
    MmapArgs,
    MprotectArgs,
    MremapArgs,
    MunmapArgs,
    ShmatArgs,
    ShmgetArgs,
    Trace,
)
from nommu.strace.replay.plan import Plan
from nommu.strace.replay.policy import MODEL_CLONE
from nommu.strace.spaces import Mapping, Pending, Space, size_words
from nommu.strace.syscalls import CLONE_CALLS, ENOSYS_CALLS, EXEC_CALLS, MMAP_CALLS

__all__ = ["Checker"]

_HUGE_STACK = 1 << 20
_RW = consts.PROT_READ | consts.PROT_WRITE
_CLONE_MODEL = (
    consts.CLONE_VM | consts.CLONE_FS | consts.CLONE_FILES | consts.CLONE_SIGHAND | consts.SIGCHLD
)
#: Calls whose host failure is noted apart (the rest are simply not judged).
_JUDGED = MMAP_CALLS | CLONE_CALLS | ENOSYS_CALLS | {"munmap", "mremap", "shmget", "shmat"}


class Checker:
    """One pass over a trace; :meth:`run`, then :meth:`finalize` for the findings."""

    def __init__(
        self, trace: Trace, limits: BoardLimits, ask: Decisions, libc: LibcProfile, plan: Plan
    ) -> None:
        self.trace = trace
        self.limits = limits
        self.ask = ask
        self.libc = libc
        self.plan = plan
        self.ps = limits.page_size
        self.word_size = ask.m.word_size
        self.mm_of: dict[int, Space] = {}
        self.pending: list[Pending] = []
        self.findings: list[tuple[int, Finding]] = []
        self.host_libc: list[Note] = []
        self.host_failed: list[Note] = []
        self._seq = itertools.count()
        self._gid = itertools.count(1)
        self._backing: dict[str, str] = {}

    # ---- helpers --------------------------------------------------------------------
    def new_gid(self) -> int:
        return next(self._gid)

    def mm(self, pid: int) -> Space:
        mm = self.mm_of.get(pid)
        if mm is None:
            mm = self.mm_of[pid] = Space()
        return mm

    def align(self, n: int) -> int:
        return page_align(n, self.ps, bits=64)

    def add(
        self,
        ev: Event,
        kind: Kind,
        errno: str | None,
        detail: str,
        severity: Severity = Severity.CHANGE,
    ) -> None:
        finding = Finding(ev.line, ev.pid, ev.syscall, kind, errno, detail, severity, ev.source)
        self.findings.append((next(self._seq), finding))

    def defer(self, ev: Event, index: int, kind: Kind, errno: str | None) -> Pending:
        p = Pending(ev, index, kind, errno, next(self._seq))
        self.pending.append(p)
        return p

    def artefact(self, ev: Event, what: str, detail: str) -> bool:
        """Set *ev* apart as a host-libc artefact when the target's libc lacks *what*."""
        if not self.libc.sets_apart(what):
            return False
        self.host_libc.append(Note(ev.line, ev.pid, ev.syscall, what, detail, ev.source))
        return True

    def judge_alloc(
        self, ev: Event, what: str, length: int, kind: Kind = Kind.ALLOC_TOO_LARGE
    ) -> None:
        """Ask the board for *length* bytes of RAM in one piece; a finding if it refuses."""
        words = size_words(length, self.word_size)
        if words is not None:
            self.add(ev, kind, "ENOMEM", f"{what}: {words}", Severity.FATAL)
            return
        answer = self.ask.alloc(length)
        if answer.ok and kind is Kind.HUGE_STACK and length >= _HUGE_STACK:
            self.add(
                ev,
                kind,
                None,
                f"{what} of {format_size(self.align(length))}: {self.align(length) // self.ps} "
                "contiguous pages that never grow nor page out, taken for the thread's whole "
                "life; set the real need with pthread_attr_setstacksize",
            )
        if not answer.ok:
            self.add(
                ev,
                kind,
                answer.errno,
                f"{what} ({format_size(self.align(length))}) needs one contiguous block and "
                f"the board refuses it: {answer.detail} (largest free block "
                f"{format_size(self.ask.largest_free)})"
                + (
                    "; set the real need with pthread_attr_setstacksize"
                    if kind is Kind.HUGE_STACK
                    else ""
                ),
                Severity.FATAL,
            )

    def backing(self, path: str | None) -> str:
        """Where the board keeps *path*: ramfs (direct_mappable), a device, or a disk."""
        if path is None:
            return "disk"
        found = self._backing.get(path)
        if found is None:
            found = self._backing[path] = self._backing_of(path)
        return found

    def _backing_of(self, path: str) -> str:
        if path.startswith(("socket:", "TCP", "UDP", "UNIX", "NETLINK")):
            return "socket"
        if path.startswith(("pipe:", "anon_inode:")):
            return "pipe"
        if path == "/dev/zero":
            return "devzero"
        if self.limits.is_direct_mappable(path):
            return "ramfs"
        return "disk"

    # ---- the pass -------------------------------------------------------------------
    def run(self, progress: Callable[[int, int], None] | None = None) -> None:
        handlers: dict[str, Callable[[int, Event], None]] = {
            "munmap": self.on_munmap,
            "mremap": self.on_mremap,
            "brk": self.on_brk,
            "shmget": self.on_shmget,
            "shmat": self.on_shmat,
        }
        for name in MMAP_CALLS:
            handlers[name] = self.on_mmap
        for name in CLONE_CALLS:
            handlers[name] = self.on_clone
        for name in EXEC_CALLS:
            handlers[name] = self.on_execve
        for name in ENOSYS_CALLS:
            handlers[name] = self.on_enosys
        syscall_kind = EventKind.SYSCALL
        total = len(self.trace.events)
        for index, ev in enumerate(self.trace.events):
            if progress is not None and not index & 0xFFF:
                progress(index, total)
            if ev.kind is not syscall_kind:
                continue
            handler = handlers.get(ev.syscall)
            if handler is None:
                continue
            if not ev.ok:
                if ev.errno is not None and ev.syscall in _JUDGED:
                    self.host_failure(ev)
                continue
            handler(index, ev)

    def host_failure(self, ev: Event) -> None:
        d = ev.decoded
        length = getattr(d, "length", None)
        words = size_words(length, self.word_size) if isinstance(length, int) else None
        detail = f"failed on the host ({ev.errno}); not a finding about no-MMU"
        if words is not None:
            detail += f"; its length {words}"
        self.host_failed.append(
            Note(ev.line, ev.pid, ev.syscall, ev.errno or "", detail, ev.source)
        )

    # ---- mmap -----------------------------------------------------------------------
    def on_mmap(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MmapArgs) or ev.result is None:
            return
        mm = self.mm(ev.pid)
        start = ev.result
        end = start + self.align(d.length)
        lib = self.plan.lib_at_res.get(index)
        if lib is not None:
            m = self.track(ev, mm, d, start, end)
            m.reservation = True
            if lib.head is not None:
                self.judge_segment(ev, lib.path, lib.head.prot, lib.head.length, "head")
            return
        seg = self.plan.seg_at.get(index)
        if seg is not None:
            lib, s = seg
            where = "bss" if s.role == "bss" else lib.path
            self.add(
                ev,
                Kind.LOADER_MAP_FIXED,
                None,
                f"translated: an FDPIC loader places the {s.role} segment of {lib.path} itself "
                f"({where} at {start:#x} inside the span the loader reserved)",
                Severity.INFO,
            )
            if s.role == "bss":
                self.judge_alloc(ev, f"bss of {lib.path}", s.length)
            else:
                self.judge_segment(ev, lib.path, s.prot, s.length, s.role)
            res = mm.containing(start, end)
            gid = res.gid if res is not None and res.reservation else None
            self.track(ev, mm, d, start, end, gid).reservation = True  # one library, one gid
            return
        self.plain_mmap(ev, mm, d, start, end)

    def judge_segment(self, ev: Event, path: str, prot: int, length: int, role: str) -> None:
        answer = self.ask.mmap(self.backing(path), length, prot, consts.MAP_PRIVATE, 0)
        if answer.ok and answer.copy:
            self.judge_alloc(ev, f"private copy of the {role} segment of {path}", length)

    def plain_mmap(self, ev: Event, mm: Space, d: MmapArgs, start: int, end: int) -> None:
        anon = d.anonymous
        path = None if anon else d.path
        artefact = file_artefact(path)
        if artefact is not None and self.artefact(
            ev, artefact, f"mapping of {path}, which only glibc maps"
        ):
            self.track(ev, mm, d, start, end).artefact = artefact
            return
        if is_arena_reservation(d.prot, d.flags, anon) and self.artefact(
            ev,
            "malloc_arena",
            f"glibc malloc arena reservation of {format_size(self.align(d.length))}",
        ):
            self.track(ev, mm, d, start, end).artefact = "malloc_arena"
            return
        length = d.length
        if anon and d.flags & consts.MAP_STACK and is_host_default_stack(length, self.ps):
            if self.artefact(
                ev,
                "thread_stack_default",
                f"glibc's default thread stack ({format_size(length)}, from the host's stack "
                f"limit); {self.libc.name}'s default of {format_size(self.libc.thread_stack)} "
                "is judged instead",
            ):
                length = self.libc.thread_stack
        words = size_words(length, self.word_size)
        if words is not None:
            self.add(ev, Kind.ALLOC_TOO_LARGE, "ENOMEM", f"mapping length {words}", Severity.FATAL)
            self.track(ev, mm, d, start, end)
            return
        flags = d.flags
        backing = None if anon else self.backing(path)
        answer = self.ask.mmap(backing, length, d.prot, flags, d.offset // self.ps)
        if answer.ok and not answer.copy and backing == "ramfs":
            # a ramfs file too large for one free block is not contiguous: copies only
            if not self.ask.ramfs_file(d.offset + length).ok:
                answer = Answer(None, "", True)
        if not answer.ok:
            self.refused_mmap(ev, d, answer, path)
        elif anon and d.prot == consts.PROT_NONE and not flags & consts.MAP_STACK:
            pass  # a reservation: nothing is allocated until parts are made accessible
        elif answer.copy:
            if anon and flags & consts.MAP_TYPE == consts.MAP_SHARED:
                note = self.defer(ev, 0, Kind.SHARED_ANON, None)
                gid = self.new_gid()
                mm.shared_anon.append((note, gid))
                self.judge_alloc(ev, "anonymous mapping", length)
                self.track(ev, mm, d, start, end, gid)
                return
            stack = bool(flags & consts.MAP_STACK)
            what = (
                "thread stack"
                if stack
                else "anonymous mapping"
                if anon
                else f"private copy of {path or f'fd {d.fd}'}"
            )
            self.judge_alloc(ev, what, length, Kind.HUGE_STACK if stack else Kind.ALLOC_TOO_LARGE)
        self.track(ev, mm, d, start, end)

    def refused_mmap(self, ev: Event, d: MmapArgs, answer: Answer, path: str | None) -> None:
        flags = d.flags
        writable = bool(d.prot & consts.PROT_WRITE)
        shown = path if path is not None else f"fd {d.fd} (file unknown)"
        if flags & consts.MAP_FIXED:
            kind = Kind.MAP_FIXED
            why = "the address hint is never honoured without an MMU; let mmap choose"
        elif flags & consts.MAP_TYPE not in (consts.MAP_SHARED, consts.MAP_PRIVATE):
            kind = Kind.MAP_TYPE
            mtype = flags & consts.MAP_TYPE
            name = "MAP_SHARED_VALIDATE" if mtype == 3 else f"type {mtype:#x}"
            why = f"{name} is not a no-MMU mapping type; use MAP_SHARED"
        elif flags & consts.MAP_TYPE == consts.MAP_SHARED and not d.anonymous:
            kind = Kind.SHARED_WRITE_FILE if writable else Kind.SHARED_FILE
            why = (
                "put the file on ramfs/tmpfs (e.g. /dev/shm) or a romfs/cramfs flash, or use "
                "read()/write()"
            )
        else:
            kind = Kind.MMAP_REFUSED
            why = "see the reason"
        of = "anonymous memory" if d.anonymous else shown
        what = (
            f"{'MAP_SHARED' if flags & consts.MAP_TYPE == consts.MAP_SHARED else 'mapping'}"
            f"{' with PROT_WRITE' if writable else ''} of {of}"
        )
        self.add(ev, kind, answer.errno, f"{what}: {answer.detail} (validate_mmap_request); {why}")

    def track(
        self, ev: Event, mm: Space, d: MmapArgs, start: int, end: int, gid: int | None = None
    ) -> Mapping:
        backing = None if d.anonymous else self.backing(d.path)
        m = Mapping(
            start,
            end,
            backing,
            d.prot,
            d.flags,
            d.path if not d.anonymous else None,
            gid if gid is not None else self.new_gid(),
            ev.line,
        )
        mm.remove_range(start, end, self.new_gid)
        mm.maps.append(m)
        return m

    # ---- munmap / mremap ------------------------------------------------------------
    def on_munmap(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MunmapArgs):
            return
        mm = self.mm(ev.pid)
        start = d.addr
        end = start + self.align(d.length)
        groups: dict[int, list[Mapping]] = {}
        for m in mm.overlapping(start, end):
            groups.setdefault(m.gid, []).append(m)
        hits = [m for ms in groups.values() for m in ms]
        if hits and (all(m.artefact for m in hits) or all(m.reservation for m in hits)):
            mm.remove_range(start, end, self.new_gid)
            return  # the host libc's own mapping, or a library the loader unmaps piece by piece
        single_anon = len(groups) == 1 and all(m.anon for m in hits)
        if groups and not single_anon:
            pieces = min(groups.values(), key=lambda ms: min(m.start for m in ms))
            first = pieces[0]
            gstart = min(m.start for m in pieces)
            gend = max(m.end for m in pieces)
            answer = self.ask.munmap(
                first.backing, first.flags & consts.MAP_TYPE, gend - gstart, start - gstart,
                end - start,
            )  # fmt: skip
            if len(groups) > 1 and (answer.ok or first.anon):
                answer = self.ask.munmap(first.backing, first.flags & consts.MAP_TYPE,
                                         gend - gstart, max(start - gstart, 0),
                                         gend - gstart + self.ps)  # fmt: skip
            if not answer.ok:
                lines = sorted({ms[0].line for ms in groups.values()})
                if len(groups) > 1:
                    self.add(
                        ev,
                        Kind.MUNMAP_MULTI,
                        answer.errno,
                        f"the range {start:#x}-{end:#x} covers {len(groups)} mappings (made at "
                        f"lines {', '.join(map(str, lines))}): {answer.detail} (do_munmap); "
                        "unmap each mapping separately",
                    )
                else:
                    self.add(
                        ev,
                        Kind.MUNMAP_PARTIAL_FILE,
                        answer.errno,
                        f"unmaps {start:#x}-{end:#x}, part of the mapping {gstart:#x}-{gend:#x} "
                        f"of {first.path or 'a file'} (line {first.line}): {answer.detail} "
                        "(do_munmap); unmap the whole mapping",
                    )
        mm.remove_range(start, end, self.new_gid)

    def on_mremap(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MremapArgs):
            return
        mm = self.mm(ev.pid)
        old_len = self.align(d.old_size)
        new_len = self.align(d.new_size)
        m = next((x for x in mm.maps if x.start == d.old_addr), None)
        if m is not None and m.artefact:
            return
        moved = ev.result is not None and ev.result != d.old_addr
        backing = m.backing if m is not None else None
        prot = m.prot if m is not None else consts.PROT_READ | consts.PROT_WRITE
        mflags = m.flags & consts.MAP_TYPE if m is not None else consts.MAP_PRIVATE
        region = max(m.region if m is not None else old_len, old_len)
        moves = (
            bool(d.flags & consts.MREMAP_FIXED)
            and d.new_addr is not None
            and (d.new_addr != d.old_addr)
        )
        answer = self.ask.mremap(backing, prot, mflags, region, old_len, new_len, d.flags, moves)
        if answer is not None and not answer.ok:
            if answer.errno == "EPERM":
                kind = Kind.MREMAP_SHARED
                why = (
                    f"the mapping of {m.path if m is not None and m.path else 'a file'} is "
                    "shareable (MAP_SHARED or a read-only private file mapping)"
                )
            elif moves:
                kind, why = Kind.MREMAP_MOVE, f"MREMAP_FIXED to {d.new_addr:#x}"
            else:
                kind = Kind.MREMAP_GROW
                why = (
                    f"grows {format_size(old_len)} to {format_size(new_len)} (allocation "
                    f"{format_size(region)})"
                    + (" (the MMU moved it with MREMAP_MAYMOVE)" if moved else "")
                    + "; allocate the final size up front or mmap+copy"
                )
            self.add(ev, kind, answer.errno, f"{answer.detail} (do_mremap): {why}")
        if ev.result is not None:
            if m is not None:
                mm.maps.remove(m)
                new = m.piece(ev.result, ev.result + new_len, m.gid)
            else:
                new = Mapping(ev.result, ev.result + new_len, None, prot, consts.MAP_PRIVATE, None,
                           self.new_gid(), ev.line)  # fmt: skip
            new.region = max(region, new_len)
            mm.remove_range(new.start, new.end, self.new_gid)
            mm.maps.append(new)

    # ---- brk ------------------------------------------------------------------------
    def on_brk(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, BrkArgs):
            return
        mm = self.mm(ev.pid)
        if mm.initial_brk is None:
            if d.addr == 0 and ev.result is not None:
                mm.initial_brk = ev.result
            return
        if d.addr > mm.initial_brk:
            if mm.brk_note is None:
                mm.brk_note = self.defer(ev, index, Kind.BRK_HEAP, None)
            else:
                mm.brk_note.extra += 1

    # ---- processes ------------------------------------------------------------------
    def on_clone(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, CloneArgs):
            return
        child = ev.result if ev.result is not None and ev.result > 0 else None
        parent_mm = self.mm(ev.pid)
        shares_vm = bool(d.flags & consts.CLONE_VM)
        if ev.syscall == "fork" or not shares_vm:
            answer = (
                self.ask.call("fork")
                if ev.syscall == "fork"
                else self.ask.call("clone", d.flags & _CLONE_MODEL & ~consts.CLONE_VM)
            )
            note = self.defer(ev, index, Kind.FORK, answer.errno)
            note.child = child
            for sa_note, gid in parent_mm.shared_anon:
                if sa_note.child is None and parent_mm.live(gid):
                    sa_note.child = child if child is not None else -1
                    sa_note.child_line = ev.line
        else:
            answer = self.ask.call("clone", d.flags & MODEL_CLONE)
            if not answer.ok:
                self.add(ev, Kind.CLONE, answer.errno, f"{answer.detail} (copy_process)")
            if d.stack or d.stack_size:
                self.thread_stack(ev, d, parent_mm)
        if child is not None:
            self.mm_of[child] = parent_mm if shares_vm else parent_mm.copy()

    def thread_stack(self, ev: Event, d: CloneArgs, mm: Space) -> None:
        """A thread's stack not mapped with MAP_STACK (which was judged when mapped)."""
        m = next((x for x in mm.maps if x.start <= d.stack <= x.end), None)
        if m is not None and (m.stack or m.artefact):
            return
        size = d.stack_size
        if not size:
            if m is None:
                return
            size = m.end - m.start
        if size >= _HUGE_STACK:
            self.judge_alloc(ev, "thread stack", size, Kind.HUGE_STACK)

    def on_execve(self, index: int, ev: Event) -> None:
        if ev.result == 0:
            self.mm_of[ev.pid] = Space()

    def on_enosys(self, index: int, ev: Event) -> None:
        d = ev.decoded
        mm = self.mm(ev.pid)
        addr = getattr(d, "addr", None)
        length = getattr(d, "length", None)
        if isinstance(addr, int) and isinstance(length, int):
            start, end = addr, addr + self.align(length)
            hits = mm.overlapping(start, end)
            if hits and all(m.artefact for m in hits):
                self.artefact(ev, hits[0].artefact or "", f"{ev.syscall} of a mapping set apart")
                return
            if (
                hits
                and all(m.stack for m in hits)
                and self.artefact(
                    ev, "thread_guard", f"{ev.syscall} of a thread stack (guard page or release)"
                )
            ):
                return
            if (
                isinstance(d, MprotectArgs)
                and d.prot & _RW
                and hits
                and all(m.anon and m.prot == consts.PROT_NONE and not m.stack for m in hits)
            ):  # part of a PROT_NONE reservation made accessible: an allocation of its own
                self.judge_alloc(ev, "committed part of a reservation", end - start)
                return
            if isinstance(d, MprotectArgs) and d.prot == consts.PROT_READ:
                inside = mm.containing(start, end)
                if (inside is not None and inside.reservation) or not hits:
                    where = (
                        f"library span of {inside.path}"
                        if inside is not None
                        else "memory mapped by the kernel at exec"
                    )
                    self.add(
                        ev,
                        Kind.LOADER_MPROTECT,
                        None,
                        f"translated: the dynamic loader write-protects RELRO in the {where}; "
                        "an FDPIC loader skips it",
                        Severity.INFO,
                    )
                    return
        answer = self.ask.call(ev.syscall)
        if not answer.ok:
            self.add(
                ev,
                Kind.ENOSYS,
                answer.errno,
                f"{answer.detail} (mm/Makefile builds it only with an MMU): protections, "
                "locking and advice do not exist",
            )

    # ---- SysV shm -------------------------------------------------------------------
    def on_shmget(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmgetArgs) or not d.size:
            return
        words = size_words(d.size, self.word_size)
        answer = Answer("ENOMEM", words) if words else self.ask.call("shmget", d.size)
        if not answer.ok:
            self.add(
                ev,
                Kind.ALLOC_TOO_LARGE,
                answer.errno,
                f"SysV segment of {format_size(d.size)}, allocated in one piece at shmget "
                f"(ramfs_nommu_expand_for_mapping): {answer.detail}",
                Severity.FATAL,
            )

    def on_shmat(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmatArgs):
            return
        answer = self.ask.call("shmat", d.addr, d.flags)
        if not answer.ok:
            kind = Kind.MAP_FIXED if d.addr else Kind.SHMAT
            self.add(ev, kind, answer.errno, f"{answer.detail} (do_shmat); use a /dev/shm file")

    # ---- results --------------------------------------------------------------------
    def finalize(self) -> list[Finding]:
        for b in self.pending:
            ev = b.event
            if b.kind == Kind.FORK:
                detail, sev = fork_detail(b, self.plan)
            elif b.kind == Kind.SHARED_ANON:
                detail, sev = shared_anon_detail(b)
            else:  # brk_heap
                detail = (
                    "brk grows the heap; ELF-FDPIC gives a zero-size brk area, so brk "
                    "returns the unchanged break and malloc must use mmap"
                )
                if b.extra:
                    detail += f" ({b.extra} more growing brk call(s) in this process image)"
                if self.artefact(ev, "brk_heap", detail):
                    continue
                sev = Severity.INFO
            finding = Finding(ev.line, ev.pid, ev.syscall, b.kind, b.errno, detail, sev, ev.source)
            self.findings.append((b.seq, finding))
        order = {src: i for i, src in enumerate(self.trace.sources)}
        self.findings.sort(key=lambda item: (order.get(item[1].source, 0), item[1].line, item[0]))
        self.host_libc.sort(key=lambda n: (order.get(n.source, 0), n.line))
        return [f for _, f in self.findings]
