"""The bFLT ("binary flat") executable format of uClinux: header, checks, gzip, a writer.

Modelled on ``include/uapi/linux/flat.h`` / ``include/linux/flat.h`` (``struct
flat_hdr``, the ``FLAT_FLAG_*`` bits, ``OLD_FLAT_VERSION``) and on
``load_flat_file`` and ``decompress_exec`` in ``fs/binfmt_flat.c``. bFLT is the
format of most no-MMU userlands (elf2flt output): the header gives the text,
data, bss and stack sizes from which the loader sizes its one or two
anonymous mappings, so a model of no-MMU memory needs these figures exactly.

The header is 64 bytes of big-endian 32-bit words. ``data_start`` is also the
text length *including* the header; relocations (``reloc_count`` words) follow
the data in the file. :func:`parse_flat_header` applies the kernel's checks in
the kernel's order and raises ``SyscallError(ENOEXEC)`` (``ENOMEM`` for the
``RLIMIT_DATA`` check) with a one-line reason.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, replace

from nommu.errors import Errno, SyscallError

__all__ = [
    "FLAT_DATA_ALIGN",
    "FLAT_FLAG_GOTPIC",
    "FLAT_FLAG_GZDATA",
    "FLAT_FLAG_GZIP",
    "FLAT_FLAG_KTRACE",
    "FLAT_FLAG_RAM",
    "FLAT_HDR_SIZE",
    "FLAT_MAGIC",
    "FLAT_VERSION",
    "OLD_FLAT_VERSION",
    "FlatHeader",
    "build_flat",
    "decompress_flat",
    "flat_relocations",
    "parse_flat_header",
]

FLAT_MAGIC = b"bFLT"
FLAT_VERSION = 4
OLD_FLAT_VERSION = 2
FLAT_HDR_SIZE = 64

FLAT_FLAG_RAM = 0x0001
"""Load the program entirely into RAM (one RWX anonymous mapping)."""
FLAT_FLAG_GOTPIC = 0x0002
"""Position-independent with a GOT at the start of the data (ends with -1)."""
FLAT_FLAG_GZIP = 0x0004
"""Everything after the header is gzip-compressed."""
FLAT_FLAG_GZDATA = 0x0008
"""Only data and relocations are compressed (text stays in place for XIP)."""
FLAT_FLAG_KTRACE = 0x0010
"""Ask the kernel to log the load."""

#: Alignment of the data segment in memory (``FLAT_DATA_ALIGN``).
FLAT_DATA_ALIGN = 0x20

_HDR = struct.Struct(">4s15I")
_U32 = 0xFFFFFFFF
#: gzip header flag bits as ``decompress_exec`` names them.
_GZ_CONTINUATION = 0x02
_GZ_EXTRA_FIELD = 0x04
_GZ_ORIG_NAME = 0x08
_GZ_COMMENT = 0x10
_GZ_ENCRYPTED = 0x20
_GZ_RESERVED = 0xC0
#: ``decompress_exec`` parses the gzip header inside one buffer of this size.
_LBUFSIZE = 4000


def _fail(name: str, detail: str, err: Errno = Errno.ENOEXEC) -> SyscallError:
    return SyscallError(err, f"{name}: {detail}")


@dataclass(frozen=True, slots=True)
class FlatHeader:
    """``struct flat_hdr`` as stored, with the loader's derived sizes."""

    magic: bytes
    rev: int
    entry: int
    data_start: int
    data_end: int
    bss_end: int
    stack_size: int
    reloc_start: int
    reloc_count: int
    flags: int
    build_date: int
    filler: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    @property
    def text_len(self) -> int:
        """``text_len = data_start``: the text *including* the 64-byte header."""
        return self.data_start

    @property
    def code_len(self) -> int:
        """The text without the header (what ``lib_list[].text_len`` holds)."""
        return self.data_start - FLAT_HDR_SIZE

    @property
    def data_len(self) -> int:
        """``data_end - data_start`` in 32-bit unsigned arithmetic."""
        return (self.data_end - self.data_start) & _U32

    @property
    def bss_len(self) -> int:
        """``bss_end - data_end`` in 32-bit unsigned arithmetic."""
        return (self.bss_end - self.data_end) & _U32

    @property
    def entry_offset(self) -> int:
        """``entry & 0x00ffffff``: the entry point's offset from the start of the file."""
        return self.entry & 0x00FFFFFF

    def full_data(self, word: int = 4) -> int:
        """``data_len + relocs * sizeof(unsigned long)`` (``relocs`` is a C ``int``)."""
        relocs = self.reloc_count - (1 << 32) if self.reloc_count & 0x80000000 else self.reloc_count
        return (self.data_len + relocs * word) & ((1 << (8 * word)) - 1)

    @property
    def load_flags(self) -> int:
        """The flags the loader acts on: a rev-2 file with any flag set means RAM."""
        if self.rev == OLD_FLAT_VERSION and self.flags:
            return FLAT_FLAG_RAM
        return self.flags

    @property
    def loads_into_ram(self) -> bool:
        """True for ``FLAT_FLAG_RAM`` or ``FLAT_FLAG_GZIP``: text copied into one RWX block."""
        return bool(self.load_flags & (FLAT_FLAG_RAM | FLAT_FLAG_GZIP))

    @property
    def compressed(self) -> bool:
        return bool(self.load_flags & (FLAT_FLAG_GZIP | FLAT_FLAG_GZDATA))

    def file_size(self, word: int = 4) -> int:
        """Bytes an uncompressed file holds: text (with header), data and relocations."""
        return self.data_start + self.full_data(word)

    def pack(self) -> bytes:
        """The 64 header bytes."""
        return _HDR.pack(
            self.magic,
            self.rev,
            self.entry,
            self.data_start,
            self.data_end,
            self.bss_end,
            self.stack_size,
            self.reloc_start,
            self.reloc_count,
            self.flags,
            self.build_date,
            *self.filler,
        )


