"""``/proc/<pid>/cmdline`` (fs/proc/base.c ``proc_pid_cmdline_read``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nommu.process import Process


def render_cmdline(task: Process) -> str:
    """``/proc/<pid>/cmdline``: the mm's bytes ``arg_start..arg_end`` (``get_mm_cmdline``).

    Empty for a task without an mm or that never ran ``execve``.
    """
    mm = task.mm
    if mm is None or mm.arg_end <= mm.arg_start:
        return ""
    raw = task.machine.memory.read(mm.arg_start, mm.arg_end - mm.arg_start)
    return raw.decode("utf-8", "replace")
