"""The `filters` query parameter, read as dockerd reads it, for every endpoint that takes one.

Docker sends a JSON map of key to values in two forms, `{"status": {"exited": true}}` and the
older `{"status": ["exited"]}`; anything else is `invalid filter`, and a key the endpoint does
not know is `invalid filter 'key'` (moby daemon/internal/filters). Here too: Docker's
timestamps (`until`: Go durations, RFC 3339 forms, unix seconds) and Go's path.Match for
image reference patterns.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone

from aiohttp import web

from services.common import errors, wire
from services.common.store import reference

from . import params

CONTAINER_LIST = frozenset(wire.CONTAINER_FILTERS)
IMAGE_LIST = frozenset(("before", "dangling", "label", "reference", "since", "until"))
CONTAINER_PRUNE = frozenset(("label", "label!", "until"))
IMAGE_PRUNE = frozenset(("dangling", "label", "label!", "until"))


def parse(raw: str | None, accepted: frozenset[str]) -> dict[str, list[str]]:
    """A `filters` value as a map of key to values; refused as dockerd refuses it."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise errors.BadParameter("invalid filter") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.BadParameter("invalid filter")
    out: dict[str, list[str]] = {}
    # Either every value is a map of strings to booleans, or every one a list of strings.
    if all(v is None or (isinstance(v, dict) and all(isinstance(b, bool) for b in v.values()))
           for v in data.values()):
        out = {k: list(v or {}) for k, v in data.items()}
    elif all(v is None or (isinstance(v, list) and all(isinstance(s, str) for s in v))
             for v in data.values()):
        out = {k: list(dict.fromkeys(v or [])) for k, v in data.items()}
    else:
        raise errors.BadParameter("invalid filter")
    for key in out:
        if key not in accepted:
            raise errors.BadParameter(f"invalid filter '{key}'")
    return out


def from_request(request: web.Request, accepted: frozenset[str]) -> dict[str, list[str]]:
    return parse(params.text(request, "filters"), accepted)


# ------------------------------------------------------------------ until

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0,
                   "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?")
_UNIX = re.compile(r"([+-]?\d+)(?:\.(\d*))?")


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration (`10m`, `1h30m`, `-1.5s`, `0`); None if it is not one."""
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _DURATION.fullmatch(text):
        return None
    seconds = sum(float(num) * _DURATION_UNITS[unit] for num, unit in _DURATION_PART.findall(text))
    return -seconds if text.startswith("-") else seconds


def timestamp(value: str, now: float | None = None) -> float:
    """Unix seconds of a time as Docker's timestamp.Parse reads one: a Go duration (before
    now), an RFC 3339 date or time (local when it names no zone), or unix seconds[.nanos]."""
    now = time.time() if now is None else now
    if not value.strip():
        raise errors.BadParameter("failed to parse value as time or duration: value is empty")
    duration = go_duration(value) if value != "0" else None
    if duration is not None:
        return now - duration
    local = not any(c in value for c in "zZ+") and value.count("-") != 3
    m = _TIME.fullmatch(value)
    if m and (m.group(8) is None) == local:
        year, month, day, hour, minute, second = (int(g or 0) for g in m.group(1, 2, 3, 4, 5, 6))
        zone = m.group(8)
        if zone is None:
            tz = datetime.fromtimestamp(now, timezone.utc).astimezone().tzinfo
        elif zone == "Z":
            tz = timezone.utc
        else:
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        try:
            when = datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError as exc:
            raise errors.BadParameter(f'parsing time "{value}": {exc}') from None
        return when.timestamp() + float("0." + m.group(7)) if m.group(7) else when.timestamp()
    if "-" in value:
        raise errors.BadParameter(f'parsing time "{value}": not a time Docker reads')
    m = _UNIX.fullmatch(value)
    if not m:
        seconds = value.partition(".")[0]
        raise errors.BadParameter(
            f'failed to parse value as time or duration: invalid seconds "{seconds}": invalid syntax')
    fraction = (m.group(2) or "")[:9]
    return int(m.group(1)) + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)


def until(filters: dict[str, list[str]], what: str = "") -> float | None:
    """The one `until` of a prune's filters, as unix seconds (None without one)."""
    values = filters.get("until")
    if values is None:
        return None
    if len(values) != 1:
        raise errors.BadParameter("more than one until filter specified" if values
                                  else "invalid filter 'until'")
    try:
        return timestamp(values[0])
    except errors.BadParameter as exc:
        raise errors.BadParameter(what + exc.message) from None


# ------------------------------------------------------------- references

def _pattern(pattern: str) -> re.Pattern:
    """Go's path.Match pattern as a regular expression: `*` and `?` do not cross a `/`,
    classes are `[...]` and `[^...]`, `\\` escapes; a malformed one is a 400."""
    bad = errors.BadParameter(f"syntax error in pattern {pattern!r}")
    out, i, n = [], 0, len(pattern)

    def class_char(j: int) -> tuple[str, int]:
        # Go's getEsc: a class member, maybe escaped, never a bare `-` or `]`, never the end.
        if j >= n or pattern[j] in "-]":
            raise bad
        if pattern[j] == "\\":
            j += 1
            if j >= n:
                raise bad
        if j + 1 >= n:
            raise bad
        return pattern[j], j + 1

    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise bad
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "[":
            i += 1
            negate = i < n and pattern[i] == "^"
            i += negate
            ranges: list[tuple[str, str]] = []
            while not (i < n and pattern[i] == "]" and ranges):
                lo, i = class_char(i)
                hi = lo
                if pattern[i] == "-":
                    hi, i = class_char(i + 1)
                ranges.append((lo, hi))
            i += 1
            parts = "".join(f"{re.escape(lo)}-{re.escape(hi)}" for lo, hi in ranges if lo <= hi)
            if not parts:
                out.append("[\\s\\S]" if negate else "(?!)")
            else:
                out.append(f"[{'^' if negate else ''}{parts}]")
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match(pattern, name)."""
    return _pattern(pattern).fullmatch(name) is not None


def reference_targets(ref: str) -> list[str]:
    """What a reference pattern is matched against, as dockerd does: the familiar reference
    (`busybox:latest`) and name (`busybox`), and both in full (`docker.io/library/busybox`)."""
    familiar_name = ref.partition("@")[0] if "@" in ref else ref.rpartition(":")[0]
    try:
        parsed = reference.parse(ref)
    except errors.BadParameter:
        return [ref, familiar_name]
    full = parsed.full_name
    suffix = f"@{parsed.digest}" if parsed.digest else f":{parsed.tag}" if parsed.tag else ""
    return [ref, familiar_name, full + suffix, full]


def reference_matches(patterns: list[str], ref: str) -> bool:
    compiled = [_pattern(p) for p in patterns]
    return any(p.fullmatch(t) for p in compiled for t in reference_targets(ref))
