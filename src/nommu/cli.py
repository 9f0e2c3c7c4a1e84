"""The ``nommu`` command: a thin layer over the library.

Exit codes: 0 success, 1 an expectation or verdict failed, 2 usage or input
errors (one line on stderr naming the file, line and field; never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nommu.errors import NommuError


def _demo(args: argparse.Namespace) -> int:
    from nommu.demo import run_demo

    print(run_demo(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nommu", description="An executable model of Linux no-MMU memory management.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in demonstration on the default board")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except NommuError as e:
        print(f"nommu: error: {e}", file=sys.stderr)
        return 2
    return code
