"""The modern container list's rows as the supervisor keeps them ready (JSON made once per
change of a record, Status words made at answer time): the very JSON the api's shapes make
of the same record, and Docker's words for each state."""

from __future__ import annotations

import json

import pytest

from services.api.shapes import modern
from services.api.system import json_body
from services.api.versions import resolve
from services.common import container_summary, timefmt

from .test_api_networks import WEB_EP, running
from .test_wire import created_container, exited_container

NOW = timefmt.unix(created_container()["Created"])


def paused() -> dict:
    rec = running()
    rec["State"].update({"Status": "paused", "Paused": True})
    return rec


def healthy() -> dict:
    rec = running({"web": WEB_EP}, {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None})
    rec["State"]["Health"] = {"Status": "healthy", "FailingStreak": 0, "Log": []}
    return rec


def restarting() -> dict:
    rec = exited_container()
    rec["State"].update({"Status": "restarting", "Restarting": True})
    return rec


RECORDS = [created_container(), exited_container(), running(), paused(), healthy(), restarting()]


@pytest.mark.parametrize("rec", RECORDS)
def test_a_ready_row_is_the_json_of_the_shaped_row(rec):
    ready = container_summary.render(*container_summary.pieces(rec), NOW + 200)
    shaped = container_summary.summary(rec, NOW + 200)
    assert json.loads(ready) == shaped
    # Byte for byte what the api answers from records (a list with sizes, /system/df).
    assert b"[" + ready + b"]\n" == json_body([shaped])
    assert list(json.loads(ready)) == ["Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "Labels",
                                       "State", "Status", "HostConfig", "NetworkSettings", "Mounts"]


def test_the_api_shapes_the_list_with_the_same_rows():
    rows = modern.container_list(RECORDS, resolve("1.45"))
    assert [row["Id"] for row in rows] == [rec["Id"] for rec in RECORDS]
    for rec, row in zip(RECORDS, rows):
        assert {k: v for k, v in row.items() if k != "Status"} == \
            {k: v for k, v in container_summary.summary(rec).items() if k != "Status"}


@pytest.mark.parametrize("rec, words, timeless", [
    (created_container(), "Created", True),
    (exited_container(), "Exited (137) 3 minutes ago", False),
    (running(), "Up 3 minutes", False),
    (paused(), "Up 3 minutes (Paused)", False),
    (healthy(), "Up 3 minutes (healthy)", False),
    (restarting(), "Restarting (137) 3 minutes ago", False),
    ({**created_container(), "State": {**created_container()["State"], "Status": "dead", "Dead": True}},
     "Dead", True),
])
def test_status_words_as_docker_says_them(rec, words, timeless):
    assert container_summary.status(rec["State"], NOW + 200) == words
    assert (container_summary.status_parts(rec["State"])[2] is None) is timeless
    # A row made later says the words of its own moment.
    later = container_summary.status(rec["State"], NOW + 7200)
    assert later == words if timeless else later == words.replace("3 minutes", "2 hours")
    row = container_summary.render(*container_summary.pieces(rec), NOW + 7200)
    assert json.loads(row)["Status"] == later


def test_a_state_without_its_time_reads_less_than_a_second():
    rec = running()
    rec["State"]["StartedAt"] = ""
    assert container_summary.status_parts(rec["State"]) == ("Up Less than a second", "", None)


def test_a_label_or_name_that_looks_like_json_stays_inside_its_string():
    rec = created_container()
    rec["Name"] = '/a","Status":"x'
    rec["Config"] = {**rec["Config"], "Labels": {"Status": "", '"}': '{"'}}
    rec["State"] = {**rec["State"], "Status": 'odd "1"\n'}
    row = json.loads(container_summary.render(*container_summary.pieces(rec)))
    assert row["Status"] == 'Odd "1"\n' and row["Names"] == ['/a","Status":"x']
    assert row["Labels"] == {"Status": "", '"}': '{"'}