def parse_flat_header(
    data: bytes | bytearray | memoryview,
    *,
    name: str = "<bFLT>",
    zflat: bool = False,
    extra_stack: int = 0,
    rlimit_data: int | None = None,
    word: int = 4,
    check_size: bool = True,
) -> FlatHeader:
    """Read ``struct flat_hdr`` from the start of *data* and check it as ``load_flat_file`` does.

    In the kernel's order, each failing with ``SyscallError``:

    1. magic not ``bFLT`` → ENOEXEC (a file shorter than the header is read
       zero-padded, as the kernel's ``bprm->buf`` is);
    2. ``rev`` neither 4 nor 2 → ENOEXEC;
    3. ``(text_len | data_len | bss_len | stack_len | full_data) >> 28`` → ENOEXEC
       "bad header" (``stack_len`` is ``stack_size + extra_stack``, the
       argument area the exec adds);
    4. GZIP/GZDATA without *zflat* (``CONFIG_BINFMT_ZFLAT``) → ENOEXEC;
    5. ``data_len + bss_len > rlimit_data`` → ENOMEM (only when given).

    Then checks the kernel does not make but a model needs: the header is
    complete, the text is at least as long as the header, and (with
    *check_size*) the file holds what the header describes (text, data and
    relocations; for compressed files at least a gzip header) → ENOEXEC.
    """
    raw = bytes(data[:FLAT_HDR_SIZE])
    buf = raw.ljust(FLAT_HDR_SIZE, b"\0")
    fields = _HDR.unpack(buf)
    hdr = FlatHeader(
        magic=fields[0],
        rev=fields[1],
        entry=fields[2],
        data_start=fields[3],
        data_end=fields[4],
        bss_end=fields[5],
        stack_size=fields[6],
        reloc_start=fields[7],
        reloc_count=fields[8],
        flags=fields[9],
        build_date=fields[10],
        filler=(fields[11], fields[12], fields[13], fields[14], fields[15]),
    )
    if hdr.magic != FLAT_MAGIC:
        raise _fail(name, f"bad magic {hdr.magic!r} (expected {FLAT_MAGIC!r})")
    if hdr.rev not in (FLAT_VERSION, OLD_FLAT_VERSION):
        raise _fail(
            name,
            f"bad flat file version {hdr.rev:#x} (supported {FLAT_VERSION:#x} and "
            f"{OLD_FLAT_VERSION:#x})",
        )
    stack_len = (hdr.stack_size + extra_stack) & ((1 << (8 * word)) - 1)
    full_data = hdr.full_data(word)
    if (hdr.text_len | hdr.data_len | hdr.bss_len | stack_len | full_data) >> 28:
        raise _fail(
            name,
            f"bad header: text {hdr.text_len:#x} data {hdr.data_len:#x} bss {hdr.bss_len:#x} "
            f"stack {stack_len:#x} data+relocs {full_data:#x} (each must be below 0x10000000)",
        )
    if hdr.load_flags & (FLAT_FLAG_GZIP | FLAT_FLAG_GZDATA) and not zflat:
        raise _fail(name, "compressed (GZIP/GZDATA) but ZFLAT support is not enabled")
    if rlimit_data is not None and hdr.data_len + hdr.bss_len > rlimit_data:
        raise _fail(
            name,
            f"data+bss {hdr.data_len + hdr.bss_len} exceeds RLIMIT_DATA {rlimit_data}",
            Errno.ENOMEM,
        )
    if len(raw) < FLAT_HDR_SIZE:
        raise _fail(name, f"truncated: {len(raw)} bytes, a bFLT header needs {FLAT_HDR_SIZE}")
    if hdr.text_len < FLAT_HDR_SIZE:
        raise _fail(name, f"text length {hdr.text_len} is shorter than the header")
    if check_size:
        size = len(data)
        if hdr.load_flags & FLAT_FLAG_GZIP:
            need, what = FLAT_HDR_SIZE + 10, "the header and a gzip header"
        elif hdr.load_flags & FLAT_FLAG_GZDATA:
            need, what = hdr.text_len + 10, "the text and a gzip header"
        else:
            need, what = hdr.file_size(word), "text, data and relocations"
        if size < need:
            raise _fail(name, f"file too short: {size} bytes, {what} need {need}")
    return hdr


