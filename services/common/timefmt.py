"""Timestamps as Docker writes them (RFC 3339, UTC, nanoseconds) and as unix seconds."""

from __future__ import annotations

import functools
import re
import time
from datetime import datetime, timezone

ZERO = "0001-01-01T00:00:00Z"
_FRACTION = re.compile(r"\.(\d+)")


def now() -> str:
    ns = time.time_ns()
    base = datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns % 1_000_000_000:09d}Z"


def parse(text: str) -> datetime:
    """Parse an RFC 3339 time with any number of fractional digits."""
    if not text:
        raise ValueError("empty time")
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text.strip(), count=1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@functools.lru_cache(maxsize=4096)
def unix(text: str) -> int:
    try:
        return int(parse(text).timestamp())
    except ValueError:
        return 0


def human_duration_holds(seconds: float) -> float:
    """How much longer, at least, human_duration(seconds) says the same: its words change
    as whole seconds pass under a minute, whole minutes under an hour, and hours (rounded,
    so at the half hours) above, or more coarsely."""
    if seconds < 60:
        period = 1
    elif seconds < 3600:
        period = 60
    else:
        period = 1800
    return (int(seconds) // period + 1) * period - seconds


def human_duration(seconds: float) -> str:
    """Docker's words for a span of time (units.HumanDuration)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"
