"""Docker's filters: the `filters` parameter, timestamps, path.Match patterns, and the
container list's and prunes' matching (pure; no daemon)."""

from __future__ import annotations

import pytest

from services.api import filters as api_filters
from services.common import errors, wire
from services.common import filters as common
from services.supervisor import filters as ctr_filters

from .test_api_app import with_client

ZERO = "0001-01-01T00:00:00Z"


# ------------------------------------------------------------- the parameter

@pytest.mark.parametrize("raw, want", [
    (None, {}),
    ("", {}),
    ("null", {}),
    ("{}", {}),
    ('{"status":["exited"]}', {"status": ["exited"]}),
    ('{"status":{"exited":true}}', {"status": ["exited"]}),
    ('{"status":{"exited":true,"created":true}}', {"status": ["exited", "created"]}),
    ('{"label":["a=b","a=b","c"]}', {"label": ["a=b", "c"]}),
    ('{"status":null}', {"status": []}),
])
def test_both_forms_of_filters_are_read(raw, want):
    assert api_filters.parse(raw, api_filters.CONTAINER_LIST) == want


@pytest.mark.parametrize("raw", ["{", "[]", '"status"', "1", '{"status":"exited"}', '{"status":[1]}',
                                 '{"status":{"exited":"yes"}}', '{"status":["a"],"label":{"b":true}}'])
def test_malformed_filters_are_invalid_filter(raw):
    with pytest.raises(errors.BadParameter) as exc:
        api_filters.parse(raw, api_filters.CONTAINER_LIST)
    assert exc.value.message == "invalid filter"


@pytest.mark.parametrize("accepted, key", [
    (api_filters.CONTAINER_LIST, "nope"), (api_filters.CONTAINER_LIST, "label!"),
    (api_filters.CONTAINER_LIST, "reference"), (api_filters.IMAGE_LIST, "status"),
    (api_filters.CONTAINER_PRUNE, "status"), (api_filters.IMAGE_PRUNE, "reference")])
def test_an_unknown_key_is_named(accepted, key):
    with pytest.raises(errors.BadParameter) as exc:
        api_filters.parse(f'{{"{key}":["x"]}}', accepted)
    assert exc.value.message == f"invalid filter '{key}'"


def test_the_container_list_takes_the_keys_the_wire_declares():
    assert api_filters.CONTAINER_LIST == frozenset(wire.CONTAINER_FILTERS)
    assert {"ancestor", "before", "exited", "expose", "health", "id", "is-task", "label", "name",
            "network", "publish", "since", "status", "volume"} <= api_filters.CONTAINER_LIST


@pytest.mark.parametrize("values, want", [(["1"], True), (["true"], True), (["0"], False),
                                          (["false"], False), (["true", "1"], True)])
def test_boolean_filters(values, want):
    assert common.get_bool({"dangling": values}, "dangling", None) is want
    assert common.get_bool({}, "dangling", "default") == "default"


@pytest.mark.parametrize("values, message", [(["yes"], "invalid filter 'dangling=[yes]'"),
                                             (["true", "false"], "invalid filter 'dangling=[true false]'"),
                                             (["True"], "invalid filter 'dangling=[True]'"),
                                             ([], "invalid filter 'dangling'")])
def test_bad_boolean_filters(values, message):
    with pytest.raises(errors.BadParameter) as exc:
        common.get_bool({"dangling": values}, "dangling", False)
    assert exc.value.message == message


# ---------------------------------------------------------------- labels

@pytest.mark.parametrize("wanted, labels, want", [
    (None, {}, True), ([], {"a": "1"}, True),
    (["a"], {"a": "1"}, True), (["a=1"], {"a": "1"}, True), (["a=2"], {"a": "1"}, False),
    (["a", "b"], {"a": "1"}, False), (["a="], {"a": ""}, True), (["a="], {"a": "1"}, False),
    (["a"], {}, False), (["a"], None, False), (["a=1=2"], {"a": "1=2"}, True),
])
def test_label_lists(wanted, labels, want):
    assert common.match_kv_list(wanted, labels) is want


