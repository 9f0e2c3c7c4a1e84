"""bFLT header parsing, checks in the kernel's order, gzip variants and the writer."""

from __future__ import annotations

import gzip
import io
import struct

import pytest

from nommu.binfmt.flat_format import (
    FLAT_FLAG_GOTPIC,
    FLAT_FLAG_GZDATA,
    FLAT_FLAG_GZIP,
    FLAT_FLAG_KTRACE,
    FLAT_FLAG_RAM,
    FLAT_HDR_SIZE,
    FlatHeader,
    build_flat,
    decompress_flat,
    flat_relocations,
    parse_flat_header,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.romfs_image import RomfsImage
from shared_data import REAL_PROGRAMS, REAL_ROOTFS

REAL_IMAGE = REAL_ROOTFS
needs_real_image = pytest.mark.skipif(
    not REAL_IMAGE.exists(), reason=f"{REAL_IMAGE} (real uClinux romfs) not present"
)

README_FIGURES = REAL_PROGRAMS

# Header word offsets.
REV, ENTRY, DATA_START, DATA_END, BSS_END, STACK, RELOC_START, RELOC_COUNT, FLAGS = (
    4,
    8,
    12,
    16,
    20,
    24,
    28,
    32,
    36,
)


@pytest.fixture(scope="module")
def real() -> RomfsImage:
    return RomfsImage.parse(REAL_IMAGE.read_bytes(), name="rootfs.bin")


def _patch(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(">I", out, offset, value)
    return bytes(out)


def _error(data: bytes, **kwargs: object) -> SyscallError:
    with pytest.raises(SyscallError) as info:
        parse_flat_header(data, name="prog", **kwargs)  # type: ignore[arg-type]
    return info.value


# --------------------------------------------------------------------- real programs


@needs_real_image
@pytest.mark.parametrize("path", sorted(README_FIGURES))
def test_real_programs_match_readme(real: RomfsImage, path: str) -> None:
    text, data, bss, stack, relocs = README_FIGURES[path]
    blob = real.read(path)
    hdr = parse_flat_header(blob, name=path)
    assert (hdr.text_len, hdr.data_len, hdr.bss_len, hdr.stack_size, hdr.reloc_count) == (
        text,
        data,
        bss,
        stack,
        relocs,
    )
    assert hdr.flags == FLAT_FLAG_RAM == hdr.load_flags
    assert hdr.rev == 4
    assert hdr.loads_into_ram and not hdr.compressed
    assert hdr.entry_offset == 0x44
    assert hdr.reloc_start == hdr.data_end
    assert hdr.full_data() == data + 4 * relocs
    assert hdr.file_size() == len(blob)
    assert hdr.code_len == text - FLAT_HDR_SIZE
    relocations = flat_relocations(blob)
    assert len(relocations) == relocs
    assert all(r < hdr.code_len + hdr.data_len for r in relocations)
    assert decompress_flat(blob) == blob


# --------------------------------------------------------------------- writer


def test_build_sh_geometry() -> None:
    blob = build_flat(61136, 10904, 14920, 4096, 575)
    assert len(blob) == 74340  # the size of the real /bin/sh
    hdr = parse_flat_header(blob)
    assert hdr == FlatHeader(
        magic=b"bFLT",
        rev=4,
        entry=0x44,
        data_start=61136,
        data_end=72040,
        bss_end=86960,
        stack_size=4096,
        reloc_start=72040,
        reloc_count=575,
        flags=FLAT_FLAG_RAM,
        build_date=0,
    )
    assert hdr.pack() == blob[:FLAT_HDR_SIZE]
    relocations = flat_relocations(blob)
    assert relocations[0] == hdr.code_len  # the first data word
    assert all(hdr.code_len <= r < hdr.code_len + hdr.data_len for r in relocations)
    # each relocated data word holds a pointer into the text, as elf2flt output does
    for index, where in enumerate(relocations[:20]):
        value = struct.unpack_from(">I", blob, FLAT_HDR_SIZE + where)[0]
        assert value == (index + 1) * 4 % hdr.code_len


def test_build_is_deterministic_and_respects_contents() -> None:
    assert build_flat(200, 64, 16) == build_flat(200, 64, 16)
    text = bytes(range(136))
    data = b"D" * 64
    blob = build_flat(200, 64, 16, reloc_count=3, text=text, data=data, flags=0, entry=0x50)
    hdr = parse_flat_header(blob)
    assert blob[FLAT_HDR_SIZE:200] == text
    assert blob[200:264] == data  # given data is not overwritten by relocation targets
    assert hdr.entry == 0x50 and hdr.flags == 0 and not hdr.loads_into_ram


def test_build_relocations_spill_into_text() -> None:
    blob = build_flat(64 + 40, 8, 0, reloc_count=5)
    relocs = flat_relocations(blob)
    assert relocs == (40, 44, 4, 8, 12)  # two data words, then text words from 4
    with pytest.raises(ValueError, match="only 11 words"):
        build_flat(64 + 40, 8, 0, reloc_count=12)


def test_build_gotpic_has_got_terminator() -> None:
    blob = build_flat(128, 32, 0, reloc_count=2, flags=FLAT_FLAG_RAM | FLAT_FLAG_GOTPIC)
    assert blob[128:132] == b"\xff\xff\xff\xff"
    assert flat_relocations(blob) == (64 + 4, 64 + 8)
    with pytest.raises(ValueError, match="GOT"):
        build_flat(128, 0, 0, flags=FLAT_FLAG_GOTPIC)


@pytest.mark.parametrize("flag", [FLAT_FLAG_GZIP, FLAT_FLAG_GZDATA])
def test_compressed_round_trip(flag: int) -> None:
    plain = build_flat(61136, 10904, 14920, 4096, 575)
    packed = build_flat(61136, 10904, 14920, 4096, 575, flags=FLAT_FLAG_RAM | flag)
    assert len(packed) < len(plain)
    hdr = parse_flat_header(packed, zflat=True)
    assert hdr.compressed
    assert hdr.loads_into_ram
    unpacked = decompress_flat(packed)
    assert unpacked == plain  # the same file, flags included
    if flag == FLAT_FLAG_GZDATA:
        assert packed[FLAT_HDR_SIZE:61136] == plain[FLAT_HDR_SIZE:61136]  # text stays plain


def test_decompressed_flags_load_the_same_way() -> None:
    gz = decompress_flat(build_flat(128, 32, 0, flags=FLAT_FLAG_GZIP | FLAT_FLAG_KTRACE))
    assert parse_flat_header(gz).flags == FLAT_FLAG_RAM | FLAT_FLAG_KTRACE  # GZIP loads into RAM
    gzdata = decompress_flat(build_flat(128, 32, 0, flags=FLAT_FLAG_GZDATA))
    assert parse_flat_header(gzdata).flags == 0  # text may stay in the file system (XIP)
    assert not parse_flat_header(gzdata).loads_into_ram


def test_gzip_header_with_name_and_comment_is_skipped() -> None:
    plain = build_flat(128, 32, 0, reloc_count=1)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="prog", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(plain[FLAT_HDR_SIZE:])
    payload = bytearray(buf.getvalue())
    assert payload[3] & 0x08  # FNAME
    header = _patch(plain[:FLAT_HDR_SIZE], FLAGS, FLAT_FLAG_GZIP)
    assert decompress_flat(header + bytes(payload))[FLAT_HDR_SIZE:] == plain[FLAT_HDR_SIZE:]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda p: p[:8], "file too short: 72 bytes, the header and a gzip header need 74"),
        (lambda p: b"\x1f\x8c" + p[2:], "unknown compression magic 1f8c"),
        (lambda p: p[:2] + b"\x07" + p[3:], "unknown compression method 7"),
        (lambda p: p[:3] + b"\x02" + p[4:], "unsupported gzip flags 0x02"),
        (lambda p: p[:10] + b"\xff" * 20 + p[30:], "corrupt compressed data"),
        (lambda p: p[:40], "compressed data truncated"),
    ],
)
def test_decompress_errors(mangle: object, message: str) -> None:
    packed = build_flat(4096, 1024, 0, reloc_count=8, flags=FLAT_FLAG_GZIP)
    payload = packed[FLAT_HDR_SIZE:]
    broken = packed[:FLAT_HDR_SIZE] + mangle(payload)  # type: ignore[operator]
    with pytest.raises(SyscallError) as info:
        decompress_flat(broken, name="z")
    assert info.value.errno == Errno.ENOEXEC
    assert message in str(info.value)


