"""The wire's event methods: the supervisor owns the event journal (DESIGN.md); the api
streams it (GET /events) and the registry service records its image events into it.
Declared in the one schema's table (schema.METHODS); `wire/__init__` loads it.
"""

from __future__ import annotations

from .schema import MapOf, Method, Opt, _declare

# An event as Docker's events.Message is: Type, Action, Actor {ID, Attributes}, scope,
# time, timeNano, and for containers and images the old status, id, from.
EVENT = {
    "Type": str, "Action": str, "Actor": {"ID": str, "Attributes": MapOf(str)}, "scope": str,
    "time": int, "timeNano": int, "status": Opt(str), "id": Opt(str), "from": Opt(str),
}
# GET /events's filters (moby daemon/events/filter.go), each a list of values.
EVENT_FILTERS = {key: Opt([str]) for key in (
    "config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
    "secret", "service", "type", "volume")}

# Record one event (the registry's image events; the api's container events, whose actor
# may be any reference to the container: the supervisor adds its labels, name and image,
# as to every container event); the supervisor stamps its time.
_declare(Method("event.record", "supervisor",
                params={"type": str, "action": str, "actor": str, "attributes": MapOf(str)}))
# The journal's events timed from `since_ns` (None: only new ones, unless `until_ns` is
# given) to `until_ns` (None: open; the stream ends once it is reached, also one in the
# future), then new ones as they are recorded: each once, in the journal's order.
_declare(Method("event.stream", "supervisor",
                params={"since_ns": Opt(int), "until_ns": Opt(int), "filters": Opt(MapOf([str]))},
                chunk=EVENT, timeout=None))
