"""Machine construction, the public API surface, errno values and misuse errors."""

from __future__ import annotations

import errno
import re
import sys

import pytest

import nommu
from nommu.errors import STRERROR, Errno


def test_public_api_is_the_documented_one() -> None:
    for name in (
        "Machine",
        "Process",
        "SyscallError",
        "NommuError",
        "KernelBug",
        "KernelOops",
        "PAGE_SIZE",
        "PROT_NONE",
        "PROT_READ",
        "PROT_WRITE",
        "PROT_EXEC",
        "MAP_SHARED",
        "MAP_PRIVATE",
        "MAP_SHARED_VALIDATE",
        "MAP_FIXED",
        "MAP_ANONYMOUS",
        "MAP_FIXED_NOREPLACE",
        "MAP_POPULATE",
        "MAP_UNINITIALIZED",
        "MAP_LOCKED",
        "MREMAP_MAYMOVE",
        "MREMAP_FIXED",
        "MREMAP_DONTUNMAP",
        "O_RDONLY",
        "O_WRONLY",
        "O_RDWR",
        "O_CREAT",
        "O_EXCL",
        "O_TRUNC",
        "O_APPEND",
        "IPC_PRIVATE",
        "IPC_CREAT",
        "IPC_EXCL",
        "IPC_RMID",
        "IPC_STAT",
        "SHM_RDONLY",
        "SHM_RND",
        "CLONE_VM",
        "CLONE_VFORK",
        "CLONE_THREAD",
        "SIGCHLD",
    ):
        assert name in nommu.__all__
        assert hasattr(nommu, name)
    assert sorted(set(nommu.__all__)) == sorted(nommu.__all__)
    assert (nommu.MAP_SHARED, nommu.MAP_PRIVATE, nommu.MAP_FIXED, nommu.MAP_ANONYMOUS) == (
        1,
        2,
        0x10,
        0x20,
    )
    assert nommu.MAP_UNINITIALIZED == 0x4000000 and nommu.MAP_FIXED_NOREPLACE == 0x100000
    assert (nommu.CLONE_VM, nommu.CLONE_VFORK, nommu.SIGCHLD) == (0x100, 0x4000, 17)


@pytest.mark.skipif(sys.platform != "linux", reason="host errno values are Linux's only here")
def test_errno_numbers_match_the_host() -> None:
    for e in Errno:
        assert getattr(errno, e.name) == e.value
        assert STRERROR[e]


def test_syscall_error_is_an_oserror() -> None:
    e = nommu.SyscallError(Errno.ENODEV, "why")
    assert isinstance(e, OSError) and isinstance(e, nommu.NommuError)
    assert e.errno == errno.ENODEV and e.strerror == "No such device"
    assert str(e) == "[ENODEV] No such device: why"
    assert not issubclass(nommu.KernelBug, nommu.NommuError)


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"ram": -4096}, ValueError, "ram: size must not be negative"),
        ({"ram": "8X"}, ValueError, "ram: cannot read size '8X'"),
        ({"ram": 12345}, ValueError, "ram: must be a positive multiple of page_size"),
        ({"ram": 1.5}, TypeError, "ram: expected an int or a size string"),
        ({"page_size": 3000}, ValueError, "page_size: must be a power of two"),
        ({"page_size": "4K"}, TypeError, "page_size: expected an int"),
        ({"max_order": 30}, ValueError, "max_order: must be at most 20"),
        ({"max_order": -1}, ValueError, "max_order: must be at least 0"),
        ({"kernel_reserved": "8M"}, ValueError, "kernel_reserved: must be page aligned and below"),
        ({"nr_trim_pages": -1}, ValueError, "nr_trim_pages: must be at least 0"),
        ({"ram_base": 0x123}, ValueError, "ram_base: must be page aligned"),
        ({"mremap": "old"}, ValueError, "mremap: must be 'mainline' or 'mm'"),
        ({"flash": "1M", "flash_base": 0x80000000}, ValueError, "flash: range"),
        ({"ram": "8G"}, ValueError, "ram: ends above the 32-bit address space"),
        ({"ramsize": "8M"}, TypeError, "ramsize: not a Machine option"),
    ],
)
def test_constructor_misuse(kwargs: dict[str, object], exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match="^" + re.escape(message)):
        nommu.Machine(**kwargs)  # type: ignore[arg-type]


