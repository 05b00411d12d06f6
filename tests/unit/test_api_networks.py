"""The api's network endpoints (request reading, routes, replies) on the real app with a
stand-in supervisor, and the network parts of the container shapes of every version."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.api import networks
from services.api.app import make_app
from services.api.shapes import legacy, modern
from services.api.shapes import networks as network_shapes
from services.api.versions import resolve
from services.common import errors, wire
from services.common.config import Settings

from .test_wire import CID, created_container

NET_ID = "7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99"
BRIDGE_NET = {
    "Name": "bridge", "Id": NET_ID, "Created": "2026-12-01T22:24:33.044338773Z", "Scope": "local",
    "Driver": "bridge", "EnableIPv6": False,
    "IPAM": {"Driver": "default", "Options": None, "Config": [{"Subnet": "172.31.0.0/16", "Gateway": "172.31.0.1"}]},
    "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
    "Containers": {CID: {"Name": "quirky_turing", "EndpointID": "ab" * 32, "MacAddress": "02:42:ac:1f:00:02",
                         "IPv4Address": "172.31.0.2/16", "IPv6Address": ""}},
    "Options": {"com.docker.network.bridge.default_bridge": "true"}, "Labels": {},
    "Dockyard": {"bridge": "dy0"},   # the supervisor's own: never shown
}
NETWORK_KEYS = ["Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal", "Attachable",
                "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"]


class Supervisor:
    """Answers the network methods with canned replies; every call's params are checked
    against the wire schema, as the real client checks them before sending."""

    def __init__(self, replies: dict | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.replies = {"network.list": {"networks": [BRIDGE_NET]}, "network.inspect": BRIDGE_NET,
                        "network.create": {"id": "c" * 64, "warning": ""}, "network.prune": {"deleted": []},
                        **(replies or {})}
        self.closed = False

    async def call(self, name: str, params: dict | None = None, **kw):
        params = params or {}
        wire.check(wire.method(name).params, params, name)
        self.calls.append((name, params))
        reply = self.replies.get(name)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self) -> None:
        self.closed = True


def with_api(tmp_path, body, supervisor: Supervisor | None = None):
    supervisor = supervisor or Supervisor()

    async def main():
        app = make_app(Settings(exec_root=str(tmp_path)), supervisor)
        async with TestClient(TestServer(app)) as client:
            await body(client, supervisor)
    asyncio.run(main())
    return supervisor


# ------------------------------------------------------------- list filters

@pytest.mark.parametrize("raw, want", [
    (None, {}),
    ('{"name":["web"],"driver":["bridge"],"id":["7d8"]}', {"name": ["web"], "driver": ["bridge"], "id": ["7d8"]}),
    ('{"label":{"a=b":true}}', {"label": ["a=b"]}),
    ('{"type":["custom","builtin"]}', {"type": ["custom", "builtin"]}),
    ('{"dangling":["1"]}', {"dangling": ["true"]}),
    ('{"dangling":{"false":true}}', {"dangling": ["false"]}),
    ('{"dangling":["0"]}', {"dangling": ["false"]}),
    ('{"dangling":[]}', {"dangling": []}),
])
def test_list_filters_become_the_wires(raw, want):
    wanted, scopes = networks.list_filters(raw)
    assert wanted == want and scopes is None
    wire.check(wire.NETWORK_FILTERS, wanted, "filters")


def test_the_scope_filter_stays_in_the_api():
    wanted, scopes = networks.list_filters('{"scope":["local","swarm"],"name":["x"]}')
    assert wanted == {"name": ["x"]} and scopes == ["local", "swarm"]


@pytest.mark.parametrize("raw, message", [
    ('{"label!":["a"]}', "invalid filter 'label!'"),     # only the prune takes label!
    ('{"until":["10m"]}', "invalid filter 'until'"),
    ('{"status":["x"]}', "invalid filter 'status'"),
    ('{"type":["x"]}', "invalid filter: 'type'='x'"),
    ('{"type":["custom","Custom"]}', "invalid filter: 'type'='Custom'"),
    ('{"dangling":["true","false"]}', 'got more than one value for filter key "dangling"'),
    ('{"dangling":["yes"]}', """invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")"""),
    ('{"name":"web"}', "invalid filter"),
    ("[1]", "invalid filter"),
])
def test_bad_list_filters_are_dockers_400s(raw, message):
    with pytest.raises(errors.BadParameter) as exc:
        networks.list_filters(raw)
    assert exc.value.message == message


