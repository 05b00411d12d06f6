"""Legacy links on the default bridge (services.supervisor.networks.legacy_links), as
Docker's documentation of `--link` gives them: HostConfig.Links stored as
"/target:/self/alias", the <ALIAS>_* environment variables and the /etc/hosts entries."""

import pytest

from services.common import errors
from services.supervisor.networks import legacy_links

DB_ADDRESS = "10.213.0.5"


class RecordsByName:
    """A stand-in for the supervisor's records: find(name) or NotFound."""

    def __init__(self, *recs: dict):
        self.by_name = {rec["Name"].lstrip("/"): rec for rec in recs}

    def find(self, ref: str) -> dict:
        try:
            return self.by_name[ref]
        except KeyError:
            raise errors.NotFound(f"No such container: {ref}") from None


def target(name: str = "db", running: bool = True, exposed=("80/tcp", "53/udp"),
           env=("FOO=1", "PATH=/usr/local/bin:/usr/bin", "HOME=/root"), networks=None) -> dict:
    if networks is None:
        networks = {"bridge": {"IPAddress": DB_ADDRESS}}
    return {"Id": "6e5cdeb2d300" + "0" * 52, "Name": "/" + name,
            "Config": {"Hostname": "6e5cdeb2d300", "ExposedPorts": {p: {} for p in exposed}, "Env": list(env)},
            "State": {"Running": running}, "NetworkSettings": {"Networks": networks}}


def linking(*links: str) -> dict:
    return {"Id": "aed84ee21bde" + "0" * 52, "Name": "/web", "HostConfig": {"Links": list(links)}}


# -- HostConfig.Links as stored

def test_normalized_forms():
    assert legacy_links.normalized(["db", "db:webdb", "/db:/web/webdb"], "/web") == [
        "/db:/web/db", "/db:/web/webdb", "/db:/web/webdb"]


def test_normalized_of_no_links_is_none():
    assert legacy_links.normalized(None, "/web") is None
    assert legacy_links.normalized([], "/web") is None


@pytest.mark.parametrize("link", ["", ":webdb", "/:webdb"])
def test_a_link_naming_no_container_is_refused(link):
    with pytest.raises(errors.BadParameter):
        legacy_links.normalized([link], "/web")


# -- environment variables

def test_environment_of_a_running_target():
    env = legacy_links.environment(linking("/db:/web/webdb"), RecordsByName(target()))
    assert sorted(env) == sorted([
        "WEBDB_NAME=/web/webdb",
        "WEBDB_PORT=udp://10.213.0.5:53",            # the exposed port with the lowest number
        "WEBDB_PORT_53_UDP=udp://10.213.0.5:53",
        "WEBDB_PORT_53_UDP_ADDR=10.213.0.5",
        "WEBDB_PORT_53_UDP_PORT=53",
        "WEBDB_PORT_53_UDP_PROTO=udp",
        "WEBDB_PORT_80_TCP=tcp://10.213.0.5:80",
        "WEBDB_PORT_80_TCP_ADDR=10.213.0.5",
        "WEBDB_PORT_80_TCP_PORT=80",
        "WEBDB_PORT_80_TCP_PROTO=tcp",
        "WEBDB_ENV_FOO=1",                            # not PATH nor HOME
    ])


def test_alias_port_is_the_lowest_port_tcp_first_on_a_tie():
    env = legacy_links.environment(linking("/db:/web/webdb"),
                                   RecordsByName(target(exposed=("5432/udp", "5432/tcp", "8080/tcp"))))
    assert "WEBDB_PORT=tcp://10.213.0.5:5432" in env
    assert [e for e in env if e.startswith("WEBDB_PORT=")] == ["WEBDB_PORT=tcp://10.213.0.5:5432"]


def test_ports_are_sorted_by_number_not_as_text():
    env = legacy_links.environment(linking("/db:/web/webdb"), RecordsByName(target(exposed=("9000/tcp", "10000/tcp"))))
    assert "WEBDB_PORT=tcp://10.213.0.5:9000" in env


