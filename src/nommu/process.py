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
    CLONE_VFORK,
    CLONE_VM,
    MAP_ANONYMOUS,
    O_ACCMODE,
    O_APPEND,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    S_IFMT,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
    SIGCHLD,
)
from nommu.errors import Errno, NommuError, SyscallError
from nommu.fs.vfs import FMODE_READ, FMODE_WRITE, File, Inode
from nommu.mm.region import is_nommu_shared_mapping
from nommu.mm.vma import MM

if TYPE_CHECKING:
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


@dataclass(frozen=True, slots=True)
class ShmidDs:
    """``struct shmid_ds`` as IPC_STAT returns it (the fields modelled)."""

    shm_segsz: int
    shm_nattch: int
    shm_cpid: int
    shm_lpid: int
    shm_perm_mode: int
    shm_perm_key: int


class FilesStruct:
    """``struct files_struct``: the descriptor table (shared with CLONE_FILES)."""

    __slots__ = ("fds", "users")

    def __init__(self) -> None:
        self.fds: dict[int, File] = {}
        self.users = 1

    def install(self, f: File, lowest: int = 0) -> int:
        fd = lowest
        while fd in self.fds:
            fd += 1
        if fd >= NR_OPEN_DEFAULT:
            raise SyscallError(Errno.EMFILE, "too many open files")
        self.fds[fd] = f
        return fd

    def copy(self) -> FilesStruct:
        new = FilesStruct()
        for fd, f in self.fds.items():
            new.fds[fd] = f.get()
        return new

    def close_all(self) -> None:
        fds, self.fds = self.fds, {}
        for fd in sorted(fds):
            fds[fd].put()


