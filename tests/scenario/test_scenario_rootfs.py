"""Booting a real root filesystem: a romfs image at / or a cpio initramfs, and its init."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nommu.binfmt.flat_format import build_flat
from nommu.report import render_text, report_data
from nommu.scenario import ScenarioError, loads_scenario, run_scenario
from shared_data import REAL_ROOTFS


def newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive (what gen_init_cpio writes) of (name, mode, data) entries."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], 1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        out += b"070701" + b"".join(f"{v:08X}".encode() for v in fields) + raw
        out += bytes(-len(out) % 4) + data
        out += bytes(-len(out) % 4)
    return bytes(out)


PROG = 0o100755
DIR = 0o040755
LINK = 0o120777


def _image(inittab: str, rc: str) -> bytes:
    prog = build_flat(12288, 2048, 4096, 4096, 20)
    return newc(
        [
            ("bin", DIR, b""),
            ("sbin", DIR, b""),
            ("etc", DIR, b""),
            ("bin/busybox", PROG, prog),
            ("bin/sh", LINK, b"busybox"),
            ("sbin/init", LINK, b"../bin/busybox"),
            ("sbin/syslogd", PROG, build_flat(8192, 1024, 2048, 4096, 10)),
            ("sbin/ifup", PROG, build_flat(8192, 1024, 2048, 4096, 10)),
            ("bin/httpd", PROG, build_flat(16384, 4096, 8192, 4096, 30)),
            ("etc/inittab", 0o100644, inittab.encode()),
            ("etc/rc", 0o100755, rc.encode()),
        ]
    )


SCENARIO = """
[board]
ram = "4M"
kernel_reserved = "512K"
[root]
type = "cpio"
image = "initramfs.cpio"
[[step]]
op = "boot"
procs = {procs}
{more}
"""


def _boot(tmp_path: Path, inittab: str, rc: str, procs: str, more: str = "") -> object:
    (tmp_path / "initramfs.cpio").write_bytes(_image(inittab, rc))
    text = SCENARIO.format(procs=procs, more=more)
    return run_scenario(loads_scenario(text, "boot.toml", str(tmp_path)))


def test_a_cpio_initramfs_boots_through_inittab_and_rc(tmp_path: Path) -> None:
    inittab = (
        "# busybox format\n"
        "::sysinit:/etc/rc\n"
        "::once:/sbin/syslogd -n\n"
        "::respawn:-/bin/sh\n"
        "::ctrlaltdel:/sbin/reboot\n"
    )
    rc = 'hostname board   # a builtin\necho "up"\n/sbin/ifup eth0\nhttpd -p 80 &\n'
    r = _boot(
        tmp_path,
        inittab,
        rc,
        '["httpd", "syslogd", "sh"]',
        '[[step]]\nop = "mmap"\nproc = "httpd"\nlength = "64K"\nexpect = "ok"',
    )
    assert r.ok, r.failures  # type: ignore[attr-defined]
    assert list(r.boot) == [  # type: ignore[attr-defined]
        "kernel: started /sbin/init as init (pid 1)",
        "/etc/inittab:2 sysinit: /bin/sh /etc/rc (pid 2)",
        "/etc/rc:1: hostname board: a shell builtin or not a program here (noted)",
        "/etc/rc:2: echo up: a shell builtin or not a program here (noted)",
        "/etc/rc:3: /sbin/ifup eth0: ran (pid 3) and exited",
        "/etc/rc:4: httpd -p 80 &: started, stays as httpd (pid 4)",
        "/etc/inittab:3 once: /sbin/syslogd -n: started, stays as syslogd (pid 5)",
        "/etc/inittab:4 respawn: /bin/sh: started, stays as sh (pid 6)",
        "/etc/inittab:5: action ctrlaltdel is not run at boot",
    ]
    text = render_text(report_data(r))  # type: ignore[arg-type]
    assert "Boot (the root filesystem's init)" in text
    names = {row["name"] for row in report_data(r)["footprint"]}  # type: ignore[arg-type]
    assert names == {"init", "httpd", "syslogd", "sh"}  # comm: the name each was run by


def test_a_boot_exec_that_fails_is_held_against_the_run(tmp_path: Path) -> None:
    # 4 MiB of RAM, but the program asks for more than the largest block (max order 10)
    (tmp_path / "initramfs.cpio").write_bytes(
        newc(
            [
                ("sbin", DIR, b""),
                ("sbin/init", PROG, build_flat(8192, 1024, 2048, 4096, 10)),
                ("bin", DIR, b""),
                ("bin/huge", PROG, build_flat(8192, 1024, 5 << 20, 4096, 10)),
                ("etc", DIR, b""),
                ("etc/inittab", 0o100644, b"::respawn:/bin/huge\n"),
            ]
        )
    )
    r = run_scenario(
        loads_scenario(SCENARIO.format(procs="[]", more=""), "boot.toml", str(tmp_path))
    )
    assert not r.ok and r.unexpected_failures == 1  # type: ignore[attr-defined]
    assert r.failures[0].op == "exec" and r.failures[0].errno == "ENOMEM"  # type: ignore[attr-defined]
    assert r.boot[-1] == "/etc/inittab:1 respawn: /bin/huge: exec failed with ENOMEM"  # type: ignore[attr-defined]


def test_boot_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "bad.cpio").write_bytes(b"not an archive")
    text = SCENARIO.format(procs="[]", more="").replace("initramfs.cpio", "bad.cpio")
    with pytest.raises(ScenarioError, match=r"root: image: not a newc cpio archive at byte 0"):
        run_scenario(loads_scenario(text, "boot.toml", str(tmp_path)))
    with pytest.raises(ScenarioError, match=r"root.image: host file 'gone.cpio' does not exist"):
        loads_scenario(text.replace("bad.cpio", "gone.cpio"), "boot.toml", str(tmp_path))
    with pytest.raises(ScenarioError, match=r"root.type: expected 'romfs' or 'cpio'"):
        loads_scenario(text.replace('"cpio"', '"iso9660"'), "boot.toml", str(tmp_path))
    (tmp_path / "initramfs.cpio").write_bytes(_image("::respawn:/bin/sh\n", ""))
    text = SCENARIO.format(procs='["nginx"]', more="")
    with pytest.raises(ScenarioError, match=r"procs: the boot started no process named 'nginx'"):
        run_scenario(loads_scenario(text, "boot.toml", str(tmp_path)))


@pytest.mark.skipif(not os.path.exists(REAL_ROOTFS), reason=f"{REAL_ROOTFS} is not present")
def test_the_real_uclinux_image_boots_as_its_boot_log_shows() -> None:
    text = f"""
