"""/proc/<pid>/status, statm and cmdline (fs/proc/task_nommu.c, fs/proc/base.c)."""

from __future__ import annotations

import nommu
from exec_helpers import ANON, RW, P, fdpic_prog, flat_prog, install, run, z1024
from nommu.process import K_FILES, K_FS, K_MM, K_REGION, K_SIGHAND, K_TASK, K_VMA


def _field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)


def test_status_identity_lines() -> None:
    m = z1024()
    sh = m.spawn(name="sh")
    install(sh, "/bin/a-very-long-program-name", flat_prog())
    p = run(sh, "/bin/a-very-long-program-name", ["x"])
    st = m.cat(f"/proc/{p.pid}/status")
    assert st.startswith("Name:\ta-very-long-pro\nUmask:\t0022\nState:\tR (running)\n")
    assert _field(st, "Pid") == str(p.pid) and _field(st, "PPid") == str(sh.pid)
    assert _field(st, "Tgid") == str(p.pid)
    lines = st.splitlines()
    assert (
        lines.index(next(ln for ln in lines if ln.startswith("Mem:")))
        == lines.index(next(ln for ln in lines if ln.startswith("Kthread:"))) + 1
    )
    assert [
        ln.split(":")[0]
        for ln in lines[lines.index(next(ln for ln in lines if ln.startswith("Mem:"))) :][:4]
    ] == ["Mem", "Slack", "Shared", "CoreDumping"]
    p.exit(0)
    zombie = m.cat(f"/proc/{p.pid}/status")
    assert _field(zombie, "State") == "Z (zombie)" and "Mem:" not in zombie
    c = sh.vfork()
    assert _field(m.cat(f"/proc/{sh.pid}/status"), "State") == "D (disk sleep)"
    c.exit(0)


def test_task_mem_formula() -> None:
    """Mem counts private VMAs and their regions; shareable VMAs go to Shared."""
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog(text_len=0x3040))  # case A: text shareable
    p = run(sh, "/bin/prog")
    a = p.mmap(0, 3 * P, RW, ANON)
    fd = p.open("/tmp/s", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 2 * P)
    p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd, 0)
    p.mremap(a, 3 * P, 2 * P)  # mainline: the VMA shrinks, the region does not: Slack
    mm = p.mm
    assert mm is not None
    text = 0x4000  # PAGE_ALIGN(0x3040) direct overlay of the page cache
    data = 0x3000
    mem = (
        4 * K_VMA + K_REGION + data + K_REGION + 3 * P + K_MM + K_FS + K_FILES + K_SIGHAND + K_TASK
    )
    shared = 2 * K_REGION + text + 2 * P
    st = m.cat(f"/proc/{p.pid}/status")
    assert _field(st, "Mem") == f"{mem} bytes"
    assert _field(st, "Slack") == f"{P} bytes"
    assert _field(st, "Shared") == f"{shared} bytes"
    # the reader's own descriptor table counts: a CLONE_FILES sibling reads it as shared
    twin = p.clone(nommu.CLONE_FILES | nommu.SIGCHLD)
    fd2 = twin.open(f"/proc/{p.pid}/status", nommu.O_RDONLY)
    seen = twin.read(fd2, 4096).decode()
    assert _field(seen, "Shared") == f"{shared + K_FILES} bytes"
    assert _field(seen, "Mem") == f"{mem - K_FILES} bytes"


def test_C127_statm() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog(text_len=0x3040))
    p = run(sh, "/bin/prog")
    mm = p.mm
    assert mm is not None
    text = ((mm.end_code + P - 1) // P * P - (mm.start_code & ~(P - 1))) // P
    data = ((mm.start_stack + P - 1) // P * P - (mm.start_data & ~(P - 1))) // P
    size = ((K_MM + 2 * K_VMA + 2 * K_REGION + 0x4000 + 0x3000) >> 12) + text + data
    assert (text, data) == (4, 3)
    assert m.cat(f"/proc/{p.pid}/statm") == f"{size} {size} 0 {text} 0 {data} 0\n"


def test_statm_wraps_like_unsigned_long() -> None:
    """FDPIC: the stack may lie below the data; the kernel's unsigned arithmetic wraps."""
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/f", fdpic_prog(gnu_stack=(8192, False)))
    p = run(sh, "/bin/f")
    mm = p.mm
    assert mm is not None
    fields = [int(x) for x in m.cat(f"/proc/{p.pid}/statm").split()]
    data = ((((mm.start_stack + P - 1) & ~(P - 1)) - (mm.start_data & ~(P - 1))) & 0xFFFFFFFF) >> 12
    assert fields[5] == data and all(0 <= f < 1 << 32 for f in fields)


def test_cmdline_is_read_from_the_stack() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog())
    assert m.cat(f"/proc/{sh.pid}/cmdline") == ""  # never exec'd
    p = run(sh, "/bin/prog", ["prog", "-x", "file name"])
    assert m.cat(f"/proc/{p.pid}/cmdline") == "prog\0-x\0file name\0"
    mm = p.mm
    assert mm is not None
    p.poke(mm.arg_start, b"P")  # programs may rewrite their arguments
    assert m.cat(f"/proc/{p.pid}/cmdline").startswith("Prog\0")
    q = run(sh, "/bin/prog", [])  # v5.18+: an empty argv gets "" as argv[0]
    assert m.cat(f"/proc/{q.pid}/cmdline") == "\0"
    assert any("with NULL argv: empty string added" in ln for ln in m.dmesg())