class Process:
    """A task with an address space (``mm``) and a descriptor table."""

    def __init__(self, machine: Machine, pid: int, name: str, parent: Process | None,
                 mm: MM | None = None, files: FilesStruct | None = None) -> None:
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
        self.cwd = "/"
        self.state = "R"
        self.exit_code: int | None = None
        self.children: list[Process] = []
        self.vfork_child: Process | None = None  # child we wait for in vfork
        self.vfork_parent: Process | None = None  # parent suspended for us
        self.rlimit_fsize: int | None = None
        self.rlimit_data: int | None = None
        self.argv: tuple[str, ...] = ()
        self.exe_path: str | None = None
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

    @property
    def runnable(self) -> bool:
        """Whether this task may make system calls now (not in vfork, not exited)."""
        return self.vfork_child is None and self.state not in ("Z", "X")

    def _enter(self) -> None:
        """Every system call starts here: the caller must be able to run."""
        if self.vfork_child is not None:
            raise ProcessStateError(
                f"process {self.pid} is suspended in vfork() until child "
                f"{self.vfork_child.pid} calls execve() or _exit()")
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has exited")
        self.machine.nommu.current = self

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
    def mmap(self, addr: int, length: int, prot: int, flags: int, fd: int = -1,
             offset: int = 0) -> int:
        """``mmap()`` with a byte offset (the C library's mmap on 32-bit: mmap2).

        A misaligned offset is EINVAL before anything else, as the C library
        and byte-offset system calls check it first.
        """
        if not self.runnable:
            self._enter()
        nommu = self.nommu
        nommu.current = self
        if (type(addr) is not int or type(length) is not int or type(prot) is not int
                or type(flags) is not int or type(offset) is not int):
            self._check_ints(addr=addr, length=length, prot=prot, flags=flags, offset=offset)
        if offset & nommu.page_mask:
            raise SyscallError(Errno.EINVAL, "offset not a multiple of the page size")
        mask = nommu.ulong_mask
        file = None if flags & MAP_ANONYMOUS else self._fget(fd)
        mm = self.mm
        if mm is None:
            mm = self._mm()
        return nommu.do_mmap(mm, self, file, addr & mask, length & mask, prot & mask,
                             flags & mask, (offset >> nommu.page_shift) & mask)

    def mmap2(self, addr: int, length: int, prot: int, flags: int, fd: int = -1,
              pgoff: int = 0) -> int:
        """``mmap2()``: the offset in 4096-byte units."""
        self._enter()
        nommu = self.nommu
        self._check_ints(addr=addr, length=length, prot=prot, flags=flags, pgoff=pgoff)
        mask = nommu.ulong_mask
        file = None if flags & MAP_ANONYMOUS else self._fget(fd)
        return nommu.do_mmap(self._mm(), self, file, addr & mask, length & mask, prot & mask,
                             flags & mask, pgoff & mask)

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
        if type(addr) is not int or type(length) is not int:
            self._check_ints(addr=addr, length=length)
        mask = nommu.ulong_mask
        mm = self.mm
        if mm is None:
            mm = self._mm()
        nommu.do_munmap(mm, self, addr & mask, length & mask)

    def mremap(self, old_address: int, old_size: int, new_size: int, flags: int = 0,
               new_address: int = 0) -> int:
        self._enter()
        nommu = self.machine.nommu
        mask = nommu.ulong_mask
        return nommu.do_mremap(self._mm(), self._uint("old_address", old_address, mask),
                               self._uint("old_size", old_size, mask),
                               self._uint("new_size", new_size, mask),
                               self._uint("flags", flags, mask),
                               self._uint("new_address", new_address, mask))

    def brk(self, addr: int) -> int:
        """``brk()``: returns the (possibly unchanged) break; never fails."""
        self._enter()
        return self.machine.nommu.sys_brk(self._mm(), self._uint("addr", addr,
                                                                 self.machine.nommu.ulong_mask))

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

    def remap_file_pages(self, addr: int, size: int, prot: int, pgoff: int,
                         flags: int) -> None:
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
            return f"/proc/{self.pid}" + path[len("/proc/self"):]
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

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        """``open()``: EISDIR, EROFS, EACCES, ETXTBSY in the kernel's order."""
        self._enter()
        ns = self.machine.ns
        path = self._path(path)
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise TypeError(f"flags: expected an int, got {type(flags).__name__}")
        acc = flags & O_ACCMODE
        if acc == 3:
            raise SyscallError(Errno.EINVAL, "bad access mode")
        created = False
        if flags & O_CREAT:
            parent, name = ns.lookup_parent(path, self.cwd)
            assert parent.inode.children is not None
            existing = parent.inode.children.get(name)
            if existing is not None and flags & O_EXCL:
                raise SyscallError(Errno.EEXIST, f"{path} exists")
            if existing is None:
                if parent.mount.ro:
                    raise SyscallError(Errno.EROFS, f"{parent.path} is read-only")
                if not self._may(parent.inode, 3):
                    raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
                inode = parent.mount.sb.create(parent.inode, name, mode & 0o7777)
                inode.i_uid, inode.i_gid = self.uid, self.gid
                created = True
            found = ns.lookup(path, self.cwd)
        else:
            found = ns.lookup(path, self.cwd)
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
        f = File(inode, found.mount, found.path, flags, fmode)
        f.private = self
        try:
            f.f_op.open(f)
        except SyscallError:
            inode.i_count -= 1
            raise
        if write:
            inode.i_writecount += 1
        if flags & O_TRUNC and write and inode.is_reg() and inode.i_size:
            try:
                self._truncate_inode(found.mount, inode, 0)
            except SyscallError:
                f.put()
                raise
        try:
            return self.files.install(f)
        except SyscallError:
            f.put()
            raise

    def close(self, fd: int) -> None:
        self._enter()
        f = self._fget(fd)
        del self.files.fds[fd]
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
        if old is not None:
            old.put()
        return newfd

    def read(self, fd: int, count: int) -> bytes:
        self._enter()
        f = self._fget(fd)
        data = self._read(f, count, f.f_pos)
        f.f_pos += len(data)
        return data

    def pread(self, fd: int, count: int, offset: int) -> bytes:
        self._enter()
        f = self._fget(fd)
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
            data = bytes(data[:self.rlimit_fsize - pos])
        return f.f_op.write(f, bytes(data), pos)

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        self._enter()
        f = self._fget(fd)
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
        """``ftruncate()``: EBADF, then EINVAL (not open for writing, negative)."""
        self._enter()
        f = self._fget(fd)
        if length < 0:
            raise SyscallError(Errno.EINVAL, "negative length")
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
        found = self.machine.ns.lookup(self._path(path), self.cwd)
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
        self._enter()
        parent, name = self.machine.ns.lookup_parent(self._path(path), self.cwd)
        assert parent.inode.children is not None
        inode = parent.inode.children.get(name)
        if inode is None:
            raise SyscallError(Errno.ENOENT, f"{path} does not exist")
        if inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{path} is a directory")
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot remove from {parent.path}")
        del parent.inode.children[name]
        inode.i_nlink -= 1
        if inode.i_nlink == 0 and inode.i_count == 0:
            inode.i_sb.evict_inode(inode)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._enter()
        parent, name = self.machine.ns.lookup_parent(self._path(path), self.cwd)
        assert parent.inode.children is not None
        if name in parent.inode.children:
            raise SyscallError(Errno.EEXIST, f"{path} exists")
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
        inode = parent.mount.sb.mkdir(parent.inode, name, mode & 0o7777)
        inode.i_uid, inode.i_gid = self.uid, self.gid

    def link(self, oldpath: str, newpath: str) -> None:
        self._enter()
        ns = self.machine.ns
        old = ns.lookup(self._path(oldpath), self.cwd, follow=False)
        parent, name = ns.lookup_parent(self._path(newpath), self.cwd)
        assert parent.inode.children is not None
        if name in parent.inode.children:
            raise SyscallError(Errno.EEXIST, f"{newpath} exists")
        if old.inode.is_dir():
            raise SyscallError(Errno.EPERM, "hard links to directories are not allowed")
        if parent.mount.sb is not old.mount.sb:
            raise SyscallError(Errno.EXDEV, "cross-device link")
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        parent.inode.children[name] = old.inode
        old.inode.i_nlink += 1

    def stat(self, path: str) -> Stat:
        self._enter()
        found = self.machine.ns.lookup(self._path(path), self.cwd)
        return self._stat_inode(found.inode)

    def fstat(self, fd: int) -> Stat:
        self._enter()
        return self._stat_inode(self._fget(fd).inode)

    @staticmethod
    def _stat_inode(inode: Any) -> Stat:
        dev = inode.i_sb.s_dev
        return Stat(st_dev=(dev[0] << 8) | dev[1], st_ino=inode.ino, st_mode=inode.i_mode,
                    st_nlink=inode.i_nlink, st_uid=inode.i_uid, st_gid=inode.i_gid,
                    st_rdev=(inode.i_rdev[0] << 8) | inode.i_rdev[1], st_size=inode.i_size)

    # -- process life cycle -------------------------------------------------------------
    def fork(self) -> Process:
        """``fork()`` cannot work without an MMU: EINVAL."""
        self._enter()
        raise SyscallError(Errno.EINVAL, "fork() is not supported without an MMU; use vfork()")

    def vfork(self) -> Process:
        """``vfork()``: the child shares this mm; this process waits for it."""
        return self.clone(CLONE_VM | CLONE_VFORK | SIGCHLD)

    def clone(self, flags: int) -> Process:
        """``clone()``: CLONE_VM shares the mm; without it the child gets an empty mm."""
        self._enter()
        m = self.machine
        if flags & CLONE_VM:
            mm = self._mm()
            mm.mm_users += 1
        else:
            mm = MM()
            mm.exe_file = self._mm().exe_file
            if mm.exe_file is not None:
                mm.exe_file.get()
        files = self.files if flags & CLONE_FILES else self.files.copy()
        if flags & CLONE_FILES:
            files.users += 1
        child = Process(m, m.new_pid(), self.name, parent=self, mm=mm, files=files)
        child.uid, child.gid, child.cwd = self.uid, self.gid, self.cwd
        child.argv, child.exe_path = self.argv, self.exe_path
        child.rlimit_fsize, child.rlimit_data = self.rlimit_fsize, self.rlimit_data
        m.procs[child.pid] = child
        if flags & CLONE_VFORK:
            self.vfork_child = child
            child.vfork_parent = self
            self.state = "D"
        return child

    def _release_vfork(self) -> None:
        parent = self.vfork_parent
        if parent is not None:
            parent.vfork_child = None
            parent.state = "R"
            self.vfork_parent = None

    def _mmput(self) -> None:
        """Drop this task's use of its mm; the last user tears it down."""
        mm = self.mm
        if mm is None:
            return
        self.mm = None
        mm.mm_users -= 1
        if mm.mm_users == 0:
            self.machine.nommu.exit_mmap(mm)
            exe = mm.exe_file
            if exe is not None:
                if exe.inode.i_writecount < 0:
                    exe.inode.i_writecount += 1
                mm.exe_file = None
                exe.put()

    def execve(self, path: str, argv: Sequence[str] = (), envp: Sequence[str] = ()) -> None:
        """Replace this process's program (loaders: bFLT, ELF-FDPIC)."""
        self._enter()
        loader = self.machine.hooks.get("execve")
        if loader is None:
            found = self.machine.ns.lookup(self._path(path), self.cwd)
            raise SyscallError(Errno.ENOEXEC, f"{found.path}: no binary format loader")
        loader(self, path, tuple(argv), tuple(envp))

    def exit(self, status: int = 0) -> None:
        """``_exit()``: release the mm and files, become a zombie, wake a vfork parent."""
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has already exited")
        if self.vfork_child is not None:
            raise ProcessStateError(f"process {self.pid} is suspended in vfork()")
        self.machine.nommu.current = self
        self._mmput()
        self.files.users -= 1
        if self.files.users == 0:
            self.files.close_all()
        self.files = FilesStruct()
        self._release_vfork()
        self.exit_code = status & 0xFF
        self.state = "Z"
        init = self.machine.procs.get(1)
        for child in self.children:
            child.parent = init if init is not None and init is not self else None
            if child.parent is not None:
                child.parent.children.append(child)
        self.children = []
        hook = self.machine.hooks.get("exit")
        if hook is not None:
            hook(self)
        if self.parent is None:
            self.machine.procs.pop(self.pid, None)
            self.state = "X"

    def wait(self) -> tuple[int, int]:
        """``wait()``: reap an exited child; returns ``(pid, wait status)``."""
        self._enter()
        if not self.children:
            raise SyscallError(Errno.ECHILD, "no children")
        for child in self.children:
            if child.state == "Z":
                self.children.remove(child)
                child.state = "X"
                self.machine.procs.pop(child.pid, None)
                return child.pid, (child.exit_code or 0) << 8
        raise ProcessStateError(f"process {self.pid} would block in wait(): no child "
                                f"has exited yet")

    # -- /proc --------------------------------------------------------------------------
    def render_status(self, reader: object | None) -> str:
        """``/proc/<pid>/status`` (fs/proc/array.c with the NOMMU ``task_mem``)."""
        ppid = self.parent.pid if self.parent is not None else 0
        state = {"R": "R (running)", "S": "S (sleeping)", "D": "D (disk sleep)",
                 "Z": "Z (zombie)", "X": "X (dead)"}[self.state]
        lines = [
            f"Name:\t{self.name}", "Umask:\t0022", f"State:\t{state}", f"Tgid:\t{self.tgid}",
            "Ngid:\t0", f"Pid:\t{self.pid}", f"PPid:\t{ppid}",
            f"TracerPid:\t{1 if self.ptraced else 0}",
            f"Uid:\t{self.uid}\t{self.uid}\t{self.uid}\t{self.uid}",
            f"Gid:\t{self.gid}\t{self.gid}\t{self.gid}\t{self.gid}",
            f"FDSize:\t{max(64, len(self.files.fds))}", "Groups:\t",
            f"NStgid:\t{self.tgid}", f"NSpid:\t{self.pid}", f"NSpgid:\t{self.pid}",
            f"NSsid:\t{self.pid}", "Kthread:\t0",
        ]
        text = "\n".join(lines) + "\n"
        if self.mm is not None:
            text += self.task_mem(reader) + "CoreDumping:\t0\nTHP_enabled:\t0\n"
        text += ("Threads:\t1\nSigQ:\t0/1024\nSigPnd:\t0000000000000000\n"
                 "ShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n"
                 "SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n"
                 "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n")
        return text

    def task_mem(self, reader: object | None) -> str:
        """The NOMMU ``task_mem``: Mem, Slack and Shared in bytes."""
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
        nbytes += K_FS
        if who.files.users > 1:
            sbytes += K_FILES
        else:
            nbytes += K_FILES
        nbytes += K_SIGHAND + K_TASK
        return f"Mem:\t{nbytes:8d} bytes\nSlack:\t{slack:8d} bytes\nShared:\t{sbytes:8d} bytes\n"

    def render_statm(self) -> str:
        """``/proc/<pid>/statm`` (NOMMU ``task_statm``; shared is always 0)."""
        mm = self.mm
        if mm is None:
            return "0 0 0 0 0 0 0\n"
        psize = self.machine.page_size
        pmask = psize - 1
        shift = self.machine.page_shift
        size = K_MM
        for vma in mm.vmas():
            size += K_VMA
            region = vma.vm_region
            if region is not None:
                size += K_REGION + (region.vm_end - region.vm_start)
        text = (((mm.end_code + pmask) & ~pmask) - (mm.start_code & ~pmask)) >> shift
        data = (((mm.start_stack + pmask) & ~pmask) - (mm.start_data & ~pmask)) >> shift
        total = (size >> shift) + text + data
        return f"{total} {total} 0 {text} 0 {data} 0\n"

    def render_cmdline(self) -> str:
        return "".join(a + "\0" for a in self.argv)

    def file_type_name(self, fd: int) -> str:
        f = self._fget(fd)
        return {0o100000: "regular", 0o040000: "directory", 0o020000: "character device"}.get(
            f.inode.i_mode & S_IFMT, "other")