def test_decompress_size_mismatch() -> None:
    packed = build_flat(4096, 1024, 0, reloc_count=8, flags=FLAT_FLAG_GZIP)
    longer = _patch(packed, DATA_END, 4096 + 1000)
    longer = _patch(longer, BSS_END, 4096 + 1000)
    with pytest.raises(SyscallError, match="inflates beyond the 5064 bytes"):
        decompress_flat(longer)
    shorter = _patch(_patch(packed, DATA_END, 4096 + 2000), BSS_END, 4096 + 2000)
    with pytest.raises(SyscallError, match="inflates to 5088 bytes, the header gives 6064"):
        decompress_flat(shorter)


def test_uncompressed_file_is_returned_as_is() -> None:
    plain = build_flat(128, 32, 0)
    assert decompress_flat(bytearray(plain)) == plain


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="include the 64-byte header"):
        build_flat(10, 0, 0)
    with pytest.raises(ValueError, match="text is 3 bytes"):
        build_flat(128, 0, 0, text=b"abc")
    with pytest.raises(ValueError, match="data is 3 bytes"):
        build_flat(128, 4, 0, data=b"abc")
    with pytest.raises(ValueError, match="32-bit unsigned"):
        build_flat(128, -1, 0)


# --------------------------------------------------------------------- header checks