# ------------------------------------------------------------ prune filters

def test_prune_filters_name_label_not_and_resolve_until_now():
    assert networks.prune_filters(None) == {}
    assert networks.prune_filters('{"label":["a"],"label!":["b=c"]}') == {"label": ["a"], "label_not": ["b=c"]}
    before = time.time()
    out = networks.prune_filters('{"until":["10m"]}')
    wire.check(wire.NETWORK_FILTERS, out, "filters")
    assert before - 600 - 1 <= float(out["until"][0]) <= time.time() - 600
    assert networks.prune_filters('{"until":["1700000000"]}') == {"until": ["1700000000.000000000"]}
    assert float(networks.prune_filters('{"until":["2023-11-14T22:13:20Z"]}')["until"][0]) == 1700000000


@pytest.mark.parametrize("raw, message", [
    ('{"dangling":["true"]}', "invalid filter 'dangling'"),
    ('{"name":["x"]}', "invalid filter 'name'"),
    ('{"until":["1h","2h"]}', "more than one until filter specified"),
    ('{"until":["soon"]}', 'failed to parse value as time or duration: invalid seconds "soon": invalid syntax'),
])
def test_bad_prune_filters_are_400s(raw, message):
    with pytest.raises(errors.BadParameter) as exc:
        networks.prune_filters(raw)
    assert exc.value.message == message


# ------------------------------------------------------------- create body

def test_the_create_body_keeps_dockers_fields_and_leaves_the_rest():
    body = {"Name": "web", "Driver": "bridge", "Internal": True, "CheckDuplicate": True, "EnableIPv6": None,
            "IPAM": {"Driver": "default",
                     "Config": [{"Subnet": "10.9.0.0/24", "AuxiliaryAddresses": {"a": "10.9.0.5"}}]},
            "Options": {"com.docker.network.bridge.name": "br-web"}, "Labels": {"tier": "front"},
            "ConfigFrom": {"Network": ""}, "Unknown": 5}
    config = networks.create_config(body)
    assert config == {k: v for k, v in body.items() if k not in ("EnableIPv6", "Unknown")}
    wire.check(wire.NETWORK_CREATE, config, "config")
    assert set(networks.CREATE_TYPES) == set(wire.NETWORK_CREATE)   # every field the wire takes is checked


@pytest.mark.parametrize("body, message", [
    (None, "invalid name: "),
    ({}, "invalid name: "),
    ({"Name": ""}, "invalid name: "),
    ({"Name": None, "Driver": "bridge"}, "invalid name: "),
    ([], "the network config must be a JSON object"),
    ("web", "the network config must be a JSON object"),
    ({"Name": 5}, "Name must be a string"),
    ({"Name": "web", "Driver": ["bridge"]}, "Driver must be a string"),
    ({"Name": "web", "Internal": "yes"}, "Internal must be true or false"),
    ({"Name": "web", "EnableIPv6": 1}, "EnableIPv6 must be true or false"),
    ({"Name": "web", "Labels": {"a": 1}}, "Labels must be an object of strings"),
    ({"Name": "web", "Options": ["a"]}, "Options must be an object of strings"),
    ({"Name": "web", "Labels": {"a": None}}, "Labels must be an object of strings"),
    ({"Name": "web", "IPAM": "default"}, "IPAM must be an object"),
    ({"Name": "web", "IPAM": {"Config": {"Subnet": "10.0.0.0/8"}}}, "IPAM.Config must be a list of objects"),
    ({"Name": "web", "IPAM": {"Config": [None]}}, "IPAM.Config must be a list of objects"),
    ({"Name": "web", "IPAM": {"Config": [{"Subnet": 10}]}}, "IPAM.Config[0].Subnet must be a string"),
    ({"Name": "web", "IPAM": {"Config": [{"AuxiliaryAddresses": []}]}},
     "IPAM.Config[0].AuxiliaryAddresses must be an object of strings"),
    ({"Name": "web", "IPAM": {"Options": {"x": 1}}}, "IPAM.Options must be an object of strings"),
    ({"Name": "web", "ConfigFrom": {"Network": 3}}, "ConfigFrom.Network must be a string"),
])
def test_a_bad_create_body_is_a_400_never_a_wire_error(body, message):
    with pytest.raises(errors.BadParameter) as exc:
        networks.create_config(body)
    assert exc.value.message == message


