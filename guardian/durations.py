"""Durations as people write them in settings: `90s`, `10m`, `1h30m`, `2d`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    compact = text.strip().lower().replace(" ", "")
    if not compact or _PART.sub("", compact):
        raise ValueError(f"not a duration: {text[:40]!r} (use e.g. 30s, 10m, 1h30m, 2d)")
    parts = _PART.findall(compact)
    if any(len(n) > 9 for n, _ in parts):
        raise ValueError(f"too long for a duration: {text[:40]!r}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"a duration must be positive: {text!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"too long for a duration: {text!r}") from None


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
