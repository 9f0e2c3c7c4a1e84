"""Line numbers for the keys and array elements of a TOML document.

``tomllib`` gives values without positions; error messages about a value
should name its line. :func:`key_lines` scans the same text once and maps
every key path to the line where the key (or array element) starts::

    [[step]]            # ("step", 0) -> 1
    op = "mmap"         # ("step", 0, "op") -> 2
    argv = ["a",        # ("step", 0, "argv") -> 3, ("step", 0, "argv", 0) -> 3
            "b"]        # ("step", 0, "argv", 1) -> 4

Paths use the key names and 0-based array indices, as the parsed document
would be indexed. The scanner assumes text that ``tomllib`` accepted; on
anything it does not follow it stops and returns what it found so far, so
it never raises.
"""

from __future__ import annotations

import contextlib

Path = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Stop(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        self.aot: dict[Path, int] = {}  # array-of-tables path -> element count

    # -- characters --------------------------------------------------------------
    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.i >= len(self.s):
                raise _Stop
            if self.s[self.i] == "\n":
                self.line += 1
            self.i += 1

    def skip_ws(self, newlines: bool = False) -> None:
        while True:
            c = self.peek()
            if c in (" ", "\t", "\r") or (newlines and c == "\n"):
                self.advance()
            elif c == "#" and newlines:
                while self.peek() not in ("\n", ""):
                    self.advance()
            else:
                return

    def skip_line(self) -> None:
        while self.peek() not in ("\n", ""):
            self.advance()
        if self.peek() == "\n":
            self.advance()

    # -- keys ----------------------------------------------------------------------
    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c in ('"', "'"):
                parts.append(self.string_value())
            elif c in _BARE:
                start = self.i
                while self.peek() in _BARE and self.peek():
                    self.advance()
                parts.append(self.s[start : self.i])
            else:
                raise _Stop
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.advance()

    # -- values --------------------------------------------------------------------
    def string_value(self) -> str:
        q = self.peek()
        if self.s.startswith(q * 3, self.i):
            self.advance(3)
            start = self.i
            while not self.s.startswith(q * 3, self.i):
                if q == '"' and self.peek() == "\\":
                    self.advance()
                self.advance()
            end = self.i
            self.advance(3)
            while self.peek() == q:  # up to two quotes may end the content
                self.advance()
            return self.s[start:end]
        self.advance()
        start = self.i
        while self.peek() != q:
            if self.peek() in ("\n", ""):
                raise _Stop
            if q == '"' and self.peek() == "\\":
                self.advance()
            self.advance()
        end = self.i
        self.advance()
        return self.s[start:end]

    def value(self, path: Path) -> None:
        self.skip_ws()
        c = self.peek()
        if c in ('"', "'"):
            self.string_value()
        elif c == "[":
            self.advance()
            index = 0
            while True:
                self.skip_ws(newlines=True)
                if self.peek() == "]":
                    self.advance()
                    return
                self.lines.setdefault((*path, index), self.line)
                self.value((*path, index))
                index += 1
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.advance()
        elif c == "{":
            self.advance()
            while True:
                self.skip_ws()
                if self.peek() == "}":
                    self.advance()
                    return
                self.key_value(path)
                self.skip_ws()
                if self.peek() == ",":
                    self.advance()
        else:
            while self.peek() not in (",", "]", "}", "\n", "#", ""):
                self.advance()

    def key_value(self, table: Path) -> None:
        """``key = value`` inside *table*: the line of the key and of each dotted prefix."""
        line = self.line
        parts = self.key()
        for k in range(1, len(parts) + 1):
            self.lines.setdefault((*table, *parts[:k]), line)
        self.skip_ws()
        if self.peek() != "=":
            raise _Stop
        self.advance()
        self.value((*table, *parts))

    # -- document ------------------------------------------------------------------
    def resolve(self, parts: list[str]) -> Path:
        """A header's keys as a path, entering the last element of arrays of tables."""
        path: Path = ()
        for part in parts:
            path = (*path, part)
            if path in self.aot:
                path = (*path, self.aot[path] - 1)
        return path

    def document(self) -> None:
        table: Path = ()
        while self.i < len(self.s):
            self.skip_ws(newlines=True)
            c = self.peek()
            if not c:
                return
            line = self.line
            if c == "[":
                double = self.peek(1) == "["
                self.advance(2 if double else 1)
                parts = self.key()
                if double:
                    parent = self.resolve(parts[:-1])
                    base = (*parent, parts[-1])
                    count = self.aot.get(base, 0)
                    self.aot[base] = count + 1
                    self.lines.setdefault(base, line)
                    table = (*base, count)
                else:
                    table = self.resolve(parts)
                self.lines.setdefault(table, line)
                self.skip_line()
                continue
            self.key_value(table)
            self.skip_ws()
            if self.peek() == "#":
                self.skip_line()


def key_lines(text: str) -> dict[Path, int]:
    """Map each key path and array element of *text* to its 1-based line."""
    scanner = _Scanner(text)
    with contextlib.suppress(_Stop):
        scanner.document()
    return scanner.lines


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of *path*, or of its nearest enclosing key or element."""
    p = path
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None
