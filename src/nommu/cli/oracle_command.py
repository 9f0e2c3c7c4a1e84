"""``nommu oracle FILE``: a scenario on the model and on a real no-MMU kernel in QEMU.

Exit codes: 0 every call agrees, 1 something differs, 2 bad input or a
missing component (the message names the Debian package or the option).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from nommu.cli.scenario_commands import error

__all__ = ["add_oracle_command", "default_image"]

IMAGE_NAME = "Image-{version}-riscv64-nommu"


def default_image() -> str | None:
    """``$NOMMU_KERNEL``, else the newest image ``--build-kernel`` left in the cache."""
    env = os.environ.get("NOMMU_KERNEL")
    if env:
        return env
    from nommu.oracle.toolchain import cache_dir

    folder = cache_dir() / "kernels"
    for version in ("6.12", "6.1"):
        path = folder / IMAGE_NAME.format(version=version)
        if path.exists():
            return str(path)
    return None


def add_oracle_command(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "oracle",
        help="run a scenario on the model and on a real no-MMU kernel in QEMU, and compare",
        description="Run a scenario's system calls on the model and on a real no-MMU Linux "
        "(RISC-V 64, in QEMU) and show where they differ (docs/oracle.md).",
    )
    p.add_argument("file", nargs="?", help="the scenario file (docs/scenarios.md)")
    p.add_argument(
        "--kernel",
        metavar="IMAGE",
        help="the kernel image (default: $NOMMU_KERNEL, or what --build-kernel built)",
    )
    p.add_argument("--json", metavar="OUT", help="write the comparison as JSON to OUT")
    p.add_argument(
        "--build-kernel",
        metavar="DIR",
        help="build a no-MMU kernel from Debian's linux-source-VERSION into DIR and exit",
    )
    p.add_argument(
        "--version",
        dest="kernel_version",
        default="6.12",
        choices=("6.1", "6.12"),
        help="the source version --build-kernel builds (default: 6.12)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="with --build-kernel: print the steps only"
    )
    p.set_defaults(func=run_oracle_command)


def run_oracle_command(args: argparse.Namespace) -> int:
    from nommu.oracle.kernel_build import build_kernel, config_fragment, plan_build
    from nommu.oracle.runner import render_json, render_text, run_cases, write_json
    from nommu.oracle.script import compile_scenario
    from nommu.oracle.toolchain import MissingComponent, find_toolchain
    from nommu.scenario.loader import load_scenario

    if args.build_kernel:
        plan = plan_build(args.build_kernel, args.kernel_version)
        if args.dry_run:
            print(f"# {plan.fragment_path}:")
            print(config_fragment(args.kernel_version), end="")
            for cmd in plan.commands:
                print(" ".join(cmd))
            return 0
        print(build_kernel(args.build_kernel, args.kernel_version))
        return 0
    if not args.file:
        return error("oracle: give a scenario FILE (or --build-kernel DIR)")
    image = args.kernel or default_image()
    if image is None:
        return error(
            "oracle: no kernel image: give --kernel IMAGE, set NOMMU_KERNEL, or build one "
            "with nommu oracle --build-kernel DIR (needs apt-get install linux-source-6.12)"
        )
    if not os.path.isfile(image):
        return error(f"{image}: no such kernel image")
    try:
        tools = find_toolchain()
    except MissingComponent as e:
        return error(str(e))
    from nommu.oracle.runner import model_kernel

    version = model_kernel(image)
    scenario = load_scenario(args.file)
    case = compile_scenario(scenario, kernel=version)
    if sys.stderr.isatty():
        print(f"booting {image} ...", file=sys.stderr)
    reports = run_cases(tools, image, [case])
    sys.stdout.write(render_text(reports, image))
    if args.json:
        try:
            write_json(args.json, render_json(reports, image))
        except OSError as e:
            return error(f"{args.json}: cannot write: {e.strerror}")
    return 0 if all(r.agrees for r in reports) else 1
