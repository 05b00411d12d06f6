"""What every service matches Docker's filters with (moby's daemon/internal/filters):
label lists, the label/label! pair of the prunes, and boolean filters.

Filters are a map of key to a list of values; reading them from a request (and refusing
unknown keys) is the api's (services/api/filters.py); matching a key to a record is the
owner's of the records.
"""

from __future__ import annotations

import re

from services.common import errors


def go_list(values: list[str]) -> str:
    """A list as Go's %s prints it, as Docker's messages show one: [a b]."""
    return "[" + " ".join(values) + "]"


def match(values: list[str] | None, source: str) -> bool:
    """Docker's Match: no values, an exact value, or a value that is a regexp found in it."""
    if not values or source in values:
        return True
    for value in values:
        try:
            if re.search(value, source):
                return True
        except re.error:
            continue
    return False


def match_kv_list(wanted: list[str] | None, labels: dict | None) -> bool:
    """Docker's MatchKVList: every `key` or `key=value` of `wanted` is among `labels`; no
    values want nothing."""
    if not wanted:
        return True
    if not labels:
        return False
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def match_labels(label: list[str] | None, label_not: list[str] | None, labels: dict | None) -> bool:
    """The prunes' label filters: all of `label` match, and not all of `label!` (as Docker
    reads `label!`: what has every one of those labels is kept)."""
    if not match_kv_list(label, labels):
        return False
    return not (label_not and match_kv_list(label_not, labels))


def get_bool(filters: dict[str, list[str]], key: str, default: bool) -> bool:
    """A boolean filter as Docker reads one (GetBoolOrDefault): 1/true or 0/false, not both."""
    if key not in filters:
        return default
    values = filters[key]
    if not values:
        raise errors.BadParameter(f"invalid filter '{key}'")
    is_false = "0" in values or "false" in values
    is_true = "1" in values or "true" in values
    if is_false == is_true:
        raise errors.BadParameter(f"invalid filter '{key}={go_list(values)}'")
    return is_true
