"""Integer sysctl files under ``/proc/sys`` (kernel/sysctl.c ``proc_dointvec_minmax``).

What a ``read()`` or ``write()`` of such a file does, byte for byte:

- a read at position 0 gives the value and a newline, cut to the count asked
  for; a read at any other position gives nothing (``__do_proc_dointvec``
  returns 0 bytes when ``*ppos`` is set), so a value read one byte at a time
  stops after its first byte;
- a write at a non-zero position is ignored and reports every byte written
  (``proc_first_pos_non_zero_ignore`` with ``sysctl_writes_strict`` = 1, the
  default);
- otherwise leading white space is skipped, an optional ``-`` is taken, and the
  number is read in base 0 (``strtoul_lenient``: ``0x10`` is 16, ``010`` is 8);
  it must be followed by the end of the write or by a space, tab or newline;
  no digit, trailing text, more than 20 characters, a value above ``INT_MAX``
  (or below ``-INT_MAX - 1``) or outside the table's bounds is EINVAL and
  changes nothing; after the value, white space is consumed too and ``write()``
  returns the bytes consumed (``"1 2"`` sets 1 and returns 2).
"""

from __future__ import annotations

from collections.abc import Callable

from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import File, FileOperations

INT_MAX = (1 << 31) - 1
_TMPBUFLEN = 22
_SPACES = b" \t\n\v\f\r"  # isspace(), what proc_skip_spaces() skips
_SEPARATORS = b" \t\n"  # proc_wspace_sep


def _einval(why: str) -> SyscallError:
    return SyscallError(Errno.EINVAL, f"proc_dointvec: {why}")


def _parse_ulong(text: bytes) -> tuple[int, int]:
    """``strtoul_lenient(text, base 0)``: the value and the bytes it used."""
    base, i = 10, 0
    if text[:1] == b"0":
        if text[1:2] in (b"x", b"X") and text[2:3] and text[2:3] in b"0123456789abcdefABCDEF":
            base, i = 16, 2
        else:
            base = 8
    digits = "0123456789abcdef"[:base]
    value = 0
    while i < len(text) and chr(text[i]).lower() in digits:
        value = value * base + int(chr(text[i]), 16)
        i += 1
    if value >= 1 << 64:
        raise _einval("number too large")
    return value, i


def dointvec_write(data: bytes, lo: int | None, hi: int | None) -> tuple[int, int]:
    """Parse one write at position 0: ``(value, bytes consumed)``; EINVAL as the kernel."""
    left = min(len(data), 4096 - 1)
    buf = data[:left]
    p = 0
    while p < left and buf[p] in _SPACES:
        p += 1
    if p == left:
        raise _einval("no number")
    tmp = buf[p : p + _TMPBUFLEN - 1]
    neg = tmp[:1] == b"-" and left - p > 1
    q = 1 if neg else 0
    if not tmp[q : q + 1].isdigit():
        raise _einval("not a number")
    lval, used = _parse_ulong(tmp[q:])
    length = q + used
    if length == _TMPBUFLEN - 1:
        raise _einval("number too long")
    if length < left - p and tmp[length : length + 1] not in (b" ", b"\t", b"\n"):
        raise _einval("trailing characters")
    if neg:
        if lval > INT_MAX + 1:
            raise _einval("out of range")
        value = -lval
    elif lval > INT_MAX:
        raise _einval("out of range")
    else:
        value = lval
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _einval("outside the sysctl's bounds")
    p += length
    while p < left and buf[p] in _SPACES:
        p += 1
    return value, len(data) - (left - p)


class SysctlIntOperations(FileOperations):
    """``proc_sys_call_handler`` with ``proc_dointvec_minmax`` for one ``int``."""

    def __init__(
        self,
        get: Callable[[], int],
        set_: Callable[[int], None],
        *,
        lo: int | None = None,
        hi: int | None = None,
    ) -> None:
        self.get = get
        self.set = set_
        self.lo = lo
        self.hi = hi

    def read(self, file: File, count: int, pos: int) -> bytes:
        if pos or count <= 0:
            return b""
        return f"{self.get()}\n".encode()[:count]

    def write(self, file: File, data: bytes, pos: int) -> int:
        if not data:
            return 0
        if pos:
            return len(data)  # sysctl_writes_strict: ignored
        value, consumed = dointvec_write(data, self.lo, self.hi)
        self.set(value)
        return consumed
