"""Run cases on both sides and report: the heart of ``nommu oracle``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from nommu.oracle.compare import CaseReport, compare_case
from nommu.oracle.model_side import run_model
from nommu.oracle.qemu import boot_batch, kernel_version
from nommu.oracle.script import OracleCase
from nommu.oracle.toolchain import Toolchain, probe_code, probe_flat
from nommu.profiles import KERNEL_VERSIONS, arch_profile

__all__ = ["model_kernel", "render_json", "render_text", "run_cases", "write_json"]


def model_kernel(image: str) -> str:
    """The model's profile for *image*: its version, or the newest known one below it."""
    version = kernel_version(image)
    key = tuple(int(x) for x in version.split("."))
    known = [v for v in KERNEL_VERSIONS if tuple(int(x) for x in v.split(".")) <= key]
    return known[-1] if known else KERNEL_VERSIONS[0]


def run_cases(
    tools: Toolchain, image: str, cases: Sequence[OracleCase], *, repeat: bool = True
) -> list[CaseReport]:
    """Boot *image* once for all *cases*; compare each with the model.

    With *repeat*, the cases that differ run again in a second boot. The kernel's
    side varies a little from boot to boot (where its slab takes a page, when an
    RCU-delayed free lands), the model's never does: a difference that does not
    come back is that noise. The case then agrees, and its report says that the
    first boot differed and how.
    """
    probe = probe_flat(probe_code(tools, arch_profile("riscv64")))
    reports = _run_once(tools, image, probe, cases)
    again = [i for i, r in enumerate(reports) if not r.agrees]
    if repeat and again:
        second = _run_once(tools, image, probe, [cases[i] for i in again])
        for i, report in zip(again, second, strict=True):
            if report.agrees:
                first = "; ".join(reports[i].differences)
                report.notes.append(
                    f"the first boot differed ({first}); a second boot agreed: "
                    "the kernel's side varies from boot to boot"
                )
                reports[i] = report
            else:
                reports[i].notes.append("a second boot differed too")
    return reports


def _run_once(
    tools: Toolchain, image: str, probe: bytes, cases: Sequence[OracleCase]
) -> list[CaseReport]:
    runs, _console = boot_batch(tools, image, probe, cases)
    reports = []
    for n, (case, run) in enumerate(zip(cases, runs, strict=True)):
        model = run_model(case, probe, run.ops, n)
        report = compare_case(case, model, run.ops, kernel_pid=run.pid, finished=run.finished)
        if run.status not in (None, 0):
            report.problems.append(f"the probe's process ended with wait status {run.status:#x}")
        reports.append(report)
    return reports


def render_text(reports: Sequence[CaseReport], image: str) -> str:
    """The side-by-side difference, one line per op, details under the ops that differ."""
    out: list[str] = []
    for r in reports:
        out.append(f"== {r.name}: model (profile {r.kernel}, riscv64) vs {image}")
        out.append(f"{'#':>4}  {'call':<44} {'model':<18} {'kernel':<18} verdict")
        for op in r.ops:
            verdict = "agree" if op.agrees else "DIFFER"
            out.append(
                f"{op.index:>4}  {op.label[:44]:<44} {op.model:<18} {op.kernel:<18} {verdict}"
            )
            for d in op.differences:
                out.append(f"      - {d}")
            for n in op.notes:
                out.append(f"      ({n})")
        for p in r.problems:
            out.append(f"      ! {p}")
        for n in r.notes:
            out.append(f"   ({n})")
        agree = sum(op.agrees for op in r.ops)
        out.append(
            f"   {agree} of {len(r.ops)} calls agree"
            + ("" if r.agrees else f"; {len(r.differences)} differences")
        )
    total = len(reports)
    good = sum(r.agrees for r in reports)
    out.append(f"{good} of {total} scenarios agree with the kernel")
    return "\n".join(out) + "\n"


def render_json(reports: Sequence[CaseReport], image: str) -> dict[str, Any]:
    return {
        "image": image,
        "agree": all(r.agrees for r in reports),
        "scenarios": [
            {
                "name": r.name,
                "kernel_profile": r.kernel,
                "agree": r.agrees,
                "problems": r.problems,
                "notes": r.notes,
                "calls": [
                    {
                        "index": op.index,
                        "call": op.label,
                        "model": op.model,
                        "kernel": op.kernel,
                        "agree": op.agrees,
                        "differences": op.differences,
                        "notes": op.notes,
                    }
                    for op in r.ops
                ],
            }
            for r in reports
        ],
    }


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write atomically: a temporary file beside *path*, then rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".oracle-", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