def _gunzip_exec(payload: bytes, expected: int, name: str) -> bytes:
    """``decompress_exec``: parse the gzip header its way, inflate exactly *expected* bytes."""
    if len(payload) < 10:
        raise _fail(name, "compressed data too small for a gzip header")
    if payload[0] != 0o37 or payload[1] not in (0o213, 0o236):
        raise _fail(name, f"unknown compression magic {payload[:2].hex()}")
    if payload[2] != 8:
        raise _fail(name, f"unknown compression method {payload[2]}")
    gz_flags = payload[3]
    if gz_flags & (_GZ_ENCRYPTED | _GZ_CONTINUATION | _GZ_RESERVED):
        raise _fail(name, f"unsupported gzip flags {gz_flags:#04x}")
    pos = 10
    if gz_flags & _GZ_EXTRA_FIELD:
        if len(payload) < 12:
            raise _fail(name, "gzip extra field truncated")
        pos += 2 + payload[10] + (payload[11] << 8)
        if pos >= _LBUFSIZE:
            raise _fail(name, "gzip extra field overflows the header buffer")
    for bit, what in ((_GZ_ORIG_NAME, "file name"), (_GZ_COMMENT, "comment")):
        if gz_flags & bit:
            end = payload.find(b"\0", pos, _LBUFSIZE)
            if end < 0:
                raise _fail(name, f"gzip {what} overflows the header buffer")
            pos = end + 1
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(payload[pos:], expected + 1)
    except zlib.error as exc:
        raise _fail(name, f"corrupt compressed data: {exc}") from exc
    if len(out) > expected:
        raise _fail(name, f"compressed data inflates beyond the {expected} bytes the header gives")
    if not inflater.eof:
        raise _fail(name, f"compressed data truncated after {len(out)} of {expected} bytes")
    if len(out) != expected:
        raise _fail(
            name, f"compressed data inflates to {len(out)} bytes, the header gives {expected}"
        )
    return out


