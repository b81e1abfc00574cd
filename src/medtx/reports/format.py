"""What every card builder shares: lazy access to ``metaflow.cards``, one number formatter,
one table cell rule and one table helper."""
from __future__ import annotations

import json
import math
import numbers
from typing import Any

VEGA_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
MAX_CELL = 300  # characters of a structured value shown in one table cell


def cards() -> Any:
    """``metaflow.cards``, imported on first use (the library imports no Metaflow at load)."""
    import metaflow.cards as mf_cards

    return mf_cards


def number(value: Any, digits: int = 3, signed: bool = False, missing: str = "–") -> str:
    """A metric as text: ``digits`` decimals (integers as they are), ``missing`` for None or
    a non-number, a leading sign when ``signed``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return missing
    if isinstance(value, numbers.Integral):
        return f"{int(value):+d}" if signed else str(int(value))
    return f"{float(value):{'+' if signed else ''}.{digits}f}"


def cell(value: Any) -> Any:
    """A value a card table cell accepts (plain str/int/float/bool)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalar
    if value is None or isinstance(value, (bool, str)):
        return "" if value is None else value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        text = ", ".join(str(v) for v in value)
    else:
        text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(rows: list, headers: list[str]) -> Any:
    """A card table; an empty one shows ``(none)``."""
    rows = [[cell(v) for v in row] for row in rows] or [["(none)"] + [""] * (len(headers) - 1)]
    return cards().Table(rows, headers=headers)
