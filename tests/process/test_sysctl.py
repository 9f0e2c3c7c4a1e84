"""/proc/sys/vm/nr_trim_pages as proc_dointvec_minmax handles it (kernel/sysctl.c
__do_proc_dointvec, proc_get_long, proc_first_pos_non_zero_ignore)."""

from __future__ import annotations

import errno

import pytest

import nommu
from nommu import SyscallError
from nommu.proc.sysctl import dointvec_write

PATH = "/proc/sys/vm/nr_trim_pages"


@pytest.fixture
def setup() -> tuple[nommu.Machine, nommu.Process]:
    m = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M")
    return m, m.spawn(name="P1")


@pytest.mark.parametrize(
    ("text", "value", "consumed"),
    [
        (b"0", 0, 1),
        (b"4\n", 4, 2),
        (b"  7 \n", 7, 5),  # leading and trailing white space consumed
        (b"0x10", 16, 4),  # base 0: hex
        (b"010", 8, 3),  # base 0: octal
        (b"-0", 0, 2),
        (b"1 2", 1, 2),  # one int: the second number is left, "1 " consumed
        (b"2147483647", 2147483647, 10),
    ],
)
def test_write_parses_like_the_kernel(text: bytes, value: int, consumed: int) -> None:
    assert dointvec_write(text, 0, None) == (value, consumed)


@pytest.mark.parametrize(
    "text",
    [b"", b" \n", b"+1", b"x", b"1x", b"08", b"-1", b"2147483648", b"0" * 21, b"1.5"],
)
def test_bad_writes_are_einval(text: bytes) -> None:
    with pytest.raises(SyscallError) as e:
        dointvec_write(text, 0, None)
    assert e.value.errno == errno.EINVAL


def test_through_the_file(setup: tuple[nommu.Machine, nommu.Process]) -> None:
    m, p = setup
    fd = p.open(PATH, nommu.O_RDWR)
    assert p.write(fd, b"3 9") == 2 and m.sysctl("vm.nr_trim_pages") == 3
    # the descriptor is now at 2: a later write there is ignored (sysctl_writes_strict)
    assert p.write(fd, b"5") == 1 and m.sysctl("vm.nr_trim_pages") == 3
    with pytest.raises(SyscallError) as e:
        p.pwrite(fd, b"12x", 0)
    assert e.value.errno == errno.EINVAL and m.sysctl("vm.nr_trim_pages") == 3
    assert p.pwrite(fd, b"", 0) == 0
    # reads: the whole value at 0, nothing from any other position
    assert p.pread(fd, 1, 0) == b"3"
    assert p.pread(fd, 10, 1) == b""
    assert p.pread(fd, 10, 0) == b"3\n"


def test_machine_sysctl_keeps_the_int_range(setup: tuple[nommu.Machine, nommu.Process]) -> None:
    m, _ = setup
    with pytest.raises(ValueError, match="at most 2147483647"):
        m.sysctl("vm.nr_trim_pages", 1 << 31)
