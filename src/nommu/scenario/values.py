"""Reading the values of a scenario file: sizes, flags, references, distributions.

Each reader takes the raw TOML value and returns the converted one or raises
``ValueError`` with a short reason; the loader adds the file, line and field.
"""

from __future__ import annotations

import re

from nommu import consts
from nommu.scenario.schema import Ref

U64 = (1 << 64) - 1

_REF_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)\s*(?:([+-])\s*(.+))?$")


def _flag_table(prefix: str) -> dict[str, int]:
    return {
        name: value
        for name, value in vars(consts).items()
        if name.startswith(prefix) and isinstance(value, int) and not name.endswith("_MASK")
    }


PROT_NAMES = _flag_table("PROT_")
MAP_NAMES = _flag_table("MAP_")
OPEN_NAMES = _flag_table("O_")
MREMAP_NAMES = _flag_table("MREMAP_")
IPC_NAMES = {**_flag_table("IPC_"), **_flag_table("SHM_")}
SEEK_NAMES = _flag_table("SEEK_")


def size(value: object) -> int:
    """A size or address: an int, or ``"64K"``, ``"1M"``, ``"0x8000"``, ``"4096"``."""
    if isinstance(value, bool):
        raise ValueError("expected a size, got a boolean")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        parsed = consts.size_from_text(value)
        if parsed is None:
            raise ValueError(f"cannot read {value!r} as a size (bytes, or K/M/G suffix)")
        n = parsed
    else:
        raise ValueError(f"expected a size, got {type_name(value)}")
    if n < 0:
        raise ValueError(f"must not be negative, got {n}")
    if n > U64:
        raise ValueError(f"{n} is too large (at most 2**64 - 1)")
    return n


def integer(value: object) -> int:
    """A plain (signed) integer; strings may be decimal, ``0x…`` or ``0o…``."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        try:
            n = int(value.strip().replace("_", ""), 0)
        except ValueError:
            raise ValueError(f"cannot read {value!r} as an integer") from None
    else:
        raise ValueError(f"expected an integer, got {type_name(value)}")
    if abs(n) > U64:
        raise ValueError(f"{n} is out of range")
    return n


def ref(value: object) -> Ref | None:
    """``"$name"``/``"$name+4K"`` as a :class:`Ref`; None if *value* is not one."""
    if not isinstance(value, str) or not value.startswith("$"):
        return None
    m = _REF_RE.match(value.strip())
    if not m:
        raise ValueError(f"cannot read {value!r}: a reference is $name, $name+N or $name-N")
    offset = 0
    if m.group(2):
        offset = size(m.group(3))
        if m.group(2) == "-":
            offset = -offset
    return Ref(m.group(1), offset)


def flags(value: object, table: dict[str, int], what: str) -> int:
    """Flags as an int, or names joined by ``|``: ``"MAP_PRIVATE|MAP_ANONYMOUS"``.

    Names may drop their prefix and be lower case (``"private|anonymous"``);
    numbers (``0x20``, ``0600``) may be mixed in.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{what} must not be negative")
        return value
    if isinstance(value, list):
        parts = value
    elif isinstance(value, str):
        parts = [p for p in re.split(r"[|,\s]+", value) if p]
    else:
        raise ValueError(f"expected {what}, got {type_name(value)}")
    prefix = next(iter(table)).split("_")[0] + "_" if table else ""
    out = 0
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"expected {what} names, got {type_name(part)}")
        name = part.strip().upper()
        if name and name[0].isdigit():
            try:
                out |= (
                    int(name, 8)
                    if name.startswith("0") and name.isdigit()
                    else int(name.lower(), 0)
                )
            except ValueError:
                raise ValueError(f"cannot read {part!r} in {what}") from None
            continue
        for candidate in (name, prefix + name):
            if candidate in table:
                out |= table[candidate]
                break
        else:
            known = ", ".join(sorted(table))
            raise ValueError(f"unknown {what} {part!r} (known: {known})")
    return out


def prot(value: object) -> int:
    """Memory protection: ``"rw"``, ``"r-x"``, ``"none"``, ``"PROT_READ|PROT_WRITE"`` or an int."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "none":
            return 0
        if text and set(text) <= set("rwx-"):
            return (
                (consts.PROT_READ if "r" in text else 0)
                | (consts.PROT_WRITE if "w" in text else 0)
                | (consts.PROT_EXEC if "x" in text else 0)
            )
    return flags(value, PROT_NAMES, "protection")


def mode(value: object) -> int:
    """A file mode: an int (TOML ``0o644``) or an octal string (``"0644"``, ``"644"``)."""
    if isinstance(value, bool):
        raise ValueError("expected a file mode, got a boolean")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        if not text or not set(text) <= set("01234567"):
            raise ValueError(f"cannot read {value!r} as an octal mode")
        n = int(text, 8)
    else:
        raise ValueError(f"expected a file mode, got {type_name(value)}")
    if not 0 <= n <= 0o7777:
        raise ValueError(f"mode {n:#o} is out of range (0 to 0o7777)")
    return n


def type_name(value: object) -> str:
    """How a TOML value's type reads in an error message ("an integer", "a table")."""
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
