"""What the shapes of every version share."""

from __future__ import annotations

import time

from services.common.container_summary import command as container_command
from services.common.timefmt import human_duration, unix as unix_time

__all__ = ["container_command", "human_duration", "image_created", "image_field", "since", "unix_time"]


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