def test_derived_sizes_wrap_like_the_kernel() -> None:
    hdr = parse_flat_header(build_flat(128, 32, 16, reloc_count=2))
    assert (hdr.text_len, hdr.data_len, hdr.bss_len, hdr.full_data()) == (128, 32, 16, 40)
    assert hdr.full_data(8) == 48
    odd = FlatHeader(b"bFLT", 4, 0, 100, 90, 80, 0, 0, 0x80000000, 0, 0)
    assert odd.data_len == 0xFFFFFFF6
    assert odd.bss_len == 0xFFFFFFF6
    assert odd.full_data() == 0xFFFFFFF6  # -2**31 relocs * 4 wraps to 0 on 32 bits


def test_error_bad_magic() -> None:
    err = _error(b"\x7fELF" + build_flat(128, 0, 0)[4:])
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: bad magic b'\\x7fELF' (expected b'bFLT')"


def test_error_bad_version() -> None:
    err = _error(_patch(build_flat(128, 0, 0), REV, 3))
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: bad flat file version 0x3 (supported 0x4 and 0x2)"


def test_old_version_ram_flag() -> None:
    old = _patch(_patch(build_flat(128, 0, 0), REV, 2), FLAGS, 0x40)
    hdr = parse_flat_header(old)
    assert hdr.rev == 2 and hdr.load_flags == FLAT_FLAG_RAM
    assert parse_flat_header(_patch(old, FLAGS, 0)).load_flags == 0


def test_error_bad_header_sizes() -> None:
    blob = build_flat(1000, 200, 300, 4096, 10)
    err = _error(_patch(blob, DATA_END, 999))
    assert err.errno == Errno.ENOEXEC
    assert err.detail == (
        "prog: bad header: text 0x3e8 data 0xffffffff bss 0x1f5 stack 0x1000 data+relocs 0x27 "
        "(each must be below 0x10000000)"
    )
    assert "bad header" in _error(_patch(blob, STACK, 0x10000000)).detail
    assert "bad header" in _error(_patch(blob, RELOC_COUNT, 0x04000000)).detail
    assert "bad header" in _error(blob, extra_stack=0x10000000 - 4096).detail
    parse_flat_header(blob, extra_stack=0x10000000 - 4097)


def test_error_zflat_not_enabled() -> None:
    packed = build_flat(128, 32, 0, flags=FLAT_FLAG_GZDATA)
    err = _error(packed)
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: compressed (GZIP/GZDATA) but ZFLAT support is not enabled"
    parse_flat_header(packed, zflat=True)


def test_error_rlimit_data() -> None:
    blob = build_flat(1000, 200, 300)
    err = _error(blob, rlimit_data=499)
    assert err.errno == Errno.ENOMEM
    assert err.detail == "prog: data+bss 500 exceeds RLIMIT_DATA 499"
    parse_flat_header(blob, rlimit_data=500)


def test_error_truncated_header() -> None:
    err = _error(b"bFLT" + struct.pack(">I", 4) + bytes(12))
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: truncated: 20 bytes, a bFLT header needs 64"
    assert "bad magic" in _error(b"bF").detail


def test_error_text_shorter_than_header() -> None:
    blob = build_flat(128, 0, 0)
    for field in (DATA_START, DATA_END, BSS_END):
        blob = _patch(blob, field, 10)
    assert _error(blob).detail == "prog: text length 10 is shorter than the header"


def test_error_file_too_short() -> None:
    blob = build_flat(1000, 200, 300, 4096, 10)
    err = _error(blob[:500])
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: file too short: 500 bytes, text, data and relocations need 1240"
    assert parse_flat_header(blob[:64], check_size=False).text_len == 1000
    packed = build_flat(1000, 200, 0, flags=FLAT_FLAG_GZIP)
    assert "the header and a gzip header need 74" in _error(packed[:70], zflat=True).detail
    gzdata = build_flat(1000, 200, 0, flags=FLAT_FLAG_GZDATA)
    assert "the text and a gzip header need 1010" in _error(gzdata[:1005], zflat=True).detail


def test_checks_come_in_kernel_order() -> None:
    blob = build_flat(1000, 200, 300, 4096, 10, flags=FLAT_FLAG_GZIP | FLAT_FLAG_KTRACE)
    # version before sizes, sizes before ZFLAT, ZFLAT before RLIMIT_DATA, all before length
    worst = _patch(_patch(blob, REV, 7), DATA_END, 999)[:100]
    assert "bad flat file version" in _error(worst, rlimit_data=0).detail
    worst = _patch(blob, DATA_END, 999)[:100]
    assert "bad header" in _error(worst, rlimit_data=0).detail
    assert "ZFLAT" in _error(blob[:100], rlimit_data=0).detail
    assert _error(blob[:70], rlimit_data=0, zflat=True).errno == Errno.ENOMEM


def test_relocations_need_uncompressed_file() -> None:
    packed = build_flat(128, 32, 0, reloc_count=1, flags=FLAT_FLAG_GZIP)
    with pytest.raises(ValueError, match="decompress_flat"):
        flat_relocations(packed)
    assert flat_relocations(decompress_flat(packed)) == (64,)
    blob = build_flat(128, 32, 0, reloc_count=4)
    with pytest.raises(SyscallError, match="relocation table"):
        flat_relocations(_patch(blob, RELOC_START, 170))