def test_environment_with_the_target_name_as_alias_and_a_dash_in_it():
    env = legacy_links.environment(linking("/my-db:/web/my-db"),
                                   RecordsByName(target(name="my-db", exposed=(), env=())))
    assert env == ["MY_DB_NAME=/web/my-db"]


def test_environment_passes_on_every_variable_but_home_and_path():
    """Docker's links skip only HOME and PATH of the target's Config.Env: a HOSTNAME given
    with `-e` is passed on like any other."""
    env = legacy_links.environment(linking("/db:/web/webdb"), RecordsByName(
        target(exposed=(), env=("HOSTNAME=dbhost", "PATH=/bin", "HOME=/root", "EMPTY=", "URL=a=b"))))
    assert sorted(e for e in env if "_ENV_" in e) == [
        "WEBDB_ENV_EMPTY=", "WEBDB_ENV_HOSTNAME=dbhost", "WEBDB_ENV_URL=a=b"]


@pytest.mark.parametrize("records", [
    RecordsByName(target(running=False)),                                          # stopped (a stale address)
    RecordsByName(target(running=False, networks={"bridge": {"IPAddress": ""}})),  # stopped
    RecordsByName(),                                                               # gone
    RecordsByName(target(networks={"backend": {"IPAddress": "10.214.0.3"}})),      # not on the default bridge
])
def test_a_stopped_missing_or_unbridged_target_gives_nothing(records):
    rec = linking("/db:/web/webdb")
    assert legacy_links.environment(rec, records) == []
    assert legacy_links.hosts_entries(rec, records) == []


def test_no_links_nothing():
    rec = {"Name": "/web", "HostConfig": {}}
    assert legacy_links.environment(rec, RecordsByName(target())) == []
    assert legacy_links.hosts_entries(rec, RecordsByName(target())) == []


# -- /etc/hosts entries

def test_hosts_entries_name_the_alias_the_hostname_and_the_container_name():
    """Docker's documentation: `--link db:webdb` gives "172.17.0.5  webdb 6e5cdeb2d300 db":
    the alias, the target's hostname, and its name when it is not the alias."""
    records = RecordsByName(target())
    assert legacy_links.hosts_entries(linking("/db:/web/webdb"), records) == [
        (DB_ADDRESS, "webdb 6e5cdeb2d300 db")]
    assert legacy_links.hosts_entries(linking("/db:/web/db"), records) == [(DB_ADDRESS, "db 6e5cdeb2d300")]


# -- a link's removal and a rename

def test_a_links_name_splits_into_its_parent_and_alias():
    assert legacy_links.split_name("web/webdb") == ("/web", "webdb")
    assert legacy_links.split_name("/web/webdb") == ("/web", "webdb")
    assert legacy_links.split_name("db") == ("", "db")
    assert legacy_links.split_name("/db") == ("", "db")


def test_without_drops_only_the_alias_named():
    links = ["/db:/web/webdb", "/cache:/web/cache"]
    assert legacy_links.without(links, "webdb") == ["/cache:/web/cache"]
    assert legacy_links.without(links, "nosuch") == links
    assert legacy_links.without(["/db:/web/webdb"], "webdb") is None


def test_a_rename_follows_the_target_and_the_owners_own_names():
    links = ["/db:/web/webdb", "/cache:/web/cache"]
    # The target db became /store: links to it name the new name.
    assert legacy_links.renamed(links, "/db", "/store", own=False) == ["/store:/web/webdb", "/cache:/web/cache"]
    # The owner web became /front: its links are named /front/<alias>.
    assert legacy_links.renamed(links, "/web", "/front", own=True) == ["/db:/front/webdb", "/cache:/front/cache"]
    # Another container's name that merely starts alike is not touched.
    assert legacy_links.renamed(["/dbx:/web/dbx"], "/db", "/store", own=False) == ["/dbx:/web/dbx"]
    assert legacy_links.renamed(None, "/db", "/store", own=False) is None
