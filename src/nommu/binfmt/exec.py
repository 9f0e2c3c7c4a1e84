"""``execve()`` on a no-MMU kernel: open the file, copy the arguments, pick a loader.

Models fs/exec.c (``do_execveat_common``, ``do_open_execat``, ``copy_strings``,
``bprm_execve``, ``search_binary_handler``, ``begin_new_exec``,
``transfer_args_to_stack``). Without an MMU the argument strings are kept in
kernel pages until the loader has built the new address space, then copied
onto the new stack; the new program's memory comes from the same allocator
as everything else, so *when* the old address space is released matters: at
the *point of no return* (``begin_new_exec``), before the loader allocates.

The sequence the model follows:

1. ``do_open_execat``: path lookup (ENOENT, ENOTDIR, ELOOP), not a regular
   file or on a ``noexec`` mount (EACCES), no execute permission (EACCES),
   then ``deny_write_access``: the file is open for writing → ETXTBSY.
2. ``copy_strings``: the file name, the environment and the arguments go into
   ``MAX_ARG_PAGES`` (32) pages; more → E2BIG. An empty ``argv`` gets ``""``
   as ``argv[0]`` (v5.18+). Before v6.8 the strings were copied before the
   open, so E2BIG came before the open's errors (profile change
   ``execve_opens_first``).
3. ``search_binary_handler``: bFLT (:mod:`nommu.binfmt.flat`) then ELF
   (:mod:`nommu.binfmt.elf_fdpic`); a loader that does not recognise the
   file answers ENOEXEC and the next one is tried; ENOEXEC if none does.
4. A loader checks the headers (failures leave the old program intact),
   calls :meth:`LinuxBinprm.begin_new_exec` — the point of no return: the
   new, empty mm is installed, the old one is released (or, after
   ``vfork``, handed back to the waiting parent, which resumes), the
   executable is write-denied for the new mm's lifetime — and then maps the
   program. A failure after that point kills the process with SIGSEGV
   (``bprm_execve``: ``force_fatal_sig(SIGSEGV)``); its partly built address
   space is released by the exit like any other. ``Process.execve`` then
   raises :class:`~nommu.errors.SyscallError` with the loader's errno (the
   process is already a zombie) so the caller learns why.

Usage::

    p.execve("/bin/prog", ["prog", "-v"], ["HOME=/"])
    p.image.entry, p.mm.start_brk, p.mm.arg_start
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from nommu.consts import O_RDONLY, S_IFREG, SIGSEGV
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import FMODE_EXEC, FMODE_READ, File, Inode, open_file
from nommu.mm.oom_kill import MemoryLivelock, ProcessKilled
from nommu.profiles import EMPTY_ARGV_FILLED, EXECVE_OPENS_FIRST

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.process import Process

__all__ = [
    "BINPRM_BUF_SIZE",
    "MAX_ARG_PAGES",
    "NOT_MINE",
    "LinuxBinprm",
    "LoadedImage",
    "allow_write_access",
    "check_strings",
    "clear_user",
    "close_exec",
    "cpu_byteorder",
    "deny_write_access",
    "do_execve",
    "open_exec",
    "put_user",
    "read_file",
    "search_binary_handler",
    "warn_null_argv",
]

#: Pages of argument and environment strings an exec may carry (fs/exec.c, !MMU).
MAX_ARG_PAGES = 32
#: Bytes of the file the kernel reads before choosing a loader.
BINPRM_BUF_SIZE = 256


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """What a loader made of a program: for reports and tests.

    ``format`` is ``"bflt"`` (text mapped from the file), ``"bflt-ram"``
    (text copied into RAM), ``"elf-fdpic"`` (one mapping per ``PT_LOAD``) or
    ``"elf-constdisp"`` (one anonymous copy of the whole image).
    """

    format: str
    path: str
    entry: int
    interpreter: str | None = None
    libraries: tuple[str, ...] = ()
    missing_libraries: tuple[str, ...] = ()


def deny_write_access(inode: Inode, path: str) -> None:
    """``deny_write_access``: ETXTBSY while the file is open for writing."""
    if inode.i_writecount > 0:
        raise SyscallError(Errno.ETXTBSY, f"{path} is open for writing and cannot be executed")
    inode.i_writecount -= 1


def allow_write_access(inode: Inode) -> None:
    """``allow_write_access``: undo one :func:`deny_write_access`."""
    inode.i_writecount += 1


def open_exec(process: Process, path: str) -> File:
    """Open a program or interpreter for execution (``do_open_execat``).

    Raises, in the kernel's order: the lookup's ENOENT/ENOTDIR/ELOOP/
    ENAMETOOLONG; EACCES for a directory or special file, for a ``noexec``
    mount and for a file without execute permission; ETXTBSY when the file
    is open for writing. The returned file holds one write denial.
    """
    found = process.machine.ns.lookup(process._path(path), process.cwd)
    inode = found.inode
    if inode.file_type != S_IFREG:
        raise SyscallError(Errno.EACCES, f"{found.path} is not a regular file")
    if found.mount.noexec:
        raise SyscallError(Errno.EACCES, f"{found.path} is on a noexec mount")
    if not process._may(inode, 1):
        raise SyscallError(Errno.EACCES, f"{found.path} is not executable")
    file = open_file(inode, found.mount, found.path, O_RDONLY, FMODE_READ | FMODE_EXEC, process)
    try:
        deny_write_access(inode, found.path)
    except SyscallError:
        file.put()
        raise
    return file


def close_exec(file: File) -> None:
    """``do_close_execat``: give back the write denial and the reference."""
    allow_write_access(file.inode)
    file.put()


def read_file(file: File, count: int, pos: int = 0) -> bytes:
    """``kernel_read``: what the file holds at *pos* (short at end of file)."""
    if count <= 0:
        return b""
    return file.f_op.read(file, count, pos)


def put_user(machine: Machine, addr: int, data: bytes) -> None:
    """``copy_to_user`` on NOMMU: a store to RAM; ROM and holes fault (EFAULT)."""
    if not data:
        return
    area = machine.memory.area_of(addr, len(data))
    if area is None or not area.writable:
        raise SyscallError(Errno.EFAULT, f"cannot store {len(data)} bytes at {addr:#x} (not RAM)")
    machine.memory.write(addr, data)


def clear_user(machine: Machine, addr: int, length: int) -> None:
    """``clear_user``: zero user memory; ROM and holes fault (EFAULT)."""
    if length <= 0:
        return
    area = machine.memory.area_of(addr, length)
    if area is None or not area.writable:
        raise SyscallError(Errno.EFAULT, f"cannot clear {length} bytes at {addr:#x}")
    machine.memory.zero(addr, length)


def _encode(kind: str, values: Sequence[str | bytes]) -> list[bytes]:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{kind}: expected a sequence of strings, got a single string")
    out = []
    for v in values:
        if isinstance(v, str):
            raw = v.encode("utf-8", "surrogateescape")
        elif isinstance(v, (bytes, bytearray)):
            raw = bytes(v)
        else:
            raise TypeError(f"{kind}: expected str or bytes items, got {type(v).__name__}")
        if b"\0" in raw:
            raise ValueError(f"{kind}: strings must not contain NUL")
        out.append(raw)
    return out


class LinuxBinprm:
    """``struct linux_binprm``: one exec in progress.

    The argument area mirrors the kernel's: ``MAX_ARG_PAGES`` pages filled
    from the top down with the file name, then the environment, then the
    arguments (each copied last-first), below one unused word. ``p`` is the
    lowest byte used, so ``MAX_ARG_PAGES * PAGE_SIZE - p`` bytes go onto the
    new stack.
    """

    def __init__(
        self, process: Process, file: File, filename: str, argv: list[bytes], envp: list[bytes]
    ) -> None:
        machine = process.machine
        self.process = process
        self.machine = machine
        self.file = file
        self.filename = filename
        self.word = machine.word_size
        self.top = MAX_ARG_PAGES * machine.page_size
        self.p = self.top - self.word
        self.argc = len(argv)
        self.envc = len(envp)
        self.mm = machine.nommu.new_mm()  # bprm_mm_init: the new, empty address space
        self.point_of_no_return = False
        self._strings: list[bytes] = []  # from the lowest address up
        self._copy_string(filename.encode("utf-8", "surrogateescape"))
        self.exec = self.p  # the file name's offset (AT_EXECFN)
        for s in reversed(envp):
            self._copy_string(s)
        for s in reversed(argv):
            self._copy_string(s)
        if self.argc == 0 and machine.kernel.has(EMPTY_ARGV_FILLED):
            self._copy_string(b"")  # v5.18+: argv[0] is "" (see warn_null_argv)
            self.argc = 1
        self.buf = read_file(file, BINPRM_BUF_SIZE, 0)
        self.interpreter: File | None = None

    def _copy_string(self, s: bytes) -> None:
        """``copy_strings``: E2BIG when the argument pages are full."""
        length = len(s) + 1
        if length > self.p:
            raise SyscallError(
                Errno.E2BIG, f"arguments and environment exceed {MAX_ARG_PAGES} pages"
            )
        self.p -= length
        self._strings.insert(0, s + b"\0")

    @property
    def strings_len(self) -> int:
        """Bytes the argument area puts on the stack (``MAX_ARG_PAGES*PAGE_SIZE - p``)."""
        return self.top - self.p

    def arg_area(self) -> bytes:
        """The bytes ``transfer_args_to_stack`` copies: strings then the unused word."""
        return b"".join(self._strings) + bytes(self.word)

    def read_all(self) -> bytes:
        """The whole executable (the loaders read it with ``read_code``)."""
        return read_file(self.file, self.file.inode.i_size, 0)

    # -- the point of no return ------------------------------------------------------
    def begin_new_exec(self) -> None:
        """Switch the process to the new, empty mm (``begin_new_exec``).

        Kills the other threads of the group (``de_thread``), sets the new
        mm's ``exe_file`` (one more write denial, kept for the mm's
        lifetime), installs the mm, wakes a ``vfork`` parent
        (``mm_release``) and drops the old mm (``mmput``): the old program's
        memory is free before the new one is allocated. Then the descriptor
        table is unshared and close-on-exec descriptors are closed, and the
        task's name becomes the file's base name.
        """
        from nommu.process import mmput

        process = self.process
        kmem = process.machine.kmem
        if kmem is not None:  # bprm_mm_init's mm_alloc (made here, before the point of no return)
            kmem.obj_alloc("mm_struct", process)
        process.de_thread()
        mm = self.mm
        try:
            deny_write_access(self.file.inode, self.file.path)
        except SyscallError:
            if kmem is not None:
                kmem.obj_free("mm_struct")
            raise
        mm.exe_file = self.file.get()
        old = process.mm
        process.mm = mm
        self.point_of_no_return = True
        process._release_vfork()
        if old is not None:
            mmput(process.machine, old)
        process.unshare_files()
        process.files.close_on_exec()
        process.name = posixpath.basename(self.filename)[:15]
        process.exe_path = self.file.path

    # -- stack helpers shared by the loaders -----------------------------------------
    def transfer_args_to_stack(self, sp: int) -> tuple[int, int]:
        """Copy the argument area to just below *sp* (``transfer_args_to_stack``).

        Returns ``(new sp, address of the file name string)``. The copy may
        run below the stack mapping if the arguments are larger than the
        stack; the model then fails with EFAULT instead of overwriting
        whatever lies below (the kernel does not check).
        """
        area = self.arg_area()
        new_sp = sp - len(area)
        mm = self.process.mm
        assert mm is not None
        vma = mm.find_vma(sp - 1)
        if vma is None or new_sp < vma.vm_start:
            raise SyscallError(
                Errno.EFAULT, f"the {len(area)}-byte argument area does not fit on the stack"
            )
        put_user(self.machine, new_sp, area)
        return new_sp, sp - (self.top - self.exec)

    def fill_tables(self, p: int, argv_at: int, envp_at: int) -> None:
        """Write the argv/envp pointer arrays and set ``arg_*``/``env_*`` (both loaders)."""
        mm = self.process.mm
        assert mm is not None
        word, order = self.word, cpu_byteorder(self.machine)
        strings = iter(self._strings)

        def pointers(count: int, at: int, p: int) -> int:
            """Store *count* string pointers from *p* and a NULL at *at*; the end of the strings."""
            table = bytearray()
            for _ in range(count):
                table += p.to_bytes(word, order)
                p += len(next(strings))
            put_user(self.machine, at, bytes(table + bytes(word)))
            return p

        mm.arg_start = p
        mm.arg_end = mm.env_start = pointers(self.argc, argv_at, p)
        mm.env_end = pointers(self.envc, envp_at, mm.env_start)


def cpu_byteorder(machine: Machine) -> Literal["little", "big"]:
    """The CPU's byte order for words the kernel stores: little-endian, as ARM.

    One place to change for a big-endian board (m68k/ColdFire).
    """
    return "little"


Loader = Callable[[LinuxBinprm], LoadedImage]


_LOADERS: list[Loader] = []


def _loaders() -> list[Loader]:
    """The registered formats in search order (imported on the first exec)."""
    if not _LOADERS:
        from nommu.binfmt.elf_fdpic import load_elf_fdpic_binary
        from nommu.binfmt.flat import load_flat_binary

        _LOADERS[:] = [load_flat_binary, load_elf_fdpic_binary]
    return _LOADERS


def do_execve(
    process: Process, path: str, argv: Sequence[str | bytes], envp: Sequence[str | bytes]
) -> LoadedImage:
    """Run *path* in *process* (``do_execveat_common`` → ``bprm_execve``).

    Returns what the loader made. Raises SyscallError: before the point of
    no return with the process untouched; after it with the process killed
    by SIGSEGV (a zombie) and everything it held released.
    """
    args = _encode("argv", argv)
    env = _encode("envp", envp)
    machine = process.machine
    if machine.kernel.has(EXECVE_OPENS_FIRST):
        file = open_exec(process, path)  # alloc_bprm(), v6.8+
        warn_null_argv(process, path, args)
    else:
        warn_null_argv(process, path, args)
        check_strings(machine, path, args, env)  # E2BIG before the file is opened
        file = open_exec(process, path)  # bprm_execve()
    try:
        bprm = LinuxBinprm(process, file, path, args, env)
    except SyscallError:
        close_exec(file)
        raise
    try:
        image = search_binary_handler(bprm)
    except (ProcessKilled, MemoryLivelock):
        # the OOM killer ran during the load: the files go back; a livelock after the
        # point of no return cannot leave the old program in place: the task dies
        if bprm.interpreter is not None:
            close_exec(bprm.interpreter)
            bprm.interpreter = None
        close_exec(file)
        if bprm.point_of_no_return and process.state not in ("Z", "X"):
            process.kill(SIGSEGV)
        raise
    except SyscallError as e:
        if bprm.interpreter is not None:
            close_exec(bprm.interpreter)
            bprm.interpreter = None
        close_exec(file)
        if not bprm.point_of_no_return or process.state in ("Z", "X"):
            raise
        process.kill(SIGSEGV)
        raise SyscallError(
            e.errno,
            f"{e.detail or e.strerror}; process {process.pid} killed "
            f"by SIGSEGV after the point of no return",
        ) from None
    close_exec(file)
    return image


def warn_null_argv(process: Process, path: str, argv: list[bytes]) -> None:
    """``do_execveat_common()``'s ``pr_warn_once`` for an empty argv (v5.18+).

    Logged once per boot, when the arguments are counted: after the open
    from v6.8, before it earlier (so even for a file that does not exist).
    """
    machine = process.machine
    if argv or not machine.kernel.has(EMPTY_ARGV_FILLED) or machine.hooks.get("null_argv"):
        return
    machine.hooks["null_argv"] = True
    machine.log(f"process '{process.name}' launched '{path}' with NULL argv: empty string added")


def check_strings(machine: Machine, path: str, argv: list[bytes], envp: list[bytes]) -> None:
    """``copy_strings()``'s E2BIG before v6.8, when it ran before the open.

    The same arithmetic as :class:`LinuxBinprm`: the name, the environment
    and the arguments fill ``MAX_ARG_PAGES`` pages below one word.
    """
    room = MAX_ARG_PAGES * machine.page_size - machine.word_size
    strings = [path.encode("utf-8", "surrogateescape"), *envp, *argv]
    if not argv and machine.kernel.has(EMPTY_ARGV_FILLED):
        strings.append(b"")
    for s in strings:
        if len(s) + 1 > room:
            raise SyscallError(
                Errno.E2BIG, f"arguments and environment exceed {MAX_ARG_PAGES} pages"
            )
        room -= len(s) + 1


def search_binary_handler(bprm: LinuxBinprm) -> LoadedImage:
    """Try each loader in turn (``search_binary_handler``).

    ENOEXEC from a loader means "not mine" and the next one is tried; ENOEXEC
    from all of them is ENOEXEC (with the reason of a loader that knew the
    format, if one did). Any other error, or any error after the point of no
    return, ends the search.
    """
    reason: SyscallError | None = None
    for loader in _loaders():
        try:
            return loader(bprm)
        except SyscallError as e:
            if e.errno != Errno.ENOEXEC or bprm.point_of_no_return:
                raise
            if reason is None and not e.detail.startswith(NOT_MINE):
                reason = e
    if reason is not None:
        raise reason
    raise SyscallError(
        Errno.ENOEXEC,
        f"{bprm.file.path}: not a bFLT or ELF executable (starts with {bprm.buf[:4]!r})",
    )


#: Detail prefix of a loader's ENOEXEC meaning "not my format".
NOT_MINE = "not a "
