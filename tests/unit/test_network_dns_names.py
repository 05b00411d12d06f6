"""What each container's embedded DNS answers (services.supervisor.networks.dns), as
Docker's resolver at 127.0.0.11 does on user-defined networks: the running containers of
its networks by name, alias, short id and hostname (and `<name>.<network>`), never those
of other networks nor of the default bridge; and the names.json its shim serves."""

import json
import os

from services.common import container_files
from services.supervisor.networks import dns

FRONT, BACK, OTHER, BRIDGE = ("f" * 64, "b" * 64, "0" * 64, "d" * 64)
NETWORK_IDS = {"front": FRONT, "back": BACK, "other": OTHER, "bridge": BRIDGE}


def container(cid: str, name: str, endpoints: dict, running: bool = True, hostname: str = "",
              paused: bool = False, dns_servers=("1.1.1.1",)) -> dict:
    """A container record on `endpoints` ({network name: (address, aliases)})."""
    return {
        "Id": cid, "Name": "/" + name,
        "Config": {"Hostname": hostname or cid[:12]},
        "HostConfig": {"Dns": list(dns_servers)},
        "State": {"Running": running, "Paused": paused},
        "NetworkSettings": {"Networks": {
            net: {"NetworkID": NETWORK_IDS[net], "IPAddress": address, "Aliases": list(aliases) or None}
            for net, (address, aliases) in endpoints.items()}},
    }


WEB = container("1a" * 32, "web", {"front": ("10.1.0.2", ["api"]), "back": ("10.2.0.2", []),
                                   "bridge": ("10.213.0.2", [])}, hostname="webhost")
DB = container("2b" * 32, "Db", {"back": ("10.2.0.3", [])})
CACHE_1 = container("3c" * 32, "cache-1", {"front": ("10.1.0.4", ["cache"])})
CACHE_2 = container("4d" * 32, "cache-2", {"front": ("10.1.0.5", ["cache"])})
STRANGER = container("5e" * 32, "stranger", {"other": ("10.3.0.2", [])})
SLEEPER = container("6f" * 32, "sleeper", {"front": ("10.1.0.9", ["cache"])}, running=False)
LEGACY = container("7a" * 32, "legacy", {"bridge": ("10.213.0.3", [])})
PAUSED = container("8b" * 32, "paused", {"back": ("10.2.0.8", [])}, paused=True)
EVERYONE = [WEB, DB, CACHE_1, CACHE_2, STRANGER, SLEEPER, LEGACY, PAUSED]


def test_dns_names_are_name_aliases_short_id_hostname():
    endpoint = {"Aliases": ["api", "www"]}
    assert dns.dns_names(WEB, endpoint) == ["web", "api", "www", "1a1a1a1a1a1a", "webhost"]


def test_dns_names_leave_out_repeats_and_empty_ones():
    rec = container("9c" * 32, "db", {"back": ("10.2.0.3", [])})   # its hostname is its short id
    assert dns.dns_names(rec, {"Aliases": ["db", "primary", "primary"]}) == ["db", "primary", "9c9c9c9c9c9c"]
    assert dns.dns_names(rec, {"Aliases": None}) == ["db", "9c9c9c9c9c9c"]
    no_hostname = {**rec, "Config": {"Hostname": ""}}
    assert dns.dns_names(no_hostname, {}) == ["db", "9c9c9c9c9c9c"]


def test_table_names_every_running_container_of_its_networks():
    table = dns.table(WEB, EVERYONE)
    assert sorted(table["web"]) == ["10.1.0.2", "10.2.0.2"]
    assert table["web.front"] == ["10.1.0.2"]
    assert table["web.back"] == ["10.2.0.2"]
    assert sorted(table["webhost"]) == ["10.1.0.2", "10.2.0.2"]
    assert table["api"] == ["10.1.0.2"] and table["api.front"] == ["10.1.0.2"]
    assert "api.back" not in table                     # an alias is its network's only
    assert table["db"] == ["10.2.0.3"] and table["db.back"] == ["10.2.0.3"]
    assert table["2b2b2b2b2b2b"] == ["10.2.0.3"]       # the short id
    assert table["paused"] == ["10.2.0.8"]             # a paused container is still running
    assert sorted(table["cache"]) == ["10.1.0.4", "10.1.0.5"]
    assert sorted(table["cache.front"]) == ["10.1.0.4", "10.1.0.5"]
    assert table["cache-1"] == ["10.1.0.4"]


def test_table_keys_are_lowercase():
    table = dns.table(WEB, EVERYONE)
    assert "Db" not in table and "Db.back" not in table
    assert all(key == key.lower() for key in table)
    shouting = container("9d" * 32, "Web-Front", {"front": ("10.1.0.7", ["API-Two"])}, hostname="HostName")
    names = dns.table(WEB, [*EVERYONE, shouting])
    assert names["web-front"] == names["api-two"] == names["hostname"] == names["web-front.front"] == ["10.1.0.7"]


