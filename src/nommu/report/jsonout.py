"""The report as JSON: :func:`report_data`'s document, in its fixed key order.

Same seed, same scenario, same bytes: nothing in it comes from the wall
clock or from iterating over an unordered collection. The schema is in
docs/json.md.
"""

from __future__ import annotations

import json
from typing import Any


def render_json(data: dict[str, Any]) -> str:
    """The report document as indented JSON text, ending with a newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
