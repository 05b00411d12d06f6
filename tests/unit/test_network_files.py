"""The network files a container gets (services.supervisor.networks.files), as Docker
writes them: /etc/hosts with its ExtraHosts (`--add-host`), links and own address, and
/etc/resolv.conf from the host's on the default bridge, or pointing at the embedded
resolver on a user-defined network; the resolvers the embedded one forwards to."""

import os

import pytest

from services.common import container_files, errors
from services.supervisor.networks import files

# What Docker puts first in every container's /etc/hosts (libnetwork's etchosts).
DOCKER_LOCALHOST = ("127.0.0.1\tlocalhost\n"
                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                    "fe00::0\tip6-localnet\n"
                    "ff00::0\tip6-mcastprefix\n"
                    "ff02::1\tip6-allnodes\n"
                    "ff02::2\tip6-allrouters\n")

GATEWAY = "10.213.0.1"


def host_resolv_conf(tmp_path, text: str) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    return str(path)


def lines(text: str) -> list[str]:
    return text.splitlines()


# -- ExtraHosts entries

@pytest.mark.parametrize("entry, expected", [
    ("db:10.0.0.9", ("db", "10.0.0.9")),
    ("db=10.0.0.9", ("db", "10.0.0.9")),
    ("my-host2:::1", ("my-host2", "::1")),                   # only the first ':' splits
    ("v6:2001:db8::33", ("v6", "2001:db8::33")),
    ("v6:[2001:db8::33]", ("v6", "2001:db8::33")),           # IPv6 in brackets
    ("my-host4=[::1]", ("my-host4", "::1")),
    ("my-host3=::1", ("my-host3", "::1")),
    ("docker.host:host-gateway", ("docker.host", "host-gateway")),
    ("gw=host-gateway", ("gw", "host-gateway")),
])
def test_extra_host_forms(entry, expected):
    assert files.extra_host(entry) == expected


@pytest.mark.parametrize("entry", ["db", "db:", "db:not-an-ip", "db:10.0.0.256", ":10.0.0.9", "=10.0.0.9",
                                   "two words:10.0.0.9", "db:host_gateway"])
def test_bad_extra_hosts_are_refused(entry):
    with pytest.raises(errors.BadParameter):
        files.extra_host(entry)


# -- /etc/hosts

def test_hosts_is_localhost_then_its_own_address_under_its_hostname():
    assert files.hosts("4a5c9f1e2b3d", None, GATEWAY, ["10.213.0.5"]) == (
        DOCKER_LOCALHOST + "10.213.0.5\t4a5c9f1e2b3d\n")


def test_hosts_extra_hosts_with_host_gateway_as_the_gateway():
    text = files.hosts("web", ["db:10.0.0.9", "docker.host:host-gateway", "v6=[2001:db8::33]"],
                       GATEWAY, ["10.213.0.5"])
    assert text.startswith(DOCKER_LOCALHOST)
    assert lines(text)[6:] == ["10.0.0.9\tdb", f"{GATEWAY}\tdocker.host", "2001:db8::33\tv6", "10.213.0.5\tweb"]
    assert "host-gateway" not in text


def test_hosts_links_come_before_its_own_address():
    text = files.hosts("web", None, GATEWAY, ["10.213.0.5"], links=[("10.213.0.7", "webdb 6e5cdeb2d300 db")])
    assert lines(text)[6:] == ["10.213.0.7\twebdb 6e5cdeb2d300 db", "10.213.0.5\tweb"]


def test_hosts_without_an_address_names_the_hostname_on_loopback():
    assert files.hosts("web", None, GATEWAY, []) == DOCKER_LOCALHOST + "127.0.0.1\tweb\n"


def test_hosts_on_the_host_network_is_the_hosts_own_file_and_the_extra_hosts():
    with open("/etc/hosts") as fh:
        own = fh.read()
    if own and not own.endswith("\n"):
        own += "\n"
    text = files.hosts("web", ["db:10.0.0.9", "docker.host:host-gateway"], GATEWAY, ["10.213.0.5"],
                       host_network=True)
    assert text == own + f"10.0.0.9\tdb\n{GATEWAY}\tdocker.host\n"


