"""``nommu check`` and ``nommu replay``, called in-process: exit codes, output, JSON, errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nommu.cli.strace_commands import add_check_command, add_replay_command

FIX = Path(__file__).parent / "fixtures"


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="nommu")
    sub = parser.add_subparsers(dest="command", required=True)
    add_check_command(sub)
    add_replay_command(sub)
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def one_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nommu: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def board2m(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text('# a small board\n[board]\nram = "2M"\n')
    return path


# ---------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------


def test_check_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("check", str(FIX / "check_clean.txt")) == 0
    out = capsys.readouterr().out
    assert "no findings" in out and out.endswith("verdict: runs as is\n")
    assert cli("check", str(FIX / "check_fork.txt")) == 1
    out = capsys.readouterr().out
    assert "findings by kind:" in out and out.endswith("verdict: cannot run\n")
    assert "fork" in out and "EINVAL" in out


def test_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "findings.json"
    assert cli("check", str(FIX / "check_shared.txt"), "--json", str(out)) == 1
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "needs changes"
    assert [(f["line"], f["kind"], f["errno"]) for f in doc["findings"]][:2] == [
        (2, "shared_write_file", "ENODEV"),
        (3, "shared_file", "ENODEV"),
    ]
    assert doc["findings"][0] == {
        "line": 2,
        "pid": 1,
        "syscall": "mmap",
        "kind": "shared_write_file",
        "errno": "ENODEV",
        "detail": "MAP_SHARED with PROT_WRITE of /var/db/data.bin: MAP_SHARED needs memory "
        "that can be mapped directly; ext2 cannot provide it for the file "
        "(validate_mmap_request); put the file on ramfs/tmpfs (e.g. /dev/shm) or a "
        "romfs/cramfs flash, or use read()/write()",
        "severity": "change",
        "source": str(FIX / "check_shared.txt"),
    }
    for f in doc["findings"]:
        assert list(f) == [
            "line",
            "pid",
            "syscall",
            "kind",
            "errno",
            "detail",
            "severity",
            "source",
        ]
        assert f["errno"] is None or isinstance(f["errno"], str)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json"]  # no temp file left
    assert capsys.readouterr().err == ""


def test_check_board_gives_the_largest_block(board2m: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    assert cli("check", str(FIX / "check_clean.txt"), "--board", str(board2m)) == 0
    assert (
        cli("check", str(FIX / "check_alloc.txt"), "--board", str(board2m), "--json", str(out)) == 1
    )
    doc = json.loads(out.read_text())
    big = [f for f in doc["findings"] if f["kind"] == "alloc_too_large"]
    assert [f["line"] for f in big] == [1, 2, 4, 6, 7]
    # the realistic board: the probe process took a kernel stack and slab pages
    assert "the largest free block is order 7 (512 KiB)" in big[0]["detail"]


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        pytest.param(None, "no such trace file", id="missing"),
        pytest.param(b"", "empty trace", id="empty"),
        pytest.param(b"hello\nthis is not a trace\n", ":1: not strace output", id="garbage"),
        pytest.param(
            b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\xff\xfe", ":1: not strace output", id="binary"
        ),
    ],
)
@pytest.mark.parametrize("command", ["check", "replay"])
def test_unusable_trace(
    command: str,
    content: bytes | None,
    expect: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trace = tmp_path / "trace.txt"
    if content is not None:
        trace.write_bytes(content)
    assert cli(command, str(trace)) == 2
    captured = capsys.readouterr()
    line = one_error(captured.err)
    assert str(trace) in line and expect in line
    assert captured.out == ""


def test_unreadable_lines_and_truncation_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("check", str(FIX / "garbage.txt")) == 0
    err = capsys.readouterr().err
    assert err.startswith("nommu: warning: ")
    assert "garbage.txt:2: 8 line(s) could not be read" in err
    cut = tmp_path / "cut.txt"
    text = (FIX / "check_mremap.txt").read_text().splitlines()
    cut.write_text(
        "\n".join(text[:3]) + "\nmremap(0x7f0000100000, 16384, 65536, 0 <unfinished ...>\n"
    )
    assert cli("check", str(cut)) == 1
    err = capsys.readouterr().err
    assert f"{cut}:4: the trace ends in the middle of mremap() (truncated?)" in err


def test_bad_board_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[board]\nram = "2M"\nmax_order = 40\n')
    for command in ("check", "replay"):
        assert cli(command, str(FIX / "check_clean.txt"), "--board", str(bad)) == 2
        line = one_error(capsys.readouterr().err)
        assert f"{bad}:3: board.max_order: must be at most 20, got 40" in line
    bad.write_text("[board]\nram = \n")
    assert cli("check", str(FIX / "check_clean.txt"), "--board", str(bad)) == 2
    line = one_error(capsys.readouterr().err)
    assert f"{bad}:2" in line and "TOML" in line
    bad.write_text('[board]\nrom = "2M"\n')
    assert cli("check", str(FIX / "check_clean.txt"), "--board", str(bad)) == 2
    assert "unknown key 'rom'" in one_error(capsys.readouterr().err)
    missing = tmp_path / "nowhere.toml"
    assert cli("replay", str(FIX / "check_clean.txt"), "--board", str(missing)) == 2
    assert str(missing) in one_error(capsys.readouterr().err)


def test_output_that_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no" / "such" / "dir" / "x.json"
    assert cli("check", str(FIX / "check_clean.txt"), "--json", str(out)) == 2
    assert f"{out}: cannot write" in one_error(capsys.readouterr().err)


def test_func_is_set_for_each_command() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    check = add_check_command(sub)
    replay = add_replay_command(sub)
    assert check.prog.endswith("check") and replay.prog.endswith("replay")
    args = parser.parse_args(["replay", "t.txt", "--heap", "none", "--libs", "disk"])
    assert callable(args.func) and (args.heap, args.libs, args.board) == ("none", "disk", None)


# ---------------------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------------------


def test_replay_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("replay", str(FIX / "replay_libs.txt")) == 0  # the default board: xip
    out = capsys.readouterr().out
    assert "Result: OK" in out and "libraries on xip" in out
    assert "Verdict: every replayed call succeeded on this board" in out
    assert cli("replay", str(FIX / "replay_misc.txt"), "-q") == 1
    assert capsys.readouterr().out == ""


def test_replay_json_and_options(
    tmp_path: Path, board2m: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = cli(
        "replay",
        str(FIX / "replay_small.txt"),
        "--board",
        str(board2m),
        "--json",
        str(out),
        "--libs",
        "disk",
        "--heap",
        "malloc-chunks",
        "--heap-chunk",
        "128K",
    )
    assert code == 1
    doc = json.loads(out.read_text())
    assert doc["board"]["ram_bytes"] == 2 << 20
    rep = doc["replay"]
    assert (rep["libs"], rep["policy"]["heap"], rep["policy"]["heap_chunk"]) == (
        "disk",
        "malloc-chunks",
        128 << 10,
    )
    first = rep["first_failure"]
    assert (first["line"], first["syscall"], first["errno"]) == (6, "mmap", "ENOMEM")
    assert first["explanation"]["cause"] == "not enough free memory"
    assert doc["failures"][0]["line"] == 6 and doc["failures"][0]["explanation"] is not None
    for t in rep["translations"]:
        assert {"line", "pid", "syscall", "kind", "detail"} <= set(t)
    text = capsys.readouterr().out
    assert "What fails first, and why?" in text and "replay_small.txt:6 mmap" in text
    assert f"Report written to {out}" in text


def test_replay_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "r.html"
    assert cli("replay", str(FIX / "replay_misc.txt"), "--html", str(page), "-q") == 1
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert '<section id="replay">' in html and "mremap_fallback" in html
    assert "data:image/png;base64," in html  # the run report's plots
    assert capsys.readouterr().err == ""


def test_replay_board_without_flash_for_xip(
    board2m: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli("replay", str(FIX / "replay_libs.txt"), "--board", str(board2m), "--libs", "xip") == 2
    )
    line = one_error(capsys.readouterr().err)
    assert str(board2m) in line and "libs: 'xip' needs a machine with memory-mapped flash" in line


# ---------------------------------------------------------------------------------------
# check and replay options: filters, libc, kernel, standard input and output
# ---------------------------------------------------------------------------------------


def test_check_only_and_min_severity(capsys: pytest.CaptureFixture[str]) -> None:
    trace = str(FIX / "check_map_fixed.txt")
    assert cli("check", trace, "--width", "100") == 1
    out = capsys.readouterr().out
    assert "loader_map_fixed" in out  # in the summary by kind
    assert "3 finding(s) below change not listed" in out
    rows = [ln for ln in out.splitlines() if ln[:1].isdigit()]
    assert [ln.split()[0] for ln in rows] == ["7", "9", "11", "12", "13"]
    assert cli("check", trace, "--min-severity", "info") == 1
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln[:1].isdigit()]
    assert [ln.split()[0] for ln in rows] == ["3", "4", "5", "7", "9", "11", "12", "13"]
    # --only shows one kind; the verdict still counts every finding
    assert cli("check", trace, "--only", "map_type") == 1
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln[:1].isdigit()]
    assert [ln.split()[:5] for ln in rows] == [["11", "1", "change", "mmap", "map_type"]]
    assert out.endswith("verdict: needs changes\n")
    assert cli("check", trace, "--quiet") == 1
    assert capsys.readouterr() == ("", "")


def test_check_kernel_and_libc(capsys: pytest.CaptureFixture[str]) -> None:
    trace = str(FIX / "check_map_fixed.txt")
    assert cli("check", trace, "--json", "-") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "nommu-check/2" and doc["board"]["kernel"] == "6.12"
    assert [f["line"] for f in doc["findings"] if f["kind"] == "shmat"] == [13]
    # before v4.0 shmat attached the segment: no finding at line 13
    assert cli("check", trace, "--kernel", "2.6.24", "--json", "-") == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["board"]["kernel"], doc["board"]["arch"]) == ("2.6.24", "arm")
    assert [f for f in doc["findings"] if f["kind"] == "shmat"] == []
    assert cli("check", trace, "--kernel", "6.8", "--arch", "riscv64", "--json", "-") == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["board"]["kernel"], doc["board"]["arch"]) == ("6.8", "riscv64")
    # a profile the model does not have: one line naming the board, exit 2
    assert cli("check", trace, "--kernel", "2.6.24", "--arch", "riscv64") == 2
    assert "riscv64" in one_error(capsys.readouterr().err)
    # brk growth is glibc's unless glibc is the target's library
    brk = str(FIX / "check_brk.txt")
    assert cli("check", brk, "--json", "-") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["libc"], doc["findings"], len(doc["host_libc"])) == ("uclibc-ng", [], 2)
    assert cli("check", brk, "--libc", "glibc", "--json", "-") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in doc["findings"]] == ["brk_heap", "brk_heap"]


def test_check_and_replay_read_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    text = (FIX / "check_fork.txt").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert cli("check", "-", "--json", "-") == 1
    doc = json.loads(capsys.readouterr().out)
    assert {f["source"] for f in doc["findings"]} == {"<stdin>"}
    assert [n["line"] for n in doc["host_failed"]] == [17]
    monkeypatch.setattr("sys.stdin", io.StringIO((FIX / "replay_small.txt").read_text()))
    assert cli("replay", "-", "--json", "-", "--libc", "musl") in (0, 1)
    doc = json.loads(capsys.readouterr().out)
    assert doc["replay"]["policy"]["libc"] == "musl"


def test_unknown_kernel_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("check", str(FIX / "check_clean.txt"), "--kernel", "9.9")
    assert exc.value.code == 2
    assert "invalid choice: '9.9'" in capsys.readouterr().err


def test_progress_bars_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check and replay of a big trace: bars on standard error when it is a terminal;
    nothing with --quiet or when it is not a terminal."""
    import nommu.cli.progress

    trace = tmp_path / "big.txt"
    block = [
        "7 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
        "0x7f0000000000",
        "7 munmap(0x7f0000000000, 8192) = 0",
    ]
    trace.write_text("\n".join(block * 10000) + "\n")
    monkeypatch.setattr(nommu.cli.progress, "PROGRESS_AFTER", 0.0)  # every run is "long"
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert cli("check", str(trace)) == 0
    out, err = capsys.readouterr()
    assert "reading the trace" in err and "judging the calls" in err
    assert out.endswith("verdict: runs as is\n") and "\r" not in out
    assert cli("replay", str(trace), "--quiet") == 0
    assert capsys.readouterr() == ("", "")
    assert cli("check", str(trace), "--quiet") == 0
    assert capsys.readouterr() == ("", "")
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert cli("check", str(trace)) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert cli("replay", str(trace), "--json", str(tmp_path / "r.json")) == 0
    assert "replaying" in capsys.readouterr().err