[board]
ram = "8M"
flash = "4M"
[root]
type = "romfs"
image = "{REAL_ROOTFS}"
[[step]]
op = "boot"
procs = ["dhcpcd", "inetd", "sh"]
[[step]]
op = "workload"
ticks = 50
[[step.launch]]
parent = "inetd"
path = "/bin/null"
rate = 0.5
lifetime = [1, 5]
"""
    r = run_scenario(loads_scenario(text, "real.toml"))
    assert r.ok, r.failures
    boot = list(r.boot)
    # /init is a symlink to /bin/init; init (simpleinit) runs /etc/rc in sash, whose
    # programs run (ifconfig, route) or stay (dhcpcd &), then inittab's inetd, then sash
    assert boot[0] == "kernel: started /init as init (pid 1)"
    assert boot[1] == "init: /bin/sh /etc/rc (pid 2)"
    assert "/etc/rc:15: ifconfig lo 127.0.0.1: ran (pid 3) and exited" in boot
    assert "/etc/rc:17: dhcpcd -p -a eth0 &: started, stays as dhcpcd (pid 5)" in boot
    assert boot[-2:] == [
        "/etc/inittab:1: /bin/inetd: started, stays as inetd (pid 6)",
        "init (console): /bin/sh: started, stays as sh (pid 7)",
    ]
    names = {row["name"] for row in report_data(r)["footprint"]}
    assert {"init", "dhcpcd", "inetd", "sh"} <= names
    # the image is on flash: one partition holding it
    (part,) = report_data(r)["flash"]["partitions"]
    assert part["bytes"] == 768 << 10 and part["type"] == "rom"