def decompress_flat(
    data: bytes | bytearray | memoryview, *, name: str = "<bFLT>", word: int = 4
) -> bytes:
    """The equivalent uncompressed file: header, text, data, relocations.

    ``FLAT_FLAG_GZIP``: everything after the 64-byte header is one gzip
    stream of ``text_len + full_data - 64`` bytes. ``FLAT_FLAG_GZDATA``: the
    text is stored plain and the ``full_data`` bytes after it are gzip. The
    returned header has GZIP/GZDATA cleared and, for GZIP, ``FLAT_FLAG_RAM``
    set, since the kernel treats a GZIP file as a RAM load: the result loads
    the same way uncompressed. An uncompressed file is returned as is. The
    header is checked first (with ZFLAT support); corrupt, truncated or
    wrongly sized streams raise ``SyscallError(ENOEXEC)``.
    """
    blob = bytes(data)
    hdr = parse_flat_header(blob, name=name, zflat=True, word=word)
    flags = hdr.load_flags
    if not flags & (FLAT_FLAG_GZIP | FLAT_FLAG_GZDATA):
        return blob
    plain_flags = flags & ~(FLAT_FLAG_GZIP | FLAT_FLAG_GZDATA)
    if flags & FLAT_FLAG_GZIP:
        expected = hdr.text_len + hdr.full_data(word) - FLAT_HDR_SIZE
        body = _gunzip_exec(blob[FLAT_HDR_SIZE:], expected, name)
        plain_flags |= FLAT_FLAG_RAM
    else:
        expected = hdr.full_data(word)
        body = blob[FLAT_HDR_SIZE : hdr.text_len] + _gunzip_exec(
            blob[hdr.text_len :], expected, name
        )
    return replace(hdr, flags=plain_flags).pack() + body


def flat_relocations(data: bytes | bytearray | memoryview) -> tuple[int, ...]:
    """The relocation words (big-endian, ``reloc_count`` of them at ``reloc_start``).

    Each is the offset, from the start of the code (just after the header),
    of a word the loader relocates. The file must be uncompressed (see
    :func:`decompress_flat`); ENOEXEC if the table lies beyond its end.
    """
    hdr = parse_flat_header(data, zflat=True, check_size=False)
    if hdr.compressed:
        raise ValueError("the relocations of a compressed file: decompress_flat() it first")
    start = hdr.reloc_start
    count = hdr.reloc_count
    if start + 4 * count > len(data):
        raise SyscallError(
            Errno.ENOEXEC,
            f"relocation table ({count} words at {start:#x}) extends beyond the end of the file",
        )
    return struct.unpack_from(f">{count}I", data, start)


def _pattern(length: int, seed: int) -> bytearray:
    """Deterministic filler bytes (a 251-byte cycle so words do not repeat often)."""
    cycle = bytes((seed + 7 * i) & 0xFF for i in range(251))
    reps = length // len(cycle) + 1
    return bytearray((cycle * reps)[:length])


