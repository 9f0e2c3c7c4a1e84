"""``/proc/<pid>/status`` (fs/proc/array.c ``proc_pid_status``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nommu.process import Process


def render_status(task: Process, reader: object | None) -> str:
    """``/proc/<pid>/status`` (fs/proc/array.c ``proc_pid_status`` with NOMMU ``task_mem``).

    Lines in the kernel's order: ``task_name``, ``task_state``, the
    three NOMMU memory lines (only while the task has an mm), then the
    signal, capability and scheduling lines.
    """
    ppid = task.parent.tgid if task.parent is not None else 0
    state = {
        "R": "R (running)",
        "S": "S (sleeping)",
        "D": "D (disk sleep)",
        "Z": "Z (zombie)",
        "X": "X (dead)",
    }[task.state]
    lines = [
        f"Name:\t{task.name}",
        f"Umask:\t{task.umask_bits:04o}",
        f"State:\t{state}",
        f"Tgid:\t{task.tgid}",
        "Ngid:\t0",
        f"Pid:\t{task.pid}",
        f"PPid:\t{ppid}",
        f"TracerPid:\t{1 if task.ptraced else 0}",
        f"Uid:\t{task.uid}\t{task.uid}\t{task.uid}\t{task.uid}",
        f"Gid:\t{task.gid}\t{task.gid}\t{task.gid}\t{task.gid}",
        f"FDSize:\t{max(64, len(task.files.fds))}",
        "Groups:\t",
        f"NStgid:\t{task.tgid}",
        f"NSpid:\t{task.pid}",
        f"NSpgid:\t{task.pid}",
        f"NSsid:\t{task.pid}",
        "Kthread:\t0",
    ]
    text = "\n".join(lines) + "\n"
    if task.mm is not None:
        text += (
            task.task_mem(reader) + "CoreDumping:\t0\nTHP_enabled:\t0\n"
            f"untag_mask:\t{task.machine.nommu.ulong_mask:#x}\n"
        )
    threads = (
        sum(
            1
            for p in task.machine.procs.values()
            if p.tgid == task.tgid and p.state not in ("Z", "X")
        )
        or 1
    )
    cap = "000001ffffffffff" if task.uid == 0 else "0000000000000000"
    text += (
        f"Threads:\t{threads}\nSigQ:\t0/1024\nSigPnd:\t0000000000000000\n"
        "ShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n"
        "SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n"
        f"CapInh:\t0000000000000000\nCapPrm:\t{cap}\nCapEff:\t{cap}\n"
        "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"
        "Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown\n"
        "Cpus_allowed:\t1\nCpus_allowed_list:\t0\n"
        "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n"
    )
    return text
