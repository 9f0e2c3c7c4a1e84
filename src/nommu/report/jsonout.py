"""The report as JSON: :func:`report_data`'s document, in its fixed key order.

Same seed, same scenario, same bytes: nothing in it comes from the wall
clock or from iterating over an unordered collection. Objects are indented;
arrays of plain numbers (the time series) are kept on one line. The schema
is in docs/json.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_NUMBER_ARRAY = re.compile(rf"\[\s*({_NUMBER}(?:,\s*{_NUMBER})*)\s*\]")


def _join(m: re.Match[str]) -> str:
    if "\n" not in m.group(0):  # on one line already (or inside a string: never rewritten)
        return m.group(0)
    return "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]"


def render_json(data: dict[str, Any]) -> str:
    """The report document as JSON text, ending with a newline."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    return _NUMBER_ARRAY.sub(_join, text) + "\n"
