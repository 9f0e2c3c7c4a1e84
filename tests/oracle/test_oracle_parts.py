"""The oracle's parts without QEMU: script compilation, cpio, bFLT wrapping, the model's
side, the comparison, the kernel build plan and the command's exit codes."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

import nommu
from nommu.cli import main
from nommu.mm.page_alloc import BuddyAllocator
from nommu.oracle.compare import _Side, compare_case, normalize_log
from nommu.oracle.initramfs import CpioEntry, write_newc
from nommu.oracle.kernel_build import build_kernel, config_fragment, plan_build
from nommu.oracle.model_side import run_model, shape_free_lists, shape_target
from nommu.oracle.qemu import Observed, initramfs, parse_console, qemu_command
from nommu.oracle.script import OracleRefused, SlotRef, compile_scenario
from nommu.oracle.toolchain import (
    MissingComponent,
    Toolchain,
    compile_command,
    find_toolchain,
    park_code,
    parked_program,
    probe_flat,
)
from nommu.profiles import arch_profile
from nommu.scenario.loader import loads_scenario

from .cases import CASES, call, case, flat_file, step

RISCV = arch_profile("riscv64")
HAVE_GCC = shutil.which("riscv64-linux-gnu-gcc") is not None


def compiled(text: str, name: str = "t") -> object:
    return compile_scenario(loads_scenario(text, name), kernel="6.12")


# -- the script ----------------------------------------------------------------------
def test_compile_anon_cycle_lines() -> None:
    c = compile_scenario(
        loads_scenario(
            case(
                "x", call("mmap", length=8192, save="a"), call("munmap", addr="$a+4K", length=4096)
            ).toml,
            "x",
        ),
        kernel="6.1",
    )
    assert c.kernel == "6.1" and c.ram == 64 << 20
    assert c.script().splitlines() == [
        '!sysctl "2f70726f632f7379732f766d2f6e725f7472696d5f7061676573 "310a',
        "mmap 0 8192 3 34 -1 0",
        "munmap $1+4096 4096",
    ]


def test_compile_trim_and_files() -> None:
    text = case("x", trim=4, files=flat_file("/tmp/p", 4160, 64, 0, ram=True)).toml
    c = compile_scenario(loads_scenario(text, "x"))
    assert c.ops[0].label == "sysctl vm.nr_trim_pages=4"
    assert c.ops[1].op == "copy" and not c.ops[1].measured
    assert (
        c.script(prefix="/files/7")
        .splitlines()[1]
        .startswith('!copy "' + b"/files/7/0".hex() + ' "' + b"/tmp/p".hex() + " 493")
    )
    data = c.files[0][1]
    assert data[0x44 : 0x44 + len(park_code(RISCV))] == park_code(RISCV)


def test_compile_repeat_unrolled_and_refs() -> None:
    text = case(
        "x",
        step(
            "repeat",
            count=3,
            steps=[
                {"op": "mmap", "proc": "p", "length": "$i+4096", "save": "a"},
                {"op": "munmap", "proc": "p", "addr": "$a", "length": 4096},
            ],
        ),
    ).toml
    ops = compiled(text).ops  # type: ignore[attr-defined]
    assert [o.op for o in ops[1:]] == ["mmap", "munmap"] * 3
    assert ops[2].args[0] == SlotRef(1) and ops[6].args[0] == SlotRef(5)
    assert ops[5].args[1] == 4098


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (case("x", call("shmget", size=4096)).toml, "op 'shmget' is not in the oracle's subset"),
        (case("x", step("spawn", name="q")).toml, "one spawned process"),
        (
            case("x", step("vfork", proc="p", child="c"), call("mmap", length=4096)).toml,
            "the child's exec as the very next step",
        ),
        (case("x", step("expect", free_above="1M")).toml, "compares files only"),
        (case("x").toml.replace('ram = "64M"', 'ram = "64M"\nflash = "1M"'), "board.flash"),
        (case("x").toml.replace('arch = "riscv64"', 'arch = "arm"'), "board.arch"),
        (case("x").toml.replace('ram = "64M"', 'ram = "8M"'), "at least 16M"),
    ],
)
def test_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(OracleRefused, match=message):
        compiled(text)


def test_refusal_names_the_line() -> None:
    with pytest.raises(OracleRefused) as e:
        compiled(case("x", call("shmget", size=4096)).toml, "f.toml")
    assert str(e.value).startswith("f.toml:")
    assert "step[2]" in str(e.value)


# -- cpio and bFLT -----------------------------------------------------------------------
def read_newc(blob: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """An independent reader of the format (init/initramfs.c's parse)."""
    out = []
    pos = 0
    while True:
        assert blob[pos : pos + 6] == b"070701"
        f = [int(blob[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name = blob[pos + 110 : pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        data = blob[pos : pos + filesize]
        pos += filesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            assert pos == len(blob)
            return out
        out.append((name, f[1], data, (f[9], f[10])))


def test_newc_round_trip() -> None:
    blob = write_newc(
        [
            CpioEntry.directory("dev"),
            CpioEntry.chardev("dev/null", 1, 3),
            CpioEntry.file("init", b"abc", 0o755),
            CpioEntry.file("e", b""),
        ]
    )
    assert read_newc(blob) == [
        ("dev", 0o40755, b"", (0, 0)),
        ("dev/null", 0o20666, b"", (1, 3)),
        ("init", 0o100755, b"abc", (0, 0)),
        ("e", 0o100644, b"", (0, 0)),
    ]


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed")
def test_newc_readable_by_cpio(tmp_path: Path) -> None:
    import subprocess

    blob = write_newc([CpioEntry.directory("d"), CpioEntry.file("d/f", b"hello\n")])
    done = subprocess.run(["cpio", "-t"], input=blob, capture_output=True, check=True)
    assert done.stdout.split() == [b"d", b"d/f"]


def test_initramfs_holds_init_cases_and_files() -> None:
    c = compile_scenario(
        loads_scenario(case("x", files=flat_file("/tmp/p", 4160, 64, 0, ram=True)).toml, "x")
    )
    names = {n: d for n, _, d, _ in read_newc(initramfs(b"PROBE", [c, c]))}
    assert names["init"] == b"PROBE"
    assert names["case1"].decode() == c.script(prefix="/files/1")
    assert names["files/1/0"] == c.files[0][1]
    assert "dev/console" in names and "tmp" in names and "proc" in names


def test_park_code_instructions() -> None:
    words = struct.unpack("<9I", park_code(RISCV))
    assert words[0] == (99 << 20) | (10 << 7) | 0x13  # addi a0, zero, 99
    assert words[3] == (63 << 20) | (17 << 7) | 0x13  # addi a7, zero, read (63)
    assert words[4] == 0x73  # ecall
    assert words[6] == (94 << 20) | (17 << 7) | 0x13  # addi a7, zero, exit_group (94)


def test_parked_program_refuses_small_text() -> None:
    from nommu.binfmt.flat_format import build_flat

    with pytest.raises(ValueError, match="cannot hold"):
        parked_program(build_flat(0x48, 0, 0), RISCV)


def test_probe_flat_header() -> None:
    flat = probe_flat(b"\x13\x00\x00\x00" * 3)
    magic, rev, entry, data_start, data_end, bss_end, stack = struct.unpack_from(">4s6I", flat)
    assert (magic, rev, entry) == (b"bFLT", 4, 0x40)
    assert data_start == data_end == bss_end == 0x40 + 16
    assert stack == 512 * 1024
    assert struct.unpack_from(">I", flat, 36)[0] & 1  # FLAT_FLAG_RAM


def test_compile_command_has_the_arch_syscalls() -> None:
    cmd = compile_command("gcc", RISCV, "p.c", "p.ld", "p.elf")
    assert "-DNR_mmap=222" in cmd and "-DNR_read=63" in cmd and "-fno-pic" in cmd


@pytest.mark.skipif(not HAVE_GCC, reason="riscv64-linux-gnu-gcc missing (gcc-riscv64-linux-gnu)")
def test_probe_builds_without_absolute_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nommu.oracle.toolchain import probe_code

    monkeypatch.setenv("NOMMU_CACHE", str(tmp_path))
    code = probe_code(find_toolchain(need_qemu=False), RISCV)
    assert len(code) > 1000
    assert list(tmp_path.glob("probe-riscv64-*.bin"))


def test_missing_tools_name_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingComponent, match="apt-get install gcc-riscv64-linux-gnu"):
        find_toolchain()


# -- the model's side ------------------------------------------------------------------------
def test_shape_free_lists_counts_and_no_merges() -> None:
    zone = BuddyAllocator(0, 1 << 14, 10)
    zone.online(0, 1 << 14)
    target = (3, 0, 2, 1, 0, 0, 0, 0, 0, 1, 4)
    shape_free_lists(zone, target)
    assert zone.nr_free_all() == target
    zone.validate()
    pfn = zone.alloc_pages(0)  # take an order-0 block and give it back: nothing merges
    assert pfn is not None
    zone.free_pages(pfn, 0)
    assert zone.nr_free_all() == target


def test_shape_free_lists_too_little_memory() -> None:
    zone = BuddyAllocator(0, 1 << 11, 10)
    zone.online(0, 1 << 11)
    with pytest.raises(ValueError, match="needs"):
        shape_free_lists(zone, (0,) * 10 + (3,))


def test_shape_target_takes_unmovable_lists() -> None:
    assert shape_target((5, 5, 9), (1, 2, 0)) == (1, 2, 9)
    assert shape_target((5, 5, 9), None) == (5, 5, 9)


def test_model_side_runs_a_case_like_the_kernel() -> None:
    c = compile_scenario(
        loads_scenario(
            case(
                "x",
                call("mmap", length=5 * 4096, save="a"),
                call("poke", addr="$a", data="hi"),
                call("peek", addr="$a", count=2),
                call("brk", addr=0),
                step("start", parent="p", name="c", path="/tmp/p"),
                step("exit", proc="c", status=4, reap=True),
                files=flat_file("/tmp/p", 4160, 64, 0, ram=True),
            ).toml,
            "x",
        ),
        kernel="6.1",
    )
    flat = probe_flat(b"\x13\x00\x00\x00" * 8)
    kernel_before = Observed(
        before=(3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 8), unmovable=(3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0)
    )
    model = run_model(c, flat, [Observed(), Observed(), kernel_before])
    mmap = model[2]
    assert mmap.before == (3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 8)
    # 5 pages need order 3; orders 3..9 are empty, so a top-order block is split, and
    # the 3 pages past the 5 are trimmed back as an order-0 and an order-1 block
    assert mmap.delta == (1, 1, 0, 1, 1, 1, 1, 1, 1, 1, -1)
    assert mmap.mem_delta is not None and mmap.mem_delta["MmapCopy"] == 20
    assert model[4].data == b"hi"
    assert model[7].ret == 0 and model[9].wait == (2, 4 << 8)


# -- the comparison ----------------------------------------------------------------------------
def two_sided(model: list[Observed], kernel: list[Observed]) -> list[str]:
    c = compile_scenario(
        loads_scenario(
            case(
                "x",
                call("mmap", length=8192, save="a"),
                call("mmap", length=4096),
                call("mremap", addr="$a", old_size=8192, new_size=4096),
            ).toml,
            "x",
        )
    )
    return compare_case(c, model, kernel, kernel_pid=14).differences


def obs(ret: int, delta: tuple[int, ...] = (), **mem: int) -> Observed:
    return Observed(ret=ret, delta=delta, mem_delta=dict(mem))


def test_compare_addresses_as_relations() -> None:
    model = [obs(2), obs(0x1000, (-1,)), obs(0x9000, (-1,)), obs(0x1000)]
    kernel = [obs(2), obs(0x80500000, (-1,)), obs(0x80400000, (-1,)), obs(0x80500000)]
    assert two_sided(model, kernel) == []
    kernel[3] = obs(0x80400000)
    assert two_sided(model, kernel) == ["#3 mremap($1, 8K, 4K, 0, 0): result: model $1, kernel $2"]


def test_compare_errno_free_lists_and_meminfo() -> None:
    model = [obs(2), obs(-12), obs(0x9000, (1, -1), MmapCopy=4), obs(-22)]
    kernel = [obs(2), obs(-12), obs(0x80400000, (0, -1, 1), MmapCopy=8), obs(-22)]
    assert two_sided(model, kernel) == [
        "#2 mmap(0, 4K, 3, 34, -1, 0): MmapCopy: model +4 kB, kernel +8 kB",
        "#2 mmap(0, 4K, 3, 34, -1, 0): free lists: model +1x1p -1x2p, kernel -1x2p +1x4p",
    ]


def test_compare_free_lists_as_totals_when_the_slab_moved() -> None:
    model = [obs(2), obs(0x1000, (0, -1)), obs(0x9000, (-1,)), obs(0x1000)]
    kernel = [obs(2), obs(0x80000000, (-1, -1), Slab=4), obs(0x90000000, (-1,)), obs(0x80000000)]
    assert two_sided(model, kernel) == []


def test_compare_log_and_maps_text() -> None:
    side = _Side(14)
    assert normalize_log(
        [
            "------------[ cut here ]------------",
            "WARNING: CPU: 0 PID: 14 at mm/page_alloc.c:5634 __alloc_pages+0x62/0x590",
            "[<000000008005135e>] __alloc_pages+0x62/0x590",
            " ra : __alloc_pages_node+0x54/0x74",
            "nommu: Allocation of length 8 from process 14 (init) failed",
        ],
        side,
    ) == [
        "WARNING: at mm/page_alloc.c __alloc_pages",
        "nommu: Allocation of length 8 from process <self> (init) failed",
    ]
    side.maps.append((3, 0x80400000, 0x2000))
    text = (
        "80600000-80684000 rwxp 00000000 00:00 0   [stack]\n"
        "80400000-80402000 r--s 00000000 00:0f 7   /tmp/f\n"
    )
    assert side.text(text, "/proc/self/maps") == (
        "$3 len=0x2000 r--s 00000000 dev1 ino1 /tmp/f\nA1 len=0x84000 rwxp 00000000 00:00 0 [stack]"
    )


def test_compare_reports_a_short_kernel_run() -> None:
    c = compile_scenario(loads_scenario(case("x", call("mmap", length=4096)).toml, "x"))
    r = compare_case(c, [obs(2), obs(1)], [obs(2)], finished=False)
    assert not r.agrees and "stopped after 1 of 2" in r.problems[0]


# -- the kernel build -------------------------------------------------------------------------
def test_config_fragment_by_version() -> None:
    f61, f612 = config_fragment("6.1"), config_fragment("6.12")
    for text in (f61, f612):
        assert "# CONFIG_SMP is not set\n" in text
        assert "CONFIG_BLK_DEV_INITRD=y\n" in text
        assert "# CONFIG_MMAP_ALLOW_UNINITIALIZED is not set\n" in text
    assert "BINFMT_ELF_FDPIC" not in f61 and "CONFIG_BINFMT_ELF_FDPIC=y\n" in f612


def test_build_plan_commands(tmp_path: Path) -> None:
    plan = plan_build(str(tmp_path), "6.1", jobs=2)
    assert plan.tarball == "/usr/src/linux-source-6.1.tar.xz"
    assert plan.commands[0] == ("tar", "-xf", plan.tarball, "-C", str(tmp_path))
    make = ("make", "-C", plan.tree, "ARCH=riscv", "CROSS_COMPILE=riscv64-linux-gnu-")
    assert plan.commands[1] == (*make, "nommu_virt_defconfig")
    assert "merge_config.sh -m .config" in plan.commands[2][2]
    assert plan.commands[-1] == (*make, "-j2", "Image")
    assert plan.image_out == str(tmp_path / "Image-6.1-riscv64-nommu")
    with pytest.raises(ValueError, match=r"6\.1, 6\.12"):
        plan_build(str(tmp_path), "5.10")


def test_build_kernel_runs_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nommu.oracle.kernel_build as kb

    ran: list[tuple[str, ...]] = []
    plan = plan_build(str(tmp_path), "6.12")

    def fake_run(cmd: tuple[str, ...]) -> int:
        ran.append(tuple(cmd))
        if cmd[-1] == "Image":
            boot = Path(plan.tree, "arch", "riscv", "boot")
            boot.mkdir(parents=True)
            (boot / "Image").write_bytes(b"kernel")
        return 0

    monkeypatch.setattr(kb, "check_host", lambda plan: None)
    out = build_kernel(str(tmp_path), "6.12", run=fake_run)  # type: ignore[arg-type]
    assert ran == list(plan.commands)
    assert Path(out).read_bytes() == b"kernel"
    assert Path(plan.fragment_path).read_text() == config_fragment("6.12")


def test_build_kernel_names_the_source_package(tmp_path: Path) -> None:
    if os.path.exists("/usr/src/linux-source-6.1.tar.xz"):
        pytest.skip("linux-source-6.1 is installed")
    with pytest.raises(MissingComponent, match=r"apt-get install linux-source-6\.1"):
        build_kernel(str(tmp_path), "6.1")


# -- the command -------------------------------------------------------------------------------
def test_command_build_kernel_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["oracle", "--build-kernel", str(tmp_path), "--version", "6.1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "CONFIG_PROC_SYSCTL=y" in out and "nommu_virt_defconfig" in out


def test_command_without_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NOMMU_KERNEL", raising=False)
    monkeypatch.setenv("NOMMU_CACHE", str(tmp_path))
    f = tmp_path / "s.toml"
    f.write_text(CASES[0].toml)
    assert main(["oracle", str(f)]) == 2
    assert "no kernel image" in capsys.readouterr().err


def test_command_missing_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.toml"
    f.write_text(CASES[0].toml)
    assert main(["oracle", str(f), "--kernel", str(tmp_path / "nope")]) == 2
    assert "no such kernel image" in capsys.readouterr().err


def test_command_refuses_an_op(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("riscv64-linux-gnu-gcc") is None or shutil.which("qemu-system-riscv64") is None:
        pytest.skip("needs gcc-riscv64-linux-gnu and qemu-system-misc to get past the tools")
    f = tmp_path / "s.toml"
    f.write_text(case("x", call("shmget", size=4096)).toml)
    image = tmp_path / "Image"
    image.write_bytes(b"Linux version 6.1.192 (x)")
    assert main(["oracle", str(f), "--kernel", str(image)]) == 2
    err = capsys.readouterr().err
    assert "op 'shmget' is not in the oracle's subset" in err and err.count("\n") == 1


def test_qemu_command_is_under_timeout() -> None:
    cmd = qemu_command(Toolchain("gcc", "qemu-system-riscv64"), "Image", "i.cpio", 64)
    assert cmd[:4] == ["timeout", "-k", "5", "300"]
    assert cmd[cmd.index("-m") + 1] == "64M" and "-no-reboot" in cmd


def test_parse_console() -> None:
    runs = parse_console(
        "junk\n@@S\n@@C 0\n@@P 0 14\n@@B b1 1 2 3\n@@U b1 1 0 0\n"
        "@@M b1 MemFree=10 MmapCopy=0\n@@d 1 0:-1 2:1 | MmapCopy:4\n@@R 1 -12\n"
        "@@D 1 6869\n@@W 2 15 768\n@@K 2 "
        + b"4,120,333,-;nommu: x\\x3d1\n SUBSYSTEM=mem\n".hex()
        + "\n"
        "@@E\n@@X 0 0\n@@Z\n",
        1,
    )
    r = runs[0]
    assert r.finished and r.status == 0 and r.pid == 14
    o = r.ops[1]
    assert o.before == (1, 2, 3) and o.unmovable == (1, 0, 0) and o.ret == -12
    assert o.delta == (-1, 0, 1) + (0,) * 8 and o.mem_delta == {"MmapCopy": 4}
    assert o.data == b"hi" and r.ops[2].wait == (15, 768) and r.ops[2].klog == ["nommu: x=1"]


def test_arch_syscalls() -> None:
    assert RISCV.syscall("mmap") == 222 and RISCV.syscall("brk") == 214
    arm = arch_profile("arm")
    assert arm.syscall("mmap") == 192 and arm.syscall("exit_group") == 248
    with pytest.raises(ValueError, match="no system call 'fork'"):
        RISCV.syscall("fork")
    assert nommu.Machine(arch="riscv64").arch.syscall("munmap") == 215