def build_flat(
    text_len: int,
    data_len: int,
    bss_len: int,
    stack_size: int = 4096,
    reloc_count: int = 0,
    *,
    flags: int = FLAT_FLAG_RAM,
    rev: int = FLAT_VERSION,
    entry: int | None = None,
    text: bytes | None = None,
    data: bytes | None = None,
    build_date: int = 0,
) -> bytes:
    """Make a valid bFLT file of the given geometry, with deterministic contents.

    *text_len* includes the 64-byte header (it becomes ``data_start``), as in
    the kernel and in elf2flt output. *text* (``text_len - 64`` bytes) and
    *data* (``data_len`` bytes) default to fixed byte patterns. The
    ``reloc_count`` relocations follow the data; relocation ``i`` names a
    32-bit word of the data (or, when the data has too few words, of the
    text) by its offset from the start of the code, and when that word comes
    from the pattern it holds a big-endian pointer into the text to
    relocate. With ``FLAT_FLAG_GOTPIC`` a pattern data starts with an empty
    GOT (the ``0xffffffff`` terminator). ``FLAT_FLAG_GZIP`` compresses all
    after the header, ``FLAT_FLAG_GZDATA`` the data and relocations (gzip,
    ``mtime`` 0, so the output is reproducible).
    """
    for label, value in (
        ("text_len", text_len),
        ("data_len", data_len),
        ("bss_len", bss_len),
        ("stack_size", stack_size),
        ("reloc_count", reloc_count),
    ):
        if value < 0 or value > _U32:
            raise ValueError(f"{label} must be a 32-bit unsigned value, got {value}")
    if text_len < FLAT_HDR_SIZE:
        raise ValueError(f"text_len {text_len} must include the {FLAT_HDR_SIZE}-byte header")
    code_len = text_len - FLAT_HDR_SIZE
    if text is not None and len(text) != code_len:
        raise ValueError(f"text is {len(text)} bytes, text_len - 64 is {code_len}")
    if data is not None and len(data) != data_len:
        raise ValueError(f"data is {len(data)} bytes, data_len is {data_len}")
    code = bytearray(text) if text is not None else _pattern(code_len, 0x11)
    body = bytearray(data) if data is not None else _pattern(data_len, 0x5A)
    got_words = 0
    if flags & FLAT_FLAG_GOTPIC and data is None:
        if data_len < 4:
            raise ValueError("FLAT_FLAG_GOTPIC needs at least one data word for the GOT end")
        struct.pack_into(">I", body, 0, _U32)
        got_words = 1
    data_slots = max(data_len // 4 - got_words, 0)
    text_slots = max(code_len // 4 - 1, 0)  # text word 0 is left alone
    if reloc_count > data_slots + text_slots:
        raise ValueError(
            f"{reloc_count} relocations but only {data_slots + text_slots} words of text and "
            "data to relocate"
        )
    relocs = bytearray()
    for i in range(reloc_count):
        if i < data_slots:
            where = code_len + 4 * (got_words + i)
        else:
            where = 4 * (1 + i - data_slots)
        target = ((i + 1) * 4) % code_len if code_len else 0
        if where >= code_len:
            if data is None:
                struct.pack_into(">I", body, where - code_len, target)
        elif text is None:
            struct.pack_into(">I", code, where, target)
        relocs += struct.pack(">I", where)
    if entry is None:
        entry = FLAT_HDR_SIZE + 4 if code_len > 4 else FLAT_HDR_SIZE
    data_end = text_len + data_len
    hdr = FlatHeader(
        magic=FLAT_MAGIC,
        rev=rev,
        entry=entry,
        data_start=text_len,
        data_end=data_end & _U32,
        bss_end=(data_end + bss_len) & _U32,
        stack_size=stack_size,
        reloc_start=data_end & _U32,
        reloc_count=reloc_count,
        flags=flags,
        build_date=build_date,
    )
    if flags & FLAT_FLAG_GZIP:
        payload = gzip.compress(bytes(code + body + relocs), compresslevel=9, mtime=0)
        return hdr.pack() + payload
    if flags & FLAT_FLAG_GZDATA:
        payload = gzip.compress(bytes(body + relocs), compresslevel=9, mtime=0)
        return hdr.pack() + bytes(code) + payload
    return hdr.pack() + bytes(code) + bytes(body) + bytes(relocs)