# ------------------------------------------------------ connect, disconnect

def test_connect_and_disconnect_bodies():
    assert networks.connect_params("web", {"Container": "c1"}) == {"id": "web", "container": "c1",
                                                                   "endpoint_config": None}
    endpoint = {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.9.0.9"}}
    with_endpoint = networks.connect_params("web", {"Container": "c1", "EndpointConfig": endpoint})
    assert with_endpoint["endpoint_config"] == endpoint
    assert networks.disconnect_params("web", {"Container": "c1"}) == {"id": "web", "container": "c1", "force": False}
    assert networks.disconnect_params("web", {"Container": "c1", "Force": True})["force"] is True
    for params in (with_endpoint, networks.connect_params("web", {"Container": "c1"})):
        wire.check(wire.method("network.connect").params, params, "network.connect")
    wire.check(wire.method("network.disconnect").params, networks.disconnect_params("web", {"Container": "c"}), "d")


@pytest.mark.parametrize("read, body, message", [
    (networks.connect_params, None, 'invalid name or ID supplied: ""'),
    (networks.connect_params, {"Container": ""}, 'invalid name or ID supplied: ""'),
    (networks.connect_params, {"Container": 7}, "Container must be a string"),
    (networks.connect_params, {"Container": "c", "EndpointConfig": []}, "EndpointConfig must be an object"),
    (networks.connect_params, ["c"], "the connect request must be a JSON object"),
    (networks.disconnect_params, {}, 'invalid name or ID supplied: ""'),
    (networks.disconnect_params, {"Container": "c", "Force": "true"}, "Force must be true or false"),
    (networks.disconnect_params, "c", "the disconnect request must be a JSON object"),
])
def test_bad_connect_and_disconnect_bodies(read, body, message):
    with pytest.raises(errors.BadParameter) as exc:
        read("web", body)
    assert exc.value.message == message


# ------------------------------------------------------------- over HTTP

def test_routes_statuses_and_replies(tmp_path):
    async def body(client, supervisor):
        r = await client.get("/v1.45/networks?filters=" + '{"type":["builtin"]}')
        assert r.status == 200
        rows = await r.json()
        assert [list(row) for row in rows] == [NETWORK_KEYS] and rows[0]["Containers"] == {}
        r = await client.get("/v1.45/networks/")
        assert r.status == 200
        r = await client.get(f"/v1.45/networks/{NET_ID[:12]}?verbose=true&scope=local")
        assert r.status == 200
        net = await r.json()
        assert list(net) == NETWORK_KEYS and net["Containers"] == BRIDGE_NET["Containers"]
        r = await client.post("/v1.45/networks/create", json={"Name": "web", "Labels": {"a": "b"}})
        assert r.status == 201 and await r.json() == {"Id": "c" * 64, "Warning": ""}
        r = await client.post("/v1.45/networks/web/connect", json={"Container": "c1", "EndpointConfig": None})
        assert r.status == 200 and await r.read() == b""
        r = await client.post("/v1.45/networks/web/disconnect", json={"Container": "c1", "Force": True})
        assert r.status == 200 and await r.read() == b""
        r = await client.delete("/v1.45/networks/web")
        assert r.status == 204
        r = await client.post("/v1.45/networks/prune?filters=" + '{"label!":["keep"]}')
        assert r.status == 200 and await r.json() == {"NetworksDeleted": None}
    supervisor = with_api(tmp_path, body)
    assert supervisor.calls == [
        ("network.list", {"filters": {"type": ["builtin"]}}),
        ("network.list", {"filters": {}}),
        ("network.inspect", {"id": NET_ID[:12]}),
        ("network.create", {"config": {"Name": "web", "Labels": {"a": "b"}}}),
        ("network.connect", {"id": "web", "container": "c1", "endpoint_config": None}),
        ("network.disconnect", {"id": "web", "container": "c1", "force": True}),
        ("network.remove", {"id": "web"}),
        ("network.prune", {"filters": {"label_not": ["keep"]}}),
    ]


def test_versions_of_the_routes(tmp_path):
    async def body(client, supervisor):
        r = await client.get("/v1.0/networks")
        assert r.status == 400 and (await r.json())["message"] == "GET /networks requires minimum API version 1.21"
        r = await client.post("/v1.24/networks/prune")
        assert r.status == 400 and "minimum API version 1.25" in (await r.json())["message"]
        r = await client.post("/v1.25/networks/prune")
        assert r.status == 200
        # Before 1.28 the list shows each network's containers; unprefixed is the newest.
        r = await client.get("/v1.24/networks")
        assert (await r.json())[0]["Containers"] == BRIDGE_NET["Containers"]
        r = await client.get("/networks")
        assert r.status == 200 and (await r.json())[0]["Containers"] == {}
    with_api(tmp_path, body)


def test_http_400s_and_404s(tmp_path):
    async def body(client, supervisor):
        for path, message in [
            ('/v1.45/networks?filters={"nope":["x"]}', "invalid filter 'nope'"),
            ('/v1.45/networks?filters={"type":["x"]}', "invalid filter: 'type'='x'"),
            ("/v1.45/networks/bridge?verbose=maybe",
             'invalid value for verbose: maybe: strconv.ParseBool: parsing "maybe": invalid syntax'),
        ]:
            r = await client.get(path)
            assert r.status == 400 and (await r.json())["message"] == message, path
        r = await client.get("/v1.45/networks/bridge?scope=swarm")
        assert r.status == 404 and (await r.json())["message"] == "network bridge not found"
        r = await client.post("/v1.45/networks/create", json={"Name": "web", "Internal": "yes"})
        assert r.status == 400 and (await r.json())["message"] == "Internal must be true or false"
        r = await client.post("/v1.45/networks/create")
        assert r.status == 400 and (await r.json())["message"] == "invalid name: "
        r = await client.post("/v1.45/networks/create", data=b"{", headers={"Content-Type": "application/json"})
        assert r.status == 400 and "malformed JSON" in (await r.json())["message"]
        r = await client.post("/v1.45/networks/web/connect", json={"Container": ["c1"]})
        assert r.status == 400
        r = await client.post('/v1.45/networks/prune?filters={"until":["1h","2h"]}')
        assert r.status == 400 and (await r.json())["message"] == "more than one until filter specified"
        r = await client.delete("/v1.45/networks/ghost")
        assert r.status == 404 and (await r.json())["message"] == "network ghost not found"
    supervisor = with_api(tmp_path, body, Supervisor({"network.remove": errors.NotFound("network ghost not found")}))
    assert [name for name, _ in supervisor.calls] == ["network.inspect", "network.remove"]


def test_the_scope_filter_matches_the_networks_scope(tmp_path):
    async def body(client, supervisor):
        for scopes, count in (('["local"]', 1), ('["swarm"]', 0), ('["swarm","local"]', 1), ("[]", 1)):
            r = await client.get('/v1.45/networks?filters={"scope":' + scopes + "}")
            assert len(await r.json()) == count, scopes
    with_api(tmp_path, body)


def test_network_shape_defaults():
    net = {k: v for k, v in BRIDGE_NET.items() if k != "Containers"}
    shaped = network_shapes.network({**net, "Peers": [], "Services": {"s": {}}}, resolve("1.45"))
    assert shaped["Containers"] == {} and "Peers" not in shaped and shaped["Services"] == {"s": {}}
    assert network_shapes.network_created({"id": "x", "warning": "w"}) == {"Id": "x", "Warning": "w"}
    assert network_shapes.networks_pruned(["a"]) == {"NetworksDeleted": ["a"]}


# ------------------------------------------------------ container shapes

# Docker's EndpointSettings, in its field order.
ENDPOINT_KEYS = ["IPAMConfig", "Links", "Aliases", "MacAddress", "NetworkID", "EndpointID", "Gateway", "IPAddress",
                 "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "DriverOpts", "DNSNames"]
BRIDGE_EP = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "02:42:ac:1f:00:02",
             "NetworkID": NET_ID, "EndpointID": "ab" * 32, "Gateway": "172.31.0.1", "IPAddress": "172.31.0.2",
             "IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
             "DriverOpts": None, "DNSNames": None}
WEB_EP = {**BRIDGE_EP, "IPAMConfig": {"IPv4Address": "10.9.0.9", "LinkLocalIPs": ["169.254.0.9"]},
          "Aliases": ["db"], "Links": ["a:b"], "DriverOpts": {"x": "y"}, "NetworkID": "e" * 64,
          "EndpointID": "cd" * 32, "Gateway": "10.9.0.1", "IPAddress": "10.9.0.9", "IPPrefixLen": 24,
          "MacAddress": "02:42:0a:09:00:09", "DNSNames": ["quirky_turing", CID[:12], "db"]}


def running(networks=None, ports=None) -> dict:
    rec = created_container()
    rec["State"].update({"Status": "running", "Running": True, "Pid": 4242, "StartedAt": rec["Created"]})
    rec["NetworkSettings"] = {"Networks": networks if networks is not None else {"bridge": BRIDGE_EP},
                              "Ports": ports, "SandboxID": "5a" * 32, "SandboxKey": "/var/run/dockyard/netns/5a5a"}
    return rec


INSPECT_KEYS = ["Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode", "LinkLocalIPv6Address",
                "LinkLocalIPv6PrefixLen", "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID",
                "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen", "IPv6Gateway",
                "MacAddress", "Networks"]


def test_modern_inspect_shows_the_bridge_endpoint_on_top():
    ports = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None}
    settings = modern.container_inspect(running(ports=ports), resolve("1.45"))["NetworkSettings"]
    assert list(settings) == INSPECT_KEYS
    assert settings == {
        "Bridge": "", "SandboxID": "5a" * 32, "SandboxKey": "/var/run/dockyard/netns/5a5a", "Ports": ports,
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "ab" * 32,
        "Gateway": "172.31.0.1", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "172.31.0.2",
        "IPPrefixLen": 16, "IPv6Gateway": "", "MacAddress": "02:42:ac:1f:00:02", "Networks": {"bridge": BRIDGE_EP}}


