"""Loading scenario files: conversions, defaults, names in script order, line numbers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import nommu
from nommu.errors import Errno
from nommu.scenario import ScenarioError, load_scenario, loads_scenario
from nommu.scenario.loader import field_name, machine_options
from nommu.scenario.schema import Ref, SizeDist, TickRange
from nommu.scenario.toml_lines import key_lines, line_of


def load(text: str, base: Path | None = None) -> nommu.scenario.Scenario:
    return loads_scenario(textwrap.dedent(text), "t.toml", str(base) if base else None)


def error(text: str, base: Path | None = None) -> ScenarioError:
    with pytest.raises(ScenarioError) as e:
        load(text, base)
    return e.value


SPAWN = """
[[step]]
op = "spawn"
name = "p"
"""


def test_minimal_scenario_defaults() -> None:
    s = load(SPAWN)
    assert s.name == "t" and s.seed == 0 and s.description == ""
    assert dict(s.board.options) == {}
    assert [st.op for st in s.steps] == ["spawn"]
    assert s.steps[0].where.line == 2 and s.steps[0].where.field == "step[1]"


def test_sizes_refs_and_flags_are_converted() -> None:
    s = load(
        SPAWN
        + """
        [[step]]
        op = "mmap"
        proc = "p"
        length = "64K"
        prot = "r-x"
        save = "a"

        [[step]]
        op = "munmap"
        proc = "p"
        addr = "$a+0x1000"
        length = 4096

        [[step]]
        op = "open"
        proc = "p"
        path = "/tmp/f"
        flags = "rdwr|creat"
        mode = "0600"
        save = "fd"

        [[step]]
        op = "mmap"
        proc = "p"
        length = "1M"
        fd = "$fd"
        expect = "enodev"
    """
    )
    mmap, munmap, opened, filemap = s.steps[1:]
    assert mmap.args["length"] == 64 << 10
    assert mmap.args["prot"] == nommu.PROT_READ | nommu.PROT_EXEC
    assert mmap.args["flags"] == nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
    assert mmap.save == "a"
    assert munmap.args["addr"] == Ref("a", 0x1000)
    assert opened.args["flags"] == nommu.O_RDWR | nommu.O_CREAT
    assert opened.args["mode"] == 0o600
    assert filemap.args["flags"] == nommu.MAP_PRIVATE  # a file mapping by default
    assert filemap.args["fd"] == Ref("fd")
    assert filemap.expect is Errno.ENODEV


def test_exec_argv_defaults_to_the_base_name() -> None:
    s = load(
        SPAWN
        + """
        [[step]]
        op = "exec"
        proc = "p"
        path = "/bin/sh"
    """
    )
    assert s.steps[1].args["argv"] == ("sh",)
    assert s.steps[1].args["envp"] == ()


def test_repeat_and_workload() -> None:
    s = load(
        SPAWN
        + """
        [[step]]
        op = "repeat"
        count = 3
        steps = [{ op = "mmap", proc = "p", length = "$i+1", save = "x" }]

        [[step]]
        op = "workload"
        ticks = 10
        [[step.launch]]
        parent = "p"
        path = "/bin/x"
        rate = 0.5
        lifetime = [1, 4]
        alloc_rate = 1
        size = { choice = ["4K", "8K"], weights = [3, 1] }
        [[step.churn]]
        proc = "p"
        rate = 2
        size = "1K"
        hold = 5
    """
    )
    rep = s.steps[1]
    assert rep.args["count"] == 3 and rep.args["var"] == "i"
    assert rep.body[0].args["length"] == Ref("i", 1)
    assert rep.body[0].where.field == "step[2].steps[1]"
    w = s.steps[2].workload
    assert w is not None and w.ticks == 10 and w.drain
    assert w.launches[0].argv == ("x",)
    assert w.launches[0].lifetime == TickRange(1, 4)
    assert w.launches[0].size == SizeDist("choice", (4096, 8192), (3.0, 1.0))
    assert w.churns[0].hold == TickRange(5, 5)
    assert w.launches[0].where.line == 14  # the [[step.launch]] header


def test_files_of_every_kind(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x01\x02")
    s = load(
        """
        [[mount]]
        type = "romfs"
        target = "/rom"
        [[mount.file]]
        path = "a"
        content = "text"
        [[mount.file]]
        path = "b"
        hex = "00ff"
        [[mount.file]]
        path = "c"
        base64 = "AQI="
        [[mount.file]]
        path = "d"
        size = "8K"
        fill = 7
        [[mount.file]]
        path = "e"
        host = "blob.bin"
        [[mount.file]]
        path = "bin/f"
        flat = { text = 1000, data = 100, bss = 10 }
        [[mount.file]]
        path = "bin/g"
        elf = { segments = [{ vaddr = 0, memsz = "8K" }] }

        [[file]]
        path = "/etc/x"
        content = "y"
        mode = "0600"
    """,
        tmp_path,
    )
    files = {f.path: f for f in s.mounts[0].files}
    assert files["a"].data == b"text" and not files["a"].executable
    assert files["b"].data == b"\x00\xff"
    assert files["c"].data == b"\x01\x02"
    assert files["d"].data == b"\x07" * 8192
    assert files["e"].data == b"\x01\x02"
    assert files["bin/f"].data[:4] == b"bFLT" and files["bin/f"].executable
    assert files["bin/g"].data[:4] == b"\x7fELF" and files["bin/g"].executable
    assert s.files[0].mode == 0o600


def test_field_names_count_from_one() -> None:
    assert field_name(("step", 2, "length")) == "step[3].length"
    assert field_name(("mount", 0, "file", 1, "flat", "text")) == "mount[1].file[2].flat.text"


def test_board_keys_are_machine_options() -> None:
    opts = machine_options()
    assert {"ram", "kernel_reserved", "max_order", "nr_trim_pages", "sysv_shm"} <= set(opts)
    s = load("""
        [board]
        ideal = true  # the idealised kernel: these cases pin its addresses
        ram = "2M"
        max_order = 7
    """)
    assert s.board.options["ram"] == 2 << 20
    assert s.board.option_lines["max_order"] == 5


def test_load_scenario_reads_host_files_beside_it(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"abc")
    (tmp_path / "s.toml").write_text('[[file]]\npath = "/d"\nhost = "data"\n')
    s = load_scenario(tmp_path / "s.toml")
    assert s.files[0].data == b"abc"
    assert s.path == str(tmp_path / "s.toml")


# -- bad input: one line naming the file, the line and the field ----------------------------

BAD = [
    pytest.param('[board\nram = "8M"\n', 1, "", "TOML syntax error", id="toml-syntax"),
    pytest.param('x = "1"\n', 1, "x", "unknown key 'x'", id="unknown-top-level-key"),
    pytest.param('[board]\nrma = "8M"\n', 2, "board.rma", "did you mean 'ram'", id="typo-board"),
    pytest.param(
        '[[step]]\nop = "mmapp"\n', 2, "step[1].op", "did you mean 'mmap'", id="unknown-op"
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlenght = 1\n',
        8,
        "step[2].lenght",
        "unknown key",
        id="unknown-step-key",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\n',
        5,
        "step[2]",
        "missing key 'length'",
        id="missing-key",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlength = true\n',
        8,
        "step[2].length",
        "expected a size, got a boolean",
        id="wrong-type-bool",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlength = [1]\n',
        8,
        "step[2].length",
        "expected a size, got an array",
        id="wrong-type-array",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlength = -4096\n',
        8,
        "step[2].length",
        "must not be negative",
        id="negative-size",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlength = "1e9G"\n',
        8,
        "step[2].length",
        "cannot read",
        id="unreadable-size",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlength = "99999999999T"\n',
        8,
        "step[2].length",
        "too large",
        id="huge-size",
    ),
    pytest.param(
        "[board]\nram = -1\n", 2, "board.ram", "must not be negative", id="negative-board-size"
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nsize = "1G"\n',
        3,
        "file[1].size",
        "too large for a file",
        id="huge-file",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nhost = "missing.bin"\n',
        3,
        "file[1].host",
        "host file 'missing.bin' does not exist",
        id="missing-host-file",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nhost = "garbage.bin"\nformat = "flat"\n',
        4,
        "file[1].format",
        "not a valid flat program",
        id="program-does-not-parse",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nhost = "garbage.bin"\nformat = "elf"\n',
        4,
        "file[1].format",
        "not a valid elf program",
        id="elf-does-not-parse",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nflat = { text = 10 }\n',
        3,
        "file[1].flat",
        "cannot build this bFLT program",
        id="bad-flat-geometry",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nelf = { segments = [] }\n',
        3,
        "file[1].elf.segments",
        "expected an array of segment tables",
        id="bad-elf",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\ncontent = "a"\nhex = "00"\n',
        1,
        "file[1]",
        "exactly one of",
        id="two-contents",
    ),
    pytest.param(
        '[[file]]\npath = "x"\ncontent = "a"\n',
        2,
        "file[1].path",
        "absolute path",
        id="relative-root-file",
    ),
    pytest.param('[[file]]\npath = "/x"\nhex = "zz"\n', 3, "file[1].hex", "bad hex", id="bad-hex"),
    pytest.param(
        '[[step]]\nop = "exit"\nproc = "ghost"\n',
        3,
        "step[1].proc",
        "no process named 'ghost'",
        id="unknown-process",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "munmap"\nproc = "p"\naddr = "$a"\nlength = 1\n',
        8,
        "step[2].addr",
        "$a is not saved by any earlier step",
        id="unsaved-ref",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "munmap"\nproc = "p"\naddr = "$"\nlength = 1\n',
        8,
        "step[2].addr",
        "cannot read '$'",
        id="bad-ref",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlength = 1\nprot = "rwq"\n',
        9,
        "step[2].prot",
        "unknown protection 'rwq'",
        id="bad-prot",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "mmap"\nproc = "p"\nlength = 1\nexpect = "EWHAT"\n',
        9,
        "step[2].expect",
        "errno name",
        id="bad-errno",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "expect"\nfile = "/proc/maps"\nregex = "("\n',
        8,
        "step[2].regex",
        "bad regular expression",
        id="bad-regex",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "expect"\nfree_above = 1\nline = "x"\n',
        5,
        "step[2]",
        "exactly one of",
        id="expect-two-checks",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "repeat"\ncount = -1\n',
        7,
        "step[2].count",
        "must not be negative",
        id="negative-count",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "repeat"\ncount = 1\nsteps = 3\n',
        8,
        "step[2].steps",
        "expected an array of step tables",
        id="repeat-steps",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "workload"\nticks = 5\n',
        5,
        "step[2]",
        "needs [[step.launch]] or [[step.churn]]",
        id="empty-workload",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "workload"\nticks = 5\n[[step.churn]]\nproc = "p"\n'
        'rate = 1\nsize = { min = "8K", max = "4K" }\nhold = 1\n',
        11,
        "step[2].churn[1].size",
        "min 8192 is above max 4096",
        id="bad-dist",
    ),
    pytest.param(
        SPAWN + '[[step]]\nop = "workload"\nticks = 5\n[[step.churn]]\nproc = "p"\n'
        'rate = -1\nsize = "1K"\nhold = 1\n',
        10,
        "step[2].churn[1].rate",
        "between 0 and 1000",
        id="negative-rate",
    ),
    pytest.param("step = 3\n", 1, "step", "expected an array of tables", id="step-not-array"),
    pytest.param('[scenario]\nseed = "x"\n', 2, "scenario.seed", "cannot read 'x'", id="bad-seed"),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), BAD)
def test_bad_input_names_file_line_and_field(
    text: str, line: int, field: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "garbage.bin").write_bytes(b"this is not a program at all" * 4)
    e = error(text, tmp_path)
    text_of_error = str(e)
    assert "\n" not in text_of_error
    assert text_of_error.startswith(f"t.toml:{line}: ")
    assert e.where.line == line
    assert e.where.field == field
    assert message in e.message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")
    (tmp_path / "bin.toml").write_bytes(b"a = 1\n\xff\xfe\n")
    with pytest.raises(ScenarioError, match=r"bin.toml:2: not UTF-8"):
        load_scenario(tmp_path / "bin.toml")


# -- the line locator -----------------------------------------------------------------------


def test_key_lines_follow_tables_arrays_and_inline_values() -> None:
    text = textwrap.dedent('''\
        # comment
        [scenario]
        name = "x"  # trailing
        [[mount]]
        type = "romfs"
        [[mount.file]]
        path = "a"
        flat = { text = 100, data = 4 }
        [[mount.file]]
        s = """two
        lines"""
        after = 1
        [[step]]
        op = "repeat"
        steps = [
          { op = "mmap" },
          # between
          { op = "munmap", addr = "$a" },
        ]
        [[step]]
        [[step.steps]]
        op = 'x'
        [expect]
        a.b = 2
    ''')
    lines = key_lines(text)
    assert lines[("scenario", "name")] == 3
    assert lines[("mount", 0, "file", 0, "flat", "data")] == 8
    assert lines[("mount", 0, "file", 1, "after")] == 12
    assert lines[("step", 0, "steps", 1, "addr")] == 18
    assert lines[("step", 1, "steps", 0, "op")] == 22
    assert lines[("expect", "a", "b")] == 24
    assert line_of(lines, ("step", 0, "steps", 1, "nothing")) == 18
    assert line_of(lines, ("nowhere",)) is None


def test_key_lines_never_raise_on_odd_text() -> None:
    assert key_lines("[[") == {}
    assert key_lines('a = "unterminated\n') == {("a",): 1}
