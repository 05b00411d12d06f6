"""What the shapes of every version share."""

from __future__ import annotations

import time

from services.common.timefmt import unix as unix_time


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


def since(when: str) -> float:
    """Seconds from `when` to now."""
    return max(0.0, time.time() - unix_time(when)) if when else 0.0


def image_field(config, key: str, kind: type | tuple, default=None):
    """A field of an image config, or `default` where it is absent or of another JSON type
    (a record stored before configs were checked may hold anything)."""
    value = config.get(key) if isinstance(config, dict) else None
    if kind is int and isinstance(value, bool):
        return default
    return value if isinstance(value, kind) else default


def image_created(image: dict) -> int:
    """An image record's creation time in unix seconds (0 when it is not a time)."""
    created = image.get("created")
    return unix_time(created) if isinstance(created, str) else 0


def container_command(rec: dict) -> str:
    return " ".join([rec["Path"], *rec["Args"]])
