"""Executable file formats a no-MMU kernel loads: bFLT (``flat_format``) and ELF (``elf_format``).

These modules only read and write the on-disk formats and apply the kernel's
header checks; how the loaders map the result into memory is modelled
elsewhere.
"""
