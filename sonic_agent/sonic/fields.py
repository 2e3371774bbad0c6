"""Values of SONiC's state tables, parsed the tolerant way: real tables hold "N/A", "None", "",
"True"/"true"/"Updating" and numbers with units ("12.19 V", "30 %"); a field that does not
parse is no value (and is counted by the caller), never an error for its family."""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional

# linear (no nested quantifiers); a value longer than MAX_NUMBER_CHARS is never a number
_NUMBER = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?)\s*([A-Za-z%°/]{0,8})\s*")
_INTEGER = re.compile(r"[-+]?\d+")
MAX_NUMBER_CHARS = 64
_BARE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?")
_TRUE, _FALSE = {"true", "yes", "on", "up", "ok", "1"}, {"false", "no", "off", "down", "not ok", "0"}
# milli- and kilo- units SONiC's platform daemons write in a separate `unit` field
_SCALE = {"mv": 1e-3, "ma": 1e-3, "mw": 1e-3, "kw": 1e3, "v": 1.0, "a": 1.0, "w": 1.0, "c": 1.0}


def number(text: Any, fields: Mapping[str, Any] = None) -> Optional[float]:
    """'30.9258', '12.19 V', '-3.2dBm', '30 %' -> the number (an int when written as one);
    'N/A', '', 'None', 'nan', 'inf', '1e999' -> None: every value exported is finite."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return text if math.isfinite(text) else None
    text = str(text)
    if len(text) > MAX_NUMBER_CHARS:
        return None
    m = _NUMBER.fullmatch(text)
    if m is None:
        return None
    digits = m.group(1)
    if _INTEGER.fullmatch(digits):
        return int(digits)
    value = float(digits)
    return value if math.isfinite(value) else None


def count(text: Any, fields: Mapping[str, Any] = None) -> Optional[float]:
    """A counter or rate (COUNTERS_DB): a bare non-negative number; anything else None."""
    value = number(text) if isinstance(text, str) and _BARE.fullmatch(text) else None
    return value if value is not None and value >= 0 else None


def flag(text: Any, fields: Mapping[str, Any] = None) -> Optional[int]:
    """'True'/'true'/'OK'/'up' -> 1, 'False'/'not ok'/'down' -> 0; anything else ('Updating') None."""
    value = str(text).strip().lower()
    return 1 if value in _TRUE else 0 if value in _FALSE else None


def scaled(text: Any, fields: Mapping[str, Any]) -> Optional[float]:
    """A number in the unit the row's `unit` field names (mV, mA, ...) -> base units (V, A)."""
    value = number(text)
    if value is None:
        return None
    unit = str(fields.get("unit", "")).strip().lower()
    scale = _SCALE.get(unit)
    return None if unit and scale is None else value * (scale or 1.0)


def text(value: Any, fields: Mapping[str, Any] = None) -> Optional[str]:
    """A text field as it is (an info label); absent or empty is no value."""
    out = ",".join(value) if isinstance(value, list) else str(value)
    return out or None
