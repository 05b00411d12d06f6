"""The event journal (services/common/events.py) and the GET /events filters
(services/supervisor/event_filters.py)."""

from __future__ import annotations

import signal

from services.common import db, events
from services.supervisor.event_filters import matches


def test_a_container_event_has_dockers_shape_and_old_keys():
    e = events.message("container", "kill", "abc", {"name": "web", "image": "busybox", "signal": signal.SIGTERM,
                                                    "exitCode": 0, "gone": None}, time_nano=1_700_000_000_123_456_789)
    assert e == {"status": "kill", "id": "abc", "from": "busybox", "Type": "container", "Action": "kill",
                 "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "busybox", "signal": "15",
                                                       "exitCode": "0"}},
                 "scope": "local", "time": 1_700_000_000, "timeNano": 1_700_000_000_123_456_789}


def test_network_and_volume_events_have_no_old_keys():
    assert "status" not in events.message("network", "create", "n1", {"name": "x", "type": "bridge"})
    image = events.message("image", "tag", "sha256:1", {"name": "a:b"})
    assert image["status"] == "tag" and image["id"] == "sha256:1" and "from" not in image


def test_the_journal_keeps_its_order_and_its_bound(tmp_path):
    journal = events.Journal(db.connect(str(tmp_path)), keep=5)
    ids = [journal.append(events.message("volume", "create", f"v{n}", time_nano=1000 + n)) for n in range(8)]
    assert ids == sorted(ids) and len(set(ids)) == 8
    kept = journal.after(0)
    assert [e["Actor"]["ID"] for _, e in kept] == ["v3", "v4", "v5", "v6", "v7"]
    assert journal.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 5
    assert [e["Actor"]["ID"] for _, e in journal.after(ids[5])] == ["v6", "v7"]
    assert [e["Actor"]["ID"] for _, e in journal.after(0, since_ns=1004, until_ns=1006)] == ["v4", "v5", "v6"]
    assert journal.last_id() == ids[-1]
    # A new connection (the supervisor's next start) goes on after the last id, never reusing one.
    again = events.Journal(db.connect(str(tmp_path)), keep=5)
    assert again.append(events.message("volume", "create", "v8")) > ids[-1]


def _container(action="start", cid="0123456789ab", **attrs):
    return events.message("container", action, cid, {"name": "web", "image": "busybox:1.36", **attrs})


def test_filters_match_as_dockers():
    start = _container(team="blue")
    net = events.message("network", "connect", "feedbeef", {"name": "front", "type": "bridge", "container": "0123"})
    assert matches({}, start) and matches(None, net)
    assert matches({"type": ["container"]}, start) and not matches({"type": ["container"]}, net)
    assert matches({"event": ["start", "die"]}, start) and not matches({"event": ["stop"]}, start)
    assert matches({"container": ["web"]}, start) and matches({"container": ["0123"]}, start)
    assert not matches({"container": ["other"]}, start)
    assert not matches({"container": ["web"]}, net)   # as moby: a container filter lets no network event by
    assert matches({"network": ["front"]}, net) and matches({"network": ["feed"]}, net)
    assert matches({"image": ["busybox"]}, start) and matches({"image": ["busybox:1.36"]}, start)
    assert not matches({"image": ["alpine"]}, start)
    assert matches({"label": ["team"]}, start) and matches({"label": ["team=blue"]}, start)
    assert not matches({"label": ["team=red"]}, start)
    image = events.message("image", "tag", "sha256:1", {"name": "registry:5000/app:v1"})
    assert matches({"image": ["registry:5000/app"]}, image)


def test_an_event_filter_word_matches_the_actions_it_begins():
    healthy = _container("health_status: healthy")
    execd = _container("exec_start: sh -c true", execID="e1")
    assert matches({"event": ["health_status"]}, healthy)
    assert matches({"event": ["exec_start"]}, execd) and not matches({"event": ["exec_die"]}, execd)
    assert matches({"event": ["health_status: healthy"]}, healthy)
    assert not matches({"event": ["start"]}, healthy)
