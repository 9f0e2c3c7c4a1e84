"""The ``nommu`` command: a thin layer over the library.

Subcommands (each built by its own ``add_<name>_command`` function, so more
can be added beside them):

- ``nommu demo``: run the default board and write ``nommu-report.html``;
- ``nommu run FILE``: run a scenario file (docs/scenarios.md); with
  ``--seeds N``, many runs and the failure probability (docs/sweeps.md);
- ``nommu sweep FILE --param PATH=V1,V2``: failure probability per variant;
- ``nommu check TRACE``: what in an strace log breaks without an MMU;
- ``nommu replay TRACE``: replay an strace log onto a board and report on it;
- ``nommu oracle FILE``: a scenario on the model and on a real kernel in QEMU.
- ``nommu compare FILE``: one scenario under several kernels and mm designs.

Exit codes: 0 success, 1 an expectation or verdict failed, 2 usage or input
errors (one line on stderr naming the file, line and field; never a traceback).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from nommu.cli.compare_command import add_compare_command
from nommu.cli.oracle_command import add_oracle_command
from nommu.cli.scenario_commands import add_demo_command, add_run_command, error
from nommu.cli.strace_commands import add_check_command, add_replay_command
from nommu.cli.sweep_commands import add_sweep_command
from nommu.errors import NommuError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nommu", description="An executable model of Linux no-MMU memory management."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_command(sub)
    add_run_command(sub)
    add_sweep_command(sub)
    add_check_command(sub)
    add_replay_command(sub)
    add_oracle_command(sub)
    add_compare_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage or the help
        return e.code if isinstance(e.code, int) else 2
    try:
        code: int = args.func(args)
    except NommuError as e:
        return error(str(e))
    return code
