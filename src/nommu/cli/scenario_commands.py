"""``nommu demo`` and ``nommu run FILE``: scenarios from the command line.

Exit codes: 0 success, 1 an expectation or verdict failed, 2 usage or input
errors (one line on stderr naming the file, line and field; never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from nommu.cli.progress import LazyProgress


def error(message: str) -> int:
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
    p.add_argument(
        "--seeds",
        metavar="N|A-B",
        help="run seeds 1..N (or the range A-B) and report the probability that the board "
        "fails, with its interval (docs/sweeps.md); exit 1 when any run fails",
    )
    from nommu.cli.sweep_commands import add_pool_options

    add_pool_options(p)
    p.set_defaults(func=_run)


def _execute(scenario: Any, args: argparse.Namespace, *, demo: bool = False) -> int:
    """Run a loaded scenario, write the reports asked for, print the text report.

    Exit status 1 when the board does not fit (the verdict); for the demo, whose
    board is meant to show a failure, 0 whenever the demonstration ran to its end.
    """
    from rich.console import Console

    from nommu.report import print_report, render_json, report_data, write_atomic
    from nommu.scenario import run_scenario

    console = Console(highlight=False, soft_wrap=False, markup=False)  # text has [..]
    if args.width:
        console.width = args.width
    elif not console.is_terminal:
        console.width = 100
    progress: Callable[[int, int], None] | None = None
    lazy = None
    if not args.quiet and console.is_terminal:
        lazy = LazyProgress(console, f"running {scenario.name}")
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
            return error(f"cannot write {path}: {e.strerror or e}")
        if not args.quiet:
            print(f"Report written to {os.path.abspath(path)}")
    if demo:
        return 0 if result.stopped is None else 1
    return 0 if result.ok else 1


def _run(args: argparse.Namespace) -> int:
    from nommu.scenario import load_scenario

    if args.seeds is not None:
        if args.seed is not None or args.check:
            return error("--seeds runs many seeds: give it without --seed and --check")
        from nommu.cli.sweep_commands import run_many

        return run_many(args, [], None)
    if args.workers is not None or args.dask is not None:
        return error("--workers and --dask go with --seeds")

    return _execute(load_scenario(args.scenario), args)


def _demo(args: argparse.Namespace) -> int:
    from nommu.demo import load_default_board

    return _execute(load_default_board(), args, demo=True)
