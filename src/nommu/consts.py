"""Linux constants (asm-generic values) and small arithmetic helpers.

Flag names are spelled as the C macros so code, traces and /proc output can be
grepped against the kernel. ``page_align`` and ``get_order`` follow the
kernel's unsigned-long arithmetic for a given word size.
"""

from __future__ import annotations

import re

PAGE_SIZE = 4096
PAGE_SHIFT = 12

# mmap prot (include/uapi/asm-generic/mman-common.h)
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

# mmap flags
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_ANON = MAP_ANONYMOUS
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MAP_UNINITIALIZED = 0x4000000

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

# vm_flags (include/linux/mm.h)
VM_NONE = 0x0
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_GROWSDOWN = 0x100
VM_MAYOVERLAY = 0x200
VM_PFNMAP = 0x400
VM_LOCKED = 0x2000
VM_IO = 0x4000
VM_MAPPED_COPY = 0x01000000

# nommu mapping capabilities (include/linux/fs.h)
NOMMU_MAP_COPY = 0x1
NOMMU_MAP_DIRECT = 0x8
NOMMU_MAP_READ = VM_MAYREAD
NOMMU_MAP_WRITE = VM_MAYWRITE
NOMMU_MAP_EXEC = VM_MAYEXEC
NOMMU_VMFLAGS = NOMMU_MAP_READ | NOMMU_MAP_WRITE | NOMMU_MAP_EXEC

# open flags (asm-generic/fcntl.h)
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_DIRECTORY = 0o40000
O_NOFOLLOW = 0o100000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000

SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2

# file types (include/uapi/linux/stat.h)
S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000

# System V IPC (include/uapi/linux/ipc.h, shm.h)
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000
IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
IPC_INFO = 3
SHM_RDONLY = 0o10000
SHM_RND = 0o20000
SHM_REMAP = 0o40000
SHM_EXEC = 0o100000
SHM_DEST = 0o1000
SHM_LOCKED = 0o2000
SHM_STAT = 13
SHM_INFO = 14

# clone (include/uapi/linux/sched.h)
CSIGNAL = 0x000000FF
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_DETACHED = 0x00400000
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
SIGCHLD = 17
SIGKILL = 9
SIGSEGV = 11

# madvise/msync (only for argument decoding; the calls are ENOSYS without an MMU)
MS_ASYNC = 1
MS_INVALIDATE = 2
MS_SYNC = 4
MCL_CURRENT = 1
MCL_FUTURE = 2

_SIZE_RE = re.compile(
    r"^\s*(0x[0-9a-f_]+|0o[0-7_]+|[0-9][0-9_]*)\s*"
    r"(k|m|g|t|kib|mib|gib|tib|kb|mb|gb|tb|b)?\s*$",
    re.IGNORECASE,
)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size_from_text(text: str) -> int | None:
    """Bytes of ``"8M"``, ``"512KiB"``, ``"0x8000"``, ``"4_096"``, ``"0600"``; None if unreadable.

    The one size syntax of the Python API, the command line and scenario
    files: decimal (leading zeros allowed), ``0x`` or ``0o`` digits, then a
    unit in powers of 1024 (``K``, ``KiB``, ``kb``, any case).
    """
    m = _SIZE_RE.match(text)
    if m is None:
        return None
    digits = m.group(1).replace("_", "").lower()
    base = 16 if digits.startswith("0x") else 8 if digits.startswith("0o") else 10
    try:
        n = int(digits, base)
    except ValueError:  # "0x" or "0o" without digits
        return None
    return n * _SIZE_UNITS[(m.group(2) or "")[:1].lower()]


def parse_size(value: int | str, name: str = "size") -> int:
    """Turn ``8M``, ``512K``, ``0x1000`` or an int into bytes; ValueError names *name*."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an int or a size string, got bool")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name}: size must not be negative, got {value}")
        return value
    if isinstance(value, str):
        n = size_from_text(value)
        if n is None:
            raise ValueError(f"{name}: cannot read size {value!r} (use bytes or K/M/G suffix)")
        return n
    raise TypeError(f"{name}: expected an int or a size string, got {type(value).__name__}")


def page_align(n: int, page_size: int = PAGE_SIZE, bits: int = 32) -> int:
    """PAGE_ALIGN(n) in unsigned long arithmetic (wraps to 0 on overflow)."""
    return ((n + page_size - 1) & ~(page_size - 1)) & ((1 << bits) - 1)


def get_order(nbytes: int, page_shift: int = PAGE_SHIFT) -> int:
    """get_order(): the smallest order whose block of pages holds *nbytes* (>= 1)."""
    pages = (nbytes + (1 << page_shift) - 1) >> page_shift
    return max(pages - 1, 0).bit_length()


def format_size(n: int) -> str:
    """Bytes as a short human string (exact where possible): 4096 -> '4K'."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)
