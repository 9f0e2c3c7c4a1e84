"""System-call names as the no-MMU rules group them, shared by ``check`` and ``replay``.

Which calls do not exist without an MMU (``ENOSYS_CALLS``: the files of
``mm/Makefile``'s ``mmu-y`` and the ``COND_SYSCALL`` entries of
``kernel/sys_ni.c``), which calls a fork child may make and still be a
vfork child (``SAFE_BEFORE_EXEC``), and the families of calls both commands
dispatch on. One table, so that the two commands cannot disagree on it.
"""

from __future__ import annotations

__all__ = [
    "CLONE_CALLS",
    "ENOSYS_CALLS",
    "EXEC_CALLS",
    "EXIT_CALLS",
    "MMAP_CALLS",
    "SAFE_BEFORE_EXEC",
    "STAT_CALLS",
]

#: Calls that fall back to sys_ni_syscall without an MMU (mm/Makefile, kernel/sys_ni.c).
ENOSYS_CALLS = frozenset(
    {
        "mprotect",
        "pkey_mprotect",
        "madvise",
        "process_madvise",
        "msync",
        "mlock",
        "mlock2",
        "munlock",
        "mlockall",
        "munlockall",
        "mincore",
        "remap_file_pages",
        "mbind",
        "set_mempolicy",
        "get_mempolicy",
        "migrate_pages",
        "move_pages",
        "swapon",
        "swapoff",
        "userfaultfd",
    }
)

#: Calls a fork child may make before execve and still be a vfork child: they
#: change descriptors, signal dispositions, ids, limits or the directory, or
#: only look at files (PATH search), but never the memory the parent shares.
SAFE_BEFORE_EXEC = frozenset(
    {
        "close", "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl", "open",
        "openat", "openat2", "creat", "lseek", "_llseek", "pipe", "pipe2", "write", "writev",
        "rt_sigaction", "rt_sigprocmask", "sigaction", "sigprocmask", "sigaltstack", "signal",
        "rt_sigreturn", "set_robust_list", "set_tid_address", "setsid", "setpgid", "setpgrp",
        "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "getuid", "geteuid",
        "getgid", "getegid", "getuid32", "geteuid32", "getgid32", "getegid32", "setuid",
        "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setuid32", "setgid32",
        "setgroups", "setgroups32", "setfsuid", "setfsgid", "chdir", "fchdir", "umask",
        "prlimit64", "setrlimit", "getrlimit", "ugetrlimit", "setpriority", "nice",
        "sched_setaffinity", "sched_setscheduler", "sched_setparam", "prctl", "access",
        "faccessat", "faccessat2", "stat", "lstat", "fstat", "stat64", "lstat64", "fstat64",
        "newfstatat", "fstatat64", "statx", "readlink", "readlinkat", "capset", "personality",
    }
)  # fmt: skip

MMAP_CALLS = frozenset({"mmap", "mmap2", "old_mmap"})
CLONE_CALLS = frozenset({"clone", "clone2", "clone3", "fork", "vfork"})
EXEC_CALLS = frozenset({"execve", "execveat"})
EXIT_CALLS = frozenset({"exit", "exit_group"})
STAT_CALLS = frozenset(
    {"stat", "lstat", "fstat", "stat64", "lstat64", "fstat64", "newfstatat", "fstatat64", "statx"}
)