def test_modern_inspect_off_the_bridge_and_before_networks():
    settings = modern.container_inspect(running({"web": WEB_EP}), resolve("1.45"))["NetworkSettings"]
    assert (settings["IPAddress"], settings["Gateway"], settings["EndpointID"], settings["IPPrefixLen"],
            settings["MacAddress"]) == ("", "", "", 0, "")
    assert settings["Networks"] == {"web": WEB_EP} and settings["Ports"] == {}
    for rec in (created_container(), {**created_container(), "NetworkSettings": None}):
        settings = modern.container_inspect(rec, resolve("1.45"))["NetworkSettings"]
        assert list(settings) == INSPECT_KEYS
        assert settings["Networks"] == {} and settings["Ports"] == {} and settings["SandboxID"] == ""
        assert settings["IPAddress"] == "" and settings["IPPrefixLen"] == 0


def test_before_1_45_inspect_lists_short_id_and_hostname_among_user_defined_aliases():
    rec = running({"bridge": BRIDGE_EP, "web": WEB_EP})
    old = modern.container_inspect(rec, resolve("1.44"))["NetworkSettings"]["Networks"]
    assert old["web"]["Aliases"] == ["db", CID[:12]]   # the hostname is the short id here: once
    assert old["bridge"]["Aliases"] is None
    rec["Config"]["Hostname"] = "box"
    assert modern.container_inspect(rec, resolve("1.44"))["NetworkSettings"]["Networks"]["web"]["Aliases"] == [
        "db", CID[:12], "box"]
    assert modern.container_inspect(rec, resolve("1.45"))["NetworkSettings"]["Networks"]["web"]["Aliases"] == ["db"]
    assert WEB_EP["Aliases"] == ["db"]   # the record is not changed


