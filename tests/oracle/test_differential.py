"""The differential suite: every case of cases.py on the model and on the real kernels.

Each kernel boots once for the whole batch (one QEMU run, about 15 s with the
model's side). A case agrees, or is listed in KNOWN with the reason (and in
docs/oracle.md); those are strict xfails, so a fix that makes one agree shows
up as a failure until it is taken off the list. Runs where QEMU, the cross
compiler or the kernel images are missing skip with the reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from nommu.oracle.compare import CaseReport

from .cases import CASES

ROOT = Path(__file__).resolve().parent.parent.parent
KERNEL_DIR = Path(os.environ.get("NOMMU_KERNEL_DIR", ROOT.parent / "shared" / "kernel"))
KERNELS = ("6.1", "6.12")

MEMINFO = (
    "log: the kernel's show_free_areas() prints the zone counter lines and migrate types, "
    "which the model leaves out"
)
ADDRESS = (
    "log: the line carries the physical address of the range, and the kernel's own pages "
    "place the mapping elsewhere"
)
#: (case, kernel) -> why it differs; kernel None: both kernels
KNOWN: dict[tuple[str, str | None], str] = {
    ("anon-too-big", None): MEMINFO,
    ("anon-huge", None): MEMINFO,
    ("munmap-nothing", None): ADDRESS,
    ("munmap-twice", None): ADDRESS,
    ("dev-zero-private", None): (
        "log: %pD4 names /dev/zero inside its own mount: the probe's /dev is part of the "
        "initramfs (/dev/zero), the model's a devtmpfs mount (/zero); the pid differs"
    ),
    ("proc-status", None): (
        "/proc/<pid>/status: the kernel's own lines (FDSize, SigQ, Seccomp, NS*, "
        "Speculation*, context switches) and pids differ from the model's"
    ),
    ("proc-maps-file", None): (
        "overlapping VMAs (H2): the kernel logs 'seq_file: buggy .next function m_next' "
        "when maps walks them; the model logs nothing"
    ),
    ("proc-statm", "6.1"): (
        "SLOB: statm's size and resident fields come from kobjsize() of slab objects "
        "(the kernel's own pages, not modelled)"
    ),
    ("munmap-hole", "6.12"): (
        "6.12 logs a maple-tree WARNING (__mas_set_range) for a munmap that punches a hole "
        "(fix pending)"
    ),
}


def known(case: str, kernel: str) -> str | None:
    return KNOWN.get((case, kernel)) or KNOWN.get((case, None))


def _missing(kernel: str) -> str | None:
    if shutil.which("qemu-system-riscv64") is None:
        return "qemu-system-riscv64 missing (apt-get install qemu-system-misc)"
    if shutil.which("riscv64-linux-gnu-gcc") is None:
        return "riscv64-linux-gnu-gcc missing (apt-get install gcc-riscv64-linux-gnu)"
    if not (KERNEL_DIR / f"Image-{kernel}-riscv64-nommu").exists():
        return f"no Image-{kernel}-riscv64-nommu in {KERNEL_DIR} (set NOMMU_KERNEL_DIR)"
    return None


_RESULTS: dict[str, dict[str, CaseReport]] = {}
_FAILED: dict[str, str] = {}


def results(kernel: str) -> dict[str, CaseReport]:
    """Every case's report on *kernel*: one boot for the whole batch, made once."""
    if kernel not in _RESULTS:
        from nommu.oracle.runner import run_cases
        from nommu.oracle.script import compile_scenario
        from nommu.oracle.toolchain import find_toolchain
        from nommu.scenario.loader import loads_scenario

        image = str(KERNEL_DIR / f"Image-{kernel}-riscv64-nommu")
        cases = [compile_scenario(loads_scenario(c.toml, c.name), kernel=kernel) for c in CASES]
        try:
            reports = run_cases(find_toolchain(), image, cases)
        except Exception as e:  # one failed boot fails every case once, not a boot each
            _FAILED[kernel] = f"{type(e).__name__}: {e}"
            _RESULTS[kernel] = {}
        else:
            _RESULTS[kernel] = {r.name: r for r in reports}
    if kernel in _FAILED:
        pytest.fail(f"the batch on {kernel} did not run: {_FAILED[kernel]}")
    return _RESULTS[kernel]


def test_catalogue_size() -> None:
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)


def test_known_names_exist() -> None:
    names = {c.name for c in CASES}
    assert {name for name, _ in KNOWN} <= names


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_case_agrees(kernel: str, name: str, request: pytest.FixtureRequest) -> None:
    why = _missing(kernel)
    if why:
        pytest.skip(why)
    reason = known(name, kernel)
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    report = results(kernel)[name]
    assert report.agrees, "\n".join(report.differences)


@pytest.mark.parametrize("kernel", KERNELS)
def test_docs_example(kernel: str, request: pytest.FixtureRequest) -> None:
    """docs/oracle.md's worked example: all agree on 6.1; 6.12 adds the hole WARNING."""
    why = _missing(kernel)
    if why:
        pytest.skip(why)
    if kernel == "6.12":
        request.applymarker(pytest.mark.xfail(reason=KNOWN[("munmap-hole", "6.12")], strict=True))
    from nommu.cli import main

    image = KERNEL_DIR / f"Image-{kernel}-riscv64-nommu"
    assert (
        main(["oracle", str(ROOT / "docs" / "examples" / "oracle.toml"), "--kernel", str(image)])
        == 0
    )
