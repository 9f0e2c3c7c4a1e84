"""The ``nommu`` command: a thin layer over the library.

Subcommands (each built by its own ``add_<name>_command`` function, so more
can be added beside them):

- ``nommu demo``: run the default board and write ``nommu-report.html``;
- ``nommu run FILE``: run a scenario file (docs/scenarios.md);
- ``nommu check TRACE``: what in an strace log breaks without an MMU;
- ``nommu replay TRACE``: replay an strace log onto a board and report on it.

Exit codes: 0 success, 1 an expectation or verdict failed, 2 usage or input
errors (one line on stderr naming the file, line and field; never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from nommu.errors import NommuError
from nommu.strace.commands import add_check_command, add_replay_command

#: Runs shorter than this (seconds) never show a progress bar.
PROGRESS_AFTER = 1.0


def _error(message: str) -> int:
    print(f"nommu: error: {message}", file=sys.stderr)
    return 2


def _add_run_options(p: argparse.ArgumentParser, *, html_default: str | None) -> None:
    p.add_argument(
        "--check",
        action="store_true",
        help="check every invariant of the model after every step (slower)",
    )
    p.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed for the random workloads (default: the scenario's)",
    )
    p.add_argument("--json", metavar="OUT", help="write the report as JSON to OUT")
    p.add_argument(
        "--html",
        metavar="OUT",
        default=html_default,
        help="write the report as one HTML page with plots to OUT"
        + (f" (default: {html_default})" if html_default else ""),
    )
    if html_default:
        p.add_argument(
            "--no-html",
            dest="html",
            action="store_const",
            const=None,
            help="do not write the HTML report",
        )
    p.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print nothing but errors (the exit code tells the result)",
    )
    p.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="width of the terminal report (default: the terminal's, or 100)",
    )


def add_demo_command(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the default board and write an HTML report",
        description="Run the default board (an 8 MiB no-MMU system serving CGI requests) "
        "and show whether it fits, how memory fragments, and what fails first "
        "and why.",
    )
    _add_run_options(p, html_default="nommu-report.html")
    p.set_defaults(func=_demo)


def add_run_command(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a scenario file",
        description="Run a scenario file (a board, its filesystems and programs, and a "
        "script) and report on it. See docs/scenarios.md.",
    )
    p.add_argument("scenario", metavar="FILE", help="the scenario (TOML)")
    _add_run_options(p, html_default=None)
    p.set_defaults(func=_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nommu", description="An executable model of Linux no-MMU memory management."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_command(sub)
    add_run_command(sub)
    add_check_command(sub)
    add_replay_command(sub)
    return parser


class _LazyProgress:
    """A rich progress bar that appears only once a run has taken a second."""

    def __init__(self, console: Any, label: str) -> None:
        self.console = console
        self.label = label
        self.start = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.start < PROGRESS_AFTER:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn

            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _execute(scenario: Any, args: argparse.Namespace) -> int:
    """Run a loaded scenario, write the reports asked for, print the text report."""
    from rich.console import Console

    from nommu.report import print_report, render_json, report_data, write_atomic
    from nommu.scenario import run_scenario

    console = Console(highlight=False, soft_wrap=False)
    if args.width:
        console.width = args.width
    elif not console.is_terminal:
        console.width = 100
    progress: Callable[[int, int], None] | None = None
    lazy = None
    if not args.quiet and console.is_terminal:
        lazy = _LazyProgress(console, f"running {scenario.name}")
        progress = lazy
    try:
        result = run_scenario(scenario, seed=args.seed, check=args.check, progress=progress)
    finally:
        if lazy is not None:
            lazy.stop()
    data = report_data(result)
    if not args.quiet:
        print_report(data, console)
    outputs: list[tuple[str, Callable[[], str]]] = []
    if args.json:
        outputs.append((args.json, lambda: render_json(data)))
    if args.html:

        def html() -> str:
            from nommu.report.html import render_html

            return render_html(result, data)

        outputs.append((args.html, html))
    for path, render in outputs:
        try:
            if console.is_terminal and not args.quiet:
                with console.status(f"writing {path}"):
                    text = render()
            else:
                text = render()
            write_atomic(path, text)
        except OSError as e:
            return _error(f"cannot write {path}: {e.strerror or e}")
        if not args.quiet:
            print(f"Report written to {os.path.abspath(path)}")
    return 0 if result.ok else 1


def _run(args: argparse.Namespace) -> int:
    from nommu.scenario import load_scenario

    return _execute(load_scenario(args.scenario), args)


def _demo(args: argparse.Namespace) -> int:
    from nommu.demo import load_default_board

    return _execute(load_default_board(), args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage or the help
        return e.code if isinstance(e.code, int) else 2
    try:
        code: int = args.func(args)
    except NommuError as e:
        return _error(str(e))
    return code
