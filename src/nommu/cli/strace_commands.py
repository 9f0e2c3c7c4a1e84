"""``nommu check`` and ``nommu replay``: strace logs as porting evidence, from the command line.

:func:`add_check_command` and :func:`add_replay_command` add the two
subcommands to an ``argparse`` subparsers object; each sets ``func`` to a
callable that takes the parsed namespace and returns the exit code::

    parser = argparse.ArgumentParser(prog="nommu")
    sub = parser.add_subparsers(dest="command")
    add_check_command(sub)
    add_replay_command(sub)
    args = parser.parse_args(["check", "trace.txt"])
    code = args.func(args)

``nommu check TRACE [--board FILE] [--kernel V] [--arch A] [--libc L] [--json OUT]
[--only KIND] [--min-severity S] [--width N] [--quiet]``
    What would break without an MMU (:func:`nommu.strace.check.check_trace`):
    the findings grouped by kind, one row per finding at or above
    ``--min-severity`` (``change`` by default), the calls set apart (host C
    library, failed on the host) and the verdict. Exit 0 when the program
    runs as is, 1 otherwise.

``nommu replay TRACE [--board FILE] [--json OUT] [--html OUT] [--heap POLICY] [--libs FS]``
    The trace replayed onto the board (:func:`nommu.strace.replay.replay`):
    the run report of ``nommu run`` plus the replay's translations. Exit 0
    when every replayed call succeeded on the board, 1 otherwise.

``--board FILE`` is a scenario file (docs/scenarios.md); only its
``[board]`` table is used: the ``Machine`` options (``ram``, ``flash``,
``max_order``...). Both commands judge the trace on that board, freshly
booted (default: the board of ``nommu demo``), running the kernel version
``--kernel`` on ``--arch`` (:mod:`nommu.profiles`; default: the board file's,
else the newest kernel on arm): ``check`` asks it every errno and size
question, ``replay`` runs the trace on it. ``--libc`` names the target's C
library (:mod:`nommu.strace.libc`; default uclibc-ng): calls only the host's
glibc makes are set apart by both commands.

``TRACE`` may be ``-`` for standard input, and ``--json -`` writes the JSON
to standard output (the text report is then not printed). On a terminal, a
progress bar with an ETA appears when reading and judging take more than a
second (never with ``--quiet``).

Exit code 2, with one line on stderr naming the file (and the line when
known) and no traceback, for input that cannot be used: a trace that is
missing, unreadable, empty or not strace output at all; a board file that
is missing or wrong; an output file that cannot be written. A trace with
some unreadable lines, or that ends in the middle of a call, is used, with
a warning on stderr. Output files are written atomically (a temporary file
renamed over the target).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from nommu.cli.progress import LazyProgress
from nommu.errors import ConfigError, NommuError
from nommu.profiles import ARCHES, KERNEL_VERSIONS
from nommu.strace.check import BoardLimits, check_trace
from nommu.strace.findings import KINDS, SEVERITIES
from nommu.strace.libc import DEFAULT_LIBC, LIBCS
from nommu.strace.parse import EventKind, Trace, TraceError, parse_file, parse_lines
from nommu.strace.replay import HEAP_POLICIES, LIB_POLICIES, RESERVATION_POLICIES

__all__ = [
    "InputError",
    "add_check_command",
    "add_replay_command",
    "board_limits",
    "load_board",
    "read_trace",
    "run_check",
    "run_replay",
]


class InputError(NommuError):
    """Input that cannot be used; the message is one line naming the file."""


# ---------------------------------------------------------------------------- inputs


def _counted(fh: IO[str], total: int, progress: Callable[[int, int], None]) -> Iterator[str]:
    done = 0
    for n, line in enumerate(fh, 1):
        done += len(line)
        if not n & 0x3FFF:
            progress(min(done, total), total)
        yield line


def read_trace(
    path: str, *, default_pid: int = 1, progress: Callable[[int, int], None] | None = None
) -> tuple[Trace, list[str]]:
    """Parse *path* (``-``: standard input); return the trace and warnings (one line each).

    *progress* is called with (characters read, file size) now and then.
    Raises :class:`InputError` for a trace that cannot be read, is empty, or
    has no line that strace writes.
    """
    try:
        if path == "-":
            trace = parse_lines(sys.stdin, source="<stdin>", default_pid=default_pid)
        elif progress is not None and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                    total = os.fstat(fh.fileno()).st_size
                    lines = _counted(fh, total, progress)
                    trace = parse_lines(lines, source=path, default_pid=default_pid)
            except OSError as exc:
                raise TraceError(f"{path}: cannot read trace: {exc.strerror or exc}") from None
        else:
            trace = parse_file(path, default_pid=default_pid)
    except TraceError as exc:
        raise InputError(str(exc)) from None
    if trace.line_count == 0 or (not trace.events and not trace.problems):
        raise InputError(f"{path}: empty trace (no strace output in it)")
    if not trace.events:
        p = trace.problems[0]
        raise InputError(
            f"{p.source}:{p.line}: not strace output ({p.reason}); "
            f"no line of the file could be read"
        )
    warnings: list[str] = []
    if trace.problems:
        p = trace.problems[0]
        warnings.append(
            f"{p.source}:{p.line}: {len(trace.problems)} line(s) could not be read "
            f"and were skipped (first: {p.reason})"
        )
    last = trace.events[-1]
    if (
        last.kind is EventKind.SYSCALL
        and last.result is None
        and last.errno is None
        and (last.syscall not in ("exit", "exit_group", "execve", "execveat"))
    ):
        warnings.append(
            f"{last.source}:{last.line}: the trace ends in the middle of "
            f"{last.syscall}() (truncated?); that call is not used"
        )
    return trace, warnings


_OPTION_ERROR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): (.*)")


def load_board(path: str | None, kernel: str | None = None, arch: str | None = None) -> Any:
    """The :class:`~nommu.Machine` a scenario file's ``[board]`` table describes.

    ``None`` is the board of ``nommu demo``; *kernel* and *arch*, when given,
    replace the board's profile. Raises :class:`InputError` naming the file,
    line and option when the file is missing, is not a valid scenario, or
    gives a bad option.
    """
    from nommu.machine import Machine
    from nommu.scenario import load_scenario

    try:
        if path is None:
            from nommu.demo import load_default_board

            board = load_default_board().board
        else:
            board = load_scenario(path).board
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    options = dict(board.options)
    if kernel is not None:
        options["kernel"] = kernel
    if arch is not None:
        options["arch"] = arch
    try:
        return Machine(**options)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        m = _OPTION_ERROR.match(msg)
        if m and m.group(1) in board.option_lines:
            raise InputError(
                f"{board.where.file}:{board.option_lines[m.group(1)]}: "
                f"board.{m.group(1)}: {m.group(2)}"
            ) from None
        raise InputError(f"{board.where}: {msg}") from None


def board_limits(machine: Any) -> BoardLimits:
    """Page size, max order and largest free block of a freshly booted *machine*."""
    order = machine.zone.largest_free_order()
    largest = machine.page_size << order if order >= 0 else machine.page_size
    return BoardLimits(
        page_size=machine.page_size, max_order=machine.zone.max_order, largest_free_block=largest
    )


def _write(path: str, text: str) -> None:
    from nommu.report import write_atomic

    if path == "-":
        sys.stdout.write(text)
        return
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _error(message: str) -> int:
    sys.stderr.write(f"nommu: error: {message}\n")
    return 2


def _warn(messages: list[str]) -> None:
    for message in messages:
        sys.stderr.write(f"nommu: warning: {message}\n")


def _size(text: str) -> int:
    from nommu.consts import parse_size

    try:
        value = parse_size(text, "size")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("size: ")) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


# ----------------------------------------------------------------------------- check


def add_board_options(p: argparse.ArgumentParser) -> None:
    """``--board``, ``--kernel``, ``--arch`` and ``--libc``: what the trace is judged on."""
    p.add_argument(
        "--board",
        metavar="FILE",
        help="a scenario file whose [board] table describes the board (default: the board "
        "of nommu demo: 8 MiB RAM, 4 KiB pages, 4 MiB largest block)",
    )
    p.add_argument(
        "--kernel",
        choices=KERNEL_VERSIONS,
        metavar="VERSION",
        help=f"kernel version profile ({', '.join(KERNEL_VERSIONS)}; default: the board "
        "file's, else the newest)",
    )
    p.add_argument(
        "--arch",
        choices=tuple(ARCHES),
        help="architecture profile (default: the board file's, else arm)",
    )
    p.add_argument(
        "--libc",
        choices=LIBCS,
        default=str(DEFAULT_LIBC),
        help="the target's C library; calls only the host's glibc makes are set apart "
        f"(default: {DEFAULT_LIBC})",
    )
    p.add_argument(
        "--pid",
        type=int,
        default=1,
        metavar="N",
        help="pid of the lines that have no pid column (default 1)",
    )
    p.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print nothing but errors and warnings (the exit code tells the result)",
    )
    p.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="width of the terminal report (default: the terminal's, or 100)",
    )


def add_check_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``nommu check TRACE [options]``; returns its parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="what in an strace log breaks without an MMU",
        description="Read an strace log taken on an MMU system (strace -f -o TRACE prog) and "
        "report every call a no-MMU kernel would refuse or treat differently: "
        "its trace line, the errno it would get, and why. Exit 0 when the "
        "program runs as is, 1 when it needs changes, 2 for unusable input.",
    )
    p.add_argument(
        "trace",
        metavar="TRACE",
        help="the strace output (a file, the -o prefix of an -ff run, or - for standard input)",
    )
    add_board_options(p)
    p.add_argument(
        "--json",
        metavar="OUT",
        help="write the report (every finding and note, the summary, the verdict; "
        "docs/json.md) as JSON to OUT (- for standard output)",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=tuple(KINDS),
        metavar="KIND",
        help="show only findings of KIND (repeatable; the verdict still counts every finding)",
    )
    p.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        default="change",
        help="list findings at or above this severity one per row (default: change; the "
        "summary by kind counts them all)",
    )
    p.set_defaults(func=run_check)
    return p


def _progress(args: argparse.Namespace, label: str) -> LazyProgress | None:
    """A progress bar on standard error when it is a terminal (never with --quiet)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False, stderr=True)
    if args.quiet or not console.is_terminal:
        return None
    return LazyProgress(console, label)


