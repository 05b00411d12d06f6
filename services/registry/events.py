"""The registry's image events, recorded in the supervisor's journal (`event.record`): the
supervisor stamps and streams them. Should the supervisor be away, the event is appended
to the journal directly (SQLite WAL: the next stream with `since` finds it)."""

from __future__ import annotations

import logging
from contextlib import closing

from services.common import db, errors, events, wire
from services.common.store import Store

log = logging.getLogger("services.registry.events")


async def image_event(clients: wire.Clients, store: Store, action: str, actor: str, name: str) -> None:
    """An image's event as moby's LogImageEvent: the image's labels and its `name`."""
    attributes = {}
    try:
        attributes.update(store.config(actor).get("Labels") or {})
    except (errors.DockyardError, KeyError, TypeError, ValueError):
        pass   # a pull's or push's actor is a reference, or the image is gone (delete)
    attributes["name"] = name
    attributes = {k: str(v) for k, v in attributes.items()}
    try:
        await clients.call("event.record", {"type": "image", "action": action, "actor": actor,
                                            "attributes": attributes})
    except errors.Unavailable:
        try:
            with closing(db.connect(store.data_root)) as conn:
                events.Journal(conn).append(events.message("image", action, actor, attributes))
        except Exception:
            log.exception("could not record the image event %s of %s", action, actor)
    except errors.DockyardError as exc:
        log.warning("could not record the image event %s of %s: %s", action, actor, exc)
