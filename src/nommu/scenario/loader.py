"""Load a scenario file (TOML): check every key and value, convert, keep line numbers.

:func:`load_scenario` reads a file, :func:`loads_scenario` a string. Any
mistake raises :class:`~nommu.scenario.schema.ScenarioError`, whose text is
one line: ``FILE:LINE: field: what is wrong``, with fields written as
``step[3].length`` (arrays counted from 1, as a reader counts the
``[[step]]`` tables). Names are checked in script order: a process must be
created (``spawn``, ``vfork``, ``start``) before a step names it, and a
``$name`` must be saved before a step reads it.

Usage::

    scenario = load_scenario("board.toml")
    scenario.board.options["ram"], len(scenario.steps)
"""

from __future__ import annotations

import base64
import binascii
import difflib
import inspect
import os
import posixpath
import re
import tomllib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nommu.binfmt.elf_format import (
    ET_DYN,
    ET_EXEC,
    PF_R,
    PF_W,
    PF_X,
    SegmentSpec,
    build_elf,
    parse_elf,
)
from nommu.binfmt.flat_format import (
    FLAT_FLAG_GOTPIC,
    FLAT_FLAG_GZDATA,
    FLAT_FLAG_GZIP,
    FLAT_FLAG_RAM,
    build_flat,
    parse_flat_header,
)
from nommu.consts import MAP_ANONYMOUS, MAP_PRIVATE, O_RDONLY
from nommu.errors import Errno, SyscallError
from nommu.machine import Machine
from nommu.scenario import values as val
from nommu.scenario.schema import (
    EMPTY,
    Board,
    Churn,
    FileEntry,
    GlobalExpect,
    Launch,
    Location,
    MountSpec,
    Ref,
    RootSpec,
    Scenario,
    ScenarioError,
    SizeDist,
    Step,
    TickRange,
    Workload,
)
from nommu.scenario.toml_lines import Path, key_lines, line_of

#: Largest file a scenario may generate or read from the host.
MAX_FILE_SIZE = 64 << 20
#: Largest repeat count and workload length (a guard against typing mistakes).
MAX_COUNT = 100_000_000

#: Machine options that are not parameters of ``Machine.__init__`` itself.
MACHINE_EXTRA_OPTIONS = ("compressed_flat", "elf_as_fdpic", "fdpic_libraries", "sysv_shm")
#: Machine options read as sizes or addresses.
MACHINE_SIZE_OPTIONS = (
    "ram",
    "ram_base",
    "kernel_reserved",
    "flash",
    "flash_base",
    "page_size",
    "framebuffer",
    "framebuffer_base",
)


