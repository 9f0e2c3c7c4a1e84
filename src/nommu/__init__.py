"""nommu: an executable model of Linux no-MMU memory management.

>>> import nommu
>>> m = nommu.Machine(ram="8M")
>>> p = m.spawn()
>>> hex(p.mmap(0, 4096, nommu.PROT_READ | nommu.PROT_WRITE,
...            nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS))
'0x80100000'
"""

from nommu.consts import (
    CLONE_FILES as CLONE_FILES,
)
from nommu.consts import (
    CLONE_THREAD as CLONE_THREAD,
)
from nommu.consts import (
    CLONE_VFORK as CLONE_VFORK,
)
from nommu.consts import (
    CLONE_VM as CLONE_VM,
)
from nommu.consts import (
    IPC_CREAT as IPC_CREAT,
)
from nommu.consts import (
    IPC_EXCL as IPC_EXCL,
)
from nommu.consts import (
    IPC_PRIVATE as IPC_PRIVATE,
)
from nommu.consts import (
    IPC_RMID as IPC_RMID,
)
from nommu.consts import (
    IPC_STAT as IPC_STAT,
)
from nommu.consts import (
    MAP_ANONYMOUS as MAP_ANONYMOUS,
)
from nommu.consts import (
    MAP_FIXED as MAP_FIXED,
)
from nommu.consts import (
    MAP_FIXED_NOREPLACE as MAP_FIXED_NOREPLACE,
)
from nommu.consts import (
    MAP_GROWSDOWN as MAP_GROWSDOWN,
)
from nommu.consts import (
    MAP_LOCKED as MAP_LOCKED,
)
from nommu.consts import (
    MAP_POPULATE as MAP_POPULATE,
)
from nommu.consts import (
    MAP_PRIVATE as MAP_PRIVATE,
)
from nommu.consts import (
    MAP_SHARED as MAP_SHARED,
)
from nommu.consts import (
    MAP_SHARED_VALIDATE as MAP_SHARED_VALIDATE,
)
from nommu.consts import (
    MAP_STACK as MAP_STACK,
)
from nommu.consts import (
    MAP_UNINITIALIZED as MAP_UNINITIALIZED,
)
from nommu.consts import (
    MREMAP_DONTUNMAP as MREMAP_DONTUNMAP,
)
from nommu.consts import (
    MREMAP_FIXED as MREMAP_FIXED,
)
from nommu.consts import (
    MREMAP_MAYMOVE as MREMAP_MAYMOVE,
)
from nommu.consts import (
    O_APPEND as O_APPEND,
)
from nommu.consts import (
    O_CREAT as O_CREAT,
)
from nommu.consts import (
    O_EXCL as O_EXCL,
)
from nommu.consts import (
    O_RDONLY as O_RDONLY,
)
from nommu.consts import (
    O_RDWR as O_RDWR,
)
from nommu.consts import (
    O_TRUNC as O_TRUNC,
)
from nommu.consts import (
    O_WRONLY as O_WRONLY,
)
from nommu.consts import (
    PAGE_SIZE as PAGE_SIZE,
)
from nommu.consts import (
    PROT_EXEC as PROT_EXEC,
)
from nommu.consts import (
    PROT_NONE as PROT_NONE,
)
from nommu.consts import (
    PROT_READ as PROT_READ,
)
from nommu.consts import (
    PROT_WRITE as PROT_WRITE,
)
from nommu.consts import (
    SEEK_CUR as SEEK_CUR,
)
from nommu.consts import (
    SEEK_END as SEEK_END,
)
from nommu.consts import (
    SEEK_SET as SEEK_SET,
)
from nommu.consts import (
    SHM_RDONLY as SHM_RDONLY,
)
from nommu.consts import (
    SHM_RND as SHM_RND,
)
from nommu.consts import (
    SIGCHLD as SIGCHLD,
)
from nommu.errors import Errno as Errno
from nommu.errors import KernelBug as KernelBug
from nommu.errors import KernelOops as KernelOops
from nommu.errors import NommuError as NommuError
from nommu.errors import SyscallError as SyscallError
from nommu.machine import Machine as Machine
from nommu.mm.oom_kill import KernelPanic as KernelPanic
from nommu.mm.oom_kill import MemoryLivelock as MemoryLivelock
from nommu.mm.oom_kill import ProcessKilled as ProcessKilled
from nommu.process import Process as Process
from nommu.process import ProcessStateError as ProcessStateError

__version__ = "0.1.0"

__all__ = [
    "CLONE_FILES",
    "CLONE_THREAD",
    "CLONE_VFORK",
    "CLONE_VM",
    "IPC_CREAT",
    "IPC_EXCL",
    "IPC_PRIVATE",
    "IPC_RMID",
    "IPC_STAT",
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_FIXED_NOREPLACE",
    "MAP_GROWSDOWN",
    "MAP_LOCKED",
    "MAP_POPULATE",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "MAP_SHARED_VALIDATE",
    "MAP_STACK",
    "MAP_UNINITIALIZED",
    "MREMAP_DONTUNMAP",
    "MREMAP_FIXED",
    "MREMAP_MAYMOVE",
    "O_APPEND",
    "O_CREAT",
    "O_EXCL",
    "O_RDONLY",
    "O_RDWR",
    "O_TRUNC",
    "O_WRONLY",
    "PAGE_SIZE",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "SEEK_CUR",
    "SEEK_END",
    "SEEK_SET",
    "SHM_RDONLY",
    "SHM_RND",
    "SIGCHLD",
    "Errno",
    "KernelBug",
    "KernelOops",
    "KernelPanic",
    "Machine",
    "MemoryLivelock",
    "NommuError",
    "Process",
    "ProcessKilled",
    "ProcessStateError",
    "SyscallError",
]