@pytest.mark.parametrize("label, label_not, labels, want", [
    ([], [], {}, True),
    ([], ["keep"], {"keep": "1"}, False),
    ([], ["keep"], {"other": "1"}, True),
    ([], ["keep=yes"], {"keep": "no"}, True),
    # As Docker reads label!: kept only when it has all of them.
    ([], ["a", "b"], {"a": "1"}, True),
    ([], ["a", "b"], {"a": "1", "b": "2"}, False),
    (["x"], ["a"], {"a": "1", "x": "1"}, False),
    (["x"], ["a"], {"x": "1"}, True),
    (["x"], [], {}, False),
])
def test_prune_labels(label, label_not, labels, want):
    assert common.match_labels(label, label_not, labels) is want


# ------------------------------------------------------------- timestamps

NOW = 1_700_000_000.0


@pytest.mark.parametrize("text, seconds", [
    ("10m", 600), ("1h30m", 5400), ("1.5h", 5400), ("-1s", -1), ("+2s", 2), ("500ms", 0.5),
    (".5s", 0.5), ("1h1m1s", 3661), ("1us", 1e-6), ("1\u00b5s", 1e-6), ("2ns", 2e-9), ("-0", 0), ("+0", 0)])
def test_go_durations(text, seconds):
    assert api_filters.go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1x", "h", "1hm", "1.s.", "--1s", "1 h"])
def test_not_go_durations(text):
    assert api_filters.go_duration(text) is None


@pytest.mark.parametrize("text, want", [
    ("10m", NOW - 600), ("1h", NOW - 3600),
    ("0", 0), ("1700000000", 1_700_000_000), ("1699999999.5", 1_699_999_999.5),
    ("1699999999.123456789123", 1_699_999_999.123456789),
    ("2023-11-14T22:13:20Z", 1_700_000_000), ("2023-11-14T22:13:20.25Z", 1_700_000_000.25),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000), ("2023-11-14T21:13:20-01:00", 1_700_000_000),
    ("2023-11-14Z", 1_699_920_000), ("2023-11-14T22Z", 1_699_999_200), ("2023-11-14T22:13Z", 1_699_999_980),
])
def test_docker_timestamps(text, want):
    assert api_filters.timestamp(text, NOW) == pytest.approx(want)


def test_a_time_without_a_zone_is_local():
    local = api_filters.timestamp("2023-11-14T22:13:20", NOW)
    from datetime import datetime
    assert local == datetime(2023, 11, 14, 22, 13, 20).timestamp()
    assert api_filters.timestamp("2023-11-14", NOW) == datetime(2023, 11, 14).timestamp()


@pytest.mark.parametrize("text, message", [
    ("", "failed to parse value as time or duration: value is empty"),
    ("  ", "failed to parse value as time or duration: value is empty"),
    ("soon", 'failed to parse value as time or duration: invalid seconds "soon": invalid syntax'),
    ("12ab.5", 'failed to parse value as time or duration: invalid seconds "12ab": invalid syntax'),
    ("2023-13-01", 'parsing time "2023-13-01"'),
    ("2023-11-14T25:00:00Z", 'parsing time "2023-11-14T25:00:00Z"'),
    ("-5", 'parsing time "-5"'),
])
def test_bad_timestamps(text, message):
    with pytest.raises(errors.BadParameter) as exc:
        api_filters.timestamp(text, NOW)
    assert exc.value.message.startswith(message)


def test_one_until_only():
    assert api_filters.until({}) is None
    assert api_filters.until({"until": ["1700000000"]}) == 1_700_000_000
    with pytest.raises(errors.BadParameter, match="more than one until filter specified"):
        api_filters.until({"until": ["1h", "2h"]})
    with pytest.raises(errors.BadParameter) as exc:
        api_filters.until({"until": ["later"]}, "invalid value for 'until' filter: ")
    assert exc.value.message.startswith("invalid value for 'until' filter: failed to parse value")


# --------------------------------------------------------- path.Match, refs

@pytest.mark.parametrize("pattern, name, want", [
    ("busybox", "busybox", True), ("busybox", "busybox:latest", False),
    ("busy*", "busybox", True), ("*", "busybox", True), ("*", "library/busybox", False),
    ("*/*", "library/busybox", True), ("b?sybox", "busybox", True), ("b?sybox", "b/sybox", False),
    ("[abc]usybox", "busybox", True), ("[^abc]usybox", "busybox", False), ("[a-c]*", "busybox", True),
    ("[!a]*", "!x", True), ("\\*", "*", True), ("\\*", "a", False), ("busybox:*", "busybox:1.36", True),
    ("*:latest", "busybox:latest", True), ("*box", "a/busybox", False), ("a.b", "axb", False),
    ("[\\]]", "]", True), ("[z-a]", "m", False), ("", "", True),
])
def test_go_path_match(pattern, name, want):
    assert api_filters.path_match(pattern, name) is want


