"""Processes driven at random: vfork, execve of generated programs, exit, wait, brk, anonymous
mmap, System V and POSIX shared memory. After every step ``Machine.validate()`` must hold; when
everything has exited and every segment, object and generated file is gone, the free pages,
MmapCopy and Cached are back where they started."""

from __future__ import annotations

import contextlib

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import nommu
from nommu import SyscallError
from nommu.binfmt.elf_format import PF_R, PF_W, PF_X, SegmentSpec, build_elf
from nommu.binfmt.flat_format import FLAT_FLAG_GZIP, FLAT_FLAG_RAM, build_flat
from nommu.fs.romfs_image import FileSpec
from nommu.ipc.shm import segment_of

P = 4096
RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
MAX_PROCS = 8


def _elf(fdpic: bool, e_type: int, needed: tuple[str, ...] = (), stack: int = 16384) -> bytes:
    return build_elf(
        [
            SegmentSpec(0, 0x2000, flags=PF_R | PF_X, offset=0),
            SegmentSpec(0x12000, 0x2000, filesz=0x400, flags=PF_R | PF_W),
        ],
        machine="ARM",
        fdpic=fdpic,
        e_type=e_type,
        needed=needed,
        gnu_stack=(stack, False),
    )


class ProcessMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m: nommu.Machine
        self.init: nommu.Process
        self.programs: list[str] = []
        self.generated = 0
        self.segments: list[int] = []
        self.posix: list[str] = []

    @initialize(
        mode=st.sampled_from(["code", "documented"]), trim=st.integers(0, 1), as_fdpic=st.booleans()
    )
    def boot(self, mode: str, trim: int, as_fdpic: bool) -> None:
        m = nommu.Machine(
            ram="2M",
            ram_base=0,
            kernel_reserved="256K",
            max_order=7,
            flash="1M",
            flash_base=0x10000000,
            nr_trim_pages=trim,
            sysv_shm=mode,
            elf_as_fdpic=as_fdpic,
            compressed_flat=True,
            ideal=True,  # the mapping engine alone: its free count must return exactly
        )
        self.m = m
        m.mount(
            "romfs",
            "/rom",
            device="mtd",
            files={
                "bin/xip": FileSpec(
                    build_flat(0x3040, 0x400, 0x400, 0x1000, 2, flags=0), executable=True
                )
            },
        )
        init = m.spawn(name="init")
        self.init = init
        # an administrator that never forks: files, unlinks and IPC_RMID go through it
        self.admin = m.spawn(name="admin")
        init = self.admin
        init.mkdir("/lib")
        files = {
            "/bin/a": build_flat(0x3040, 0x800, 0x800, 0x1000, 4, flags=0),
            "/bin/ram": build_flat(0x1040, 0x400, 40 * P, 0x1000, 4, flags=FLAT_FLAG_RAM),
            "/bin/z": build_flat(0x1040, 0x400, 0x400, 0x1000, 4, flags=FLAT_FLAG_GZIP),
            "/bin/huge": build_flat(0x1040, 0x400, 600 * P, 0x1000, 0, flags=FLAT_FLAG_RAM),
            "/bin/f": _elf(True, 2, ("libc.so.0",)),
            "/bin/pie": _elf(False, 3),
            "/lib/libc.so.0": _elf(True, 3),
            "/bin/bad": b"\x7fELF" + bytes(20),
        }
        for path, data in files.items():
            fd = init.open(path, nommu.O_CREAT | nommu.O_WRONLY, 0o755)
            init.write(fd, data)
            init.close(fd)
        self.programs = [p for p in files if p.startswith("/bin/")] + ["/rom/bin/xip"]
        self.free0 = m.zone.free_count
        self.cached0 = self._cached()

    def _cached(self) -> int:
        return sum(sb.cached_pages for sb in self.m._ramfs_instances())

    def _live(self) -> list[nommu.Process]:
        return [p for p in self.m.processes if p.state not in ("Z", "X")]

    def _runnable(self, index: int) -> nommu.Process | None:
        procs = [p for p in self._live() if p.runnable and p is not self.admin]
        return procs[index % len(procs)] if procs else None

    # -- processes -------------------------------------------------------------------------
    @precondition(lambda self: len(self.m.processes) < MAX_PROCS)
    @rule(i=st.integers(0, 100), how=st.sampled_from(["vfork", "clone", "thread"]))
    def start(self, i: int, how: str) -> None:
        p = self._runnable(i)
        if p is None:
            return
        if how == "vfork":
            p.vfork()
        elif how == "clone":
            p.clone(nommu.SIGCHLD)
        elif p.tgid != self.init.tgid:  # init keeps a single thread: its _exit would end it
            p.clone(nommu.CLONE_VM | nommu.CLONE_THREAD | 0x800)

    @rule(
        i=st.integers(0, 100),
        prog=st.integers(0, 100),
        nargs=st.integers(0, 3),
        traced=st.booleans(),
    )
    def execve(self, i: int, prog: int, nargs: int, traced: bool) -> None:
        p = self._runnable(i)
        if p is None or p is self.init:  # init stays the shell that starts the others
            return
        path = self.programs[prog % len(self.programs)]
        p.ptraced = traced
        before = p.mm
        try:
            p.execve(path, [path] + ["arg"] * nargs, ["PATH=/bin"])
        except SyscallError as e:
            assert e.errno in (nommu.Errno.ENOMEM, nommu.Errno.ENOEXEC, nommu.Errno.ETXTBSY), e
            assert p.state in ("Z", "X") or p.mm is before
            return
        assert p.mm is not None and p.mm is not before
        assert self.m.cat(f"/proc/{p.pid}/cmdline").startswith(path + "\0")

    @precondition(lambda self: self.generated < 6)
    @rule(
        text=st.integers(0x41, 0x6000),
        data=st.integers(0, 0x3000),
        bss=st.integers(0, 0x8000),
        stack=st.integers(0, 0x4000),
        relocs=st.integers(0, 8),
        flags=st.sampled_from([0, FLAT_FLAG_RAM, FLAT_FLAG_GZIP]),
    )
    def make_program(
        self, text: int, data: int, bss: int, stack: int, relocs: int, flags: int
    ) -> None:
        text &= ~3
        data &= ~3
        relocs = min(relocs, data // 4 + max(text - 64, 0) // 4 - 1) if text > 68 else 0
        relocs = max(relocs, 0)
        blob = build_flat(max(text, 0x44), data, bss, stack, relocs, flags=flags)
        path = f"/bin/gen{self.generated}"
        self.generated += 1
        try:
            fd = self.admin.open(path, nommu.O_CREAT | nommu.O_WRONLY, 0o755)
        except SyscallError:
            return
        try:
            self.admin.write(fd, blob)
        except SyscallError as e:
            assert e.errno == nommu.Errno.ENOMEM
        self.admin.close(fd)
        self.programs.append(path)

    @rule(i=st.integers(0, 100), code=st.integers(0, 255))
    def exit(self, i: int, code: int) -> None:
        p = self._runnable(i)
        if p is None or p is self.init:
            return
        p.exit(code)

    @rule(i=st.integers(0, 100))
    def wait(self, i: int) -> None:
        p = self._runnable(i)
        if p is None or not any(c.state == "Z" for c in p.children):
            return
        pid, status = p.wait()
        assert pid not in self.m.procs and 0 <= status < 1 << 16

    # -- memory ----------------------------------------------------------------------------
    @rule(i=st.integers(0, 100), pages=st.integers(1, 40))
    def mmap(self, i: int, pages: int) -> None:
        p = self._runnable(i)
        if p is None:
            return
        try:
            a = p.mmap(0, pages * P, RW, ANON)
        except SyscallError as e:
            assert e.errno == nommu.Errno.ENOMEM
            return
        assert p.peek(a, 16) == bytes(16)

    @rule(i=st.integers(0, 100), delta=st.integers(-0x2000, 0x2000))
    def brk(self, i: int, delta: int) -> None:
        p = self._runnable(i)
        if p is None or p.mm is None:
            return
        mm = p.mm
        old = mm.brk
        new = p.brk(old + delta)
        # the loader starts the break at start_brk rounded up to a word, which may lie
        # past end_brk when the bss ends a byte or two below the stack (fs/binfmt_flat.c)
        assert mm.start_brk <= new <= max(mm.end_brk, (mm.start_brk + 3) & ~3)

    # -- System V shm ----------------------------------------------------------------------
    @rule(i=st.integers(0, 100), pages=st.integers(1, 80))
    def shmget(self, i: int, pages: int) -> None:
        p = self._runnable(i)
        if p is None:
            return
        try:
            self.segments.append(
                p.shmget(nommu.IPC_PRIVATE, pages * P - 100, nommu.IPC_CREAT | 0o600)
            )
        except SyscallError as e:
            assert e.errno in (nommu.Errno.ENOMEM, nommu.Errno.EFBIG)

    @precondition(lambda self: bool(self.segments))
    @rule(i=st.integers(0, 100), s=st.integers(0, 100))
    def shmat(self, i: int, s: int) -> None:
        p = self._runnable(i)
        if p is None:
            return
        shmid = self.segments[s % len(self.segments)]
        if p.mm is not None and any(
            (seg := segment_of(v)) is not None and seg.id == shmid for v in p.mm.vmas()
        ):
            return  # a second attach in one mm would be hazard H2 (an unreleasable VMA)
        try:
            a = p.shmat(shmid)
        except SyscallError as e:
            assert e.errno in (nommu.Errno.ENODEV, nommu.Errno.EINVAL), e
            assert self.m.options["sysv_shm"] == "code" or e.errno == nommu.Errno.EINVAL
            return
        assert self.m.options["sysv_shm"] == "documented"
        assert p.mm is not None and p.mm.find_vma(a) is not None

    @rule(i=st.integers(0, 100))
    def shmdt(self, i: int) -> None:
        p = self._runnable(i)
        if p is None or p.mm is None:
            return
        attached = [v for v in p.mm.vmas() if segment_of(v) is not None]
        if attached:
            p.shmdt(attached[0].vm_start)

    @precondition(lambda self: bool(self.segments))
    @rule(s=st.integers(0, 100))
    def shmrm(self, s: int) -> None:
        shmid = self.segments.pop(s % len(self.segments))
        self.admin.shmctl(shmid, nommu.IPC_RMID)

    # -- POSIX shm -------------------------------------------------------------------------
    @rule(i=st.integers(0, 100), pages=st.integers(1, 16), name=st.integers(0, 3))
    def shm_open_map(self, i: int, pages: int, name: int) -> None:
        p = self._runnable(i)
        if p is None:
            return
        obj = f"/obj{name}"
        fd = p.shm_open(obj, nommu.O_CREAT | nommu.O_RDWR)
        if obj not in self.posix:
            self.posix.append(obj)
        inode = p.files.fds[fd].inode
        if p.mm is not None and any(
            v.vm_file is not None and v.vm_file.inode is inode for v in p.mm.vmas()
        ):
            p.close(fd)  # mapping the same range twice in one mm is hazard H2
            return
        try:
            if p.fstat(fd).st_size == 0:
                try:
                    p.ftruncate(fd, pages * P)
                except SyscallError as e:
                    assert e.errno == nommu.Errno.ENOMEM
                    return
            try:
                p.mmap(0, p.fstat(fd).st_size, RW, nommu.MAP_SHARED, fd, 0)
            except SyscallError as e:
                assert e.errno == nommu.Errno.ENODEV  # sized but not allocated (ENOMEM)
        finally:
            p.close(fd)

    @precondition(lambda self: bool(self.posix))
    @rule(name=st.integers(0, 100))
    def shm_unlink(self, name: int) -> None:
        self.admin.shm_unlink(self.posix.pop(name % len(self.posix)))

    # -- checks ----------------------------------------------------------------------------
    @invariant()
    def valid(self) -> None:
        if hasattr(self, "m"):
            self.m.validate()

    def teardown(self) -> None:
        if not hasattr(self, "m"):
            return
        m = self.m
        for p in sorted(self._live(), key=lambda q: -q.pid):
            if p not in (self.init, self.admin) and p.state not in ("Z", "X"):
                p.exit(0)
        while any(c.state == "Z" for c in self.init.children):
            self.init.wait()
        for shmid in self.segments:
            self.admin.shmctl(shmid, nommu.IPC_RMID)
        for name in self.posix:
            self.admin.shm_unlink(name)
        assert self.init.mm is not None
        for vma in list(self.init.mm.vmas()):
            self.init.munmap(vma.vm_start, vma.vm_end - vma.vm_start)
        for k in range(self.generated):
            with contextlib.suppress(SyscallError):  # never written: no memory for it
                self.admin.unlink(f"/bin/gen{k}")
        m.validate()
        assert m.processes == [self.init, self.admin]
        assert m.nommu.mmap_pages_allocated == 0
        assert self._cached() == self.cached0
        assert m.zone.free_count == self.free0
        assert m.cat("/proc/maps") == ""


ProcessMachine.TestCase.settings = settings(deadline=None, max_examples=60, stateful_step_count=50)
TestProcessMachine = ProcessMachine.TestCase
