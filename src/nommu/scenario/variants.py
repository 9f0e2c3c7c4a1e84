"""Variants of a scenario: any value changed by its TOML path (``board.ram=6M``).

A sweep runs a scenario with some of its values changed. A parameter names
a value by its TOML path and gives the values to try::

    board.ram=4M,6M,8M,12M
    board.nr_trim_pages=0,1
    mount[1].file[2].flat.ram=true,false        # arrays of tables counted from 1
    mount[1].file[path=sh].flat.ram=false       # or picked by a key's value
    step[8].launch[1].rate=0.25,0.5

Values are read as TOML values when they parse as one (``true``, ``0``,
``0.5``, ``"x"``), else as strings (``4M``), so a value means what it would
mean written in the file; ``[board]`` options that are text (``kernel``,
``arch``, ``mremap``) keep the text as given (``board.kernel=5.10``). The
changed document is loaded as usual, so a
wrong key or value gives the loader's one-line error naming the field. Keys
the loader accepts, such as new ``[board]`` options, can be swept with no
change here.

Usage::

    params = [parse_param("board.ram=4M,8M"), parse_param("board.nr_trim_pages=0,1")]
    for variant in grid(params):
        scenario = load_variant(text, "board.toml", ".", variant)
"""

from __future__ import annotations

import copy
import inspect
import itertools
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from nommu.consts import size_from_text
from nommu.errors import ConfigError
from nommu.machine import Machine
from nommu.scenario.loader import scenario_from_doc
from nommu.scenario.schema import Location, Scenario, ScenarioError

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)(?:\[([^\]]+)\])?")

#: ``[board]`` options that are text (a ``Machine`` parameter annotated ``str``): their
#: values stay text, so ``board.kernel=5.10`` is the version "5.10", not the number 5.1.
_TEXT_OPTIONS = frozenset(
    f"board.{name}"
    for name, p in inspect.signature(Machine.__init__).parameters.items()
    if p.annotation in ("str", str)
)

#: A variant: (path, value) pairs, in the order the parameters were given.
Variant = tuple[tuple[str, Any], ...]


class ParamError(ConfigError):
    """A ``--param`` is malformed or names nothing in the scenario."""


@dataclass(frozen=True, slots=True)
class Param:
    """One swept value: its TOML path and the values to try."""

    path: str
    values: tuple[Any, ...]


def value_text(v: Any) -> str:
    """A value as the user wrote it (``4M``, ``true``, ``0.25``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _value(text: str) -> Any:
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_param(text: str) -> Param:
    """``"board.ram=4M,6M"`` → ``Param("board.ram", ("4M", "6M"))``."""
    depth, cut = 0, -1
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "=" and depth == 0:
            cut = i
            break
    path, rest = (text[:cut].strip(), text[cut + 1 :]) if cut >= 0 else (text.strip(), "")
    if cut < 0 or not path or not rest.strip():
        raise ParamError(f"--param {text!r}: expected PATH=VALUE[,VALUE...], e.g. board.ram=4M,8M")
    _segments(path, text)
    texts = [v.strip() for v in rest.split(",")]
    values = tuple(texts) if path in _TEXT_OPTIONS else tuple(_value(v) for v in texts)
    if any(v == "" for v in values):
        raise ParamError(f"--param {text!r}: an empty value")
    if len({value_text(v) for v in values}) != len(values):
        raise ParamError(f"--param {text!r}: a value is given twice")
    return Param(path, values)


def _segments(path: str, param: str) -> list[tuple[str, str | None]]:
    out = []
    for part in path.split("."):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            raise ParamError(f"--param {param!r}: {part!r} is not a key, key[N] or key[name=value]")
        out.append((m.group(1), m.group(2)))
    return out


def apply(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at *path* in the parsed TOML *doc* (tables are created as needed)."""
    segs = _segments(path, path)
    node: Any = doc
    for i, (key, index) in enumerate(segs):
        last = i == len(segs) - 1
        if not isinstance(node, dict):
            raise ParamError(f"--param {path}: {'.'.join(k for k, _ in segs[:i])} is not a table")
        if index is None:
            if isinstance(node.get(key), list) and node[key] and isinstance(node[key][0], dict):
                raise ParamError(
                    f"--param {path}: {key} is an array of tables: give {key}[N] (from 1) "
                    f"or {key}[name=value]"
                )
            if last:
                node[key] = value
                return
            node = node.setdefault(key, {})
            continue
        items = node.get(key)
        if not isinstance(items, list):
            raise ParamError(f"--param {path}: the scenario has no array of tables {key!r}")
        pos = _pick(items, index, path, key)
        if last:
            items[pos] = value
            return
        node = items[pos]


def _pick(items: list[Any], index: str, path: str, key: str) -> int:
    """The position in *items* that ``[N]`` (1-based) or ``[name=value]`` selects."""
    name, eq, want = index.partition("=")
    if not eq:
        try:
            n = int(index)
        except ValueError:
            raise ParamError(f"--param {path}: {key}[{index}]: expected a number") from None
        if not 1 <= n <= len(items):
            raise ParamError(
                f"--param {path}: {key}[{n}]: the scenario has {len(items)} (counted from 1)"
            )
        return n - 1
    name, want = name.strip(), want.strip().strip("\"'")
    for pos, item in enumerate(items):
        if isinstance(item, dict) and str(item.get(name, "")).strip("/") == want.strip("/"):
            return pos
    raise ParamError(f"--param {path}: no {key} has {name} = {want!r}")


def grid(params: list[Param]) -> list[Variant]:
    """Every combination of the parameters' values (the first parameter varies slowest)."""
    if not params:
        return [()]
    paths = [p.path for p in params]
    if len(set(paths)) != len(paths):
        raise ParamError("--param: the same path is given twice")
    return [
        tuple(zip(paths, combo, strict=True))
        for combo in itertools.product(*(p.values for p in params))
    ]


def variant_label(variant: Variant) -> str:
    """``"board.ram=4M board.nr_trim_pages=0"`` (``"as written"`` for no change)."""
    return " ".join(f"{p}={value_text(v)}" for p, v in variant) or "as written"


def load_variant(text: str, file: str, base_dir: str | None, variant: Variant) -> Scenario:
    """The scenario of TOML *text* with the *variant*'s values set."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(Location(file, None, ""), f"TOML syntax error: {e}") from None
    try:
        return _load(doc, text, file, base_dir, variant)
    except ScenarioError as e:
        if not variant:
            raise
        raise ScenarioError(
            e.where, f"{e.message} (in the variant {variant_label(variant)})"
        ) from None


def _load(
    doc: dict[str, Any], text: str, file: str, base_dir: str | None, variant: Variant
) -> Scenario:
    doc = copy.deepcopy(doc)
    for path, value in variant:
        apply(doc, path, value)
    return scenario_from_doc(doc, text, file, base_dir)


def sort_key(value: Any) -> tuple[int, float, str]:
    """Order of a parameter's values for "the smallest that meets the target": sizes and
    numbers by magnitude (``"4M"`` < ``"12M"``), false before true, other text as given."""
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int | float):
        return (0, float(value), "")
    if isinstance(value, str):
        size = size_from_text(value)
        return (0, float(size), "") if size is not None else (1, 0.0, value)
    return (1, 0.0, str(value))


__all__ = [
    "Param",
    "ParamError",
    "Variant",
    "apply",
    "grid",
    "load_variant",
    "parse_param",
    "sort_key",
    "value_text",
    "variant_label",
]