def test_hosts_refuses_a_bad_extra_host():
    with pytest.raises(errors.BadParameter):
        files.hosts("web", ["db:nowhere"], GATEWAY, ["10.213.0.5"])


# -- the host's resolvers

def test_host_resolvers_read_nameservers_search_and_options(tmp_path):
    path = host_resolv_conf(tmp_path, (
        "# written by someone\n"
        "; another comment\n"
        "nameserver 10.0.0.2\n"
        "nameserver 127.0.0.53\n"
        "nameserver\n"
        "domain old.example\n"
        "search corp.example lab.example\n"
        "options edns0\n"
        "options timeout:2 attempts:3\n"
        "\n"))
    assert files.host_resolvers(path) == (["10.0.0.2", "127.0.0.53"], ["corp.example", "lab.example"],
                                          ["edns0", "timeout:2", "attempts:3"])


def test_host_resolvers_the_last_of_search_and_domain_wins(tmp_path):
    path = host_resolv_conf(tmp_path, "search corp.example\ndomain only.example\n")
    assert files.host_resolvers(path)[1] == ["only.example"]


def test_host_resolvers_of_no_file(tmp_path):
    assert files.host_resolvers(str(tmp_path / "missing")) == ([], [], [])


# -- /etc/resolv.conf on the default bridge

def test_default_bridge_copies_the_hosts_resolvers(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example\n"
                                      "options edns0 timeout:2\n")
    assert files.resolv_conf({}, False, path) == (
        "nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example\noptions edns0 timeout:2\n")


def test_default_bridge_drops_loopback_nameservers(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\n"
                                      "nameserver 127.1.2.3\n")
    assert files.resolv_conf({}, False, path) == "nameserver 10.0.0.2\n"