def test_table_leaves_out_other_networks_the_default_bridge_and_stopped_containers():
    table = dns.table(WEB, EVERYONE)
    for absent in ("stranger", "stranger.other", "sleeper", "legacy", "legacy.bridge", "web.bridge"):
        assert absent not in table
    addresses = {address for found in table.values() for address in found}
    assert not addresses & {"10.3.0.2", "10.1.0.9", "10.213.0.2", "10.213.0.3"}


def test_table_of_a_container_not_among_the_others_names_it_too():
    table = dns.table(WEB, [DB])
    assert sorted(table["web"]) == ["10.1.0.2", "10.2.0.2"]
    assert table["db"] == ["10.2.0.3"]


def test_table_on_the_default_bridge_only_is_empty():
    assert dns.table(LEGACY, EVERYONE) == {}


def test_table_seen_from_another_network():
    table = dns.table(DB, EVERYONE)
    assert table["web"] == ["10.2.0.2"]                # only its address on the shared network
    assert "api" not in table and "cache" not in table


def test_embedded_is_for_containers_on_a_user_defined_network():
    assert dns.embedded(WEB) is True
    assert dns.embedded(DB) is True
    assert dns.embedded(LEGACY) is False
    assert dns.embedded({"NetworkSettings": {"Networks": {"host": {}}}}) is False
    assert dns.embedded({"NetworkSettings": {"Networks": {"none": {}}}}) is False
    assert dns.embedded({"NetworkSettings": {"Networks": {}}}) is False
    assert dns.embedded({}) is False


def names_file(data_root: str, rec: dict) -> str:
    return container_files.paths(data_root, rec["Id"])["names"]


def make_dirs(data_root: str, *recs: dict) -> None:
    for rec in recs:
        os.makedirs(container_files.container_dir(data_root, rec["Id"]), exist_ok=True)


def test_write_puts_records_and_upstream_in_names_json(tmp_path):
    root = str(tmp_path)
    make_dirs(root, WEB)
    dns.write(root, WEB, EVERYONE)
    with open(names_file(root, WEB)) as fh:
        body = json.load(fh)
    assert body == {"records": dns.table(WEB, EVERYONE), "upstream": ["1.1.1.1"]}
    assert sorted(body["records"]["cache"]) == ["10.1.0.4", "10.1.0.5"]


def test_write_renames_a_new_file_into_place(tmp_path):
    root = str(tmp_path)
    make_dirs(root, WEB)
    path = names_file(root, WEB)
    with open(path, "w") as fh:
        fh.write("{}")
    before = os.stat(path).st_ino
    dns.write(root, WEB, EVERYONE)
    assert os.stat(path).st_ino != before
    assert os.listdir(os.path.dirname(path)) == ["names.json"]


def test_publish_rewrites_the_running_containers_on_the_networks(tmp_path):
    root = str(tmp_path)
    make_dirs(root, *EVERYONE)
    dns.publish(root, EVERYONE, {BACK})
    written = {rec["Name"] for rec in EVERYONE if os.path.exists(names_file(root, rec))}
    assert written == {"/web", "/Db", "/paused"}
    with open(names_file(root, DB)) as fh:
        assert json.load(fh)["records"]["web"] == ["10.2.0.2"]


def test_publish_on_the_default_bridge_writes_nothing(tmp_path):
    root = str(tmp_path)
    make_dirs(root, *EVERYONE)
    dns.publish(root, EVERYONE, {BRIDGE})
    # (WEB is on the default bridge too, and on user-defined ones: rewriting its table is harmless)
    assert not any(os.path.exists(names_file(root, rec)) for rec in EVERYONE if rec is not WEB)


def test_publish_skips_a_container_whose_directory_is_gone(tmp_path):
    root = str(tmp_path)
    make_dirs(root, WEB)
    dns.publish(root, EVERYONE, {BACK, FRONT})
    assert os.path.exists(names_file(root, WEB))
    assert not os.path.exists(container_files.container_dir(root, DB["Id"]))


def test_links_of_an_endpoint_name_the_linked_container_for_that_container_only():
    db = {"Id": "d" * 64, "Name": "/db", "Config": {"Hostname": "d" * 12}, "State": {"Running": True},
          "HostConfig": {}, "NetworkSettings": {"Networks": {"app": {"NetworkID": "n1", "IPAddress": "10.214.3.2"}}}}
    web = {"Id": "e" * 64, "Name": "/web", "Config": {"Hostname": "e" * 12}, "State": {"Running": True},
           "HostConfig": {}, "NetworkSettings": {"Networks": {"app": {"NetworkID": "n1", "IPAddress": "10.214.3.3",
                                                                     "Links": ["db:database"]}}}}
    other = {**web, "Id": "f" * 64, "Name": "/other", "NetworkSettings": {"Networks": {"app": {
        "NetworkID": "n1", "IPAddress": "10.214.3.4"}}}}
    assert dns.table(web, [db, other])["database"] == ["10.214.3.2"]
    assert dns.table(web, [db, other])["database.app"] == ["10.214.3.2"]
    assert "database" not in dns.table(other, [db, web])
