"""The differential suite's cases: small scenarios the oracle runs on both kernels.

Each case is a scenario text (docs/scenarios.md) built from a few helpers, so
the catalogue reads as a list of what is checked. Every case starts with
``spawn p`` (the probe's own process) on a 64 MiB riscv64 board.
"""

from __future__ import annotations

from dataclasses import dataclass

P = 4096


@dataclass(frozen=True)
class Case:
    name: str
    toml: str


def _v(x: object) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_v(i) for i in x) + "]"
    if isinstance(x, dict):
        return "{ " + ", ".join(f"{k} = {_v(v)}" for k, v in x.items()) + " }"
    return '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"'


def step(op: str, **kw: object) -> str:
    body = "".join(f"{k} = {_v(v)}\n" for k, v in kw.items())
    return f'[[step]]\nop = "{op}"\n{body}\n'


def call(op: str, **kw: object) -> str:
    return step(op, proc="p", **kw)


def case(name: str, *steps: str, trim: int | None = None, files: str = "") -> Case:
    board = '[board]\narch = "riscv64"\nram = "64M"\n'
    if trim is not None:
        board += f"nr_trim_pages = {trim}\n"
    text = f'[scenario]\nname = "{name}"\n\n{board}\n{files}' + step("spawn", name="p")
    return Case(name, text + "".join(steps))


def flat_file(path: str, text: int, data: int, bss: int, *, ram: bool, stack: int = 4096) -> str:
    spec = {"text": text, "data": data, "bss": bss, "stack": stack, "ram": ram}
    return f"[[file]]\npath = {_v(path)}\nflat = {_v(spec)}\n\n"


def maps() -> str:
    return step("expect", file="/proc/self/maps", contains="")


def anon_cycle(pages: int) -> list[str]:
    """mmap, a store and a load at both ends, munmap.

    No maps read in between: opening a /proc file makes 6.1's SLOB take a page,
    sometimes one of the trimmed pieces, which then cannot merge back at the munmap
    (the kernel's own pages, not modelled); other cases read the maps.
    """
    n = pages * P
    return [
        call("mmap", length=n, save="a"),
        call("poke", addr="$a", data="head"),
        call("poke", addr=f"$a+{n - 4}", data="tail"),
        call("peek", addr="$a", count=4),
        call("peek", addr=f"$a+{n - 4}", count=4),
        call("munmap", addr="$a", length=n),
    ]


def ramfs_file(path: str, size: int, *, fd: str = "f") -> list[str]:
    """A ramfs file made as the contiguity idiom says: size first, then the bytes."""
    return [
        call("open", path=path, flags="O_RDWR|O_CREAT", mode="0644", save=fd),
        call("ftruncate", fd=f"${fd}", length=size),
        call("write", fd=f"${fd}", length=min(size, 3 * P)),
    ]


