"""The model's answers to the questions ``nommu check`` asks: one source of truth.

``check`` never restates a kernel rule. For every errno and size decision it
asks a :class:`~nommu.Machine` of the chosen board and kernel profile, the
same model ``replay`` runs the trace on:

* :meth:`Decisions.mmap` calls the model's ``validate_mmap_request()`` (a
  pure function of the file, length, protection and flags) on a file of the
  same kind as the traced one: a file on a disk filesystem (ext2), a ramfs
  file (``/dev/shm``, ``/tmp``...), ``/dev/zero``, a pipe or a socket;
  it answers the errno and the model's reason, and whether a private
  mapping is a copy (no ``NOMMU_MAP_DIRECT`` left in the capabilities);
* :meth:`Decisions.alloc` makes the anonymous mapping on the freshly booted
  board and unmaps it again: the errno and the model's words (the order the
  buddy allocator needs, the largest block, TASK_SIZE);
* :meth:`Decisions.mremap` and :meth:`Decisions.munmap` build a mapping of
  the same kind and size on the board and resize or unmap it as the trace
  did (``do_mremap``, ``do_munmap``);
* :meth:`Decisions.call` runs ``fork``, ``clone``, the calls that do not
  exist without an MMU, ``shmget`` and ``shmat`` on the board.

Answers are cached by their arguments (a trace repeats the same sizes and
flags thousands of times); :attr:`Decisions.cache` can be switched off, and a
test checks that cached and fresh answers agree. The machine is put back as
it was after every question (mappings unmapped, segments removed, children
reaped), and ``validate()`` holds after any sequence of questions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nommu import consts
from nommu.errors import SyscallError

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.process import Process

__all__ = ["BACKINGS", "Answer", "Decisions"]

#: Kinds of file a traced mapping can be of, as the board would hold it.
BACKINGS = ("disk", "ramfs", "devzero", "pipe", "socket")

_DISK_DIR = "/var/nommu-check"
_RAMFS_FILE = "/dev/shm/nommu-check"
_RW = consts.PROT_READ | consts.PROT_WRITE
_ANON = consts.MAP_PRIVATE | consts.MAP_ANONYMOUS
_FILE_PAGES = 4


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model says: ``errno`` (a name, None when the call succeeds) and why.

    ``copy`` is set by :meth:`Decisions.mmap` for a mapping that succeeds: True
    when the board makes a private copy in RAM (anonymous memory, a writable
    private mapping, a file without direct mapping), False when it maps the
    file's own pages.
    """

    errno: str | None
    detail: str = ""
    copy: bool = False

    @property
    def ok(self) -> bool:
        return self.errno is None


_OK = Answer(None)


def _refused(err: SyscallError) -> Answer:
    return Answer(err.errno.name, err.detail or str(err.strerror))


