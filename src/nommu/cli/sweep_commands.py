"""``nommu sweep FILE --param PATH=V1,V2 --seeds N`` and ``nommu run FILE --seeds N``.

Both run a scenario over many seeds (and a sweep over a grid of variants),
on a local process pool over every core or on a Dask cluster (``--dask``),
and report the failure probability with its interval, the time to the first
failure, failures by kind and the distributions of the lowest free memory
and largest free block (terminal, ``--json``, ``--html``). A progress bar
with an ETA appears on a terminal; nothing extra is printed otherwise.

Exit codes: ``run --seeds``: 0 when no run failed, 1 when one did; ``sweep``:
0 when a variant's failure probability is below the target (``--target``,
default 0.01), 1 when none is; 2 for usage and input errors.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from nommu.cli.progress import LazyProgress
from nommu.cli.scenario_commands import error


def add_pool_options(p: argparse.ArgumentParser) -> None:
    """--seeds, --workers and --dask (shared by ``run`` and ``sweep``)."""
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local worker processes (default: one per core; 1 runs in this process)",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on an existing dask.distributed scheduler, e.g. tcp://10.0.0.5:8786 "
        "(pip install 'nommu[dask]'; see docs/sweeps.md)",
    )


def add_sweep_command(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="failure probability over a grid of scenario values and seeds",
        description="Run a scenario with values changed by their TOML path (--param), each "
        "variant over many seeds, and report the failure probability of each and the smallest "
        "value of the first parameter that meets the target. See docs/sweeps.md.",
    )
    p.add_argument("scenario", metavar="FILE", help="the scenario (TOML)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="PATH=V1,V2",
        help="a scenario value by its TOML path and the values to try, e.g. board.ram=4M,8M "
        "or mount[1].file[path=sh].flat.ram=true,false (repeatable; the first is the one "
        "whose smallest value meeting the target is reported)",
    )
    p.add_argument(
        "--seeds",
        default="50",
        metavar="N|A-B",
        help="seeds per variant: a count (seeds 1..N) or a range such as 1-100 (default 50)",
    )
    p.add_argument(
        "--target",
        type=float,
        default=0.01,
        metavar="P",
        help="the failure probability to stay below (default 0.01)",
    )
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    p.add_argument("--html", metavar="OUT", help="write the results with plots to OUT")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--width", type=int, metavar="COLUMNS", help="width of the terminal report")
    add_pool_options(p)
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    if not 0 < args.target < 1:
        return error(f"--target {args.target}: expected a probability between 0 and 1")
    return run_many(args, args.param, args.target)


def run_many(args: argparse.Namespace, param_texts: list[str], target: float | None) -> int:
    """Run every (variant, seed) of a scenario file and report (``run --seeds``, ``sweep``)."""
    from rich.console import Console

    from nommu.report import write_atomic
    from nommu.report.jsonout import render_json
    from nommu.report.sweep import print_sweep, sweep_data
    from nommu.scenario.loader import load_scenario
    from nommu.scenario.pool import run_tasks
    from nommu.scenario.seeds import SeedTask, parse_seeds
    from nommu.scenario.variants import grid, load_variant, parse_param

    try:
        seeds = parse_seeds(str(args.seeds))
    except ValueError as e:
        return error(str(e))
    params = [parse_param(t) for t in param_texts]
    variants = grid(params)
    path = args.scenario
    scenario = load_scenario(path)  # errors in the file itself, before any variant
    with open(path, encoding="utf-8") as f:
        text = f.read()
    base_dir = os.path.dirname(os.path.abspath(path))
    for v in variants:  # every variant loads (a bad value is reported before any run)
        load_variant(text, path, base_dir, v)
    tasks = [
        SeedTask(text, path, base_dir, v, i, seed) for i, v in enumerate(variants) for seed in seeds
    ]
    console = Console(highlight=False, soft_wrap=False, markup=False)  # paths have [..]
    if args.width:
        console.width = args.width
    elif not console.is_terminal:
        console.width = 100
    lazy = None
    if not args.quiet and console.is_terminal:
        lazy = LazyProgress(console, f"{len(tasks)} runs of {scenario.name}", after=0.0)
        lazy(0, len(tasks))
    try:
        outcomes = run_tasks(tasks, workers=args.workers, dask=args.dask, progress=lazy)
    finally:
        if lazy is not None:
            lazy.stop()
    data = sweep_data(
        name=scenario.name,
        path=scenario.path,
        description=scenario.description,
        params=params,
        variants=variants,
        outcomes=outcomes,
        seeds=seeds,
        target=target,
        tick_seconds=scenario.tick_seconds,
    )
    if not args.quiet:
        print_sweep(data, console)
    outputs: list[tuple[str, Callable[[], str]]] = []
    if args.json:
        outputs.append((args.json, lambda: render_json(data)))
    if args.html:

        def html() -> str:
            from nommu.report.sweep_html import render_sweep_html

            return render_sweep_html(data)

        outputs.append((args.html, html))
    for out, render in outputs:
        try:
            write_atomic(out, render())
        except OSError as e:
            return error(f"cannot write {out}: {e.strerror or e}")
        if not args.quiet:
            print(f"Report written to {os.path.abspath(out)}")
    if target is None:
        return 0 if all(v["stats"]["failed_runs"] == 0 for v in data["variants"]) else 1
    return 0 if any(v["stats"]["failure_probability"] < target for v in data["variants"]) else 1
