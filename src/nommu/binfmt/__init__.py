"""Executable file formats a no-MMU kernel loads, and its loaders.

``flat_format`` and ``elf_format`` read and write the on-disk formats (bFLT,
ELF) and apply the kernel's header checks. ``exec`` models ``execve``
(fs/exec.c); ``flat`` and ``elf_fdpic`` are the loaders (fs/binfmt_flat.c,
fs/binfmt_elf_fdpic.c) that map a program into a new address space.
"""