class Decisions:
    """Questions to a board of the model; see the module docstring.

    *machine* should be freshly booted: its largest free block is the one
    every allocation is judged against.
    """

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.cache = True
        self._answers: dict[tuple[Any, ...], Answer] = {}
        self._proc: Process | None = None
        self._fds: dict[str, int] = {}
        self.largest_free = machine.page_size << max(machine.zone.largest_free_order(), 0)

    # -- plumbing ------------------------------------------------------------------------
    def _ask(self, key: tuple[Any, ...], question: Callable[[], Answer]) -> Answer:
        if self.cache:
            found = self._answers.get(key)
            if found is not None:
                return found
        answer = question()
        if self.cache:
            self._answers[key] = answer
        return answer

    @property
    def proc(self) -> Process:
        p = self._proc
        if p is None:
            p = self._proc = self.m.spawn(name="nommu-check")
        return p

    def fd(self, backing: str) -> int:
        """A descriptor of a file of kind *backing* (one of :data:`BACKINGS`), opened once."""
        fd = self._fds.get(backing)
        if fd is not None:
            return fd
        p = self.proc
        if backing == "disk":
            p.mkdir(_DISK_DIR, 0o755)
            self.m.mount("ext2", _DISK_DIR)
            fd = p.open(f"{_DISK_DIR}/file", consts.O_CREAT | consts.O_RDWR, 0o644)
        elif backing == "ramfs":
            fd = p.open(_RAMFS_FILE, consts.O_CREAT | consts.O_RDWR, 0o644)
        elif backing == "devzero":
            fd = p.open("/dev/zero", consts.O_RDWR, 0)
        elif backing == "pipe":
            fd, _ = p.pipe()
        elif backing == "socket":
            from nommu.fs.sockfs import AF_UNIX, SOCK_STREAM

            fd = p.socket(AF_UNIX, SOCK_STREAM, 0)
        else:
            raise ValueError(f"backing: must be one of {', '.join(BACKINGS)}, got {backing!r}")
        self._fds[backing] = fd
        return fd

    # -- questions -----------------------------------------------------------------------
    def mmap(self, backing: str | None, length: int, prot: int, flags: int, pgoff: int) -> Answer:
        """``validate_mmap_request()`` for a mapping of *backing* (None: anonymous)."""
        flags &= ~consts.MAP_ANONYMOUS if backing is not None else ~0
        key = ("mmap", backing, length, prot, flags, pgoff)
        return self._ask(key, lambda: self._mmap(backing, length, prot, flags, pgoff))

    def _mmap(self, backing: str | None, length: int, prot: int, flags: int, pgoff: int) -> Answer:
        nommu = self.m.nommu
        mask = nommu.ulong_mask
        file = None
        if backing is not None:
            file = self.proc._fget(self.fd(backing))
        try:
            caps = nommu.validate_mmap_request(
                file, 0, length & mask, prot & mask, flags & mask, pgoff & mask
            )
        except SyscallError as err:
            answer = _refused(err)
            if file is None:
                return answer
            return Answer(answer.errno, answer.detail.replace(file.path, "the file"))
        return Answer(None, "", not caps & consts.NOMMU_MAP_DIRECT)

    def alloc(self, length: int) -> Answer:
        """An anonymous private mapping of *length* bytes on the fresh board."""
        return self._ask(("alloc", length), lambda: self._alloc(length))

    def _alloc(self, length: int) -> Answer:
        p = self.proc
        try:
            addr = p.mmap(0, length, _RW, _ANON)
        except SyscallError as err:
            return _refused(err)
        p.munmap(addr, length)
        return _OK

    def ramfs_file(self, size: int) -> Answer:
        """A ramfs file of *size* bytes made as ``ftruncate`` makes it: one contiguous run
        (``ramfs_nommu_expand_for_mapping``), or refused when no free block holds it."""
        return self._ask(("ramfs", size), lambda: self._ramfs_file(size))

    def _ramfs_file(self, size: int) -> Answer:
        p = self.proc
        fd = p.open(_RAMFS_FILE + "-size", consts.O_CREAT | consts.O_RDWR, 0o644)
        try:
            p.ftruncate(fd, size)
        except SyscallError as err:
            return _refused(err)
        finally:
            p.close(fd)
            p.unlink(_RAMFS_FILE + "-size")
        return _OK

    def mremap(
        self,
        backing: str | None,
        prot: int,
        flags: int,
        region: int,
        old_len: int,
        new_len: int,
        mremap_flags: int,
        moves: bool,
    ) -> Answer | None:
        """``mremap()`` of a mapping made as *backing*/*prot*/*flags* with *region* bytes.

        The mapping is made *region* long and first shrunk to *old_len* (as the
        trace's earlier calls left it); None when the board cannot make it.
        """
        key = ("mremap", backing, prot, flags, region, old_len, new_len, mremap_flags, moves)
        return self._ask_optional(
            key,
            lambda: self._mremap(
                backing, prot, flags, region, old_len, new_len, mremap_flags, moves
            ),
        )

    def _ask_optional(
        self, key: tuple[Any, ...], question: Callable[[], Answer | None]
    ) -> Answer | None:
        if self.cache and key in self._answers:
            return self._answers[key]
        answer = question()
        if answer is not None and self.cache:
            self._answers[key] = answer
        return answer

    def _map(self, backing: str | None, prot: int, flags: int, length: int) -> int | None:
        """Map *length* bytes as the trace did; files are sized for it (and emptied again
        by :meth:`_unmap_file`), so the probe files hold no memory between questions."""
        p = self.proc
        try:
            if backing is None:
                return p.mmap(0, length, prot, flags | consts.MAP_ANONYMOUS)
            fd = self.fd(backing)
            if backing in ("disk", "ramfs"):
                if length > _FILE_PAGES * self.m.page_size:
                    return None
                p.ftruncate(fd, length)
            return p.mmap(0, length, prot, flags & ~consts.MAP_ANONYMOUS, fd, 0)
        except SyscallError:
            self._unmap_file(backing)
            return None

    def _unmap_file(self, backing: str | None) -> None:
        if backing in ("disk", "ramfs"):
            self.proc.ftruncate(self.fd(backing), 0)

    def _mremap(
        self,
        backing: str | None,
        prot: int,
        flags: int,
        region: int,
        old_len: int,
        new_len: int,
        mremap_flags: int,
        moves: bool,
    ) -> Answer | None:
        p = self.proc
        addr = self._map(backing, prot, flags, region)
        if addr is None:
            return None
        cur = region
        try:
            if old_len != region:
                try:
                    p.mremap(addr, region, old_len, 0, 0)
                    cur = old_len
                except SyscallError:
                    return None
            target = addr + (region if moves else 0)
            try:
                p.mremap(addr, old_len, new_len, mremap_flags, target)
            except SyscallError as err:
                return _refused(err)
            cur = new_len
            return _OK
        finally:
            p.munmap(addr, cur)
            self._unmap_file(backing)

    def munmap(self, backing: str | None, flags: int, length: int, off: int, span: int) -> Answer:
        """``munmap(start + off, span)`` of a mapping of *length* bytes made as *backing*.

        Only where the range starts and ends against the mapping matters to
        ``do_munmap``, so the question is asked of a four-page mapping with
        the same geometry (at or inside its start; before, at or past its end).
        """
        ps = self.m.page_size
        end = off + span
        off = 0 if off <= 0 else ps
        end = 3 * ps if end < length else 4 * ps if end == length else 5 * ps
        length, span = 4 * ps, end - off
        key = ("munmap", backing, flags, off, span)
        found = self._ask_optional(key, lambda: self._munmap(backing, flags, length, off, span))
        return found if found is not None else _OK

    def _munmap(self, backing: str | None, flags: int, length: int, off: int, span: int) -> Answer:
        p = self.proc
        addr = self._map(backing, consts.PROT_READ, flags, length)
        if addr is None:
            return _OK
        try:
            p.munmap(addr + off, span)
        except SyscallError as err:
            p.munmap(addr, length)
            return _refused(err)
        else:
            for start, end in ((addr, addr + off), (addr + off + span, addr + length)):
                if end > start:  # what an anonymous split left behind
                    p.munmap(start, end - start)
            return _OK
        finally:
            self._unmap_file(backing)

    def call(self, name: str, *args: int) -> Answer:
        """``fork``, ``clone(flags)``, ``shmget(size)``, ``shmat(addr, flags)`` or an
        ENOSYS call, run on the board; what it answers."""
        return self._ask(("call", name, *args), lambda: self._call(name, args))

    def _clone(self, flags: int) -> Answer:
        """``clone(flags)`` from a process of its own, which then exits with its children."""
        q = self.m.spawn(name="nommu-clone")
        try:
            child = q.clone(flags)
        except SyscallError as err:
            q.exit(0)
            return _refused(err)
        if not flags & consts.CLONE_THREAD:
            child.exit(0)  # a vfork parent resumes
            q.wait()
        q.exit(0)  # a thread goes with its group
        return _OK

    def _call(self, name: str, args: tuple[int, ...]) -> Answer:
        p = self.proc
        try:
            if name == "fork":
                p.fork()
            elif name == "clone":
                return self._clone(args[0])
            elif name == "shmget":
                shmid = p.shmget(consts.IPC_PRIVATE, args[0], consts.IPC_CREAT | 0o600)
                p.shmctl(shmid, consts.IPC_RMID)
            elif name == "shmat":
                shmid = p.shmget(consts.IPC_PRIVATE, self.m.page_size, consts.IPC_CREAT | 0o600)
                try:
                    addr = p.shmat(shmid, args[0], args[1])
                    p.shmdt(addr)
                finally:
                    p.shmctl(shmid, consts.IPC_RMID)
            else:
                method = getattr(p, name, None)
                if method is None:
                    return Answer("ENOSYS", f"{name}() is not built without an MMU")
                import inspect

                method(*([0] * len(inspect.signature(method).parameters)))
        except SyscallError as err:
            return _refused(err)
        return _OK
