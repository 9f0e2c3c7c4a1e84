"""Processes and their system calls.

System calls are methods named and ordered as in C (like Python's ``os``):
success returns the C return value (``None`` where C returns 0), failure
raises :class:`SyscallError` with the Linux errno. Arguments are taken as the
kernel takes them: lengths and addresses are unsigned longs, so a negative
Python int wraps as it would in C.

Without an MMU there is no ``fork``: ``vfork`` children run in the parent's
address space and the parent is suspended until the child calls ``execve``
or ``_exit``; calling a suspended parent's system calls is a usage error
(:class:`ProcessStateError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nommu.consts import (
    CLONE_FILES,
    CLONE_FS,
    CLONE_SIGHAND,
    CLONE_THREAD,
    CLONE_VFORK,
    CLONE_VM,
    MAP_ANONYMOUS,
    O_ACCMODE,
    O_APPEND,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_NONBLOCK,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    S_IFIFO,
    S_IFMT,
    S_IFSOCK,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
    SIGCHLD,
    SIGKILL,
)
from nommu.errors import Errno, NommuError, SyscallError
from nommu.fs.vfs import FMODE_READ, FMODE_WRITE, File, Inode, open_file
from nommu.ipc.shm import ShmidDs
from nommu.mm.region import is_nommu_shared_mapping
from nommu.mm.vma import MM

if TYPE_CHECKING:
    from nommu.binfmt.exec import LoadedImage
    from nommu.machine import Machine

# kobjsize() of the slab objects /proc/<pid>/status counts (32-bit, configuration
# dependent; the model's figures for an ARM uClinux build).
K_VMA = 88
K_REGION = 48
K_MM = 448
K_FS = 64
K_FILES = 192
K_SIGHAND = 1296
K_TASK = 1536

NR_OPEN_DEFAULT = 1024


def mmput(machine: Machine, mm: MM) -> None:
    """``mmput``: drop one user of *mm*; the last one runs ``exit_mmap``.

    The executable's write denial (``exe_file``) ends with the mm.
    """
    mm.mm_users -= 1
    if mm.mm_users == 0:
        machine.nommu.exit_mmap(mm)
        if machine.kmem is not None:
            machine.kmem.obj_free("mm_struct")
        exe = mm.exe_file
        if exe is not None:
            if exe.inode.i_writecount < 0:
                exe.inode.i_writecount += 1
            mm.exe_file = None
            exe.put()


class ProcessStateError(NommuError):
    """A system call was made on a process that cannot run now."""


@dataclass(frozen=True, slots=True)
class Stat:
    """The fields of ``struct stat`` the model keeps."""

    st_dev: int
    st_ino: int
    st_mode: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_rdev: int
    st_size: int


class FilesStruct:
    """``struct files_struct``: the descriptor table (shared with CLONE_FILES).

    ``cloexec`` holds the descriptors closed by ``execve`` (``close_on_exec``).
    """

    __slots__ = ("cloexec", "fds", "users")

    def __init__(self) -> None:
        self.fds: dict[int, File] = {}
        self.cloexec: set[int] = set()
        self.users = 1

    def install(self, f: File, lowest: int = 0, *, cloexec: bool = False) -> int:
        fd = lowest
        while fd in self.fds:
            fd += 1
        if fd >= NR_OPEN_DEFAULT:
            raise SyscallError(Errno.EMFILE, "too many open files")
        self.fds[fd] = f
        if cloexec:
            self.cloexec.add(fd)
        else:
            self.cloexec.discard(fd)
        return fd

    def copy(self) -> FilesStruct:
        new = FilesStruct()
        for fd, f in self.fds.items():
            new.fds[fd] = f.get()
        new.cloexec = set(self.cloexec)
        return new

    def close_on_exec(self) -> None:
        """``do_close_on_exec``: close every descriptor marked close-on-exec."""
        for fd in sorted(self.cloexec):
            f = self.fds.pop(fd, None)
            if f is not None:
                f.put()
        self.cloexec.clear()

    def close_all(self) -> None:
        fds, self.fds = self.fds, {}
        self.cloexec.clear()
        for fd in sorted(fds):
            fds[fd].put()


class SharedCount:
    """A per-task kernel object that CLONE_* flags share (``fs_struct``, ``sighand_struct``)."""

    __slots__ = ("users",)

    def __init__(self) -> None:
        self.users = 1

    def share(self) -> SharedCount:
        self.users += 1
        return self


class Process:
    """A task with an address space (``mm``) and a descriptor table."""

    def __init__(
        self,
        machine: Machine,
        pid: int,
        name: str,
        parent: Process | None,
        mm: MM | None = None,
        files: FilesStruct | None = None,
    ) -> None:
        self.machine = machine
        self.nommu = machine.nommu
        self.pid = pid
        self.tgid = pid
        self.name = name[:15]
        self.parent = parent
        self.mm: MM | None = mm if mm is not None else MM()
        self.files = files if files is not None else FilesStruct()
        self.ptraced = False
        self.uid = 0
        self.gid = 0
        self.umask_bits = 0o022  # current->fs->umask
        self.cwd = "/"
        self.state = "R"
        self.runnable = True  # may make system calls (not suspended in vfork, not exited)
        self.exit_code: int | None = None
        self.children: list[Process] = []
        self.vfork_child: Process | None = None  # child we wait for in vfork
        self.vfork_parent: Process | None = None  # parent suspended for us
        self.rlimit_fsize: int | None = None
        self.rlimit_data: int | None = None
        self.argv: tuple[str, ...] = ()
        self.exe_path: str | None = None
        self.image: LoadedImage | None = None  # what the last execve loaded
        self.exit_signal = 0  # the fatal signal that ended the task, 0 for _exit
        self.fs = SharedCount()
        self.sighand = SharedCount()
        self.oom_score_adj = 0  # signal->oom_score_adj (/proc/<pid>/oom_score_adj)
        if parent is not None:
            parent.children.append(self)

    # -- identity -----------------------------------------------------------------------
    @property
    def comm(self) -> str:
        return self.name

    @property
    def cap_sys_rawio(self) -> bool:
        return self.uid == 0

    def __repr__(self) -> str:
        return f"<Process {self.pid} {self.name} {self.state}>"

    def _enter(self) -> None:
        """Every system call starts here: the caller must be able to run."""
        if self.vfork_child is not None:
            raise ProcessStateError(
                f"process {self.pid} is suspended in vfork() until child "
                f"{self.vfork_child.pid} calls execve() or _exit()"
            )
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has exited")
        self.machine.nommu.current = self
        self.machine.rcu_quiescent()

    def _mm(self) -> MM:
        mm = self.mm
        if mm is None:
            raise ProcessStateError(f"process {self.pid} has no address space")
        return mm

    @staticmethod
    def _uint(name: str, value: object, mask: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
        return value & mask

    # -- memory -------------------------------------------------------------------------
    def mmap(
        self, addr: int, length: int, prot: int, flags: int, fd: int = -1, offset: int = 0
    ) -> int:
        """``mmap()`` with a byte offset (the C library's mmap on 32-bit: mmap2).

        A misaligned offset is EINVAL before anything else, as the C library
        and byte-offset system calls check it first.
        """
        if not self.runnable:
            self._enter()
        nommu = self.nommu
        nommu.current = self
        if nommu.kmem is not None and nommu.kmem.rcu:
            nommu.kmem.rcu_flush()
        if (
            type(addr) is not int
            or type(length) is not int
            or type(prot) is not int
            or type(flags) is not int
            or type(offset) is not int
        ):
            self._check_ints(addr=addr, length=length, prot=prot, flags=flags, offset=offset)
        if offset & nommu.page_mask:
            raise SyscallError(Errno.EINVAL, "offset not a multiple of the page size")
        mask = nommu.ulong_mask
        mm = self.mm
        if mm is None:
            mm = self._mm()
        file = None if flags & MAP_ANONYMOUS else self._fget(fd)
        return nommu.do_mmap(
            mm,
            self,
            file,
            addr & mask,
            length & mask,
            prot & mask,
            flags & mask,
            (offset >> nommu.page_shift) & mask,
        )

    def mmap2(
        self, addr: int, length: int, prot: int, flags: int, fd: int = -1, pgoff: int = 0
    ) -> int:
        """``mmap2()``: the offset in 4096-byte units."""
        self._enter()
        nommu = self.nommu
        self._check_ints(addr=addr, length=length, prot=prot, flags=flags, pgoff=pgoff)
        mask = nommu.ulong_mask
        file = None if flags & MAP_ANONYMOUS else self._fget(fd)
        return nommu.do_mmap(
            self._mm(),
            self,
            file,
            addr & mask,
            length & mask,
            prot & mask,
            flags & mask,
            pgoff & mask,
        )

    @staticmethod
    def _check_ints(**values: object) -> None:
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: expected an int, got {type(value).__name__}")

    def munmap(self, addr: int, length: int) -> None:
        if not self.runnable:
            self._enter()
        nommu = self.nommu
        nommu.current = self
        if nommu.kmem is not None and nommu.kmem.rcu:
            nommu.kmem.rcu_flush()
        if type(addr) is not int or type(length) is not int:
            self._check_ints(addr=addr, length=length)
        mask = nommu.ulong_mask
        mm = self.mm
        if mm is None:
            mm = self._mm()
        nommu.do_munmap(mm, self, addr & mask, length & mask)

    def mremap(
        self, old_address: int, old_size: int, new_size: int, flags: int = 0, new_address: int = 0
    ) -> int:
        self._enter()
        nommu = self.machine.nommu
        mask = nommu.ulong_mask
        return nommu.do_mremap(
            self._mm(),
            self._uint("old_address", old_address, mask),
            self._uint("old_size", old_size, mask),
            self._uint("new_size", new_size, mask),
            self._uint("flags", flags, mask),
            self._uint("new_address", new_address, mask),
        )

    def brk(self, addr: int) -> int:
        """``brk()``: returns the (possibly unchanged) break; never fails."""
        self._enter()
        return self.machine.nommu.sys_brk(
            self._mm(), self._uint("addr", addr, self.machine.nommu.ulong_mask)
        )

    def _enosys(self, name: str) -> None:
        self._enter()
        raise SyscallError(Errno.ENOSYS, f"{name}() does not exist without an MMU")

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self._enosys("mprotect")

    def pkey_mprotect(self, addr: int, length: int, prot: int, pkey: int) -> None:
        self._enosys("pkey_mprotect")

    def msync(self, addr: int, length: int, flags: int) -> None:
        self._enosys("msync")

    def madvise(self, addr: int, length: int, advice: int) -> None:
        self._enosys("madvise")

    def mlock(self, addr: int, length: int) -> None:
        self._enosys("mlock")

    def mlock2(self, addr: int, length: int, flags: int) -> None:
        self._enosys("mlock2")

    def munlock(self, addr: int, length: int) -> None:
        self._enosys("munlock")

    def mlockall(self, flags: int) -> None:
        self._enosys("mlockall")

    def munlockall(self) -> None:
        self._enosys("munlockall")

    def mincore(self, addr: int, length: int) -> bytes:
        self._enosys("mincore")
        return b""

    def remap_file_pages(self, addr: int, size: int, prot: int, pgoff: int, flags: int) -> None:
        self._enosys("remap_file_pages")

    def peek(self, addr: int, count: int) -> bytes:
        """Load from physical memory as the CPU would (no MMU: any RAM or flash)."""
        mem = self.machine.memory
        if not isinstance(addr, int) or not isinstance(count, int):
            raise TypeError("addr and count must be ints")
        if count < 0:
            raise ValueError(f"count: must not be negative, got {count}")
        if count == 0:
            return b""
        if mem.area_of(addr, count) is None:
            raise SyscallError(Errno.EFAULT, f"no memory at {addr:#x}-{addr + count:#x}")
        return mem.read(addr, count)

    def poke(self, addr: int, data: bytes) -> None:
        """Store to physical memory as the CPU would; flash and holes fault."""
        mem = self.machine.memory
        if not isinstance(addr, int):
            raise TypeError(f"addr: expected an int, got {type(addr).__name__}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        if not data:
            return
        area = mem.area_of(addr, len(data))
        if area is None or not area.writable:
            raise SyscallError(Errno.EFAULT, f"cannot store at {addr:#x}-{addr + len(data):#x}")
        mem.write(addr, data)

    # -- files --------------------------------------------------------------------------
    def _fget(self, fd: int) -> File:
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"fd: expected an int, got {type(fd).__name__}")
        f = self.files.fds.get(fd)
        if f is None:
            raise SyscallError(Errno.EBADF, f"fd {fd} is not open")
        return f

    def _path(self, path: str) -> str:
        if not isinstance(path, str):
            raise TypeError(f"path: expected str, got {type(path).__name__}")
        if path == "/proc/self" or path.startswith("/proc/self/"):
            return f"/proc/{self.pid}" + path[len("/proc/self") :]
        return path

    def _may(self, inode: Inode, mask: int) -> bool:
        """``generic_permission`` with root's override (mask: 4 r, 2 w, 1 x)."""
        mode: int = inode.i_mode
        if self.uid == 0:
            if mask & 1 and not inode.is_dir():
                return bool(mode & 0o111)
            return True
        if self.uid == inode.i_uid:
            bits = (mode >> 6) & 7
        elif self.gid == inode.i_gid:
            bits = (mode >> 3) & 7
        else:
            bits = mode & 7
        return bits & mask == mask

    def _may_search(self, inode: Inode) -> bool:
        """``may_lookup``: MAY_EXEC on a directory the path walk goes through."""
        return self._may(inode, 1)

    def _lookup(self, path: str, *, follow: bool = True) -> Any:
        """Path walk as this process (EACCES for a directory it may not search)."""
        return self.machine.ns.lookup(
            self._path(path), self.cwd, follow=follow, search=self._may_search
        )

    def _lookup_parent(self, path: str) -> Any:
        return self.machine.ns.lookup_parent(self._path(path), self.cwd, search=self._may_search)

    def umask(self, mask: int) -> int:
        """``umask()``: set the file creation mask; returns the old one."""
        self._enter()
        old = self.umask_bits
        self.umask_bits = mask & 0o777
        return old

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        """``open()``: EISDIR, EROFS, EACCES, ETXTBSY in the kernel's order."""
        self._enter()
        path = self._path(path)
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise TypeError(f"flags: expected an int, got {type(flags).__name__}")
        acc = flags & O_ACCMODE
        if acc == 3:
            raise SyscallError(Errno.EINVAL, "bad access mode")
        created = False
        if flags & O_CREAT:
            parent, name = self._lookup_parent(path)
            assert parent.inode.children is not None
            existing = parent.inode.children.get(name)
            if existing is not None and flags & O_EXCL:
                raise SyscallError(Errno.EEXIST, f"{path} exists")
            if existing is None:
                if parent.mount.ro:
                    raise SyscallError(Errno.EROFS, f"{parent.path} is read-only")
                if not self._may(parent.inode, 3):
                    raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
                inode = parent.mount.sb.create(parent.inode, name, mode & 0o7777 & ~self.umask_bits)
                inode.i_uid, inode.i_gid = self.uid, self.gid
                created = True
            found = self._lookup(path)
        else:
            found = self._lookup(path)
        inode = found.inode
        if flags & O_DIRECTORY and not inode.is_dir():
            raise SyscallError(Errno.ENOTDIR, f"{found.path} is not a directory")
        write = acc in (O_WRONLY, O_RDWR)
        if inode.is_dir() and (write or flags & O_CREAT):
            raise SyscallError(Errno.EISDIR, f"{found.path} is a directory")
        if not created:
            if write and found.mount.ro and inode.file_type in (0o100000, 0o040000, 0o120000):
                raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
            need = (4 if acc in (O_RDONLY, O_RDWR) else 0) | (2 if write else 0)
            if not self._may(inode, need):
                raise SyscallError(Errno.EACCES, f"permission denied: {found.path}")
        if write and inode.i_writecount < 0:
            raise SyscallError(Errno.ETXTBSY, f"{found.path} is a running executable")
        fmode = (FMODE_READ if acc in (O_RDONLY, O_RDWR) else 0) | (FMODE_WRITE if write else 0)
        f = open_file(inode, found.mount, found.path, flags, fmode, self)
        if write:
            inode.i_writecount += 1
        if flags & O_TRUNC and write and inode.is_reg() and inode.i_size:
            try:
                self._truncate_inode(found.mount, inode, 0)
            except SyscallError:
                f.put()
                raise
        try:
            return self.files.install(f, cloexec=bool(flags & O_CLOEXEC))
        except SyscallError:
            f.put()
            raise

    def close(self, fd: int) -> None:
        self._enter()
        f = self._fget(fd)
        del self.files.fds[fd]
        self.files.cloexec.discard(fd)
        f.put()

    def dup(self, fd: int) -> int:
        self._enter()
        f = self._fget(fd)
        return self.files.install(f.get())

    def dup2(self, oldfd: int, newfd: int) -> int:
        self._enter()
        f = self._fget(oldfd)
        if oldfd == newfd:
            return newfd
        old = self.files.fds.pop(newfd, None)
        self.files.fds[newfd] = f.get()
        self.files.cloexec.discard(newfd)
        if old is not None:
            old.put()
        return newfd

    def read(self, fd: int, count: int) -> bytes:
        self._enter()
        f = self._fget(fd)
        data = self._read(f, count, f.f_pos)
        f.f_pos += len(data)
        return data

    @staticmethod
    def _no_seek(f: File) -> None:
        """Pipes, FIFOs and sockets have no file position (``no_llseek``, no FMODE_PREAD)."""
        if (f.inode.i_mode & S_IFMT) in (S_IFIFO, S_IFSOCK):
            raise SyscallError(Errno.ESPIPE, f"{f.path} has no file position")

    def pread(self, fd: int, count: int, offset: int) -> bytes:
        self._enter()
        f = self._fget(fd)
        self._no_seek(f)
        if offset < 0:
            raise SyscallError(Errno.EINVAL, "negative offset")
        return self._read(f, count, offset)

    def _read(self, f: File, count: int, pos: int) -> bytes:
        if not f.f_mode & FMODE_READ:
            raise SyscallError(Errno.EBADF, "not open for reading")
        if f.inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{f.path} is a directory")
        if count < 0:
            raise SyscallError(Errno.EINVAL, "negative count")
        return f.f_op.read(f, count, pos)

    def write(self, fd: int, data: bytes) -> int:
        self._enter()
        f = self._fget(fd)
        pos = f.inode.i_size if f.f_flags & O_APPEND else f.f_pos
        n = self._write(f, data, pos)
        f.f_pos = pos + n
        return n

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        self._enter()
        f = self._fget(fd)
        self._no_seek(f)
        if offset < 0:
            raise SyscallError(Errno.EINVAL, "negative offset")
        return self._write(f, data, offset)

    def _write(self, f: File, data: bytes, pos: int) -> int:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        if not f.f_mode & FMODE_WRITE:
            raise SyscallError(Errno.EBADF, "not open for writing")
        if self.rlimit_fsize is not None and pos + len(data) > self.rlimit_fsize:
            if pos >= self.rlimit_fsize:
                raise SyscallError(Errno.EFBIG, "RLIMIT_FSIZE exceeded (SIGXFSZ)")
            data = bytes(data[: self.rlimit_fsize - pos])
        return f.f_op.write(f, bytes(data), pos)

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        self._enter()
        f = self._fget(fd)
        self._no_seek(f)
        if whence == SEEK_SET:
            pos = offset
        elif whence == SEEK_CUR:
            pos = f.f_pos + offset
        elif whence == SEEK_END:
            pos = f.inode.i_size + offset
        else:
            raise SyscallError(Errno.EINVAL, "bad whence")
        if pos < 0:
            raise SyscallError(Errno.EINVAL, "negative position")
        f.f_pos = pos
        return pos

    def ftruncate(self, fd: int, length: int) -> None:
        """``ftruncate()``: EINVAL (negative), EBADF, EINVAL (not a writable regular file)."""
        self._enter()
        if length < 0:
            raise SyscallError(Errno.EINVAL, "negative length")
        f = self._fget(fd)
        if not f.f_mode & FMODE_WRITE or not f.inode.is_reg():
            raise SyscallError(Errno.EINVAL, "fd not open for writing a regular file")
        if f.inode.append_only:
            raise SyscallError(Errno.EPERM, "append-only file")
        self._truncate_inode(f.mount, f.inode, length)

    def truncate(self, path: str, length: int) -> None:
        """``truncate()`` by path: EISDIR, EROFS, EACCES, ETXTBSY."""
        self._enter()
        if length < 0:
            raise SyscallError(Errno.EINVAL, "negative length")
        found = self._lookup(path)
        inode = found.inode
        if inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{found.path} is a directory")
        if not inode.is_reg():
            raise SyscallError(Errno.EINVAL, f"{found.path} is not a regular file")
        if found.mount.ro:
            raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
        if not self._may(inode, 2):
            raise SyscallError(Errno.EACCES, f"permission denied: {found.path}")
        if inode.i_writecount < 0:
            raise SyscallError(Errno.ETXTBSY, f"{found.path} is a running executable")
        self._truncate_inode(found.mount, inode, length)

    def _truncate_inode(self, mount: Any, inode: Any, length: int) -> None:
        if self.rlimit_fsize is not None and length > self.rlimit_fsize:
            raise SyscallError(Errno.EFBIG, "RLIMIT_FSIZE exceeded (SIGXFSZ)")
        if mount is not None and mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        inode.i_sb.setattr_size(inode, length)

    def unlink(self, path: str) -> None:
        """``unlink()``: EROFS, ENOENT, EACCES, EPERM (sticky directory), EISDIR."""
        self._enter()
        parent, name = self._lookup_parent(path)
        assert parent.inode.children is not None
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        inode = parent.inode.children.get(name)
        if inode is None or parent.path + "/" + name in self.machine.ns.mounts:
            if inode is None:
                raise SyscallError(Errno.ENOENT, f"{path} does not exist")
            raise SyscallError(Errno.EBUSY, f"{path} is a mount point")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot remove from {parent.path}")
        if (
            parent.inode.i_mode & 0o1000
            and self.uid != 0
            and inode.i_uid != self.uid
            and parent.inode.i_uid != self.uid
        ):
            raise SyscallError(Errno.EPERM, f"{path}: sticky directory, not the owner")
        if inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{path} is a directory")
        del parent.inode.children[name]
        inode.i_nlink -= 1
        if inode.i_nlink == 0 and inode.i_count == 0:
            inode.i_sb.evict_inode(inode)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._enter()
        parent, name = self._lookup_parent(path)
        assert parent.inode.children is not None
        if name in parent.inode.children:
            raise SyscallError(Errno.EEXIST, f"{path} exists")
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
        inode = parent.mount.sb.mkdir(parent.inode, name, mode & 0o7777 & ~self.umask_bits)
        inode.i_uid, inode.i_gid = self.uid, self.gid

    def link(self, oldpath: str, newpath: str) -> None:
        """``link()``: EEXIST, EROFS, EXDEV, EACCES, EPERM (directory), as ``do_linkat``."""
        self._enter()
        old = self._lookup(oldpath, follow=False)
        parent, name = self._lookup_parent(newpath)
        assert parent.inode.children is not None
        if name in parent.inode.children:
            raise SyscallError(Errno.EEXIST, f"{newpath} exists")
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        if parent.mount is not old.mount:
            raise SyscallError(Errno.EXDEV, "cross-device link")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
        if old.inode.is_dir():
            raise SyscallError(Errno.EPERM, "hard links to directories are not allowed")
        parent.inode.children[name] = old.inode
        old.inode.i_nlink += 1

    def chmod(self, path: str, mode: int) -> None:
        """``chmod()``: EROFS, then EPERM unless the caller owns the file (or is root)."""
        self._enter()
        found = self._lookup(path)
        inode = found.inode
        if found.mount.ro:
            raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
        if self.uid != 0 and self.uid != inode.i_uid:
            raise SyscallError(Errno.EPERM, f"{found.path}: not the owner")
        inode.i_mode = (inode.i_mode & S_IFMT) | (mode & 0o7777)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """``chown()``: EROFS; EPERM unless root, or the owner keeping the uid and
        choosing its own group (-1 leaves an id unchanged)."""
        self._enter()
        found = self._lookup(path)
        inode = found.inode
        if found.mount.ro:
            raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
        new_uid = inode.i_uid if uid == -1 else uid
        new_gid = inode.i_gid if gid == -1 else gid
        if self.uid != 0:
            if self.uid != inode.i_uid or new_uid != inode.i_uid:
                raise SyscallError(Errno.EPERM, f"{found.path}: only root may give files away")
            if new_gid not in (inode.i_gid, self.gid):
                raise SyscallError(Errno.EPERM, f"{found.path}: not a member of group {new_gid}")
        inode.i_uid, inode.i_gid = new_uid, new_gid
        if not inode.is_dir():  # ATTR_KILL_SUID | ATTR_KILL_SGID
            inode.i_mode &= ~0o4000
            if inode.i_mode & 0o010:
                inode.i_mode &= ~0o2000

    def pipe(self) -> tuple[int, int]:
        """``pipe()``: ``(read end, write end)``; a pipe cannot be mapped (ENODEV)."""
        return self.pipe2(0)

    def pipe2(self, flags: int) -> tuple[int, int]:
        """``pipe2()`` with ``O_NONBLOCK`` (``O_CLOEXEC`` accepted); EINVAL for others."""
        from nommu.fs.pipe import create_pipe

        self._enter()
        if flags & ~(O_NONBLOCK | O_CLOEXEC):
            raise SyscallError(Errno.EINVAL, f"pipe2 flags {flags:#o}")
        rf, wf = create_pipe(self.machine, flags, self.uid, self.gid)
        try:
            rfd = self.files.install(rf)
        except SyscallError:
            rf.put()
            wf.put()
            raise
        try:
            wfd = self.files.install(wf)
        except SyscallError:
            del self.files.fds[rfd]
            rf.put()
            wf.put()
            raise
        return rfd, wfd

    def socket(self, domain: int, type: int, protocol: int = 0) -> int:
        """``socket()``: an unconnected AF_UNIX socket; its mmap is EINVAL."""
        from nommu.fs.sockfs import create_socket

        self._enter()
        f = create_socket(self.machine, domain, type, protocol, self.uid, self.gid)
        try:
            return self.files.install(f)
        except SyscallError:
            f.put()
            raise

    def stat(self, path: str) -> Stat:
        self._enter()
        found = self._lookup(path)
        return self._stat_inode(found.inode)

    def fstat(self, fd: int) -> Stat:
        self._enter()
        return self._stat_inode(self._fget(fd).inode)

    @staticmethod
    def _stat_inode(inode: Any) -> Stat:
        dev = inode.i_sb.s_dev
        return Stat(
            st_dev=(dev[0] << 8) | dev[1],
            st_ino=inode.ino,
            st_mode=inode.i_mode,
            st_nlink=inode.i_nlink,
            st_uid=inode.i_uid,
            st_gid=inode.i_gid,
            st_rdev=(inode.i_rdev[0] << 8) | inode.i_rdev[1],
            st_size=inode.i_size,
        )

    # -- process life cycle -------------------------------------------------------------
    def fork(self) -> Process:
        """``fork()`` cannot work without an MMU: EINVAL (kernel/fork.c, !CONFIG_MMU)."""
        self._enter()
        raise SyscallError(Errno.EINVAL, "fork() is not supported without an MMU; use vfork()")

    def vfork(self) -> Process:
        """``vfork()`` = ``clone(CLONE_VM|CLONE_VFORK|SIGCHLD)``.

        The child runs in this process's mm (``mm_users`` + 1); this process
        is suspended (its system calls raise :class:`ProcessStateError`) until
        the child calls ``execve`` or exits.
        """
        return self.clone(CLONE_VM | CLONE_VFORK | SIGCHLD)

    def clone(self, flags: int) -> Process:
        """``clone()`` (kernel/fork.c ``copy_process``, NOMMU ``dup_mmap``).

        CLONE_VM shares the mm (threads, vfork). Without it the child gets a
        new mm holding no VMAs, only the executable (``dup_mmap`` on NOMMU
        copies ``exe_file`` and its write denial): nothing is copied, and what
        the child could run is undefined (spec 7.3). CLONE_THREAD makes a
        thread of this process's group (it needs CLONE_SIGHAND, which needs
        CLONE_VM: EINVAL otherwise); threads are reaped when they exit.
        """
        self._enter()
        flags = self._uint("flags", flags, 0xFFFFFFFFFFFFFFFF)
        if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
            raise SyscallError(Errno.EINVAL, "CLONE_THREAD needs CLONE_SIGHAND")
        if flags & CLONE_SIGHAND and not flags & CLONE_VM:
            raise SyscallError(Errno.EINVAL, "CLONE_SIGHAND needs CLONE_VM")
        m = self.machine
        rec = None
        if m.kmem is not None:  # dup_task_struct, copy_creds, copy_files, ... (may OOM)
            rec = m.kmem.copy_process(self, flags, new_mm=not flags & CLONE_VM)
        if flags & CLONE_VM:
            mm = self._mm()
            mm.mm_users += 1
        else:
            mm = MM()
            exe = self._mm().exe_file
            if exe is not None:
                exe.inode.i_writecount -= 1  # dup_mm_exe_file: deny_write_access
                mm.exe_file = exe.get()
        if flags & CLONE_FILES:
            files = self.files
            files.users += 1
        else:
            files = self.files.copy()
        thread = bool(flags & CLONE_THREAD)
        parent = self.parent if thread else self
        child = Process(m, m.new_pid(), self.name, parent=None, mm=mm, files=files)
        if rec is not None and m.kmem is not None:
            m.kmem.attach(child.pid, rec)
        child.oom_score_adj = self.oom_score_adj  # copy_signal
        child.parent = parent
        if not thread:
            self.children.append(child)
        else:
            child.tgid = self.tgid
        child.uid, child.gid, child.cwd = self.uid, self.gid, self.cwd
        child.argv, child.exe_path, child.image = self.argv, self.exe_path, self.image
        child.rlimit_fsize, child.rlimit_data = self.rlimit_fsize, self.rlimit_data
        child.fs = self.fs.share() if flags & CLONE_FS else SharedCount()
        child.sighand = self.sighand.share() if flags & CLONE_SIGHAND else SharedCount()
        m.procs[child.pid] = child
        if flags & CLONE_VFORK:
            self.vfork_child = child
            child.vfork_parent = self
            self.state = "D"
            self.runnable = False
        return child

    def _release_vfork(self) -> None:
        """``mm_release`` → ``complete_vfork_done``: the vfork parent runs again."""
        parent = self.vfork_parent
        self.vfork_parent = None
        if parent is not None and parent.vfork_child is self:
            parent.vfork_child = None
            if parent.state == "D":
                parent.state = "R"
            parent._sync_runnable()

    def _sync_runnable(self) -> None:
        """Keep :attr:`runnable` (read on the system-call fast path) in step with the state."""
        self.runnable = self.vfork_child is None and self.state not in ("Z", "X")

    def _mmput(self) -> None:
        """Drop this task's use of its mm; the last user tears it down."""
        mm = self.mm
        if mm is None:
            return
        self.mm = None
        mmput(self.machine, mm)

    def execve(
        self, path: str, argv: Sequence[str | bytes] = (), envp: Sequence[str | bytes] = ()
    ) -> None:
        """Replace this process's program (fs/exec.c; loaders bFLT and ELF-FDPIC).

        See :mod:`nommu.binfmt.exec`: errors before the point of no return
        leave the process as it was; after it the process is killed by
        SIGSEGV (``wait`` reports signal 11) and SyscallError is raised.
        On success a ``vfork`` parent resumes, ``/proc/<pid>/cmdline`` shows
        *argv* and :attr:`image` describes what was loaded.
        """
        self._enter()
        from nommu.binfmt.exec import do_execve

        argv_t = tuple(argv)
        self.image = do_execve(self, path, argv_t, tuple(envp))
        self.argv = tuple(
            a if isinstance(a, str) else a.decode("utf-8", "surrogateescape") for a in argv_t
        )

    def unshare_files(self) -> None:
        """``unshare_files`` at exec: a descriptor table shared by CLONE_FILES is copied."""
        if self.files.users > 1:
            self.files.users -= 1
            self.files = self.files.copy()

    def de_thread(self) -> None:
        """``de_thread`` at exec: the other threads of the group are killed and reaped.

        The exec'ing thread becomes the group leader (keeping its own pid).
        """
        others = [
            p
            for p in self.machine.procs.values()
            if p is not self and p.tgid == self.tgid and p.state not in ("Z", "X")
        ]
        for p in others:
            p._do_exit(0, SIGKILL, reap=p.pid != p.tgid)
        if self.tgid != self.pid:
            leader = self.machine.procs.get(self.tgid)
            if leader is not None and leader.state == "Z":
                self._adopt_slot_of(leader)
            self.tgid = self.pid
            for p in self.machine.procs.values():
                if p is not self and p.tgid == self.tgid:
                    p.tgid = self.pid

    def _adopt_slot_of(self, leader: Process) -> None:
        parent = leader.parent
        if parent is not None and leader in parent.children:
            parent.children[parent.children.index(leader)] = self
        self.parent = parent
        self.machine.release_task(leader)
        leader.state = "X"
        leader.runnable = False

    def exit(self, status: int = 0) -> None:
        """``_exit()`` (``exit_group``): every thread of the group exits.

        The mm is released (``exit_mm``: the last user runs ``exit_mmap``;
        a vfork parent resumes), then the descriptor table; children are
        handed to pid 1; the process stays a zombie until its parent reaps
        it with :meth:`wait` (a process without a parent is reaped at once).
        """
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has already exited")
        if self.vfork_child is not None:
            raise ProcessStateError(f"process {self.pid} is suspended in vfork()")
        self._exit_group(status & 0xFF, 0)

    def kill(self, signo: int) -> None:
        """Terminate by a fatal signal (as SIGKILL or an uncaught SIGSEGV would).

        Unlike :meth:`exit` this also works on a parent suspended in vfork
        (a fatal signal ends the wait). ``wait`` reports the signal number.
        """
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has already exited")
        if not 0 < signo < 65:
            raise ValueError(f"signo: must be a signal number 1..64, got {signo}")
        if self.vfork_child is not None:
            self.vfork_child.vfork_parent = None
            self.vfork_child = None
        self._exit_group(0, signo)

    def _exit_group(self, code: int, signo: int) -> None:
        for p in list(self.machine.procs.values()):
            if p is not self and p.tgid == self.tgid and p.state not in ("Z", "X"):
                p.vfork_child = None
                p._do_exit(code, signo, reap=p.pid != p.tgid)
        self._do_exit(code, signo, reap=self.pid != self.tgid)

    def _do_exit(self, code: int, signo: int, *, reap: bool) -> None:
        """``do_exit`` for one task; *reap* for threads (no zombie is left)."""
        self.machine.nommu.current = self
        self.machine.task_exit(self)
        self._mmput()
        self.files.users -= 1
        if self.files.users == 0:
            self.files.close_all()
        self.files = FilesStruct()
        self.fs.users -= 1
        self.sighand.users -= 1
        self._release_vfork()
        self.exit_code = code
        self.exit_signal = signo
        self.state = "Z"
        self.runnable = False
        init = self.machine.procs.get(1)
        heir = (
            init if init is not None and init is not self and init.state not in ("Z", "X") else None
        )
        for child in self.children:
            child.parent = heir
            if heir is not None:
                heir.children.append(child)
            elif child.state == "Z":
                self.machine.release_task(child)
                child.state = "X"
        self.children = []
        if reap or self.parent is None:
            if self.parent is not None and self in self.parent.children:
                self.parent.children.remove(self)
            self.machine.release_task(self)
            self.state = "X"

    def wait(self) -> tuple[int, int]:
        """``wait()``: reap an exited child; returns ``(pid, wait status)``.

        The status is ``code << 8`` after ``_exit(code)`` and the signal
        number after a fatal signal, as ``WEXITSTATUS``/``WTERMSIG`` read it.
        ECHILD without children; a child that has not exited yet would make
        the caller sleep, which the model reports as :class:`ProcessStateError`.
        """
        self._enter()
        if not self.children:
            raise SyscallError(Errno.ECHILD, "no children")
        for child in self.children:
            if child.state == "Z":
                self.children.remove(child)
                child.state = "X"
                self.machine.release_task(child)
                if child.exit_signal:
                    return child.pid, child.exit_signal & 0x7F
                return child.pid, (child.exit_code or 0) << 8
        raise ProcessStateError(
            f"process {self.pid} would block in wait(): no child has exited yet"
        )

    # -- System V and POSIX shared memory ------------------------------------------------
    def shmget(self, key: int, size: int, shmflg: int) -> int:
        """``shmget()``: see :func:`nommu.ipc.shm.sys_shmget`."""
        self._enter()
        from nommu.ipc.shm import sys_shmget

        return sys_shmget(self, key, size, shmflg)

    def shmat(self, shmid: int, shmaddr: int = 0, shmflg: int = 0) -> int:
        """``shmat()``: see :func:`nommu.ipc.shm.do_shmat` (ENODEV by default, hazard H3)."""
        self._enter()
        from nommu.ipc.shm import do_shmat

        return do_shmat(self, shmid, shmaddr, shmflg)

    def shmdt(self, shmaddr: int) -> None:
        """``shmdt()``: the exact start of an attachment (NOMMU), else EINVAL."""
        self._enter()
        from nommu.ipc.shm import sys_shmdt

        sys_shmdt(self, shmaddr)

    def shmctl(self, shmid: int, cmd: int) -> ShmidDs | None:
        """``shmctl()``: IPC_STAT returns a :class:`ShmidDs`; IPC_RMID returns None."""
        self._enter()
        from nommu.ipc.shm import sys_shmctl

        return sys_shmctl(self, shmid, cmd)

    def shm_open(self, name: str, flags: int, mode: int = 0o600) -> int:
        """POSIX ``shm_open()``: the C library opens ``/dev/shm/<name>``.

        *name* must be ``/`` followed by a non-empty name without another
        ``/`` (EINVAL; ENAMETOOLONG above NAME_MAX); the descriptor is
        close-on-exec (``O_CLOEXEC|O_NOFOLLOW`` are added, as the C library
        does). ``/dev/shm`` is ramfs here (tmpfs without an MMU), so
        ``ftruncate`` from size 0 allocates the object's contiguous pages and
        ``MAP_SHARED`` maps them directly (spec 12).
        """
        return self.open(self._shm_path(name), flags | O_CLOEXEC | O_NOFOLLOW, mode)

    def shm_unlink(self, name: str) -> None:
        """POSIX ``shm_unlink()``: unlink ``/dev/shm/<name>``; pages go with the last user."""
        self.unlink(self._shm_path(name))

    @staticmethod
    def _shm_path(name: str) -> str:
        if not isinstance(name, str):
            raise TypeError(f"name: expected str, got {type(name).__name__}")
        rest = name[1:]
        if not name.startswith("/") or not rest or "/" in rest or rest in (".", ".."):
            raise SyscallError(
                Errno.EINVAL, f"shared memory name {name!r} must be '/' and a name without '/'"
            )
        if len(rest.encode()) >= 255:
            raise SyscallError(Errno.ENAMETOOLONG, "shared memory name too long")
        return "/dev/shm/" + rest

    # -- /proc --------------------------------------------------------------------------
    def render_status(self, reader: object | None) -> str:
        """``/proc/<pid>/status`` (fs/proc/array.c ``proc_pid_status`` with NOMMU ``task_mem``).

        Lines in the kernel's order: ``task_name``, ``task_state``, the
        three NOMMU memory lines (only while the task has an mm), then the
        signal, capability and scheduling lines.
        """
        ppid = self.parent.tgid if self.parent is not None else 0
        state = {
            "R": "R (running)",
            "S": "S (sleeping)",
            "D": "D (disk sleep)",
            "Z": "Z (zombie)",
            "X": "X (dead)",
        }[self.state]
        lines = [
            f"Name:\t{self.name}",
            f"Umask:\t{self.umask_bits:04o}",
            f"State:\t{state}",
            f"Tgid:\t{self.tgid}",
            "Ngid:\t0",
            f"Pid:\t{self.pid}",
            f"PPid:\t{ppid}",
            f"TracerPid:\t{1 if self.ptraced else 0}",
            f"Uid:\t{self.uid}\t{self.uid}\t{self.uid}\t{self.uid}",
            f"Gid:\t{self.gid}\t{self.gid}\t{self.gid}\t{self.gid}",
            f"FDSize:\t{max(64, len(self.files.fds))}",
            "Groups:\t",
            f"NStgid:\t{self.tgid}",
            f"NSpid:\t{self.pid}",
            f"NSpgid:\t{self.pid}",
            f"NSsid:\t{self.pid}",
            "Kthread:\t0",
        ]
        text = "\n".join(lines) + "\n"
        if self.mm is not None:
            text += (
                self.task_mem(reader) + "CoreDumping:\t0\nTHP_enabled:\t0\n"
                f"untag_mask:\t{self.machine.nommu.ulong_mask:#x}\n"
            )
        threads = (
            sum(
                1
                for p in self.machine.procs.values()
                if p.tgid == self.tgid and p.state not in ("Z", "X")
            )
            or 1
        )
        cap = "000001ffffffffff" if self.uid == 0 else "0000000000000000"
        text += (
            f"Threads:\t{threads}\nSigQ:\t0/1024\nSigPnd:\t0000000000000000\n"
            "ShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n"
            "SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n"
            f"CapInh:\t0000000000000000\nCapPrm:\t{cap}\nCapEff:\t{cap}\n"
            "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"
            "Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown\n"
            "Cpus_allowed:\t1\nCpus_allowed_list:\t0\n"
            "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n"
        )
        return text

    def task_mem(self, reader: object | None) -> str:
        """The NOMMU ``task_mem`` (fs/proc/task_nommu.c): Mem, Slack and Shared in bytes.

        The VMAs and the mm are the target's; ``fs``, ``files``, ``sighand``
        and the task itself are the *reading* task's (``current``; hazard H9).
        A read from outside the machine (``Machine.cat``) counts the target.
        """
        mm = self.mm
        assert mm is not None
        nbytes = sbytes = slack = 0
        for vma in mm.vmas():
            nbytes += K_VMA
            region = vma.vm_region
            if region is not None:
                size = K_REGION + (region.vm_end - region.vm_start)
            else:
                size = vma.vm_end - vma.vm_start
            if mm.mm_count > 1 or is_nommu_shared_mapping(vma.vm_flags):
                sbytes += size
            else:
                nbytes += size
                if region is not None:
                    slack = region.vm_end - vma.vm_end
        if mm.mm_count > 1:
            sbytes += K_MM
        else:
            nbytes += K_MM
        who = reader if isinstance(reader, Process) else self
        if who.fs.users > 1:
            sbytes += K_FS
        else:
            nbytes += K_FS
        if who.files.users > 1:
            sbytes += K_FILES
        else:
            nbytes += K_FILES
        if who.sighand.users > 1:
            sbytes += K_SIGHAND
        else:
            nbytes += K_SIGHAND
        nbytes += K_TASK
        return f"Mem:\t{nbytes:8d} bytes\nSlack:\t{slack:8d} bytes\nShared:\t{sbytes:8d} bytes\n"

    def render_statm(self) -> str:
        """``/proc/<pid>/statm`` (NOMMU ``task_statm``; shared is always 0).

        Computed in unsigned long, as the kernel does: an FDPIC program whose
        stack lies below its data shows a wrapped ``data`` figure.
        """
        mm = self.mm
        if mm is None:
            return "0 0 0 0 0 0 0\n"
        psize = self.machine.page_size
        pmask = psize - 1
        shift = self.machine.page_shift
        ulong = self.machine.nommu.ulong_mask
        size = K_MM
        for vma in mm.vmas():
            size += K_VMA
            region = vma.vm_region
            if region is not None:
                size += K_REGION + (region.vm_end - region.vm_start)
        text = ((((mm.end_code + pmask) & ~pmask) - (mm.start_code & ~pmask)) & ulong) >> shift
        data = ((((mm.start_stack + pmask) & ~pmask) - (mm.start_data & ~pmask)) & ulong) >> shift
        total = ((size & ulong) >> shift) + text + data
        total &= ulong
        return f"{total} {total} 0 {text} 0 {data} 0\n"

    def render_cmdline(self) -> str:
        """``/proc/<pid>/cmdline``: the mm's bytes ``arg_start..arg_end`` (``get_mm_cmdline``).

        Empty for a task without an mm or that never ran ``execve``.
        """
        mm = self.mm
        if mm is None or mm.arg_end <= mm.arg_start:
            return ""
        raw = self.machine.memory.read(mm.arg_start, mm.arg_end - mm.arg_start)
        return raw.decode("utf-8", "replace")
