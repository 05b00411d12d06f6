"""The registry's image list kept ready (services/registry/image_list.py): the same rows while
the store is unchanged, new ones after any change of it, and no rows for a caller whose copy
is current."""

from __future__ import annotations

import json

import pytest

from services.common import errors
from services.common.store import Store, reference
from services.registry.image_list import ImageList

from .test_image_config import store  # noqa: F401  (the fixture: a registry's store in a fresh data root)


def image(store: Store, n: int, labels: dict | None = None) -> str:
    config = {"rootfs": {"type": "layers", "diff_ids": []}, "created": f"2026-12-02T08:00:0{n}Z",
              "config": {"Labels": labels or {"n": str(n)}}}
    return store.create_image(json.dumps(config).encode(), [])


def tags(rows: list[dict]) -> dict[str, list[str]]:
    return {row["id"]: row["refs"] for row in rows}


def test_the_rows_change_with_the_store_and_only_then(store):
    ready = ImageList(store)
    first = image(store, 1)
    stamp, rows = ready.rows(False)
    assert [(r["id"], r["labels"]) for r in rows] == [(first, {"n": "1"})] and "config" not in rows[0]
    assert ready.rows(False) == (stamp, rows) and ready.rows(False)[1] is rows   # unchanged: the same rows
    steps = [
        lambda: store.tag(first, reference.parse("app:1"), False),
        lambda: store.tag(first, reference.parse("app:2"), False),
        lambda: store.remove("app:1", False),
        lambda: image(store, 2),
        lambda: store.remove("app:2", False),
    ]
    seen = {stamp}
    for step in steps:
        step()
        stamp, rows = ready.rows(False)
        assert stamp not in seen
        seen.add(stamp)
        assert tags(rows) == tags(store.list(False))   # what the store lists now
    assert first not in tags(rows)


def test_a_refused_change_keeps_the_stamp(store):
    ready = ImageList(store)
    first, second = image(store, 1), image(store, 2)
    store.tag(first, reference.parse("app:1"), False)
    stamp, _ = ready.rows(True)
    with pytest.raises(errors.Conflict):
        store.tag(second, reference.parse("app:1"), False)   # taken: nothing written
    assert ready.rows(True)[0] == stamp


def test_a_caller_with_a_current_copy_gets_no_rows(store):
    ready = ImageList(store)
    image(store, 1)
    answer = ready.answer(False, None)
    assert len(answer["images"]) == 1
    assert ready.answer(False, answer["stamp"]) == {"images": None, "stamp": answer["stamp"]}
    image(store, 2)
    again = ready.answer(False, answer["stamp"])
    assert again["stamp"] != answer["stamp"] and len(again["images"]) == 2
    # Another registry process (a restart) never takes a copy of this one's for current.
    assert ImageList(store).answer(False, again["stamp"])["images"] is not None