def _width(args: argparse.Namespace) -> int:
    if args.width:
        return max(int(args.width), 40)
    if sys.stdout.isatty():
        return os.get_terminal_size(sys.stdout.fileno()).columns
    return 100


def run_check(args: argparse.Namespace) -> int:
    """``nommu check``: print the findings; 0 runs as is, 1 needs changes, 2 bad input."""
    from nommu.report.check import render_check

    bar = _progress(args, "reading the trace")
    try:
        try:
            machine = load_board(args.board, args.kernel, args.arch)
            trace, warnings = read_trace(args.trace, default_pid=args.pid, progress=bar)
        finally:
            if bar is not None:
                bar.stop()
        _warn(warnings)
        bar = _progress(args, "judging the calls")
        try:
            report = check_trace(trace, machine=machine, libc=args.libc, progress=bar)
        finally:
            if bar is not None:
                bar.stop()
        if args.json:
            _write(args.json, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    except InputError as exc:
        return _error(str(exc))
    if not args.quiet and args.json != "-":
        sys.stdout.write(
            render_check(
                report, width=_width(args), only=args.only or (), min_severity=args.min_severity
            )
        )
    return report.exit_code


# ---------------------------------------------------------------------------- replay


def add_replay_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``nommu replay TRACE [--board FILE] [--json OUT] [--html OUT] ...``.

    Returns the subcommand's parser.
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="replay an strace log onto a no-MMU board: RAM and first failure",
        description="Replay the memory and process calls of an strace log onto a no-MMU "
        "board, translated as a no-MMU C library and loader would make them "
        "(libraries mapped per segment, fork as vfork, brk as mmap, ...), and "
        "report what it costs in RAM and where it would first fail. Exit 0 when "
        "every replayed call succeeds on the board, 1 when one fails, 2 for "
        "unusable input.",
    )
    p.add_argument(
        "trace",
        metavar="TRACE",
        help="the strace output (a file, the -o prefix of an -ff run, or - for standard input)",
    )
    add_board_options(p)
    p.add_argument("--json", metavar="OUT", help="write the report as JSON to OUT (- for stdout)")
    p.add_argument("--html", metavar="OUT", help="write the report as one HTML page to OUT")
    p.add_argument(
        "--heap",
        choices=HEAP_POLICIES,
        default="mmap-per-brk",
        help="how brk growth is replayed (default: mmap-per-brk)",
    )
    p.add_argument(
        "--heap-chunk",
        type=_size,
        default=64 * 1024,
        metavar="SIZE",
        help="mapping size for --heap malloc-chunks (default: 64K)",
    )
    p.add_argument(
        "--libs",
        choices=LIB_POLICIES,
        default="auto",
        help="where the libraries live: ramfs, xip (romfs on the board's flash) or "
        "disk (ext2); auto: xip when they fit in the flash, else ramfs",
    )
    p.add_argument(
        "--program-size",
        type=_size,
        metavar="SIZE",
        help="PT_LOAD span of every traced program (default: from the trace, else 128K)",
    )
    p.add_argument(
        "--stack-size",
        type=_size,
        default=131072,
        metavar="SIZE",
        help="stack the loader gives each program (default: 128K)",
    )
    p.add_argument(
        "--reservations",
        choices=RESERVATION_POLICIES,
        default="commit",
        help="PROT_NONE reservations: map the parts made accessible (commit) or "
        "the whole reservation (whole)",
    )
    p.set_defaults(func=run_replay)
    return p


