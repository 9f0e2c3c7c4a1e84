"""The words of ``nommu check`` for findings settled at the end of the trace.

A fork-like call is judged by what its child does before ``execve`` (the
pre-pass's classification, shared with ``replay``); a ``MAP_SHARED|
MAP_ANONYMOUS`` mapping by whether a fork-like child is created while it is
mapped.
"""

from __future__ import annotations

from nommu.strace.findings import Severity
from nommu.strace.replay.plan import Plan
from nommu.strace.spaces import Pending

__all__ = ["fork_detail", "shared_anon_detail"]


def shared_anon_detail(b: Pending) -> tuple[str, Severity]:
    if b.child is not None:
        who = f"pid {b.child}" if b.child > 0 else "a child"
        return (
            "MAP_SHARED|MAP_ANONYMOUS becomes private without an MMU "
            f"(determine_vm_flags: no fork, nothing to share); the child created at "
            f"line {b.child_line} ({who}) would not see this memory: share a /dev/shm "
            "file mapping or use threads",
            Severity.CHANGE,
        )
    return (
        "MAP_SHARED|MAP_ANONYMOUS becomes private without an MMU (determine_vm_flags); "
        "harmless here: no child with its own address space is created while it is mapped",
        Severity.INFO,
    )


def fork_detail(b: Pending, plan: Plan) -> tuple[str, Severity]:
    ev = b.event
    if ev.syscall == "fork":
        head = "fork() returns EINVAL without an MMU (kernel/fork.c)"
    else:
        head = (
            f"{ev.syscall} without CLONE_VM (a C library fork): the child gets an empty "
            "address space while it runs on the parent's stack and code"
        )
    state, line, call = plan.child_state.get(b.index, ("pending", 0, ""))
    if b.child is None or state == "pending":
        return (
            f"{head}; the child (pid {b.child}) is not in the trace (record with "
            "strace -f): use vfork() if it only calls execve, otherwise it needs "
            "redesign",
            Severity.CHANGE,
        )
    if state == "exec":
        return (
            f"{head}; the child (pid {b.child}) only prepares and calls {call} "
            f"(line {line}): use vfork() or posix_spawn()",
            Severity.CHANGE,
        )
    if state == "work":
        return (
            f"{head}; the child (pid {b.child}) calls {call} (line {line}) before any "
            "execve: needs redesign (a vfork child shares the parent's memory; use "
            "threads, posix_spawn or a separate program)",
            Severity.FATAL,
        )
    return (
        f"{head}; the child (pid {b.child}) exits without execve"
        f"{f' (line {line})' if line else ''}: needs redesign (use threads or a separate "
        "program)",
        Severity.FATAL,
    )
