"""The three kinds of failure, kept apart.

1. A simulated system call fails: :class:`SyscallError`, an :class:`OSError`
   whose ``errno`` is the Linux (asm-generic) number. Raised exactly where the
   kernel returns ``-EXXX``.
2. The Python API is misused: ``ValueError``/``TypeError`` naming the argument.
3. The model is wrong: :class:`KernelBug` (an ``AssertionError``, never caught).

:class:`KernelOops` is the *simulated* kernel hitting ``BUG()``: the modelled
kernel failing, not the model. Its text is also written to the machine log.
"""

from __future__ import annotations

import enum
from typing import NoReturn


class Errno(enum.IntEnum):
    """Linux errno numbers (include/uapi/asm-generic/errno-base.h, errno.h)."""

    EPERM = 1
    ENOENT = 2
    ESRCH = 3
    EINTR = 4
    EIO = 5
    ENXIO = 6
    E2BIG = 7
    ENOEXEC = 8
    EBADF = 9
    ECHILD = 10
    EAGAIN = 11
    ENOMEM = 12
    EACCES = 13
    EFAULT = 14
    EBUSY = 16
    EEXIST = 17
    EXDEV = 18
    ENODEV = 19
    ENOTDIR = 20
    EISDIR = 21
    EINVAL = 22
    ENFILE = 23
    EMFILE = 24
    ENOTTY = 25
    ETXTBSY = 26
    EFBIG = 27
    ENOSPC = 28
    ESPIPE = 29
    EROFS = 30
    EMLINK = 31
    EPIPE = 32
    ERANGE = 34
    ENAMETOOLONG = 36
    ENOSYS = 38
    ENOTEMPTY = 39
    ELOOP = 40
    EIDRM = 43
    EOVERFLOW = 75
    ELIBBAD = 80
    EPROTONOSUPPORT = 93
    ESOCKTNOSUPPORT = 94
    EOPNOTSUPP = 95
    EAFNOSUPPORT = 97
    ENOTCONN = 107


#: glibc's strerror() wording, which is what strace prints.
STRERROR: dict[int, str] = {
    Errno.EPERM: "Operation not permitted",
    Errno.ENOENT: "No such file or directory",
    Errno.ESRCH: "No such process",
    Errno.EINTR: "Interrupted system call",
    Errno.EIO: "Input/output error",
    Errno.ENXIO: "No such device or address",
    Errno.E2BIG: "Argument list too long",
    Errno.ENOEXEC: "Exec format error",
    Errno.EBADF: "Bad file descriptor",
    Errno.ECHILD: "No child processes",
    Errno.EAGAIN: "Resource temporarily unavailable",
    Errno.ENOMEM: "Cannot allocate memory",
    Errno.EACCES: "Permission denied",
    Errno.EFAULT: "Bad address",
    Errno.EBUSY: "Device or resource busy",
    Errno.EEXIST: "File exists",
    Errno.EXDEV: "Invalid cross-device link",
    Errno.ENODEV: "No such device",
    Errno.ENOTDIR: "Not a directory",
    Errno.EISDIR: "Is a directory",
    Errno.EINVAL: "Invalid argument",
    Errno.ENFILE: "Too many open files in system",
    Errno.EMFILE: "Too many open files",
    Errno.ENOTTY: "Inappropriate ioctl for device",
    Errno.ETXTBSY: "Text file busy",
    Errno.EFBIG: "File too large",
    Errno.ENOSPC: "No space left on device",
    Errno.ESPIPE: "Illegal seek",
    Errno.EROFS: "Read-only file system",
    Errno.EMLINK: "Too many links",
    Errno.EPIPE: "Broken pipe",
    Errno.ERANGE: "Numerical result out of range",
    Errno.ENAMETOOLONG: "File name too long",
    Errno.ENOSYS: "Function not implemented",
    Errno.ENOTEMPTY: "Directory not empty",
    Errno.ELOOP: "Too many levels of symbolic links",
    Errno.EIDRM: "Identifier removed",
    Errno.EOVERFLOW: "Value too large for defined data type",
    Errno.ELIBBAD: "Accessing a corrupted shared library",
    Errno.EPROTONOSUPPORT: "Protocol not supported",
    Errno.ESOCKTNOSUPPORT: "Socket type not supported",
    Errno.EOPNOTSUPP: "Operation not supported",
    Errno.EAFNOSUPPORT: "Address family not supported by protocol",
    Errno.ENOTCONN: "Transport endpoint is not connected",
}


class NommuError(Exception):
    """Root of every error a caller may reasonably catch."""


class SyscallError(NommuError, OSError):
    """A simulated system call failed with a Linux errno.

    ``errno`` is an :class:`Errno` member, ``strerror`` glibc's text and
    ``detail`` a one-line explanation from the model (why it failed).
    """

    def __init__(self, err: Errno, detail: str = "") -> None:
        OSError.__init__(self, int(err), STRERROR.get(err, err.name))
        self.errno: Errno = err
        self.detail = detail

    def __str__(self) -> str:
        text = f"[{self.errno.name}] {self.strerror}"
        return f"{text}: {self.detail}" if self.detail else text

    def __reduce__(self) -> tuple[type[SyscallError], tuple[Errno, str]]:
        return (SyscallError, (self.errno, self.detail))


class KernelOops(NommuError):
    """The simulated kernel reached a ``BUG()``; the oops is in ``Machine.dmesg()``."""


class ConfigError(NommuError, ValueError):
    """A machine, scenario or trace is described wrongly (bad option or file)."""


class KernelBug(AssertionError):
    """An invariant of the model is broken. Never caught by the library."""


def fail(err: Errno, detail: str = "") -> NoReturn:
    """Raise ``SyscallError(err, detail)``: the model's ``return -EXXX``."""
    raise SyscallError(err, detail)
