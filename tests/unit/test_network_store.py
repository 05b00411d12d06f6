"""Network records (services.supervisor.networks.store) in a migrated database: the
predefined networks every daemon has, the default bridge following the daemon's
settings, and finding a network as Docker does (id, name, unique id prefix)."""

import pytest

from services.common import db, errors
from services.common.config import Settings
from services.supervisor.networks import store


@pytest.fixture
def networks(tmp_path):
    conn = db.connect(str(tmp_path))
    yield store.Networks(conn)
    conn.close()


def network(name: str, network_id: str) -> dict:
    rec = store.blank(name, "bridge", [{"Subnet": "10.214.0.0/24", "Gateway": "10.214.0.1"}])
    rec["Id"] = network_id
    return rec


def test_predefined_networks_are_made_once(networks):
    networks.ensure_predefined(Settings())
    first = {rec["Name"]: rec["Id"] for rec in networks.all()}
    assert sorted(first) == ["bridge", "host", "none"]
    networks.ensure_predefined(Settings())
    assert {rec["Name"]: rec["Id"] for rec in networks.all()} == first
    assert len(networks.all()) == 3


def test_predefined_networks_are_dockers(networks):
    networks.ensure_predefined(Settings())
    drivers = {rec["Name"]: rec["Driver"] for rec in networks.all()}
    assert drivers == {"bridge": "bridge", "host": "host", "none": "null"}
    for rec in networks.all():
        assert len(rec["Id"]) == 64 and all(c in "0123456789abcdef" for c in rec["Id"])
        assert rec["Scope"] == "local"
    assert networks.by_name("host")["IPAM"]["Config"] == []
    assert networks.by_name("none")["IPAM"]["Config"] == []


def test_the_default_bridge_follows_the_settings(networks):
    networks.ensure_predefined(Settings())
    bridge = networks.by_name("bridge")
    assert bridge["IPAM"]["Config"] == [{"Subnet": "10.213.0.0/16", "Gateway": "10.213.0.1"}]
    assert bridge["Options"]["com.docker.network.bridge.name"] == "dockyard0"
    assert bridge["Options"]["com.docker.network.bridge.default_bridge"] == "true"

    networks.ensure_predefined(Settings(bridge="yard1", bip="10.50.0.1/24", fixed_cidr="10.50.0.128/25"))
    moved = networks.by_name("bridge")
    assert moved["Id"] == bridge["Id"]
    assert moved["IPAM"]["Config"] == [{"Subnet": "10.50.0.0/24", "Gateway": "10.50.0.1",
                                        "IPRange": "10.50.0.128/25"}]
    assert moved["Options"]["com.docker.network.bridge.name"] == "yard1"
    assert moved["Dockyard"]["bridge"] == "yard1"

    networks.ensure_predefined(Settings(bridge="yard1", bip="10.50.0.1/24"))
    assert networks.by_name("bridge")["IPAM"]["Config"] == [{"Subnet": "10.50.0.0/24", "Gateway": "10.50.0.1"}]


def test_find_by_id_name_and_unique_id_prefix(networks):
    networks.insert(network("front", "abc1" + "0" * 60))
    networks.insert(network("back", "abc2" + "0" * 60))
    assert networks.find("abc1" + "0" * 60)["Name"] == "front"
    assert networks.find("back")["Id"] == "abc2" + "0" * 60
    assert networks.find("abc1")["Name"] == "front"
    assert networks.find("abc2000")["Name"] == "back"


def test_an_ambiguous_prefix_is_refused(networks):
    networks.insert(network("front", "abc1" + "0" * 60))
    networks.insert(network("back", "abc2" + "0" * 60))
    with pytest.raises(errors.BadParameter, match="ambiguous"):
        networks.find("abc")


def test_a_full_name_comes_before_an_id_prefix(networks):
    networks.insert(network("front", "abc1" + "0" * 60))
    networks.insert(network("abc", "fed1" + "0" * 60))
    assert networks.find("abc")["Id"] == "fed1" + "0" * 60


def test_a_missing_network_is_not_found_in_dockers_words(networks):
    networks.insert(network("front", "abc1" + "0" * 60))
    for ref in ("back", "abd", "ABC1"):
        with pytest.raises(errors.NotFound, match=f"^network {ref} not found$"):
            networks.find(ref)


def test_an_empty_reference_is_refused(networks):
    with pytest.raises(errors.BadParameter):
        networks.find("")


def test_a_taken_name_is_a_conflict(networks):
    networks.ensure_predefined(Settings())
    with pytest.raises(errors.Conflict, match="network with name bridge already exists"):
        networks.insert(network("bridge", "abc1" + "0" * 60))
    networks.insert(network("front", "abc1" + "0" * 60))
    with pytest.raises(errors.Conflict, match="network with name front already exists"):
        networks.insert(network("front", "abc2" + "0" * 60))


def test_save_and_delete(networks):
    rec = network("front", "abc1" + "0" * 60)
    networks.insert(rec)
    rec["Labels"] = {"team": "web"}
    networks.save(rec)
    assert networks.find("front")["Labels"] == {"team": "web"}
    networks.delete(rec["Id"])
    with pytest.raises(errors.NotFound):
        networks.find("front")
