"""The nommu command, in process: exit codes, output files, and errors without tracebacks."""

from __future__ import annotations

import io
import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

import nommu.cli
import nommu.cli.progress
from nommu.cli import main

GOLDEN = Path(__file__).parent.parent / "scenario" / "golden"


def write(tmp_path: Path, text: str, name: str = "s.toml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "demo" in out and "run" in out
    assert run(capsys, "run", "--help")[0] == 0
    assert run(capsys, "demo", "--help")[0] == 0
    code, _, err = run(capsys)
    assert code == 2 and "usage:" in err
    assert run(capsys, "bogus")[0] == 2
    assert run(capsys, "run")[0] == 2
    assert run(capsys, "run", "x.toml", "--seed", "abc")[0] == 2


def test_success_is_exit_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(GOLDEN)
    code, out, err = run(capsys, "run", "syscalls.toml")
    assert (code, err) == (0, "")
    assert "Result: OK" in out and "Does it fit?" in out


def test_an_expectation_that_does_not_hold_is_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(GOLDEN)
    code, out, err = run(capsys, "run", "fragmentation.toml")
    assert (code, err) == (1, "")
    assert "Result: FAILS: 2 of 2 expectations did not hold" in out


def test_reports_are_written_and_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    code, out, _ = run(
        capsys,
        "run",
        str(GOLDEN / "limits.toml"),
        "--html",
        str(html),
        "--json",
        str(js),
        "--width",
        "120",
    )
    assert code == 0
    assert f"Report written to {html}" in out and f"Report written to {js}" in out
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert json.loads(js.read_text())["scenario"]["name"] == "limits"


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    js = tmp_path / "r.json"
    code, out, err = run(capsys, "run", str(GOLDEN / "fragmentation.toml"), "-q", "--json", str(js))
    assert (code, out, err) == (1, "", "")
    assert js.exists()


def test_seed_and_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run(capsys, "run", str(GOLDEN / "fragmentation.toml"), "-q", "--json", str(a))[0] == 1
    assert run(
        capsys,
        "run",
        str(GOLDEN / "fragmentation.toml"),
        "-q",
        "--json",
        str(b),
        "--seed",
        "5",
        "--check",
    )[0] in (0, 1)
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert (da["scenario"]["seed"], db["scenario"]["seed"]) == (11, 5)
    assert da["timeline"] != db["timeline"]


BAD_INPUTS = [
    pytest.param("[board\n", "s.toml:1: TOML syntax error", id="syntax"),
    pytest.param('[board]\nram = "8X"\n', "s.toml:2: board.ram: cannot read '8X'", id="size"),
    pytest.param(
        "[board]\npage_size = 3000\n",
        "s.toml:2: board.page_size: must be a power of two",
        id="machine-rejects",
    ),
    pytest.param(
        '[board]\nmax_order = "ten"\n',
        "s.toml:2: board.max_order: expected an int",
        id="machine-type",
    ),
    pytest.param(
        '[board]\nram = "8G"\n', "s.toml:2: board.ram: ends above the 32-bit", id="huge-ram"
    ),
    pytest.param(
        '[[mount]]\ntype = "romfs"\ntarget = "/r"\nwhat = 1\n[[mount.file]]\n'
        'path = "a"\ncontent = "x"\n',
        "s.toml:4: mount[1].what: unknown romfs mount",
        id="mount-option",
    ),
    pytest.param(
        '[[mount]]\ntype = "zfs"\ntarget = "/r"\n',
        "s.toml:1: mount[1]: fstype: unknown filesystem type 'zfs'",
        id="fstype",
    ),
    pytest.param(
        '[[file]]\npath = "/proc/x"\ncontent = "x"\n', "s.toml:1: file[1]:", id="file-on-procfs"
    ),
    pytest.param(
        '[[step]]\nop = "spawn"\nname = "p"\n[[step]]\nop = "wait"\nproc = "p"\n'
        'expect = "ECHILD"\n[[step]]\nop = "vfork"\nproc = "p"\nchild = "c"\n'
        '[[step]]\nop = "brk"\nproc = "p"\naddr = 0\n',
        "s.toml:12: step[4]: brk: process 1 is suspended in vfork()",
        id="runtime",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nhost = "prog.bin"\nformat = "elf"\n',
        "s.toml:4: file[1].format: not a valid elf program",
        id="bad-program",
    ),
    pytest.param(
        '[[file]]\npath = "/x"\nhost = "nothere.bin"\n',
        "s.toml:3: file[1].host: host file 'nothere.bin' does not exist",
        id="missing-host-file",
    ),
    pytest.param(
        '[[step]]\nop = "spawn"\nname = "p"\n[[step]]\nop = "mmap"\nproc = "p"\nlength = -1\n',
        "s.toml:7: step[2].length: must not be negative",
        id="negative",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(
    text: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prog.bin").write_bytes(b"\x7fELF but not really" * 10)
    write(tmp_path, text)
    html = tmp_path / "out.html"
    code, out, err = run(capsys, "run", "s.toml", "--html", str(html), "--json", "out.json")
    assert code == 2
    assert out == ""
    assert err.startswith(f"nommu: error: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog.bin", "s.toml"]  # no report


def test_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "run", str(tmp_path / "none.toml"))
    assert code == 2
    missing = tmp_path / "none.toml"
    assert err == f"nommu: error: {missing}: cannot read: No such file or directory\n"
    code, _, err = run(capsys, "run", str(tmp_path))
    assert code == 2 and "cannot read" in err


def test_an_unwritable_report_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(
        capsys,
        "run",
        str(GOLDEN / "limits.toml"),
        "-q",
        "--json",
        str(tmp_path / "no" / "such" / "dir.json"),
    )
    assert code == 2 and err.startswith("nommu: error: cannot write ")


def test_a_report_that_fails_to_render_leaves_no_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nommu.report.html

    target = tmp_path / "r.html"
    target.write_text("previous report")

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("plotting failed half-way")

    monkeypatch.setattr(nommu.report.html, "render_html", broken)
    with pytest.raises(RuntimeError):
        main(["run", str(GOLDEN / "limits.toml"), "-q", "--html", str(target)])
    assert target.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_progress_appears_only_after_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    clock = [100.0]
    monkeypatch.setattr(nommu.cli.progress.time, "monotonic", lambda: clock[0])
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    lazy = nommu.cli.progress.LazyProgress(console, "running")
    lazy(1, 10)
    assert lazy.bar is None
    clock[0] += 1.5
    lazy(5, 10)
    assert lazy.bar is not None
    lazy.stop()
    assert lazy.bar is None


def test_demo_writes_its_report_in_the_current_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "demo", "--json", "demo.json")
    assert (code, err) == (0, "")
    report = tmp_path / "nommu-report.html"
    assert f"Report written to {report}" in out
    assert report.read_text().startswith("<!DOCTYPE html>")
    assert "What fails first, and why?" in out
    assert "page allocation failure: order:5" in out
    data = json.loads((tmp_path / "demo.json").read_text())
    first = data["failures"][data["summary"]["first_failure"] - 1]
    assert first["op"] == "mmap" and first["explanation"]["cause"] == "fragmentation"
    assert data["summary"]["min_free_bytes"] > 2 << 20  # fails with megabytes free
    # the demonstration ran (exit 0), and its headline says the board does not fit
    assert not data["run"]["ok"] and not data["verdict"]["fits"]
    assert data["verdict"]["headline"].startswith("Does it fit? NO: ")
    assert "Does it fit? NO: " in out and "Result: FAILS: " in out
    # the default board is also a plain scenario file
    shutil.copy(
        Path(nommu.cli.__file__).parent.parent / "boards" / "default.toml", tmp_path / "d.toml"
    )
    assert main(["run", "d.toml", "-q", "--json", "run.json"]) == 1  # nommu run: the verdict
    assert (tmp_path / "run.json").read_text() == (tmp_path / "demo.json").read_text().replace(
        '"path": "default.toml"', '"path": "d.toml"'
    ).replace('"file": "default.toml"', '"file": "d.toml"')


def test_run_shows_a_progress_bar_with_an_eta_on_a_terminal_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nommu run`: a bar (share done, elapsed, time left) on a terminal; nothing else
    when the output is not a terminal or with --quiet."""
    monkeypatch.chdir(GOLDEN)
    monkeypatch.setattr(nommu.cli.progress, "PROGRESS_AFTER", 0.0)  # every run is "long"
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: stdout is a terminal
    code, out, err = run(capsys, "run", "fragmentation.toml", "--width", "100")
    assert (code, err) == (1, "")
    bar = out[: out.index("nommu: fragmentation")]
    assert "running fragmentation" in bar and "[progress" not in bar  # no markup shown
    assert re.search(r"100%\S* \S*0:00:\d\d\S* \S*0:00:0\d", bar)  # elapsed, then time left
    code, out, err = run(capsys, "run", "fragmentation.toml", "--quiet")
    assert (code, out, err) == (1, "", "")
    monkeypatch.setenv("TTY_COMPATIBLE", "0")  # not a terminal: the report alone
    code, out, err = run(capsys, "run", "fragmentation.toml")
    assert (code, err) == (1, "")
    assert "running" not in out and "\x1b" not in out and "\r" not in out
    monkeypatch.setattr(nommu.cli.progress, "PROGRESS_AFTER", 1e9)
    assert run(capsys, "run", "fragmentation.toml") == (code, out, err)
