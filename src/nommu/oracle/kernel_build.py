"""``nommu oracle --build-kernel DIR``: a no-MMU RISC-V kernel from Debian's source package.

The kernel is ``nommu_virt_defconfig`` (arch/riscv/configs) with the
project's fragment merged over it (scripts/kconfig/merge_config.sh, then
``olddefconfig``): one CPU, /proc and sysctl, an initramfs, kallsyms,
timestamps in the log, bFLT without compression, and no
MMAP_ALLOW_UNINITIALIZED (the model's default). ``make -j Image`` takes about
5 minutes on 2 cores; the image lands in DIR as ``Image-X.Y-riscv64-nommu``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nommu.oracle.toolchain import CROSS_GCC, MissingComponent

__all__ = ["CONFIG_FRAGMENT", "BuildPlan", "build_kernel", "plan_build"]

#: option -> value ("n" writes "# CONFIG_X is not set")
CONFIG_FRAGMENT: dict[str, str] = {
    "SMP": "n",
    "PROC_FS": "y",
    "PROC_SYSCTL": "y",
    "BLK_DEV_INITRD": "y",
    "KALLSYMS": "y",
    "PRINTK_TIME": "y",
    "BINFMT_FLAT": "y",
    "BINFMT_ZFLAT": "n",
    "MMAP_ALLOW_UNINITIALIZED": "n",
}
#: 6.12 on RISC-V without an MMU can load ELF (static PIE) through the FDPIC loader
CONFIG_FRAGMENT_SINCE: dict[str, dict[str, str]] = {"6.6": {"BINFMT_ELF_FDPIC": "y"}}
SOURCE_VERSIONS = ("6.1", "6.12")
HOST_TOOLS = {"make": "make", "flex": "flex", "bison": "bison", "bc": "bc", "gcc": "gcc"}


def config_fragment(version: str) -> str:
    """The fragment's text for kernel *version*."""
    options = dict(CONFIG_FRAGMENT)
    key = tuple(int(x) for x in version.split("."))
    for since, extra in CONFIG_FRAGMENT_SINCE.items():
        if key >= tuple(int(x) for x in since.split(".")):
            options.update(extra)
    lines = []
    for name, value in options.items():
        if value == "n":
            lines.append(f"# CONFIG_{name} is not set")
        else:
            lines.append(f"CONFIG_{name}={value}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build does, as data (so it can be shown and tested)."""

    version: str
    tarball: str
    tree: str
    fragment_path: str
    image_out: str
    commands: tuple[tuple[str, ...], ...]


def plan_build(directory: str, version: str, jobs: int | None = None) -> BuildPlan:
    """The steps that build kernel *version* in *directory*."""
    if version not in SOURCE_VERSIONS:
        raise ValueError(f"version: must be one of {', '.join(SOURCE_VERSIONS)}, got {version!r}")
    d = os.path.abspath(directory)
    tarball = f"/usr/src/linux-source-{version}.tar.xz"
    tree = os.path.join(d, f"linux-source-{version}")
    fragment = os.path.join(d, f"nommu-{version}.config")
    make = ("make", "-C", tree, "ARCH=riscv", f"CROSS_COMPILE={CROSS_GCC[:-3]}")
    n = jobs or os.cpu_count() or 1
    commands = (
        ("tar", "-xf", tarball, "-C", d),
        (*make, "nommu_virt_defconfig"),
        (
            "sh",
            "-c",
            f'cd "{tree}" && ARCH=riscv scripts/kconfig/merge_config.sh -m .config "{fragment}"',
        ),
        (*make, "olddefconfig"),
        (*make, f"-j{n}", "Image"),
    )
    return BuildPlan(
        version,
        tarball,
        tree,
        fragment,
        os.path.join(d, f"Image-{version}-riscv64-nommu"),
        commands,
    )


def check_host(plan: BuildPlan) -> None:
    """MissingComponent naming the Debian package for anything the build lacks."""
    if not os.path.exists(plan.tarball):
        raise MissingComponent(
            f"{plan.tarball} not found: apt-get install linux-source-{plan.version}"
        )
    if shutil.which(CROSS_GCC) is None:
        raise MissingComponent(f"{CROSS_GCC} not found: apt-get install gcc-riscv64-linux-gnu")
    for tool, package in HOST_TOOLS.items():
        if shutil.which(tool) is None:
            raise MissingComponent(f"{tool} not found: apt-get install {package}")


def build_kernel(
    directory: str,
    version: str,
    *,
    jobs: int | None = None,
    run: Callable[[Sequence[str]], int] | None = None,
) -> str:
    """Build kernel *version* in *directory*; the image's path.

    *run* executes one command (default: subprocess, output to the terminal)
    and returns its exit status.
    """
    plan = plan_build(directory, version, jobs)
    check_host(plan)
    os.makedirs(directory, exist_ok=True)
    Path(plan.fragment_path).write_text(config_fragment(version))

    def default_run(cmd: Sequence[str]) -> int:
        return subprocess.run(list(cmd), check=False).returncode

    runner = run or default_run
    for i, cmd in enumerate(plan.commands):
        if i == 0 and os.path.isdir(plan.tree):
            continue  # already unpacked
        status = runner(cmd)
        if status:
            raise MissingComponent(f"kernel build step failed ({status}): {' '.join(cmd)}")
    built = os.path.join(plan.tree, "arch", "riscv", "boot", "Image")
    shutil.copyfile(built, plan.image_out)
    return plan.image_out
