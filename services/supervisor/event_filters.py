"""Which events a GET /events filter lets through, as moby's daemon/events/filter.go
decides: every key given must match (values of one key are alternatives)."""

from __future__ import annotations

from services.common.filters import match_kv_list

# An `event` filter of these words (no colon) matches the actions they begin
# ("health_status: healthy", "exec_start: sh -c ..."), as moby #25798.
_PREFIXED_ACTIONS = ("health_status", "exec_create", "exec_start")


def _exact(values: list[str] | None, source: str) -> bool:
    return not values or source in values


def _fuzzy(values: list[str] | None, source: str) -> bool:
    """moby's FuzzyMatch: a value equal to the source or a prefix of it."""
    return not values or any(source == v or (source and source.startswith(v)) for v in values)


# The keys matched against the actor's id or name.
_BY_NAME = ("container", "network", "volume", "daemon", "plugin", "node", "service", "secret", "config")


def _strip_tag(ref: str) -> str:
    name = ref.partition("@")[0]
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


def _by_name(values: list[str] | None, event: dict) -> bool:
    actor = event["Actor"]
    return _fuzzy(values, actor["ID"]) or _fuzzy(values, actor["Attributes"].get("name", ""))


def _image(values: list[str] | None, event: dict) -> bool:
    if not values:
        return True
    actor = event["Actor"]
    name = actor["Attributes"].get("name" if event["Type"] == "image" else "image", "")
    return any(_exact(values, s) for s in (actor["ID"], name, _strip_tag(actor["ID"]), _strip_tag(name)))


def _action(values: list[str] | None, action: str) -> bool:
    if values and any(v in _PREFIXED_ACTIONS for v in values):
        return _fuzzy(values, action)
    return _exact(values, action)


def matches(filters: dict[str, list[str]] | None, event: dict) -> bool:
    f = filters or {}
    return (_action(f.get("event"), event["Action"])
            and _exact(f.get("type"), event["Type"])
            and _exact(f.get("scope"), event.get("scope", "local"))
            # As moby, whatever the event's type: a container filter lets no network event by.
            and all(_by_name(f.get(key), event) for key in _BY_NAME)
            and _image(f.get("image"), event)
            and match_kv_list(f.get("label"), event["Actor"]["Attributes"]))
