"""``nommu compare FILE``: one scenario under several kernels and mm designs.

``--kernel V`` (repeatable) adds a column running kernel *V*'s own design;
``--design D`` (repeatable) adds the newest kernel with the what-if design
*D*; with neither, the columns are 2.6.24, the newest kernel and the
newest kernel with the page-cache design. ``--ideal`` leaves the kernel's
small objects out of memory in every column. ``--seeds N`` runs seeds
``S..S+N-1`` (S: ``--seed`` or the scenario's) and shows the distribution
of the time to first failure; the other figures are those of the first
seed. The table goes to the terminal; ``--json OUT`` and ``--html OUT``
write it atomically. Exit 0 when every run completed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import html
import json
from typing import Any

from nommu.cli.scenario_commands import error


def add_compare_command(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="run one scenario under several kernels and mm designs, side by side",
        description="Run a scenario under several kernel versions and mm designs and "
        "compare RAM in mappings, slack, sharing, kernel metadata and failures. "
        "See docs/designs.md.",
    )
    p.add_argument("scenario", metavar="FILE", help="the scenario (TOML)")
    p.add_argument(
        "--kernel",
        action="append",
        default=[],
        metavar="VERSION",
        help="a column running this kernel version (repeatable)",
    )
    p.add_argument(
        "--design",
        action="append",
        default=[],
        metavar="DESIGN",
        help="a column running the newest kernel with this what-if design (repeatable)",
    )
    p.add_argument(
        "--ideal", action="store_true", help="leave the kernel's small objects out of memory"
    )
    p.add_argument("--seed", type=int, metavar="N", help="the first seed (default: the scenario's)")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="runs per column (default 1)")
    p.add_argument(
        "--reap-every",
        type=int,
        metavar="TICKS",
        help="run 2.6.24's cache_reap every TICKS ticks (default: every 2 s when the "
        "scenario says what a tick is, else never; 0: never)",
    )
    p.add_argument("--json", metavar="OUT", help="write the comparison as JSON to OUT")
    p.add_argument("--html", metavar="OUT", help="write the comparison as an HTML page to OUT")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_compare)


def _variants(args: argparse.Namespace) -> list[Any]:
    from nommu.analysis.design_compare import Variant, default_variants
    from nommu.profiles import DEFAULT_KERNEL, DESIGNS, KERNEL_VERSIONS

    out = []
    for k in args.kernel:
        if k not in KERNEL_VERSIONS:
            raise ValueError(
                f"--kernel: unknown version {k!r}; known: {', '.join(KERNEL_VERSIONS)}"
            )
        out.append(Variant(k, None, args.ideal))
    for d in args.design:
        if d not in DESIGNS or d is None:
            known = ", ".join(x for x in DESIGNS if x is not None)
            raise ValueError(f"--design: unknown design {d!r}; known: {known}")
        out.append(Variant(DEFAULT_KERNEL, d, args.ideal))
    if not out:
        out = [Variant(v.kernel, v.design, args.ideal) for v in default_variants()]
    return out


def _compare(args: argparse.Namespace) -> int:
    from nommu.analysis.design_compare import run_variant, table_rows, to_json
    from nommu.report import write_atomic
    from nommu.scenario import load_scenario

    if args.seeds < 1:
        return error("--seeds: must be at least 1")
    try:
        variants = _variants(args)
    except ValueError as e:
        return error(str(e))
    scenario = load_scenario(args.scenario)
    first = args.seed if args.seed is not None else scenario.seed
    seeds = [first + i for i in range(args.seeds)]
    from rich.console import Console

    from nommu.cli.progress import LazyProgress

    console = Console(stderr=True, highlight=False)
    show = not args.quiet and console.is_terminal
    results = []
    for v in variants:
        results.append(
            run_variant(
                scenario,
                v,
                seeds,
                progress=(lambda label: LazyProgress(console, f"running {label}"))
                if show
                else None,
                reap_every=args.reap_every,
            )
        )
    rows = table_rows(results)
    headers = [vr.variant.label for vr in results]
    if not args.quiet:
        print(render_text(scenario.name, headers, rows, len(seeds)))
    outputs = []
    if args.json:
        outputs.append((args.json, json.dumps(to_json(scenario, results), indent=2) + "\n"))
    if args.html:
        outputs.append((args.html, render_html(scenario.name, headers, rows, len(seeds))))
    for path, text in outputs:
        try:
            write_atomic(path, text)
        except OSError as e:
            return error(f"cannot write {path}: {e.strerror or e}")
    return 0


def _seed_note(seeds: int) -> str:
    if seeds == 1:
        return "One run per column (one seed is not a probability: --seeds N gives a distribution)."
    return f"{seeds} seeds per column; figures but the time to first failure are the first seed's."


def render_text(
    name: str, headers: list[str], rows: list[tuple[str, list[str]]], seeds: int
) -> str:
    """The comparison as a plain table for the terminal."""
    label_w = max(len(r[0]) for r in rows)
    widths = [max(len(h), *(len(r[1][i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [f"nommu compare: {name}", ""]
    lines.append(
        " " * label_w + "  " + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    )
    lines.append("-" * (label_w + sum(w + 2 for w in widths)))
    for label, cells in rows:
        lines.append(
            label.ljust(label_w)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    lines += ["", _seed_note(seeds)]
    return "\n".join(lines)


def render_html(
    name: str, headers: list[str], rows: list[tuple[str, list[str]]], seeds: int
) -> str:
    """The comparison as one self-contained HTML page."""
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        f"<tr><th>{e(label)}</th>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>"
        for label, cells in rows
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>nommu compare: {e(name)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}td{text-align:right}"
        "th{text-align:left}</style></head><body>"
        f"<h1>nommu compare: {e(name)}</h1><table><tr><th></th>{head}</tr>{body}</table>"
        f"<p>{e(_seed_note(seeds))}</p></body></html>\n"
    )