@pytest.mark.parametrize("pattern", ["[", "[]", "[a", "a\\", "[a-]", "[-a]", "[^]", "[a-\\"])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(errors.BadParameter, match="syntax error in pattern"):
        api_filters.path_match(pattern, "a")


@pytest.mark.parametrize("patterns, ref, want", [
    (["busybox"], "busybox:latest", True),
    (["busybox"], "busybox:1.36", True),
    (["busybox"], "other/busybox:latest", False),
    (["busybox"], "127.0.0.1:5000/busybox:latest", False),
    (["busybox:latest"], "busybox:1.36", False),
    (["busybox:*"], "busybox:1.36", True),
    (["*/busybox"], "other/busybox:latest", True),
    (["docker.io/library/busybox"], "busybox:latest", True),
    (["docker.io/library/busybox:latest"], "busybox:latest", True),
    (["127.0.0.1:5000/test/bb"], "127.0.0.1:5000/test/bb@sha256:" + "a" * 64, True),
    (["busybox", "other/*"], "other/busybox:1", True),
])
def test_reference_patterns(patterns, ref, want):
    assert api_filters.reference_matches(patterns, ref) is want


# ----------------------------------------------------- the container list

def record(cid: str, status: str = "running", name: str | None = None, exit_code: int = 0,
           started: str = "2024-01-01T00:00:00Z", labels: dict | None = None, image: str = "sha256:aaa",
           created: str = "2024-01-01T00:00:00Z", **extra) -> dict:
    rec = {
        "Id": cid, "Name": "/" + (name or f"c{cid}"), "Image": image, "Created": created,
        "State": {"Status": status, "Running": status in ("running", "paused", "restarting"),
                  "ExitCode": exit_code, "StartedAt": started},
        "Config": {"Labels": labels or {}, **extra.pop("config", {})},
        "HostConfig": {"NetworkMode": "default", **extra.pop("host", {})},
        "Mounts": extra.pop("mounts", []),
    }
    rec.update(extra)
    return rec