def test_modern_list_ports_as_docker_builds_them():
    ports = {
        "443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8443"}, {"HostIp": "::", "HostPort": "8443"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "53/tcp": None,
        "80/tcp": [{"HostIp": "", "HostPort": ""}],
        "9000": [],
        "bad/tcp": None,
        "70000/tcp": None,
        "81/tcp": [{"HostIp": "0.0.0.0", "HostPort": "nope"}],
    }
    row = modern.container_list([running(ports=ports)], resolve("1.45"))[0]
    assert row["Ports"] == [
        {"PrivatePort": 53, "Type": "tcp"},
        {"IP": "127.0.0.1", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"},
        {"PrivatePort": 80, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 443, "PublicPort": 8443, "Type": "tcp"},
        {"IP": "::", "PrivatePort": 443, "PublicPort": 8443, "Type": "tcp"},
        {"PrivatePort": 9000, "Type": "tcp"},
    ]
    assert list(row["Ports"][1]) == ["IP", "PrivatePort", "PublicPort", "Type"]


def test_modern_list_network_settings_copy_what_docker_copies():
    row = modern.container_list([running({"bridge": BRIDGE_EP, "web": WEB_EP})], resolve("1.45"))[0]
    assert row["NetworkSettings"]["Networks"]["bridge"] == BRIDGE_EP
    web = row["NetworkSettings"]["Networks"]["web"]
    assert list(web) == ENDPOINT_KEYS
    assert web == {**WEB_EP, "IPAMConfig": {"IPv4Address": "10.9.0.9"}, "Aliases": None, "Links": None,
                   "DriverOpts": None, "DNSNames": None}
    for rec in (created_container(), {**created_container(), "NetworkSettings": None},
                {**created_container(), "Config": {**created_container()["Config"], "ExposedPorts": {"80/tcp": {}}}}):
        row = modern.container_list([rec], resolve("1.45"))[0]
        assert row["Ports"] == [] and row["NetworkSettings"] == {"Networks": {}}


def test_legacy_inspect_and_list():
    settings = legacy.container_inspect(running(ports={"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
                                        resolve("1.0"))["NetworkSettings"]
    assert settings == {"IpAddress": "172.31.0.2", "IpPrefixLen": 16, "Gateway": "172.31.0.1", "Bridge": "",
                        "PortMapping": None}
    for rec in (created_container(), running({"web": WEB_EP})):
        assert legacy.container_inspect(rec, resolve("1.0"))["NetworkSettings"] == {
            "IpAddress": "", "IpPrefixLen": 0, "Gateway": "", "Bridge": "", "PortMapping": None}
    # The v1.0 spec's list shows no ports.
    assert list(legacy.container_list([running()], resolve("1.0"))[0]) == ["Id", "Image", "Command", "Created",
                                                                           "Status"]
