"""Values of SONiC's state tables, parsed the tolerant way: real tables hold "N/A", "None", "",
"True"/"true"/"Updating" and numbers with units ("12.19 V", "30 %"); a field that does not
parse is no value (and is counted by the caller), never an error for its family."""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional

_NUMBER = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%°/]*)\s*")
_TRUE, _FALSE = {"true", "yes", "on", "up", "ok", "1"}, {"false", "no", "off", "down", "not ok", "0"}
# milli- and kilo- units SONiC's platform daemons write in a separate `unit` field
_SCALE = {"mv": 1e-3, "ma": 1e-3, "mw": 1e-3, "kw": 1e3, "v": 1.0, "a": 1.0, "w": 1.0, "c": 1.0}


def number(text: Any, fields: Mapping[str, Any] = None) -> Optional[float]:
    """'30.9258', '12.19 V', '-3.2dBm', '30 %' -> the number; 'N/A', '', 'None' -> None."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return text
    m = _NUMBER.fullmatch(str(text))
    if m is None:
        return None
    value = float(m.group(1))
    return int(value) if value.is_integer() and "." not in m.group(1) and "e" not in m.group(1).lower() else value


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