def run_replay(args: argparse.Namespace) -> int:
    """``nommu replay``: print the report; 0 no failure, 1 a call failed, 2 bad input."""
    from nommu.report.replay import render_html, replay_text, report_document
    from nommu.strace.replay import ReplayPolicy, replay

    board = args.board if args.board else "the default board"
    bar = _progress(args, "reading the trace")
    try:
        try:
            machine = load_board(args.board, args.kernel, args.arch)
            trace, warnings = read_trace(args.trace, default_pid=args.pid, progress=bar)
        finally:
            if bar is not None:
                bar.stop()
        _warn(warnings)
        policy = ReplayPolicy(
            heap=args.heap,
            heap_chunk=args.heap_chunk,
            libs=args.libs,
            program_size=args.program_size,
            stack_size=args.stack_size,
            reservations=args.reservations,
            libc=args.libc,
        )
        bar = _progress(args, "replaying")
        try:
            result = replay(trace, machine, policy, progress=bar)
        except ConfigError as exc:
            raise InputError(f"{board}: {exc}") from None
        finally:
            if bar is not None:
                bar.stop()
        data = report_document(result)
        if args.json:
            from nommu.report import render_json

            _write(args.json, render_json(data))
        if args.html:
            _write(args.html, render_html(result, data))
    except InputError as exc:
        return _error(str(exc))
    if not args.quiet and args.json != "-":
        from rich.console import Console

        from nommu.report import print_report

        console = Console(highlight=False, soft_wrap=False)
        if args.width:
            console.width = args.width
        elif not console.is_terminal:
            console.width = 100
        print_report(data, console)
        console.print()
        console.print(replay_text(result), markup=False, highlight=False, soft_wrap=True, end="")
        for path in (args.json, args.html):
            if path and path != "-":
                console.print(
                    f"Report written to {os.path.abspath(path)}", markup=False, highlight=False
                )
    return result.exit_code