ROWS = [  # newest first, as the supervisor lists them
    record("f1", "running", "web", labels={"app": "web", "tier": "front"}),
    record("e2", "exited", "job", exit_code=3, labels={"app": "job"}),
    record("d3", "created", "fresh", started=ZERO, image="sha256:bbb"),
    record("c4", "exited", "ok", exit_code=0,
           mounts=[{"Type": "volume", "Name": "data", "Destination": "/data"},
                   {"Type": "bind", "Source": "/srv", "Destination": "/mnt"}]),
    record("c5", "paused", "sleepy", host={"NetworkMode": "host",
                                           "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
           config={"ExposedPorts": {"53/udp": {}}}),
]


def ids(rows):
    return [r["Id"] for r in rows]


@pytest.mark.parametrize("filters, show_all, want", [
    ({}, False, ["f1", "c5"]),
    ({}, True, ["f1", "e2", "d3", "c4", "c5"]),
    ({"status": ["exited"]}, False, ["e2", "c4"]),       # a status filter lists all
    ({"status": ["running"]}, False, ["f1"]),
    ({"status": ["created", "paused"]}, False, ["d3", "c5"]),
    ({"label": ["app"]}, True, ["f1", "e2"]),
    ({"label": ["app=job"]}, True, ["e2"]),
    ({"label": ["app", "tier=front"]}, True, ["f1"]),
    ({"name": ["web"]}, True, ["f1"]),
    ({"name": ["/web"]}, True, ["f1"]),
    ({"name": ["^j"]}, True, ["e2"]),            # a regexp, as Docker
    ({"name": ["o"]}, True, ["e2", "c4"]),
    ({"name": ["("]}, True, []),                 # a bad regexp matches nothing
    ({"id": ["e"]}, True, ["e2"]),
    ({"id": ["c"]}, True, []),                   # ambiguous: nothing, as dockerd
    ({"id": ["c4"]}, True, ["c4"]),
    ({"id": ["c4", "e2"]}, True, ["e2", "c4"]),
    ({"id": ["c4"], "name": ["job"]}, True, []),
    ({"exited": ["3"]}, True, ["e2"]),
    ({"exited": ["0"]}, True, ["c4"]),           # not the created one (never started)
    ({"exited": ["0", "3"]}, False, []),         # exited does not list all
    ({"health": ["none"]}, True, ["f1", "e2", "d3", "c4", "c5"]),
    ({"health": ["healthy"]}, True, []),
    ({"volume": ["data"]}, True, ["c4"]),
    ({"volume": ["/mnt"]}, True, ["c4"]),
    ({"volume": ["/srv"]}, True, ["c4"]),
    ({"volume": ["nope"]}, True, []),
    ({"network": ["bridge"]}, True, ["f1", "e2", "d3", "c4"]),
    ({"network": ["host"]}, True, ["c5"]),
    ({"network": ["host", "bridge"]}, True, ["f1", "e2", "d3", "c4", "c5"]),
    ({"publish": ["8080"]}, True, ["c5"]),
    ({"publish": ["8080/udp"]}, True, []),
    ({"publish": ["8000-9000/tcp"]}, True, ["c5"]),
    ({"expose": ["80"]}, True, ["c5"]),
    ({"expose": ["53/udp"]}, True, ["c5"]),
    ({"expose": ["53"]}, True, []),
    ({"is-task": ["true"]}, True, []),
    ({"is-task": ["false"]}, True, ["f1", "e2", "d3", "c4", "c5"]),
    ({"isolation": ["default"]}, True, ["f1", "e2", "d3", "c4", "c5"]),
])
def test_container_list_filters(filters, show_all, want):
    ctr_filters.check(filters)
    assert ids(ctr_filters.select(ROWS, filters, show_all, -1)) == want


def test_before_since_and_limit():
    assert ids(ctr_filters.select(ROWS, {}, True, -1, before="e2")) == ["d3", "c4", "c5"]
    assert ids(ctr_filters.select(ROWS, {}, True, -1, since="d3")) == ["f1", "e2"]
    assert ids(ctr_filters.select(ROWS, {}, True, -1, before="f1", since="c4")) == ["e2", "d3"]
    assert ids(ctr_filters.select(ROWS, {}, False, 2)) == ["f1", "e2"]   # a limit lists all
    assert ids(ctr_filters.select(ROWS, {"status": ["exited"]}, False, 1)) == ["e2"]
    # Before and since do not list all by themselves (as dockerd since 1.13).
    assert ids(ctr_filters.select(ROWS, {"before": ["x"]}, False, -1, before="e2")) == ["c5"]


def test_ancestor_is_the_images_given():
    assert ids(ctr_filters.select(ROWS, {"ancestor": ["x"]}, True, -1, images={"sha256:bbb"})) == ["d3"]
    assert ids(ctr_filters.select(ROWS, {"ancestor": ["nosuch"]}, True, -1, images=set())) == []


class FakeStore:
    def __init__(self):
        self.names = {"base": "sha256:base", "mid": "sha256:mid"}
        self.kids = {"sha256:base": ["sha256:mid"], "sha256:mid": ["sha256:top"]}

    def resolve(self, name):
        if name not in self.names:
            raise errors.NotFound(f"No such image: {name}")
        return self.names[name]

    def children(self, image_id):
        return self.kids.get(image_id, [])


def test_an_ancestor_takes_its_descendants():
    store = FakeStore()
    assert ctr_filters.image_family(store, ["base"]) == {"sha256:base", "sha256:mid", "sha256:top"}
    assert ctr_filters.image_family(store, ["mid"]) == {"sha256:mid", "sha256:top"}
    assert ctr_filters.image_family(store, ["nosuch"]) == set()


@pytest.mark.parametrize("filters, message", [
    ({"status": ["stopped"]}, "invalid filter 'status=stopped': invalid value for state (stopped): must be one "
                              "of created, running, paused, restarting, removing, exited, dead"),
    ({"exited": ["x"]}, "invalid filter 'exited=x': strconv.Atoi: parsing 'x': invalid syntax"),
    ({"health": ["ill"]}, "invalid filter 'health=ill': invalid value for health (ill): must be one of "
                          "none, starting, healthy, unhealthy"),
    ({"is-task": ["maybe"]}, "invalid filter 'is-task=[maybe]'"),
    ({"publish": ["80:80"]}, "filter for 'publish' should not contain ':': 80:80"),
    ({"expose": ["http"]}, "error while looking up for expose http: invalid port range"),
    ({"expose": ["90-80"]}, "error while looking up for expose 90-80: invalid port range"),
])
def test_bad_container_filter_values(filters, message):
    with pytest.raises(errors.BadParameter) as exc:
        ctr_filters.check(filters)
    assert exc.value.message == message


def test_what_a_container_prune_takes():
    old, new = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"
    until = api_filters.timestamp("2024-03-01T00:00:00Z")
    assert ctr_filters.prunable(record("a", "exited"), None, [], [])
    assert ctr_filters.prunable(record("a", "created"), None, [], [])
    assert ctr_filters.prunable(record("a", "dead"), None, [], [])
    for status in ("running", "paused", "restarting", "removing"):
        assert not ctr_filters.prunable(record("a", status), None, [], [])
    assert ctr_filters.prunable(record("a", "exited", created=old), until, [], [])
    assert not ctr_filters.prunable(record("a", "exited", created=new), until, [], [])
    assert ctr_filters.prunable(record("a", "exited", labels={"k": "v"}), None, ["k=v"], [])
    assert not ctr_filters.prunable(record("a", "exited", labels={"k": "v"}), None, ["k=w"], [])
    assert not ctr_filters.prunable(record("a", "exited", labels={"keep": ""}), None, [], ["keep"])


def test_tree_size_counts_files_once(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 100)
    (tmp_path / "g").write_bytes(b"y" * 10)
    (tmp_path / "h").hardlink_to(tmp_path / "g")
    assert ctr_filters.tree_size(str(tmp_path)) == 110
    assert ctr_filters.tree_size(str(tmp_path / "missing")) == 0


# ------------------------------------------------ the api, before any service

def test_bad_filters_are_400s_at_the_api(tmp_path):
    async def body(client):
        for method, path, query, message in [
            ("GET", "/v1.45/containers/json", "{", "invalid filter"),
            ("GET", "/v1.45/containers/json", '{"nope":["x"]}', "invalid filter 'nope'"),
            ("GET", "/v1.45/images/json", '{"status":["x"]}', "invalid filter 'status'"),
            ("POST", "/v1.45/containers/prune", '{"until":["1h","2h"]}', "more than one until filter specified"),
            ("POST", "/v1.45/containers/prune", '{"dangling":["true"]}', "invalid filter 'dangling'"),
            ("POST", "/v1.45/images/prune", '{"dangling":["maybe"]}', "invalid filter 'dangling=[maybe]'"),
            ("POST", "/v1.45/images/prune", '{"until":["later"]}',
             "invalid value for 'until' filter: failed to parse value as time or duration: "
             'invalid seconds "later": invalid syntax'),
        ]:
            r = await client.request(method, path, params={"filters": query})
            assert r.status == 400, (path, query)
            assert (await r.json())["message"] == message
    with_client(tmp_path, body)


def test_prune_needs_api_1_25_under_a_prefix(tmp_path):
    async def body(client):
        for kind in ("containers", "images"):
            for prefix in ("/v1.24", "/v1.0"):
                r = await client.post(f"{prefix}/{kind}/prune")
                assert r.status == 400
                assert (await r.json())["message"] == f"POST /{kind}/prune requires minimum API version 1.25"
    with_client(tmp_path, body)


def test_publish_matches_the_host_port_a_running_container_was_given():
    """`-p 80` asks for any port: the filter sees the one the kernel picked."""
    chosen = record("b6", "running", "chosen", host={"PortBindings": {"80/tcp": [{"HostPort": ""}]}},
                    NetworkSettings={"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}]}})
    assert ids(ctr_filters.select([chosen], {"publish": ["49153"]}, True, -1)) == ["b6"]
    assert ids(ctr_filters.select([chosen], {"publish": ["80"]}, True, -1)) == []
    assert ids(ctr_filters.select([chosen], {"expose": ["80"]}, True, -1)) == ["b6"]
