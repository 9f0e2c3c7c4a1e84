"""System V shared memory without an MMU (models ipc/shm.c, ipc/util.c and tiny shmem).

A segment's memory is allocated when it is *created*: ``shmget`` makes an
unlinked inode in the kernel's internal tmpfs (ramfs without an MMU,
``shm_mnt``) and truncates it up from zero, which takes one physically
contiguous, zeroed run of ``ceil(size / PAGE_SIZE)`` pages
(``ramfs_nommu_expand_for_mapping``: EFBIG above ``MAX_PAGE_ORDER``,
ENOMEM when no block is free). Those pages are page cache: ``Cached`` in
``/proc/meminfo``, never ``MmapCopy``. They are freed when the segment is
destroyed: at ``IPC_RMID`` if nothing is attached, else at the last detach.

Attaching has two behaviours, chosen by ``Machine(sysv_shm=...)``:

* ``"code"`` (default) — what the kernel code does since v4.0 (ipc/shm.c ``do_shmat()``,
  hazard H3): the attach file (``alloc_file_clone`` with
  ``shm_file_operations``) has no ``mmap_capabilities`` and no ``read``, so
  ``validate_mmap_request`` finds no capability and ``shmat`` fails with
  **ENODEV**; ``shm_nattch`` stays 0.
* ``"documented"`` — the documented (pre-v4.0) behaviour: the capabilities
  are the ramfs backing's, every attach of a segment in any process returns
  the same address (the segment's pages, mapped directly and sharing one
  region), ``shm_nattch`` counts attaches and ``shm_mmap`` is called for
  each one.

Only a NULL ``shmaddr`` can work: a non-NULL address passes the rounding
checks and then fails with EINVAL (``MAP_FIXED`` without an MMU). ``shmdt``
needs the exact start of an attachment (NOMMU branch of ``ksys_shmdt``).

Limits are the kernel's defaults (``SHMMIN`` 1, ``SHMMAX`` and ``SHMALL``
``ULONG_MAX - 2**24``, ``SHMMNI`` 4096); ids are ``seq << 15 | index`` with the
index handed out cyclically (``ipc_idr_alloc``). Not modelled: ``IPC_SET``,
``SHM_LOCK``, ``IPC_INFO``/``SHM_INFO``/``SHM_STAT``, time stamps, IPC
namespaces, ``shm_rmid_forced``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nommu.consts import (
    IPC_CREAT,
    IPC_EXCL,
    IPC_PRIVATE,
    IPC_RMID,
    IPC_STAT,
    MAP_FIXED,
    MAP_SHARED,
    O_RDONLY,
    O_RDWR,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    S_IFREG,
    SHM_DEST,
    SHM_EXEC,
    SHM_RDONLY,
    SHM_REMAP,
    SHM_RND,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.ramfs import RamfsSuperBlock
from nommu.fs.vfs import (
    FMODE_CAN_READ,
    FMODE_CAN_WRITE,
    FMODE_READ,
    FMODE_WRITE,
    File,
    FileOperations,
    Inode,
)
from nommu.mm.region import is_nommu_shared_mapping

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.vma import VMA
    from nommu.process import Process

__all__ = [
    "SHMALL_SLACK",
    "SHMMIN",
    "SHMMNI",
    "ShmNamespace",
    "ShmSegment",
    "ShmidDs",
    "do_shmat",
    "shm_namespace",
    "sys_shmctl",
    "sys_shmdt",
    "sys_shmget",
]

SHMMIN = 1
SHMMNI = 4096
#: SHMMAX = SHMALL = ULONG_MAX - SHMALL_SLACK (include/uapi/linux/shm.h).
SHMALL_SLACK = 1 << 24
#: ipc ids are ``seq << IPCMNI_SHIFT | index``.
IPCMNI_SHIFT = 15
IPC_MIN_CYCLE = 64
SYSV_SHM_MODES = ("code", "documented")


@dataclass(frozen=True, slots=True)
class ShmidDs:
    """``struct shmid_ds`` as IPC_STAT returns it (the fields modelled)."""

    shm_segsz: int
    shm_nattch: int
    shm_cpid: int
    shm_lpid: int
    shm_perm_mode: int
    shm_perm_key: int
    shm_perm_uid: int = 0
    shm_perm_cuid: int = 0


class ShmSegment:
    """``struct shmid_kernel``: one segment and its backing file."""

    def __init__(
        self, key: int, size: int, mode: int, creator: Process, file: File, pages: int
    ) -> None:
        self.id = -1
        self.seq = 0
        self.key = key
        self.segsz = size
        self.mode = mode
        self.uid = self.cuid = creator.uid
        self.gid = self.cgid = creator.gid
        self.cpid = creator.pid
        self.lpid = 0
        self.nattch = 0
        self.file = file
        self.pages = pages
        self.deleted = False

    def __repr__(self) -> str:
        return f"<ShmSegment id={self.id} key={self.key:#x} size={self.segsz} nattch={self.nattch}>"


class ShmNamespace:
    """The machine's System V shm state (``ipc_namespace`` shm part and ``shm_mnt``)."""

    def __init__(self, machine: Machine) -> None:
        mode = machine.options.get("sysv_shm", "code")
        if mode not in SYSV_SHM_MODES:
            raise ValueError(f"sysv_shm: must be one of {SYSV_SHM_MODES}, got {mode!r}")
        self.machine = machine
        self.documented = mode == "documented"
        ulong = machine.nommu.ulong_mask
        self.shm_ctlmax = ulong - SHMALL_SLACK
        self.shm_ctlall = ulong - SHMALL_SLACK
        self.shm_ctlmni = SHMMNI
        self.shm_tot = 0
        self.segments: dict[int, ShmSegment] = {}  # by index
        self.seq = 0
        self.last_idx = -1
        self.next_idx = 0
        # shm_mnt: the kernel-internal tmpfs (= ramfs) holding every segment's inode
        self.sb = RamfsSuperBlock(machine.nommu, machine.anon_dev(), "tmpfs")
        machine.hooks.setdefault("extra_ramfs", []).append(self.sb)

    # -- ids ---------------------------------------------------------------------------
    def _addid(self, seg: ShmSegment) -> None:
        """``ipc_addid`` / ``ipc_idr_alloc``: a cyclic index and a sequence number."""
        in_use = len(self.segments)
        if in_use >= self.shm_ctlmni:
            raise SyscallError(Errno.ENOSPC, f"{in_use} segments exist (SHMMNI)")
        max_idx = min(max(in_use * 3 // 2, IPC_MIN_CYCLE), self.shm_ctlmni)
        idx = next((i for i in range(self.next_idx, max_idx) if i not in self.segments), None)
        if idx is None:
            idx = next((i for i in range(0, max_idx) if i not in self.segments), None)
        if idx is None:
            raise SyscallError(Errno.ENOSPC, "no free segment index")
        self.next_idx = idx + 1
        if idx <= self.last_idx:
            self.seq = (self.seq + 1) % ((1 << 31) - 1 >> IPCMNI_SHIFT)
        self.last_idx = idx
        seg.seq = self.seq
        seg.id = (self.seq << IPCMNI_SHIFT) + idx
        self.segments[idx] = seg

    def obtain(self, shmid: int) -> ShmSegment:
        """``shm_obtain_object_check``: EINVAL for an unknown or stale id."""
        seg = self.segments.get(shmid & ((1 << IPCMNI_SHIFT) - 1))
        if seg is None or seg.id != shmid:
            raise SyscallError(Errno.EINVAL, f"no shared memory segment with id {shmid}")
        return seg

    def find_key(self, key: int) -> ShmSegment | None:
        for idx in sorted(self.segments):
            seg = self.segments[idx]
            if seg.key == key and not seg.mode & SHM_DEST:
                return seg
        return None

    # -- life ----------------------------------------------------------------------------
    def newseg(self, process: Process, key: int, size: int, shmflg: int) -> ShmSegment:
        """``newseg``: checks, the contiguous allocation, then an id."""
        shift = self.machine.page_shift
        ulong = self.machine.nommu.ulong_mask
        numpages = ((size + self.machine.page_size - 1) & ulong) >> shift
        if size < SHMMIN or size > self.shm_ctlmax:
            raise SyscallError(
                Errno.EINVAL, f"size {size} outside SHMMIN..SHMMAX ({SHMMIN}..{self.shm_ctlmax})"
            )
        if (numpages << shift) & ulong < size:
            raise SyscallError(Errno.ENOSPC, "page count overflows")
        if (
            self.shm_tot + numpages
        ) & ulong < self.shm_tot or self.shm_tot + numpages > self.shm_ctlall:
            raise SyscallError(Errno.ENOSPC, f"SHMALL ({self.shm_ctlall} pages) reached")
        file = self._shmem_file_setup(f"SYSV{key & 0xFFFFFFFF:08x}", size)
        seg = ShmSegment(key, size, shmflg & 0o777, process, file, numpages)
        try:
            self._addid(seg)
        except SyscallError:
            file.put()
            raise
        self.shm_tot += numpages
        return seg

    def _shmem_file_setup(self, name: str, size: int) -> File:
        """Tiny ``__shmem_file_setup``: unlinked ramfs inode, expanded at once."""
        sb = self.sb
        inode = Inode(sb, S_IFREG | 0o777, sb.fops)
        inode.i_nlink = 0  # clear_nlink: never in a directory
        sb.inodes[inode] = None
        file = File(inode, None, "/" + name, O_RDWR, FMODE_READ | FMODE_WRITE)
        try:
            sb.expand_for_mapping(inode, size)
        except SyscallError:
            file.put()
            raise
        return file

    def destroy(self, seg: ShmSegment) -> None:
        """``shm_destroy``: forget the id, release the file (its pages go with it)."""
        self.shm_tot -= seg.pages
        self.segments.pop(seg.id & ((1 << IPCMNI_SHIFT) - 1), None)
        seg.deleted = True
        seg.file.put()

    def may_destroy(self, seg: ShmSegment) -> bool:
        return seg.nattch == 0 and bool(seg.mode & SHM_DEST)


def shm_namespace(machine: Machine) -> ShmNamespace:
    """The machine's SysV shm state, created on first use."""
    return machine.subsystem("ipc_shm", ShmNamespace, lambda: ShmNamespace(machine))


def _ipcperms(process: Process, seg: ShmSegment, flag: int) -> bool:
    """``ipcperms``: the permission bits asked for in *flag*; root passes (CAP_IPC_OWNER)."""
    requested = (flag >> 6) | (flag >> 3) | flag
    granted = seg.mode
    if process.uid in (seg.cuid, seg.uid):
        granted >>= 6
    elif process.gid in (seg.cgid, seg.gid):
        granted >>= 3
    return not (requested & ~granted & 0o7) or process.uid == 0


def _int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    return value


def _c_int(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def sys_shmget(process: Process, key: int, size: int, shmflg: int) -> int:
    """``shmget()`` (``ipcget``: ``newseg`` or ``shm_more_checks`` + ``ipcperms``).

    Raises, in the kernel's order: for a new segment EINVAL (size below
    SHMMIN or above SHMMAX), ENOSPC (SHMALL, SHMMNI), EFBIG (more than
    ``2**MAX_PAGE_ORDER`` pages), ENOMEM (no free block that large); for a
    key without a segment and no IPC_CREAT ENOENT; for an existing one
    EEXIST (IPC_CREAT|IPC_EXCL), EINVAL (asking for more than its size),
    EACCES.
    """
    key = _c_int(_int("key", key))
    size = _int("size", size) & process.machine.nommu.ulong_mask
    shmflg = _int("shmflg", shmflg)
    ns = shm_namespace(process.machine)
    if key == IPC_PRIVATE:
        return ns.newseg(process, key, size, shmflg).id
    seg = ns.find_key(key)
    if seg is None:
        if not shmflg & IPC_CREAT:
            raise SyscallError(Errno.ENOENT, f"no segment with key {key:#x}")
        return ns.newseg(process, key, size, shmflg).id
    if shmflg & IPC_CREAT and shmflg & IPC_EXCL:
        raise SyscallError(Errno.EEXIST, f"a segment with key {key:#x} exists")
    if seg.segsz < size:
        raise SyscallError(Errno.EINVAL, f"the segment holds {seg.segsz} bytes, not {size}")
    if not _ipcperms(process, seg, shmflg):
        raise SyscallError(Errno.EACCES, f"no permission for segment {seg.id}")
    return seg.id


@dataclass(slots=True)
class ShmAttach:
    """``struct shm_file_data`` of one attach (``vma->vm_ops == &shm_vm_ops``)."""

    seg: ShmSegment


class ShmFileOperations(FileOperations):
    """``shm_file_operations``: forwards to the segment's ramfs file.

    No ``read``/``write``. ``mmap_capabilities`` exists only in the
    documented mode (there the backing's capabilities applied, pre-v4.0).
    """

    has_mmap = True
    has_get_unmapped_area = True
    has_read = False
    has_write = False

    def __init__(self, ns: ShmNamespace, seg: ShmSegment) -> None:
        self.ns = ns
        self.seg = seg
        self.has_mmap_capabilities = ns.documented

    def mmap_capabilities(self, file: File) -> int:
        base = self.seg.file
        return base.f_op.mmap_capabilities(base)

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``shm_get_unmapped_area`` → the ramfs file's: the segment's page address."""
        base = self.seg.file
        return base.f_op.get_unmapped_area(base, addr, length, pgoff, flags)

    def mmap(self, file: File, vma: VMA) -> None:
        """``shm_mmap``: the backing's ``->mmap``, then ``shm_open`` (``shm_nattch++``)."""
        base = self.seg.file
        base.f_op.mmap(base, vma)
        seg = self.seg
        current = self.ns.machine.nommu.current
        seg.nattch += 1
        seg.lpid = current.pid
        vma.vm_private = ShmAttach(seg)
        vma.vm_close = self._shm_close

    def _shm_close(self, vma: VMA) -> None:
        """``shm_close``: one attach fewer; destroy a removed, unattached segment."""
        seg = self.seg
        seg.nattch -= 1
        seg.lpid = self.ns.machine.nommu.current.pid
        if self.ns.may_destroy(seg) and not seg.deleted:
            self.ns.destroy(seg)


def do_shmat(process: Process, shmid: int, shmaddr: int = 0, shmflg: int = 0) -> int:
    """``do_shmat``: attach a segment; returns the address.

    Raises, in the kernel's order: EINVAL (negative id; misaligned address
    without SHM_RND; SHM_RND rounding to 0 with SHM_REMAP; SHM_REMAP with a
    NULL address), EINVAL (unknown id), EACCES, EINVAL (a non-NULL range
    that wraps or is in use), then the mapping's error: EINVAL for any
    non-NULL address (MAP_FIXED), ENODEV for every attach in the default
    ``sysv_shm="code"`` mode.
    """
    machine = process.machine
    nommu = machine.nommu
    shmid = _c_int(_int("shmid", shmid))
    addr = _int("shmaddr", shmaddr) & nommu.ulong_mask
    shmflg = _int("shmflg", shmflg)
    shmlba = machine.page_size
    flags = MAP_SHARED
    if shmid < 0:
        raise SyscallError(Errno.EINVAL, "negative segment id")
    if addr:
        if addr & (shmlba - 1):
            if shmflg & SHM_RND:
                addr &= ~(shmlba - 1)
                if not addr and shmflg & SHM_REMAP:
                    raise SyscallError(Errno.EINVAL, "SHM_RND rounds the address to 0")
            else:
                raise SyscallError(Errno.EINVAL, f"address {addr:#x} is not SHMLBA-aligned")
        flags |= MAP_FIXED
    elif shmflg & SHM_REMAP:
        raise SyscallError(Errno.EINVAL, "SHM_REMAP needs an address")
    if shmflg & SHM_RDONLY:
        prot, acc_mode, f_flags, fmode = PROT_READ, 0o444, O_RDONLY, FMODE_READ
    else:
        prot, acc_mode = PROT_READ | PROT_WRITE, 0o666
        f_flags, fmode = O_RDWR, FMODE_READ | FMODE_WRITE
    if shmflg & SHM_EXEC:
        prot |= PROT_EXEC
        acc_mode |= 0o111
    ns = shm_namespace(machine)
    seg = ns.obtain(shmid)
    if not _ipcperms(process, seg, acc_mode):
        raise SyscallError(Errno.EACCES, f"no permission to attach segment {shmid}")
    base = seg.file
    seg.nattch += 1  # held while the attach is in progress
    size = base.inode.i_size
    # alloc_file_clone: same inode, shm_file_operations, no read -> no FMODE_CAN_READ
    clone = File(base.inode, None, base.path, f_flags, fmode)
    clone.f_op = ShmFileOperations(ns, seg)
    clone.f_mode &= ~(FMODE_CAN_READ | FMODE_CAN_WRITE)
    try:
        mm = process._mm()
        if addr and not shmflg & SHM_REMAP:
            if (addr + size) & nommu.ulong_mask < addr:
                raise SyscallError(Errno.EINVAL, "the segment would wrap around")
            if mm.mt.first_intersecting(addr, addr + size) is not None:
                raise SyscallError(Errno.EINVAL, "the address range is in use")
        result = nommu.do_mmap(mm, process, clone, addr, size, prot, flags, 0)
    finally:
        clone.put()
        seg.nattch -= 1
        if ns.may_destroy(seg) and not seg.deleted:
            ns.destroy(seg)
    return result


def sys_shmdt(process: Process, shmaddr: int) -> None:
    """``shmdt()``, NOMMU branch: the VMA must start exactly at *shmaddr* (else EINVAL)."""
    nommu = process.machine.nommu
    addr = _int("shmaddr", shmaddr) & nommu.ulong_mask
    if addr & nommu.page_mask:
        raise SyscallError(Errno.EINVAL, f"address {addr:#x} is not page aligned")
    mm = process._mm()
    vma = mm.find_vma(addr)
    if vma is None or vma.vm_start != addr or not isinstance(vma.vm_private, ShmAttach):
        raise SyscallError(Errno.EINVAL, f"no shared memory attachment starts at {addr:#x}")
    nommu.do_munmap(mm, process, vma.vm_start, vma.vm_end - vma.vm_start)


def sys_shmctl(process: Process, shmid: int, cmd: int) -> ShmidDs | None:
    """``shmctl()`` with IPC_STAT or IPC_RMID.

    IPC_STAT: EINVAL (unknown id), EACCES (no read permission). IPC_RMID:
    EINVAL, EPERM (neither owner, creator nor root); the segment is
    destroyed now if nothing is attached, else marked ``SHM_DEST`` (its key
    becomes IPC_PRIVATE) and destroyed at the last detach. Other commands:
    EINVAL.
    """
    shmid = _c_int(_int("shmid", shmid))
    cmd = _int("cmd", cmd)
    if cmd < 0 or shmid < 0:
        raise SyscallError(Errno.EINVAL, "negative id or command")
    ns = shm_namespace(process.machine)
    if cmd == IPC_STAT:
        seg = ns.obtain(shmid)
        if not _ipcperms(process, seg, 0o444):
            raise SyscallError(Errno.EACCES, f"no permission to read segment {shmid}")
        return ShmidDs(
            shm_segsz=seg.segsz,
            shm_nattch=seg.nattch,
            shm_cpid=seg.cpid,
            shm_lpid=seg.lpid,
            shm_perm_mode=seg.mode,
            shm_perm_key=seg.key,
            shm_perm_uid=seg.uid,
            shm_perm_cuid=seg.cuid,
        )
    if cmd == IPC_RMID:
        seg = ns.obtain(shmid)
        if process.uid not in (seg.uid, seg.cuid, 0):
            raise SyscallError(Errno.EPERM, f"not the owner of segment {shmid}")
        if seg.nattch:
            seg.mode |= SHM_DEST
            seg.key = IPC_PRIVATE
        else:
            ns.destroy(seg)
        return None
    raise SyscallError(Errno.EINVAL, f"shmctl command {cmd} is not modelled")


def segment_of(vma: VMA) -> ShmSegment | None:
    """The segment a VMA attaches, or None (for reports)."""
    data = vma.vm_private
    if isinstance(data, ShmAttach) and is_nommu_shared_mapping(vma.vm_flags):
        return data.seg
    return None