def catalogue() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # -- anonymous mmap of every interesting size, with each trim setting ---------
    for trim in (0, 1, 4):
        for pages in (1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 33, 100):
            add(case(f"anon-{pages}p-trim{trim}", *anon_cycle(pages), trim=trim))
    add(
        case(
            "anon-sub-page",
            call("mmap", length=100, save="a"),
            maps(),
            call("munmap", addr="$a", length=100),
        )
    )
    add(
        case("anon-4M", call("mmap", length="4M", save="a"), call("munmap", addr="$a", length="4M"))
    )
    add(case("anon-too-big", call("mmap", length="8M")))
    add(case("anon-huge", call("mmap", length="100M")))
    add(
        case(
            "anon-two-then-free-first",
            call("mmap", length=3 * P, save="a"),
            call("mmap", length=3 * P, save="b"),
            call("munmap", addr="$a", length=3 * P),
            maps(),
            call("munmap", addr="$b", length=3 * P),
        )
    )
    add(case("anon-many", *[call("mmap", length=(i % 5 + 1) * P) for i in range(20)], maps()))
    # -- mmap argument checks ---------------------------------------------------------
    add(case("mmap-len0", call("mmap", length=0)))
    add(
        case(
            "mmap-fixed",
            call("mmap", addr="0x80000000", length=P, flags="MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED"),
        )
    )
    add(case("mmap-no-type", call("mmap", length=P, flags="MAP_ANONYMOUS")))
    add(
        case(
            "mmap-shared-anon",
            call("mmap", length=2 * P, flags="MAP_SHARED|MAP_ANONYMOUS", save="a"),
            maps(),
        )
    )
    add(case("mmap-bad-fd", call("mmap", length=P, flags="MAP_PRIVATE", fd=42)))
    add(
        case(
            "mmap-offset-misaligned",
            *ramfs_file("/tmp/f", P),
            call("mmap", length=P, flags="MAP_PRIVATE", fd="$f", offset=100),
        )
    )
    add(case("mmap-prot-none", call("mmap", length=P, prot="none", save="a"), maps()))
    add(case("mmap-rwx-anon", call("mmap", length=P, prot="rwx", save="a"), maps()))
    # -- munmap ------------------------------------------------------------------------
    add(
        case(
            "munmap-head",
            call("mmap", length=4 * P, save="a"),
            call("munmap", addr="$a", length=P),
            maps(),
        )
    )
    add(
        case(
            "munmap-tail",
            call("mmap", length=4 * P, save="a"),
            call("munmap", addr=f"$a+{3 * P}", length=P),
            maps(),
        )
    )
    add(
        case(
            "munmap-tail-untrimmed",
            call("mmap", length=5 * P, save="a"),
            call("munmap", addr=f"$a+{4 * P}", length=P),
            maps(),
            trim=0,
        )
    )
    add(
        case(
            "munmap-hole",
            call("mmap", length=4 * P, save="a"),
            call("munmap", addr=f"$a+{P}", length=P),
            maps(),
        )
    )
    add(
        case(
            "munmap-misaligned",
            call("mmap", length=P, save="a"),
            call("munmap", addr="$a+1", length=P),
        )
    )
    add(
        case(
            "munmap-nothing",
            call("mmap", length=P, save="a"),
            call("munmap", addr=f"$a+{64 * P}", length=P),
        )
    )
    add(case("munmap-len0", call("mmap", length=P, save="a"), call("munmap", addr="$a", length=0)))
    add(
        case(
            "munmap-twice",
            call("mmap", length=P, save="a"),
            call("munmap", addr="$a", length=P),
            call("munmap", addr="$a", length=P),
        )
    )
    # -- mremap ------------------------------------------------------------------------
    add(
        case(
            "mremap-shrink",
            call("mmap", length=4 * P, save="a"),
            call("mremap", addr="$a", old_size=4 * P, new_size=2 * P),
            maps(),
        )
    )
    add(
        case(
            "mremap-grow-in-slack",
            call("mmap", length=3 * P, save="a"),
            call("mremap", addr="$a", old_size=3 * P, new_size=4 * P),
            maps(),
            trim=0,
        )
    )
    add(
        case(
            "mremap-grow-beyond",
            call("mmap", length=4 * P, save="a"),
            call("mremap", addr="$a", old_size=4 * P, new_size=8 * P),
        )
    )
    add(
        case(
            "mremap-maymove",
            call("mmap", length=4 * P, save="a"),
            call("mremap", addr="$a", old_size=4 * P, new_size=16 * P, flags="MREMAP_MAYMOVE"),
        )
    )
    add(
        case(
            "mremap-fixed",
            call("mmap", length=4 * P, save="a"),
            call(
                "mremap",
                addr="$a",
                old_size=4 * P,
                new_size=4 * P,
                flags="MREMAP_MAYMOVE|MREMAP_FIXED",
                new_addr="$a",
            ),
        )
    )
    add(
        case(
            "mremap-wrong-size",
            call("mmap", length=4 * P, save="a"),
            call("mremap", addr="$a", old_size=2 * P, new_size=P),
        )
    )
    add(
        case(
            "mremap-same",
            call("mmap", length=2 * P, save="a"),
            call("mremap", addr="$a", old_size=2 * P, new_size=2 * P),
        )
    )
    # -- brk (the probe's own brk area) ------------------------------------------------
    add(case("brk-query", call("brk", addr=0)))
    add(
        case(
            "brk-small",
            call("brk", addr=0, save="b"),
            call("brk", addr="$b+64"),
            call("brk", addr="$b"),
        )
    )
    add(case("brk-beyond", call("brk", addr=0, save="b"), call("brk", addr="$b+1M")))
    add(case("brk-below", call("brk", addr=0, save="b"), call("brk", addr="$b-64")))
    # -- ramfs: contiguity, sharing, copies --------------------------------------------
    for pages in (1, 2, 3, 4, 8):
        add(
            case(
                f"ramfs-shared-{pages}p",
                *ramfs_file("/tmp/f", pages * P),
                call("mmap", length=pages * P, flags="MAP_SHARED", fd="$f", save="a"),
                call("mmap", length=pages * P, flags="MAP_SHARED", fd="$f", save="b"),
                call("peek", addr="$b", count=16),
                maps(),
            )
        )
    add(
        case(
            "ramfs-private-ro",
            *ramfs_file("/tmp/f", 2 * P),
            call("mmap", length=2 * P, prot="r--", flags="MAP_PRIVATE", fd="$f", save="a"),
            maps(),
        )
    )
    add(
        case(
            "ramfs-private-rw",
            *ramfs_file("/tmp/f", 2 * P),
            call("mmap", length=2 * P, prot="rw", flags="MAP_PRIVATE", fd="$f", save="a"),
            call("poke", addr="$a", data="x"),
            call("read", fd="$f", count=4),
            maps(),
        )
    )
    add(
        case(
            "ramfs-shared-offset",
            *ramfs_file("/tmp/f", 4 * P),
            call("mmap", length=2 * P, flags="MAP_SHARED", fd="$f", offset=2 * P, save="a"),
            maps(),
        )
    )
    add(
        case(
            "ramfs-shared-past-eof",
            *ramfs_file("/tmp/f", 2 * P),
            call("mmap", length=4 * P, flags="MAP_SHARED", fd="$f"),
        )
    )
    add(
        case(
            # written page by page: whether several pages come out as one run is
            # physical placement, so only a one-page file is a case
            "ramfs-written-one-page",
            call("open", path="/tmp/g", flags="O_RDWR|O_CREAT", save="g"),
            call("write", fd="$g", length=P),
            call("mmap", length=P, flags="MAP_SHARED", fd="$g", save="a"),
            maps(),
        )
    )
    add(
        case(
            "ramfs-empty-shared",
            call("open", path="/tmp/e", flags="O_RDWR|O_CREAT", save="e"),
            call("mmap", length=P, flags="MAP_SHARED", fd="$e"),
        )
    )
    add(
        case(
            "ramfs-truncate-grow-again",
            *ramfs_file("/tmp/f", 2 * P),
            call("ftruncate", fd="$f", length=4 * P),
        )
    )
    add(
        case(
            "ramfs-truncate-shrink",
            *ramfs_file("/tmp/f", 4 * P),
            call("ftruncate", fd="$f", length=P),
        )
    )
    add(
        case(
            "ramfs-truncate-too-big",
            call("open", path="/tmp/b", flags="O_RDWR|O_CREAT", save="b"),
            call("ftruncate", fd="$b", length="8M"),
        )
    )
    add(
        case(
            "ramfs-read-back",
            *ramfs_file("/tmp/f", 2 * P),
            call("lseek", fd="$f", offset=0),
            call("read", fd="$f", count=32),
        )
    )
    add(
        case(
            "ramfs-hole-read",
            call("open", path="/tmp/h", flags="O_RDWR|O_CREAT", save="h"),
            call("lseek", fd="$h", offset=2 * P),
            call("write", fd="$h", data="end"),
            call("lseek", fd="$h", offset=0),
            call("read", fd="$h", count=16),
        )
    )
    add(
        case(
            "ramfs-unlink-mapped",
            *ramfs_file("/tmp/f", 2 * P),
            call("mmap", length=2 * P, flags="MAP_SHARED", fd="$f", save="a"),
            call("close", fd="$f"),
            call("unlink", path="/tmp/f"),
            call("munmap", addr="$a", length=2 * P),
        )
    )
    add(
        case(
            "ramfs-mkdir",
            call("mkdir", path="/tmp/d"),
            call("mkdir", path="/tmp/d"),
            call("open", path="/tmp/d/x", flags="O_RDWR|O_CREAT"),
        )
    )
    add(case("ramfs-open-missing", call("open", path="/tmp/none")))
    add(
        case(
            "ramfs-shared-write-visible",
            *ramfs_file("/tmp/f", P),
            call("mmap", length=P, flags="MAP_SHARED", fd="$f", save="a"),
            call("poke", addr="$a", data="seen"),
            call("lseek", fd="$f", offset=0),
            call("read", fd="$f", count=4),
        )
    )
    # -- devices -----------------------------------------------------------------------
    add(
        case(
            "dev-zero-private",
            call("open", path="/dev/zero", flags="O_RDWR", save="z"),
            call("mmap", length=2 * P, flags="MAP_PRIVATE", fd="$z"),
        )
    )
    add(
        case(
            "dev-zero-shared",
            call("open", path="/dev/zero", flags="O_RDWR", save="z"),
            call("mmap", length=2 * P, flags="MAP_SHARED", fd="$z"),
        )
    )
    add(
        case(
            "dev-null-mmap",
            call("open", path="/dev/null", flags="O_RDWR", save="n"),
            call("mmap", length=P, flags="MAP_PRIVATE", fd="$n"),
        )
    )
    add(
        case(
            "dev-null-read",
            call("open", path="/dev/null", save="n"),
            call("read", fd="$n", count=10),
        )
    )
    add(
        case(
            "dev-zero-read",
            call("open", path="/dev/zero", save="z"),
            call("read", fd="$z", count=8),
        )
    )
    # -- programs: vfork + exec of bFLT ------------------------------------------------
    for ram in (True, False):
        tag = "ram" if ram else "xip"
        files = flat_file("/tmp/prog", 8256, 2048, 2048, ram=ram)
        add(
            case(
                f"exec-{tag}",
                step("start", parent="p", name="c", path="/tmp/prog"),
                step("exit", proc="c", status=7, reap=True),
                files=files,
            )
        )
        add(
            case(
                f"exec-{tag}-etxtbsy",
                step("start", parent="p", name="c", path="/tmp/prog"),
                call("open", path="/tmp/prog", flags="O_WRONLY"),
                call("truncate", path="/tmp/prog", length=0),
                step("exit", proc="c", status=0, reap=True),
                call("open", path="/tmp/prog", flags="O_WRONLY"),
                files=files,
            )
        )
        add(
            case(
                f"exec-{tag}-twice",
                step("start", parent="p", name="c", path="/tmp/prog"),
                step("start", parent="p", name="d", path="/tmp/prog"),
                step("exit", proc="c", status=1, reap=True),
                step("exit", proc="d", status=2, reap=True),
                files=files,
            )
        )
        add(
            case(
                f"exec-{tag}-kill",
                step("start", parent="p", name="c", path="/tmp/prog"),
                step("kill", proc="c", signal=9),
                step("wait", proc="p"),
                files=files,
            )
        )
        add(
            case(
                f"exec-{tag}-big-bss",
                step("start", parent="p", name="c", path="/tmp/prog"),
                step("exit", proc="c", reap=True),
                files=flat_file("/tmp/prog", 4160, 1024, 200000, ram=ram),
            )
        )
        add(
            case(
                f"exec-{tag}-vfork",
                step("vfork", proc="p", child="c"),
                step("exec", proc="c", path="/tmp/prog", argv=["prog", "-x"]),
                step("exit", proc="c", status=5, reap=True),
                files=files,
            )
        )
    add(
        case(
            "exec-missing",
            step("start", parent="p", name="c", path="/tmp/none"),
            step("wait", proc="p"),
        )
    )
    add(
        case(
            "exec-not-executable",
            *ramfs_file("/tmp/f", P),
            step("start", parent="p", name="c", path="/tmp/f"),
            step("wait", proc="p"),
        )
    )
    add(
        case(
            "exec-garbage",
            step("start", parent="p", name="c", path="/tmp/g"),
            step("wait", proc="p"),
            files='[[file]]\npath = "/tmp/g"\ncontent = "not a program"\nexecutable = true\n\n',
        )
    )
    add(case("exec-dir", step("start", parent="p", name="c", path="/tmp"), step("wait", proc="p")))
    add(case("wait-no-child", step("wait", proc="p")))
    # -- /proc text and sysctl ---------------------------------------------------------
    add(case("proc-maps-empty", maps()))
    add(case("proc-trim-read", step("sysctl", name="vm.nr_trim_pages")))
    add(
        case(
            "proc-trim-set",
            step("sysctl", name="vm.nr_trim_pages", value=3),
            step("sysctl", name="vm.nr_trim_pages"),
        )
    )
    add(case("proc-statm", step("expect", file="/proc/self/statm", contains="")))
    add(case("proc-cmdline", step("expect", file="/proc/self/cmdline", contains="")))
    add(case("proc-status", step("expect", file="/proc/self/status", contains="")))
    add(
        case(
            "proc-maps-file",
            *ramfs_file("/tmp/f", 2 * P),
            call("mmap", length=2 * P, flags="MAP_SHARED", fd="$f"),
            call("mmap", length=P, prot="r--", flags="MAP_PRIVATE", fd="$f"),
            maps(),
        )
    )
    add(
        case(
            "proc-maps-child-prog",
            step("start", parent="p", name="c", path="/tmp/prog"),
            maps(),
            step("exit", proc="c", reap=True),
            files=flat_file("/tmp/prog", 8256, 2048, 2048, ram=False),
        )
    )
    return cases


CASES = catalogue()