def test_sysctl() -> None:
    m = nommu.Machine()
    assert m.sysctl("vm.nr_trim_pages") == 1
    assert m.sysctl("vm.nr_trim_pages", 4) == 4
    assert m.cat("/proc/sys/vm/nr_trim_pages") == "4\n"
    with pytest.raises(ValueError, match=re.escape("name: unknown sysctl 'vm.max_map_count'")):
        m.sysctl("vm.max_map_count")
    with pytest.raises(ValueError, match="value: must be at least 0"):
        m.sysctl("vm.nr_trim_pages", -1)


def test_big_machine_is_cheap() -> None:
    m = nommu.Machine(ram="3G", ram_base=0x40000000, word_size=4)
    assert m.memory.touched_pages == 0
    p = m.spawn()
    a = p.mmap(
        0, 4 << 20, nommu.PROT_READ | nommu.PROT_WRITE, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
    )
    assert a == 0x40400000  # the first free order-10 block above the 1 MiB kernel
    assert m.memory.touched_pages == 0  # zero fill of never-touched pages costs nothing


def test_64bit_maps_padding() -> None:
    m = nommu.Machine(ram="8M", word_size=8)
    p = m.spawn()
    fd = p.open("/tmp/x", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 4096)
    a = p.mmap(0, 4096, nommu.PROT_READ, nommu.MAP_SHARED, fd, 0)
    line = m.cat(f"/proc/{p.pid}/maps")
    assert line.index("/tmp/x") == 73
    assert line.startswith(f"{a:08x}-{a + 4096:08x} r--S 00000000 00:0d ")


def test_processes_and_pids() -> None:
    m = nommu.Machine()
    a, b = m.spawn("a"), m.spawn("b")
    assert (a.pid, b.pid) == (1, 2)
    assert m.processes == [a, b]
    b.exit(3)
    assert m.processes == [a]


def test_validate_catches_a_page_both_allocated_and_free() -> None:
    m = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", ideal=True)
    p = m.spawn()
    a = p.mmap(
        0, 2 * 4096, nommu.PROT_READ | nommu.PROT_WRITE, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
    )
    m.validate()
    m.zone.free_pages((a >> 12) + 1)  # a bug: a page of a live copy goes back to the allocator
    with pytest.raises(nommu.KernelBug, match=r"overlaps .* at pfn 0x401$"):
        m.validate()


def test_validate_catches_pages_not_conserved() -> None:
    m = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", ideal=True)
    assert m.zone.alloc_pages(0) == 0x400  # taken behind the model's back: nobody owns it
    with pytest.raises(nommu.KernelBug, match=r"^pages not conserved: free 1023 \+ allocated 0"):
        m.validate()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8M", 8 << 20),
        ("512KiB", 512 << 10),
        ("2mb", 2 << 20),
        ("7b", 7),
        ("4096", 4096),
        ("0x8000", 0x8000),
        ("0o17K", 15 << 10),
        ("4_096", 4096),
        ("0600", 600),
        (" 1 G ", 1 << 30),
        ("8X", None),
        ("0x", None),
        ("-1", None),
        ("1.5M", None),
        ("", None),
    ],
)
def test_one_size_syntax_for_api_cli_and_scenarios(text: str, expected: int | None) -> None:
    """Machine options, command-line sizes and scenario values read sizes the same way."""
    from nommu.consts import size_from_text
    from nommu.scenario import values

    assert size_from_text(text) == expected
    if expected is None:
        with pytest.raises(ValueError, match="cannot read"):
            values.size(text)
    else:
        assert values.size(text) == expected


def test_machine_sizes_take_hex() -> None:
    m = nommu.Machine(ram="0x800000", ram_base=0, kernel_reserved="0x100000")
    assert m.cat("/proc/meminfo").splitlines()[0].split() == ["MemTotal:", "7168", "kB"]