def test_default_bridge_falls_back_to_googles_when_only_loopback_ones_are_left(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 127.0.0.53\nnameserver ::1\nsearch corp.example\n")
    assert files.resolv_conf({}, False, path) == (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch corp.example\n")


def test_default_bridge_with_no_host_nameserver_falls_back_to_googles(tmp_path):
    path = host_resolv_conf(tmp_path, "")
    assert lines(files.resolv_conf({}, False, path)) == ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]


def test_default_bridge_drops_ipv6_nameservers_of_a_container_without_ipv6(tmp_path):
    """Docker's bridge (libnetwork's resolv.conf filter for a network without IPv6) leaves out
    the host's IPv6 nameservers: the container has no IPv6 route to reach them."""
    path = host_resolv_conf(tmp_path, "nameserver 2001:4860:4860::8888\nnameserver 10.0.0.2\n")
    assert files.resolv_conf({}, False, path) == "nameserver 10.0.0.2\n"


def test_dns_dns_search_and_dns_options_override_the_hosts(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n")
    host = {"Dns": ["1.1.1.1", "9.9.9.9"], "DnsSearch": ["a.example", "b.example"], "DnsOptions": ["rotate"]}
    assert files.resolv_conf(host, False, path) == (
        "nameserver 1.1.1.1\nnameserver 9.9.9.9\nsearch a.example b.example\noptions rotate\n")


def test_given_dns_is_kept_even_on_loopback(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\n")
    assert files.resolv_conf({"Dns": ["127.0.0.1"]}, False, path) == "nameserver 127.0.0.1\n"


def test_each_override_alone_keeps_the_rest_of_the_hosts(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n")
    assert files.resolv_conf({"DnsSearch": ["a.example"]}, False, path) == (
        "nameserver 10.0.0.2\nsearch a.example\noptions edns0\n")
    assert files.resolv_conf({"DnsOptions": ["timeout:1"]}, False, path) == (
        "nameserver 10.0.0.2\nsearch corp.example\noptions timeout:1\n")


# -- /etc/resolv.conf with the embedded resolver (user-defined networks)

def test_embedded_resolver_is_the_only_nameserver_with_ndots_0(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\nnameserver 127.0.0.53\nsearch corp.example\n"
                                      "options edns0\n")
    text = files.resolv_conf({}, True, path)
    assert [line for line in lines(text) if line.startswith("nameserver")] == ["nameserver 127.0.0.11"]
    assert "search corp.example" in lines(text)
    options = [line for line in lines(text) if line.startswith("options")]
    assert len(options) == 1 and set(options[0].split()[1:]) == {"ndots:0", "edns0"}


def test_embedded_resolver_also_when_dns_is_given(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\n")
    text = files.resolv_conf({"Dns": ["1.1.1.1"], "DnsSearch": ["a.example"]}, True, path)
    assert lines(text) == ["nameserver 127.0.0.11", "search a.example", "options ndots:0"]


def test_embedded_resolver_keeps_a_users_ndots(tmp_path):
    """Docker adds ndots:0 only when no valid ndots is set: a user's --dns-option ndots:2
    stays (libnetwork's sandbox DNS: "if the user sets ndots, use the user setting")."""
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\n")
    text = files.resolv_conf({"DnsOptions": ["ndots:2", "timeout:1"]}, True, path)
    options = [line for line in lines(text) if line.startswith("options")]
    assert len(options) == 1 and set(options[0].split()[1:]) == {"ndots:2", "timeout:1"}


# -- where the embedded resolver forwards

def test_upstream_is_the_hosts_nameservers_loopback_ones_too(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 127.0.0.53\nnameserver 10.0.0.2\n")
    assert files.upstream({}, path) == ["127.0.0.53", "10.0.0.2"]


def test_upstream_is_dns_when_given(tmp_path):
    path = host_resolv_conf(tmp_path, "nameserver 10.0.0.2\n")
    assert files.upstream({"Dns": ["1.1.1.1", "9.9.9.9"]}, path) == ["1.1.1.1", "9.9.9.9"]


# -- writing them

def test_write_makes_a_missing_file(tmp_path):
    path = str(tmp_path / "hosts")
    files.write(path, "one\n")
    with open(path) as fh:
        assert fh.read() == "one\n"


def test_write_replaces_the_content_in_place(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("a much longer first content\n" * 4)
    before = os.stat(path)
    files.write(str(path), "short\n")
    after = os.stat(path)
    assert path.read_text() == "short\n"
    assert (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev)


def test_write_leaves_an_unchanged_file_alone(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 10.0.0.2\n")
    os.utime(path, (1_000_000, 1_000_000))
    files.write(str(path), "nameserver 10.0.0.2\n")
    assert os.stat(path).st_mtime == 1_000_000
    files.write(str(path), "nameserver 10.0.0.3\n")
    assert os.stat(path).st_mtime != 1_000_000


def container_paths(tmp_path) -> dict:
    d = container_files.paths(str(tmp_path), "4a5c9f1e2b3d" + "0" * 52)
    os.makedirs(d["dir"])
    return d


def record(mode: str, **host) -> dict:
    return {"Config": {"Hostname": "4a5c9f1e2b3d"},
            "HostConfig": {"NetworkMode": mode, "Dns": ["1.1.1.1"], "DnsSearch": ["corp.example"],
                           "DnsOptions": ["timeout:2"], **host}}


def read(path) -> str:
    with open(path) as fh:
        return fh.read()


def test_write_all_at_create_before_any_address(tmp_path):
    """As create.py calls it: the record only, no address yet."""
    d = container_paths(tmp_path)
    files.write_all(d, record("default", ExtraHosts=["db:10.0.0.9"]))
    assert read(d["hostname"]) == "4a5c9f1e2b3d\n"
    assert read(d["hosts"]) == DOCKER_LOCALHOST + "10.0.0.9\tdb\n127.0.0.1\t4a5c9f1e2b3d\n"
    assert read(d["resolv"]) == "nameserver 1.1.1.1\nsearch corp.example\noptions timeout:2\n"


def test_write_all_at_start_on_the_default_bridge_keeps_the_inodes(tmp_path):
    """As the bridge driver calls it at a start: its gateway, address and links."""
    d = container_paths(tmp_path)
    rec = record("bridge", ExtraHosts=["docker.host:host-gateway"])
    files.write_all(d, rec)
    before = {name: os.stat(d[name]).st_ino for name in ("hosts", "resolv")}
    files.write_all(d, rec, GATEWAY, ["10.213.0.5"], [("10.213.0.7", "webdb 6e5cdeb2d300 db")], embedded=False)
    assert read(d["hosts"]) == DOCKER_LOCALHOST + (f"{GATEWAY}\tdocker.host\n10.213.0.7\twebdb 6e5cdeb2d300 db\n"
                                                   "10.213.0.5\t4a5c9f1e2b3d\n")
    assert read(d["resolv"]) == "nameserver 1.1.1.1\nsearch corp.example\noptions timeout:2\n"
    assert {name: os.stat(d[name]).st_ino for name in ("hosts", "resolv")} == before


def test_write_all_on_a_user_defined_network_asks_the_embedded_resolver(tmp_path):
    d = container_paths(tmp_path)
    files.write_all(d, record("backend"), GATEWAY, ["10.214.0.2"])
    assert lines(read(d["resolv"]))[0] == "nameserver 127.0.0.11"
    assert "nameserver 1.1.1.1" not in read(d["resolv"])
    assert read(d["hosts"]).endswith("10.214.0.2\t4a5c9f1e2b3d\n")


def test_write_all_embedded_follows_what_the_caller_says(tmp_path):
    d = container_paths(tmp_path)
    files.write_all(d, record("backend"), GATEWAY, ["10.214.0.2"], embedded=False)
    assert lines(read(d["resolv"]))[0] == "nameserver 1.1.1.1"
    files.write_all(d, record("bridge"), GATEWAY, ["10.213.0.5"], embedded=True)
    assert lines(read(d["resolv"]))[0] == "nameserver 127.0.0.11"


def test_write_all_on_the_host_network_gives_the_hosts_files(tmp_path, monkeypatch):
    d = container_paths(tmp_path)
    monkeypatch.setattr(files, "HOST_RESOLV_CONF", host_resolv_conf(tmp_path, "nameserver 10.0.0.2\n"))
    rec = {"Config": {"Hostname": "buildhost"}, "HostConfig": {"NetworkMode": "host", "ExtraHosts": ["db:10.0.0.9"]}}
    files.write_all(d, rec)
    assert read(d["hostname"]) == "buildhost\n"
    assert read(d["resolv"]) == "nameserver 10.0.0.2\n"
    assert read(d["hosts"]).startswith(read("/etc/hosts").rstrip("\n"))
    assert read(d["hosts"]).endswith("10.0.0.9\tdb\n")


@pytest.mark.parametrize("mode, expected", [("default", False), ("bridge", False), ("none", False),
                                            ("host", False), ("container:4a5c9f1e2b3d", False),
                                            ("backend", True)])
def test_user_defined_modes(mode, expected):
    assert files.user_defined(mode) is expected


def test_behind_systemd_resolveds_stub_the_default_bridge_gets_the_resolvers_behind_it(tmp_path, monkeypatch):
    stub, behind = tmp_path / "resolv.conf", tmp_path / "systemd-resolv.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n")
    behind.write_text("nameserver 192.0.2.53\nnameserver 192.0.2.54\n")
    monkeypatch.setattr(files, "HOST_RESOLV_CONF", str(stub))
    monkeypatch.setattr(files, "SYSTEMD_RESOLV_CONF", str(behind))
    text = files.resolv_conf({}, embedded=False, path=str(stub))
    assert text.startswith("nameserver 192.0.2.53\nnameserver 192.0.2.54\n") and "search corp.example" in text
    # The embedded resolver forwards from the host's namespace: the stub itself serves.
    assert files.upstream({}, path=str(stub)) == ["127.0.0.53"]