def machine_options() -> tuple[str, ...]:
    """The keys a ``[board]`` table may have (``Machine``'s keyword arguments)."""
    params = [
        name
        for name, p in inspect.signature(Machine.__init__).parameters.items()
        if name != "self" and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    return tuple(params) + MACHINE_EXTRA_OPTIONS


# Arguments of each op: key -> (reader, required, default). Readers are the names
# of _Loader methods below (``r_<reader>``).
ArgSpec = tuple[str, bool, Any]
_P = ("proc", True, None)
_PAYLOAD: dict[str, ArgSpec] = dict.fromkeys(
    ("data", "hex", "base64", "length"), ("payload", False, None)
)
OPS: dict[str, dict[str, ArgSpec]] = {
    "spawn": {"name": ("newproc", True, None), "comm": ("str", False, None)},
    "vfork": {"proc": _P, "child": ("newproc", True, None)},
    "exec": {
        "proc": _P,
        "path": ("path", True, None),
        "argv": ("strlist", False, None),
        "envp": ("strlist", False, ()),
    },
    "start": {
        "parent": _P,
        "name": ("newproc", True, None),
        "path": ("path", True, None),
        "argv": ("strlist", False, None),
        "envp": ("strlist", False, ()),
    },
    "exit": {"proc": _P, "status": ("int", False, 0), "reap": ("bool", False, False)},
    "wait": {"proc": _P},
    "kill": {"proc": _P, "signal": ("int", False, 9)},
    "mmap": {
        "proc": _P,
        "addr": ("addr", False, 0),
        "length": ("size", True, None),
        "prot": ("prot", False, 3),
        "flags": ("mmap_flags", False, None),
        "fd": ("int", False, -1),
        "offset": ("size", False, 0),
    },
    "munmap": {"proc": _P, "addr": ("addr", True, None), "length": ("size", True, None)},
    "mremap": {
        "proc": _P,
        "addr": ("addr", True, None),
        "old_size": ("size", True, None),
        "new_size": ("size", True, None),
        "flags": ("mremap_flags", False, 0),
        "new_addr": ("addr", False, 0),
    },
    "brk": {"proc": _P, "addr": ("addr", True, None)},
    "open": {
        "proc": _P,
        "path": ("path", True, None),
        "flags": ("open_flags", False, O_RDONLY),
        "mode": ("mode", False, 0o644),
    },
    "close": {"proc": _P, "fd": ("int", True, None)},
    "read": {"proc": _P, "fd": ("int", True, None), "count": ("size", True, None)},
    "write": {"proc": _P, "fd": ("int", True, None), **_PAYLOAD},
    "lseek": {
        "proc": _P,
        "fd": ("int", True, None),
        "offset": ("int", True, None),
        "whence": ("whence", False, 0),
    },
    "ftruncate": {"proc": _P, "fd": ("int", True, None), "length": ("size", True, None)},
    "truncate": {"proc": _P, "path": ("path", True, None), "length": ("size", True, None)},
    "unlink": {"proc": _P, "path": ("path", True, None)},
    "mkdir": {"proc": _P, "path": ("path", True, None), "mode": ("mode", False, 0o755)},
    "shmget": {
        "proc": _P,
        "key": ("ipc_key", False, 0),
        "size": ("size", True, None),
        "flags": ("ipc_flags", False, 0o600),
    },
    "shmat": {
        "proc": _P,
        "shmid": ("int", True, None),
        "addr": ("addr", False, 0),
        "flags": ("ipc_flags", False, 0),
    },
    "shmdt": {"proc": _P, "addr": ("addr", True, None)},
    "shmctl": {"proc": _P, "shmid": ("int", True, None), "cmd": ("ipc_flags", True, None)},
    "shm_open": {
        "proc": _P,
        "name": ("str", True, None),
        "flags": ("open_flags", False, 0o102),
        "mode": ("mode", False, 0o600),
    },
    "shm_unlink": {"proc": _P, "name": ("str", True, None)},
    "peek": {
        "proc": _P,
        "addr": ("addr", True, None),
        "count": ("size", True, None),
        "equals": ("payload", False, None),
        "equals_hex": ("payload", False, None),
    },
    "poke": {"proc": _P, "addr": ("addr", True, None), **_PAYLOAD},
    "sysctl": {"name": ("str", True, None), "value": ("int", False, None)},
    "snapshot": {"name": ("str", True, None)},
    "expect": {
        "file": ("path", False, None),
        "contains": ("str", False, None),
        "line": ("str", False, None),
        "regex": ("regex", False, None),
        "absent": ("str", False, None),
        "free_above": ("size", False, None),
        "largest_block_above": ("size", False, None),
    },
    "repeat": {"count": ("count", True, None), "var": ("name", False, "i")},
    "boot": {"init": ("path", False, None), "procs": ("newprocs", False, ("init",))},
    "workload": {
        "name": ("str", False, "workload"),
        "ticks": ("count", True, None),
        "seed": ("int", False, None),
        "snapshots": ("ticklist", False, ()),
        "drain": ("bool", False, True),
    },
}
#: Ops that are not system calls (no ``save``/``expect``).
CONTROL_OPS = ("snapshot", "expect", "repeat", "workload", "boot")
COMMON_KEYS = ("op", "note")
CALL_KEYS = ("save", "expect", "allow")
LAUNCH_KEYS = (
    "allow",
    "parent",
    "path",
    "argv",
    "envp",
    "rate",
    "lifetime",
    "alloc_rate",
    "size",
    "hold",
    "max_live",
)
CHURN_KEYS = ("proc", "rate", "size", "hold", "max_live", "allow")
#: Units of ``[scenario] tick``, in seconds.
TICK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
FILE_KEYS = (
    "path",
    "content",
    "base64",
    "hex",
    "size",
    "fill",
    "host",
    "format",
    "flat",
    "elf",
    "executable",
    "mode",
)
CONTENT_KEYS = ("content", "base64", "hex", "size", "host", "flat", "elf")
FLAT_KEYS = ("text", "data", "bss", "stack", "relocs", "ram", "gzip", "gzdata", "gotpic")
ELF_KEYS = ("segments", "fdpic", "machine", "type", "stack", "interp", "needed", "bits")
SEGMENT_KEYS = ("vaddr", "memsz", "filesz", "flags", "align")


def field_name(path: Path) -> str:
    """``("step", 2, "length")`` → ``"step[3].length"`` (arrays counted from 1)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + part
    return out


class _Loader:
    def __init__(self, text: str, file: str, base_dir: str) -> None:
        self.text = text
        self.file = file
        self.base_dir = base_dir
        self.lines = key_lines(text)
        self.procs: set[str] = set()
        self.names: set[str] = set()

    # -- errors --------------------------------------------------------------------
    def where(self, path: Path) -> Location:
        return Location(self.file, line_of(self.lines, path), field_name(path))

    def fail(self, path: Path, message: str) -> ScenarioError:
        return ScenarioError(self.where(path), message)

    def table(
        self, path: Path, value: object, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {val.type_name(value)}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else (f" (known: {', '.join(allowed)})")
                )
                raise self.fail((*path, key), f"unknown key {key!r}{hint}")
        for key in required:
            if key not in value:
                raise self.fail(path, f"missing key {key!r}")
        return value

    def convert(self, path: Path, value: object, reader: Callable[[object], Any]) -> Any:
        try:
            return reader(value)
        except ValueError as e:
            raise self.fail(path, str(e)) from None

    # -- readers (r_<kind>) ----------------------------------------------------------
    def r_size(self, path: Path, v: object) -> int | Ref:
        r = self.convert(path, v, val.ref)
        if r is not None:
            return self.use_ref(path, r)
        result: int = self.convert(path, v, val.size)
        return result

    r_addr = r_size

    def r_int(self, path: Path, v: object) -> int | Ref:
        r = self.convert(path, v, val.ref)
        if r is not None:
            return self.use_ref(path, r)
        result: int = self.convert(path, v, val.integer)
        return result

    def r_count(self, path: Path, v: object) -> int:
        n: int = self.convert(path, v, val.integer)
        if n < 0:
            raise self.fail(path, f"must not be negative, got {n}")
        if n > MAX_COUNT:
            raise self.fail(path, f"{n} is too large (at most {MAX_COUNT})")
        return n

    def use_ref(self, path: Path, r: Ref) -> Ref:
        if r.name not in self.names:
            raise self.fail(path, f"${r.name} is not saved by any earlier step (save = {r.name!r})")
        return r

    def r_str(self, path: Path, v: object) -> str:
        if not isinstance(v, str):
            raise self.fail(path, f"expected a string, got {val.type_name(v)}")
        return v

    def r_name(self, path: Path, v: object) -> str:
        s = self.r_str(path, v)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", s):
            raise self.fail(path, f"{s!r} is not a name (letters, digits, _ . -)")
        return s

    def r_newproc(self, path: Path, v: object) -> str:
        s = self.r_name(path, v)
        self.procs.add(s)
        return s

    def r_newprocs(self, path: Path, v: object) -> tuple[str, ...]:
        names = tuple(self.r_name(path, x) for x in self.r_strlist(path, v))
        self.procs.update(names)
        self.procs.add("init")
        return names

    def r_proc(self, path: Path, v: object) -> str:
        s = self.r_str(path, v)
        if s not in self.procs:
            known = ", ".join(sorted(self.procs)) or "none yet"
            raise self.fail(
                path, f"no process named {s!r} is created before this step (known: {known})"
            )
        return s

    def r_path(self, path: Path, v: object) -> str:
        s = self.r_str(path, v)
        if not s or "\0" in s:
            raise self.fail(path, "expected a non-empty path")
        return s

    def r_strlist(self, path: Path, v: object) -> tuple[str, ...]:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(path, f"expected an array of strings, got {val.type_name(v)}")
        return tuple(v)

    def r_bool(self, path: Path, v: object) -> bool:
        if not isinstance(v, bool):
            raise self.fail(path, f"expected true or false, got {val.type_name(v)}")
        return v

    def r_rate(self, path: Path, v: object) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(path, f"expected a number, got {val.type_name(v)}")
        if not 0 <= v <= 1000:
            raise self.fail(path, f"must be between 0 and 1000 per tick, got {v}")
        return float(v)

    def r_prot(self, path: Path, v: object) -> int:
        result: int = self.convert(path, v, val.prot)
        return result

    def r_mmap_flags(self, path: Path, v: object) -> int:
        result: int = self.convert(path, v, lambda x: val.flags(x, val.MAP_NAMES, "mmap flag"))
        return result

    def r_open_flags(self, path: Path, v: object) -> int:
        result: int = self.convert(path, v, lambda x: val.flags(x, val.OPEN_NAMES, "open flag"))
        return result

    def r_mremap_flags(self, path: Path, v: object) -> int:
        result: int = self.convert(path, v, lambda x: val.flags(x, val.MREMAP_NAMES, "mremap flag"))
        return result

    def r_ipc_flags(self, path: Path, v: object) -> int:
        result: int = self.convert(path, v, lambda x: val.flags(x, val.IPC_NAMES, "IPC flag"))
        return result

    def r_ipc_key(self, path: Path, v: object) -> int | Ref:
        if isinstance(v, str) and v.strip().upper() == "IPC_PRIVATE":
            return 0
        return self.r_int(path, v)

    def r_whence(self, path: Path, v: object) -> int:
        result: int = self.convert(path, v, lambda x: val.flags(x, val.SEEK_NAMES, "whence"))
        return result

    def r_mode(self, path: Path, v: object) -> int:
        result: int = self.convert(path, v, val.mode)
        return result

    def r_regex(self, path: Path, v: object) -> re.Pattern[str]:
        s = self.r_str(path, v)
        try:
            return re.compile(s, re.MULTILINE)
        except re.error as e:
            raise self.fail(path, f"bad regular expression: {e}") from None

    def r_payload(self, path: Path, v: object) -> object:
        return v  # read by _payload, which knows which key it is

    def r_ticklist(self, path: Path, v: object) -> tuple[int, ...]:
        if not isinstance(v, list):
            raise self.fail(path, f"expected an array of ticks, got {val.type_name(v)}")
        return tuple(sorted({self.r_count((*path, i), x) for i, x in enumerate(v)}))

    def r_ticks(self, path: Path, v: object) -> TickRange:
        if isinstance(v, list):
            if len(v) != 2:
                raise self.fail(path, "expected [low, high]")
            lo, hi = self.r_count((*path, 0), v[0]), self.r_count((*path, 1), v[1])
            if lo > hi:
                raise self.fail(path, f"low {lo} is above high {hi}")
            return TickRange(lo, hi)
        n = self.r_count(path, v)
        return TickRange(n, n)

    def r_dist(self, path: Path, v: object) -> SizeDist:
        def positive(p: Path, x: object) -> int:
            n: int = self.convert(p, x, val.size)
            if n == 0:
                raise self.fail(p, "a size must be positive")
            return n

        if isinstance(v, list):
            if not v:
                raise self.fail(path, "expected at least one size")
            return SizeDist("choice", tuple(positive((*path, i), x) for i, x in enumerate(v)))
        if isinstance(v, dict):
            t = self.table(path, v, ("choice", "weights", "min", "max", "dist"))
            if "choice" in t:
                if not isinstance(t["choice"], list) or not t["choice"]:
                    raise self.fail((*path, "choice"), "expected an array of sizes")
                sizes = tuple(positive((*path, "choice", i), x) for i, x in enumerate(t["choice"]))
                weights: tuple[float, ...] = ()
                if "weights" in t:
                    w = t["weights"]
                    if (
                        not isinstance(w, list)
                        or len(w) != len(sizes)
                        or not all(
                            isinstance(x, int | float) and not isinstance(x, bool) and x >= 0
                            for x in w
                        )
                        or not sum(w)
                    ):
                        raise self.fail(
                            (*path, "weights"), f"expected {len(sizes)} non-negative numbers"
                        )
                    weights = tuple(float(x) for x in w)
                return SizeDist("choice", sizes, weights)
            for key in ("min", "max"):
                if key not in t:
                    raise self.fail(path, "give choice = [...] or min and max")
            lo, hi = positive((*path, "min"), t["min"]), positive((*path, "max"), t["max"])
            if lo > hi:
                raise self.fail(path, f"min {lo} is above max {hi}")
            kind = t.get("dist", "log-uniform")
            if kind not in ("uniform", "log-uniform"):
                raise self.fail(
                    (*path, "dist"), f"expected 'uniform' or 'log-uniform', got {kind!r}"
                )
            return SizeDist(kind, lo=lo, hi=hi)
        return SizeDist("const", (positive(path, v),))

    # -- top level ---------------------------------------------------------------------
    def scenario(self, doc: dict[str, Any]) -> Scenario:
        self.table((), doc, ("scenario", "board", "root", "mount", "file", "step", "expect"))
        meta = self.table(
            ("scenario",), doc.get("scenario", {}), ("name", "description", "seed", "tick")
        )
        name = self.r_str(
            ("scenario", "name"),
            meta.get("name", posixpath.splitext(os.path.basename(self.file))[0]),
        )
        description = self.r_str(("scenario", "description"), meta.get("description", ""))
        seed = self.convert(("scenario", "seed"), meta.get("seed", 0), val.integer)
        board = self.board(doc.get("board", {}))
        root = self.root(doc["root"]) if "root" in doc else None
        mounts = tuple(self.mount(i, m) for i, m in enumerate(self.array(("mount",), doc)))
        files = tuple(
            self.file_entry(("file", i), f, root=True)
            for i, f in enumerate(self.array(("file",), doc))
        )
        steps = self.steps(("step",), self.array(("step",), doc))
        expect = self.global_expect(doc.get("expect", {}))
        tick = self.r_tick(("scenario", "tick"), meta["tick"]) if "tick" in meta else None
        return Scenario(
            self.file, name, description, seed, board, mounts, files, steps, expect, tick, root
        )

    def root(self, value: object) -> RootSpec:
        path: Path = ("root",)
        t = self.table(
            path,
            value,
            ("type", "image", "device", "mtd_type", "pointable", "size"),
            ("type", "image"),
        )
        fstype = self.r_str((*path, "type"), t["type"])
        if fstype not in ("romfs", "cpio"):
            raise self.fail((*path, "type"), f"expected 'romfs' or 'cpio', got {fstype!r}")
        host = self.host_path((*path, "image"), t["image"])
        try:
            with open(host, "rb") as f:
                image = f.read(MAX_FILE_SIZE + 1)
        except OSError as e:
            raise self.fail((*path, "image"), f"cannot read {host}: {e.strerror}") from None
        self.check_file_size((*path, "image"), len(image))
        options = {k: v for k, v in t.items() if k not in ("type", "image")}
        if fstype == "cpio" and options:
            raise self.fail((*path, sorted(options)[0]), "a cpio archive takes no mount options")
        if "size" in options:
            options["size"] = self.convert((*path, "size"), options["size"], val.size)
        return RootSpec(self.where(path), fstype, image, MappingProxyType(options))

    def array(self, path: Path, doc: Mapping[str, Any]) -> list[Any]:
        value = doc.get(str(path[-1]), [])
        if not isinstance(value, list):
            raise self.fail(
                path, f"expected an array of tables ([[{path[-1]}]]), got {val.type_name(value)}"
            )
        return value

    def board(self, value: object) -> Board:
        allowed = machine_options()
        t = self.table(("board",), value, allowed)
        options: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key, v in t.items():
            path = ("board", key)
            if key in MACHINE_SIZE_OPTIONS:
                options[key] = self.convert(path, v, val.size)
            else:
                options[key] = v
            line = line_of(self.lines, path)
            if line is not None:
                lines[key] = line
        return Board(self.where(("board",)), MappingProxyType(options), MappingProxyType(lines))

    def mount(self, index: int, value: object) -> MountSpec:
        path: Path = ("mount", index)
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {val.type_name(value)}")
        for key in ("type", "target"):
            if key not in value:
                raise self.fail(path, f"missing key {key!r}")
        fstype = self.r_str((*path, "type"), value["type"])
        target = self.r_path((*path, "target"), value["target"])
        if not target.startswith("/"):
            raise self.fail((*path, "target"), f"must be an absolute path, got {target!r}")
        options: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key, v in value.items():
            if key in ("type", "target", "file"):
                continue
            opath = (*path, key)
            if key == "image":
                options[key] = self.host_path(opath, v)
            elif key == "size":
                options[key] = self.convert(opath, v, val.size)
            elif isinstance(v, dict | list) and key != "files":
                raise self.fail(opath, f"expected a plain value, got {val.type_name(v)}")
            else:
                options[key] = v
            line = line_of(self.lines, opath)
            if line is not None:
                lines[key] = line
        if "files" in options:
            raise self.fail((*path, "files"), "give files as [[mount.file]] tables")
        entries = value.get("file", [])
        if not isinstance(entries, list):
            raise self.fail((*path, "file"), "expected [[mount.file]] tables")
        files = tuple(
            self.file_entry((*path, "file", i), f, root=False) for i, f in enumerate(entries)
        )
        return MountSpec(
            self.where(path),
            fstype,
            target,
            MappingProxyType(options),
            MappingProxyType(lines),
            files,
        )

    def host_path(self, path: Path, v: object) -> str:
        s = self.r_path(path, v)
        full = s if os.path.isabs(s) else os.path.join(self.base_dir, s)
        if not os.path.isfile(full):
            raise self.fail(
                path,
                f"host file {s!r} does not exist"
                + (f" (looked in {self.base_dir})" if not os.path.isabs(s) else ""),
            )
        return full

    # -- files ---------------------------------------------------------------------
    def file_entry(self, path: Path, value: object, *, root: bool) -> FileEntry:
        t = self.table(path, value, FILE_KEYS, ("path",))
        fpath = self.r_path((*path, "path"), t["path"])
        if root and not fpath.startswith("/"):
            raise self.fail((*path, "path"), f"must be an absolute path, got {fpath!r}")
        given = [k for k in CONTENT_KEYS if k in t]
        if len(given) != 1:
            raise self.fail(
                path,
                "give exactly one of "
                + ", ".join(CONTENT_KEYS)
                + (f" (got {', '.join(given)})" if given else ""),
            )
        kind = given[0]
        kpath = (*path, kind)
        raw = t[kind]
        executable = False
        if kind == "content":
            data = self.r_str(kpath, raw).encode()
        elif kind == "base64":
            try:
                data = base64.b64decode(self.r_str(kpath, raw), validate=True)
            except binascii.Error as e:
                raise self.fail(kpath, f"bad base64: {e}") from None
        elif kind == "hex":
            try:
                data = bytes.fromhex(self.r_str(kpath, raw))
            except ValueError as e:
                raise self.fail(kpath, f"bad hex: {e}") from None
        elif kind == "size":
            n = self.convert(kpath, raw, val.size)
            self.check_file_size(kpath, n)
            fill = self.convert((*path, "fill"), t.get("fill", 0), val.integer)
            if not 0 <= fill <= 255:
                raise self.fail((*path, "fill"), f"expected a byte value 0-255, got {fill}")
            data = bytes([fill]) * n
        elif kind == "host":
            full = self.host_path(kpath, raw)
            try:
                nbytes = os.path.getsize(full)
                self.check_file_size(kpath, nbytes)
                with open(full, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise self.fail(kpath, f"cannot read host file {raw!r}: {e.strerror}") from None
            fmt = t.get("format")
            if fmt is not None:
                self.check_program((*path, "format"), fmt, data, fpath)
                executable = True
        elif kind == "flat":
            data = self.flat(kpath, raw)
            executable = True
        else:
            data = self.elf(kpath, raw)
            executable = True
        if "fill" in t and kind != "size":
            raise self.fail((*path, "fill"), "fill goes with size")
        if "format" in t and kind != "host":
            raise self.fail((*path, "format"), "format goes with host")
        if "executable" in t:
            executable = self.r_bool((*path, "executable"), t["executable"])
        mode = self.r_mode((*path, "mode"), t["mode"]) if "mode" in t else None
        return FileEntry(self.where(path), fpath, data, executable, mode, kind)

    def check_file_size(self, path: Path, n: int) -> None:
        if n > MAX_FILE_SIZE:
            raise self.fail(
                path, f"{n} bytes is too large for a file (at most {MAX_FILE_SIZE >> 20} MiB)"
            )

    def check_program(self, path: Path, fmt: object, data: bytes, name: str) -> None:
        if fmt not in ("flat", "elf"):
            raise self.fail(path, f"expected 'flat' or 'elf', got {fmt!r}")
        try:
            if fmt == "flat":
                parse_flat_header(data, name=name, zflat=True)
            else:
                parse_elf(data, name=name)
        except SyscallError as e:
            raise self.fail(path, f"not a valid {fmt} program: {e.detail or e.strerror}") from None

    def flat(self, path: Path, value: object) -> bytes:
        t = self.table(path, value, FLAT_KEYS, ("text",))

        def n(key: str, default: int) -> int:
            result: int = self.convert((*path, key), t.get(key, default), val.size)
            return result

        flags = 0
        for key, bit, default in (
            ("ram", FLAT_FLAG_RAM, True),
            ("gzip", FLAT_FLAG_GZIP, False),
            ("gzdata", FLAT_FLAG_GZDATA, False),
            ("gotpic", FLAT_FLAG_GOTPIC, False),
        ):
            if self.r_bool((*path, key), t.get(key, default)):
                flags |= bit
        try:
            return build_flat(
                n("text", 0),
                n("data", 0),
                n("bss", 0),
                n("stack", 4096),
                n("relocs", 0),
                flags=flags,
            )
        except ValueError as e:
            raise self.fail(path, f"cannot build this bFLT program: {e}") from None

    def elf(self, path: Path, value: object) -> bytes:
        t = self.table(path, value, ELF_KEYS, ("segments",))
        segs = t["segments"]
        if not isinstance(segs, list) or not segs:
            raise self.fail((*path, "segments"), "expected an array of segment tables")
        specs = []
        for i, seg in enumerate(segs):
            spath = (*path, "segments", i)
            s = self.table(spath, seg, SEGMENT_KEYS, ("vaddr", "memsz"))
            fl = s.get("flags", "rx")
            if not isinstance(fl, str) or not fl or not set(fl.lower()) <= set("rwx"):
                raise self.fail((*spath, "flags"), f"expected letters of 'rwx', got {fl!r}")
            pflags = (
                (PF_R if "r" in fl else 0) | (PF_W if "w" in fl else 0) | (PF_X if "x" in fl else 0)
            )
            specs.append(
                SegmentSpec(
                    vaddr=self.convert((*spath, "vaddr"), s["vaddr"], val.size),
                    memsz=self.convert((*spath, "memsz"), s["memsz"], val.size),
                    filesz=(
                        self.convert((*spath, "filesz"), s["filesz"], val.size)
                        if "filesz" in s
                        else None
                    ),
                    flags=pflags,
                    align=self.convert((*spath, "align"), s.get("align", 4096), val.size),
                )
            )
        etype = t.get("type", "exec")
        if etype not in ("exec", "dyn"):
            raise self.fail((*path, "type"), f"expected 'exec' or 'dyn', got {etype!r}")
        stack = t.get("stack")
        bits = t.get("bits", 32)
        try:
            return build_elf(
                specs,
                machine=self.r_str((*path, "machine"), t.get("machine", "ARM")),
                fdpic=self.r_bool((*path, "fdpic"), t.get("fdpic", True)),
                e_type=ET_EXEC if etype == "exec" else ET_DYN,
                gnu_stack=(
                    (self.convert((*path, "stack"), stack, val.size), False)
                    if stack is not None
                    else None
                ),
                interp=self.r_str((*path, "interp"), t["interp"]) if "interp" in t else None,
                needed=self.r_strlist((*path, "needed"), t.get("needed", [])),
                bits=bits if isinstance(bits, int) else 0,
            )
        except ValueError as e:
            raise self.fail(path, f"cannot build this ELF program: {e}") from None

    # -- steps ---------------------------------------------------------------------
    def steps(self, path: Path, raw: list[Any]) -> tuple[Step, ...]:
        return tuple(self.step((*path, i), s) for i, s in enumerate(raw))

    def step(self, path: Path, value: object) -> Step:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {val.type_name(value)}")
        if "op" not in value:
            raise self.fail(path, "missing key 'op'")
        op = value["op"]
        if op not in OPS:
            close = difflib.get_close_matches(str(op), OPS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else (f" (known: {', '.join(OPS)})")
            raise self.fail((*path, "op"), f"unknown op {op!r}{hint}")
        spec = OPS[op]
        extra: tuple[str, ...] = ()
        if op == "repeat":
            extra = ("steps",)
        elif op == "workload":
            extra = ("launch", "churn")
        elif op not in CONTROL_OPS:
            extra = CALL_KEYS
        t = self.table(
            path,
            value,
            (*COMMON_KEYS, *spec, *extra),
            tuple(k for k, (_, req, _) in spec.items() if req),
        )
        if "note" in t:
            self.r_str((*path, "note"), t["note"])
        where = self.where(path)
        args: dict[str, Any] = {}
        # process names are read before the names a step defines, so "vfork" can
        # name its parent and child in one step
        order = sorted(spec, key=lambda k: spec[k][0] == "newproc")
        for key in order:
            reader, _, default = spec[key]
            if key in t:
                args[key] = getattr(self, f"r_{reader}")((*path, key), t[key])
            else:
                args[key] = default
        self.finish_args(path, op, t, args)
        expect: Errno | str | None = None
        if "expect" in t:
            expect = self.expectation((*path, "expect"), t["expect"])
        if "allow" in t and expect is not None:
            raise self.fail(
                (*path, "allow"), "give expect (must fail so) or allow (may fail so), not both"
            )
        allow = self.r_allow((*path, "allow"), t["allow"]) if "allow" in t else ()
        save = None
        if "save" in t:
            save = self.r_name((*path, "save"), t["save"])
        body: tuple[Step, ...] = ()
        workload = None
        if op == "repeat":
            steps = t.get("steps", [])
            if not isinstance(steps, list):
                raise self.fail((*path, "steps"), "expected an array of step tables")
            self.names.add(args["var"])
            body = self.steps((*path, "steps"), steps)
        elif op == "workload":
            workload = self.workload(path, t, args)
        if save is not None:
            self.names.add(save)
        return Step(op, where, MappingProxyType(args), save, expect, body, workload, allow)

    def r_allow(self, path: Path, v: object) -> tuple[str, ...]:
        """Errno names a call may fail with, not held against the run ("any": all)."""
        items = v if isinstance(v, list) else [v]
        out = []
        for item in items:
            s = self.r_str(path, item)
            if s.lower() == "any":
                out.append("any")
                continue
            try:
                out.append(Errno[s.upper()].name)
            except KeyError:
                raise self.fail(
                    path, f"expected an errno name such as 'ENOMEM', or 'any', got {s!r}"
                ) from None
        return tuple(out)

    def r_tick(self, path: Path, v: object) -> float:
        """``"1s"``, ``"250ms"``, ``"1min"``: what one tick of a workload stands for."""
        s = self.r_str(path, v).strip()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]+)", s)
        if m is None or m.group(2) not in TICK_UNITS or float(m.group(1)) <= 0:
            raise self.fail(
                path,
                f"expected a positive duration with a unit ({', '.join(TICK_UNITS)}), "
                f"such as '1s', got {s!r}",
            )
        return float(m.group(1)) * TICK_UNITS[m.group(2)]

    def expectation(self, path: Path, v: object) -> Errno | str:
        s = self.r_str(path, v)
        if s.lower() in ("ok", "success"):
            return "ok"
        try:
            return Errno[s.upper()]
        except KeyError:
            raise self.fail(
                path, f"expected 'ok' or an errno name such as 'ENOMEM', got {s!r}"
            ) from None

    def finish_args(self, path: Path, op: str, t: dict[str, Any], args: dict[str, Any]) -> None:
        """Per-op checks that involve more than one key."""
        if op == "boot":
            self.procs.add("init")
            self.procs.update(args["procs"])
        if op == "mmap" and args["flags"] is None:
            args["flags"] = MAP_PRIVATE | (MAP_ANONYMOUS if "fd" not in t else 0)
        if op in ("exec", "start") and args["argv"] is None:
            args["argv"] = (posixpath.basename(args["path"]),)
        if op in ("write", "poke"):
            args["data"] = self.payload(path, t, ("data", "hex", "base64", "length"), required=True)
            for k in ("hex", "base64", "length"):
                args.pop(k, None)
        if op == "peek":
            args["equals"] = self.payload(path, t, ("equals", "equals_hex"), required=False)
            args.pop("equals_hex", None)
        if op == "expect":
            kinds = [k for k in ("contains", "line", "regex", "absent") if k in t]
            checks = kinds + [k for k in ("free_above", "largest_block_above") if k in t]
            if len(checks) != 1:
                raise self.fail(
                    path,
                    "give exactly one of contains, line, regex, absent "
                    "(with file), free_above, largest_block_above",
                )
            if kinds and "file" not in t:
                raise self.fail(path, f'{kinds[0]} needs file = "/proc/..."')
            if "file" in t and not kinds:
                raise self.fail((*path, "file"), "file needs contains, line, regex or absent")
            for k in ("free_above", "largest_block_above"):
                if isinstance(args.get(k), Ref):
                    raise self.fail((*path, k), "expected a size, not a reference")

    def payload(
        self, path: Path, t: dict[str, Any], keys: tuple[str, ...], *, required: bool
    ) -> bytes | None:
        given = [k for k in keys if k in t]
        if len(given) > 1 or (required and not given):
            raise self.fail(path, "give exactly one of " + ", ".join(keys))
        if not given:
            return None
        key = given[0]
        kpath = (*path, key)
        v = t[key]
        if key in ("data", "equals"):
            return self.r_str(kpath, v).encode()
        if key in ("hex", "equals_hex"):
            try:
                return bytes.fromhex(self.r_str(kpath, v))
            except ValueError as e:
                raise self.fail(kpath, f"bad hex: {e}") from None
        if key == "base64":
            try:
                return base64.b64decode(self.r_str(kpath, v), validate=True)
            except binascii.Error as e:
                raise self.fail(kpath, f"bad base64: {e}") from None
        n: int = self.convert(kpath, v, val.size)
        self.check_file_size(kpath, n)
        return bytes((i * 7 + 1) & 0xFF for i in range(min(n, 251))) * (n // 251) + bytes(
            (i * 7 + 1) & 0xFF for i in range(n % 251)
        )

    def workload(self, path: Path, t: dict[str, Any], args: dict[str, Any]) -> Workload:
        launches = []
        raw = t.get("launch", [])
        if not isinstance(raw, list):
            raise self.fail((*path, "launch"), "expected [[step.launch]] tables")
        for i, item in enumerate(raw):
            lp = (*path, "launch", i)
            lt = self.table(lp, item, LAUNCH_KEYS, ("parent", "path", "rate", "lifetime"))
            prog = self.r_path((*lp, "path"), lt["path"])
            alloc_rate = self.r_rate((*lp, "alloc_rate"), lt.get("alloc_rate", 0))
            if alloc_rate and "size" not in lt:
                raise self.fail(lp, "alloc_rate needs size")
            launches.append(
                Launch(
                    self.where(lp),
                    self.r_proc((*lp, "parent"), lt["parent"]),
                    prog,
                    self.r_strlist((*lp, "argv"), lt["argv"])
                    if "argv" in lt
                    else (posixpath.basename(prog),),
                    self.r_strlist((*lp, "envp"), lt.get("envp", [])),
                    self.r_rate((*lp, "rate"), lt["rate"]),
                    self.r_ticks((*lp, "lifetime"), lt["lifetime"]),
                    alloc_rate,
                    self.r_dist((*lp, "size"), lt["size"]) if "size" in lt else None,
                    self.r_ticks((*lp, "hold"), lt["hold"]) if "hold" in lt else None,
                    self.r_count((*lp, "max_live"), lt["max_live"]) if "max_live" in lt else None,
                    self.r_allow((*lp, "allow"), lt["allow"]) if "allow" in lt else (),
                )
            )
        churns = []
        raw = t.get("churn", [])
        if not isinstance(raw, list):
            raise self.fail((*path, "churn"), "expected [[step.churn]] tables")
        for i, item in enumerate(raw):
            cp = (*path, "churn", i)
            ct = self.table(cp, item, CHURN_KEYS, ("proc", "rate", "size", "hold"))
            churns.append(
                Churn(
                    self.where(cp),
                    self.r_proc((*cp, "proc"), ct["proc"]),
                    self.r_rate((*cp, "rate"), ct["rate"]),
                    self.r_dist((*cp, "size"), ct["size"]),
                    self.r_ticks((*cp, "hold"), ct["hold"]),
                    self.r_count((*cp, "max_live"), ct["max_live"]) if "max_live" in ct else None,
                    self.r_allow((*cp, "allow"), ct["allow"]) if "allow" in ct else (),
                )
            )
        if not launches and not churns:
            raise self.fail(path, "a workload needs [[step.launch]] or [[step.churn]] tables")
        if args["ticks"] == 0:
            raise self.fail((*path, "ticks"), "must be at least 1")
        seed = args["seed"]
        if isinstance(seed, Ref):
            raise self.fail((*path, "seed"), "expected an integer, not a reference")
        return Workload(
            self.where(path),
            args["name"],
            args["ticks"],
            seed,
            tuple(launches),
            tuple(churns),
            args["snapshots"],
            args["drain"],
        )

    def global_expect(self, value: object) -> GlobalExpect:
        path: Path = ("expect",)
        t = self.table(path, value, ("min_free", "min_largest_block", "max_failures", "allow"))
        out: dict[str, Any] = {}
        for key in ("min_free", "min_largest_block"):
            if key in t:
                out[key] = (self.convert((*path, key), t[key], val.size), self.where((*path, key)))
        if "max_failures" in t:
            out["max_failures"] = (
                self.r_count((*path, "max_failures"), t["max_failures"]),
                self.where((*path, "max_failures")),
            )
        if "allow" in t:
            apath = (*path, "allow")
            raw = t["allow"] if isinstance(t["allow"], list) else [t["allow"]]
            patterns = []
            for item in raw:
                words = tuple(self.r_str(apath, item).split())
                if not words:
                    raise self.fail(apath, "expected words such as 'exec ENOMEM', got ''")
                patterns.append((words, self.where(apath)))
            out["allow"] = tuple(patterns)
        return GlobalExpect(**out)


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def loads_scenario(text: str, file: str = "<scenario>", base_dir: str | None = None) -> Scenario:
    """Load a scenario from TOML *text*; host files are looked up in *base_dir*."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POS.search(msg)
        line = int(m.group(1)) if m else None
        reason = _TOML_POS.sub("", msg).strip()
        col = f" (column {m.group(2)})" if m else ""
        raise ScenarioError(Location(file, line, ""), f"TOML syntax error: {reason}{col}") from None
    return scenario_from_doc(doc, text, file, base_dir)


def scenario_from_doc(
    doc: dict[str, Any], text: str, file: str = "<scenario>", base_dir: str | None = None
) -> Scenario:
    """Load a scenario from its parsed TOML *doc* (lines are looked up in *text*)."""
    loader = _Loader(text, file, base_dir if base_dir is not None else os.getcwd())
    return loader.scenario(doc)


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Load a scenario file (host files it names are relative to its folder)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ScenarioError(Location(name, None, ""), f"cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ScenarioError(Location(name, line, ""), "not UTF-8 text") from None
    return loads_scenario(text, name, os.path.dirname(os.path.abspath(name)))


__all__ = [
    "EMPTY",
    "OPS",
    "field_name",
    "load_scenario",
    "loads_scenario",
    "machine_options",
    "scenario_from_doc",
]
