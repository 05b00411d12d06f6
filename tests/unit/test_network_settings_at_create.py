"""A new container's NetworkSettings (services.supervisor.networks.modes.settings_at_create):
an endpoint configuration on each network it is to join, from HostConfig.NetworkMode and
NetworkingConfig.EndpointsConfig, keyed by the network's name as Docker's inspect shows."""

import pytest

from services.common import errors
from services.supervisor.networks import modes

NETWORKS = [
    {"Name": "bridge", "Id": "b1" * 32},
    {"Name": "host", "Id": "c2" * 32},
    {"Name": "none", "Id": "d3" * 32},
    {"Name": "front", "Id": "e4" * 32},
    {"Name": "back", "Id": "f5" * 32},
]


def find(ref: str) -> dict:
    """The networks' store as a stand-in: an id, a name or a unique id prefix."""
    for net in NETWORKS:
        if ref in (net["Id"], net["Name"]):
            return net
    matches = [net for net in NETWORKS if net["Id"].startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    raise errors.NotFound(f"network {ref} not found")


def networks_of(host: dict, networking: dict | None = None) -> dict:
    return modes.settings_at_create(host, networking, find)["Networks"]


@pytest.mark.parametrize("host", [{}, {"NetworkMode": ""}, {"NetworkMode": "default"}, {"NetworkMode": "bridge"}])
def test_the_default_is_an_endpoint_on_the_default_bridge(host):
    settings = modes.settings_at_create(host, None, find)
    assert list(settings["Networks"]) == ["bridge"]
    endpoint = settings["Networks"]["bridge"]
    assert endpoint["NetworkID"] == "b1" * 32
    assert endpoint["IPAddress"] == "" and endpoint["EndpointID"] == ""
    assert settings["Ports"] == {}


def test_a_user_network_mode_is_keyed_by_its_name():
    assert list(networks_of({"NetworkMode": "front"})) == ["front"]
    assert networks_of({"NetworkMode": "front"})["front"]["NetworkID"] == "e4" * 32
    by_id = networks_of({"NetworkMode": "e4" * 32})
    assert list(by_id) == ["front"] and by_id["front"]["NetworkID"] == "e4" * 32
    assert list(networks_of({"NetworkMode": "e4e4"})) == ["front"]


def test_endpoints_config_default_is_the_default_bridge():
    found = networks_of({"NetworkMode": "default"}, {"EndpointsConfig": {"default": {"Aliases": ["web"]}}})
    assert list(found) == ["bridge"]
    assert found["bridge"]["Aliases"] == ["web"]
    assert found["bridge"]["NetworkID"] == "b1" * 32


def test_endpoints_config_configures_the_modes_network_and_adds_others():
    networking = {"EndpointsConfig": {
        "front": {"Aliases": ["web", "www"]},
        "back": {"IPAMConfig": {"IPv4Address": "10.214.1.9"}, "MacAddress": "02:42:0A:D6:01:09"},
    }}
    found = networks_of({"NetworkMode": "front"}, networking)
    assert list(found) == ["front", "back"]
    assert found["front"]["Aliases"] == ["web", "www"] and found["front"]["NetworkID"] == "e4" * 32
    assert found["back"]["IPAMConfig"] == {"IPv4Address": "10.214.1.9"}
    assert found["back"]["MacAddress"] == "02:42:0a:d6:01:09"
    assert found["back"]["NetworkID"] == "f5" * 32
    assert found["back"]["Aliases"] is None


def test_a_bad_endpoint_mac_address_is_refused():
    with pytest.raises(errors.BadParameter, match="MAC"):
        networks_of({"NetworkMode": "front"}, {"EndpointsConfig": {"front": {"MacAddress": "02:42:0a"}}})


def test_host_network_alone():
    found = networks_of({"NetworkMode": "host"})
    assert list(found) == ["host"] and found["host"]["NetworkID"] == "c2" * 32
    assert list(networks_of({"NetworkMode": "host"}, {"EndpointsConfig": {"host": {}}})) == ["host"]


@pytest.mark.parametrize("mode", ["host", "none"])
def test_host_or_none_with_another_network_is_refused(mode):
    with pytest.raises(errors.BadParameter):
        networks_of({"NetworkMode": mode}, {"EndpointsConfig": {"back": {}}})


def test_another_network_with_host_in_endpoints_config_is_refused():
    with pytest.raises(errors.BadParameter):
        networks_of({"NetworkMode": "front"}, {"EndpointsConfig": {"host": {}}})


def test_another_containers_network_gives_no_networks():
    assert networks_of({"NetworkMode": "container:" + "a1" * 32}) == {}


def test_a_network_not_there_yet_is_kept_under_the_given_name():
    found = networks_of({"NetworkMode": "later"}, {"EndpointsConfig": {"later": {"Aliases": ["x"]}}})
    assert list(found) == ["later"]
    assert found["later"]["NetworkID"] == ""
    assert found["later"]["Aliases"] == ["x"]
