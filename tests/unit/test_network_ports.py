"""Published ports as Docker's port mapper gives them (services.supervisor.networks.ports):
the port keys of ExposedPorts and PortBindings, the bindings a container asks for
(`docker run -p` and `-P`), the host ports it gets, and its NetworkSettings.Ports."""

import pytest

from services.common import errors
from services.supervisor.networks import ports
from services.supervisor.networks.ports import Bound, Wanted


class HostPorts:
    """A stand-in for the host's sockets, as `choose` probes them: the (proto, port) pairs
    some other program holds, and the ports the kernel hands out in turn for port 0."""

    def __init__(self, busy=(), kernel_picks=()):
        self.busy = set(busy)
        self.kernel_picks = list(kernel_picks)

    def __call__(self, proto: str, host_ip: str, host_port: int):
        if host_port == 0:
            return self.kernel_picks.pop(0) if self.kernel_picks else None
        return None if (proto, host_port) in self.busy else host_port


ALLOCATED = "port is already allocated"


# -- port keys

@pytest.mark.parametrize("key, expected", [
    ("80", (80, "tcp")),            # no protocol: tcp
    ("80/tcp", (80, "tcp")),
    ("53/udp", (53, "udp")),
    ("65535/tcp", (65535, "tcp")),
])
def test_port_key_forms(key, expected):
    assert ports.port_key(key) == expected


@pytest.mark.parametrize("key", ["", "abc", "http/tcp", "65536", "70000/tcp", "-1", "80/foo", "80/icmp"])
def test_port_key_refuses_what_is_no_port(key):
    with pytest.raises(errors.BadParameter):
        ports.port_key(key)


def test_an_sctp_port_may_be_exposed_but_not_published():
    assert ports.port_key("132/sctp") == (132, "sctp")
    config = {"ExposedPorts": {"132/sctp": {}, "80/tcp": {}}}
    # Exposed only, or under PublishAllPorts: shown, never published (nor a start refused).
    assert ports.wanted(config, {"PublishAllPorts": True}) == [ports.Wanted(80, "tcp", "", 0, 0)]
    assert ports.settings_ports(config, {}, []) == {"132/sctp": None, "80/tcp": None}
    with pytest.raises(errors.BadParameter, match="sctp ports cannot be published"):
        ports.wanted(config, {"PortBindings": {"132/sctp": [{"HostPort": "132"}]}})


# -- what a container asks for

def test_a_given_host_port():
    host = {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}
    assert ports.wanted({}, host) == [Wanted(80, "tcp", "", 8080, 8080)]


@pytest.mark.parametrize("host_port", ["", "0"])
def test_no_host_port_or_zero_is_any_free_one(host_port):
    host = {"PortBindings": {"53/udp": [{"HostIp": "", "HostPort": host_port}]}}
    assert ports.wanted({}, host) == [Wanted(53, "udp", "", 0, 0)]


def test_a_host_port_range():
    host = {"PortBindings": {"80/tcp": [{"HostPort": "8000-8010"}]}}
    assert ports.wanted({}, host) == [Wanted(80, "tcp", "", 8000, 8010)]


@pytest.mark.parametrize("host_port", ["abc", "8010-8000", "65536", "80-70000", "-1"])
def test_a_bad_host_port_is_refused(host_port):
    with pytest.raises(errors.BadParameter, match="invalid port specification"):
        ports.wanted({}, {"PortBindings": {"80/tcp": [{"HostPort": host_port}]}})


@pytest.mark.parametrize("host_ip, expected", [("", ""), ("0.0.0.0", ""), ("127.0.0.1", "127.0.0.1"),
                                               ("192.0.2.10", "192.0.2.10")])
def test_host_ip_every_address_or_one(host_ip, expected):
    host = {"PortBindings": {"80/tcp": [{"HostIp": host_ip, "HostPort": "8080"}]}}
    assert ports.wanted({}, host)[0].host_ip == expected


@pytest.mark.parametrize("host_ip", ["::1", "::", "2001:db8::1"])
def test_ipv6_host_ip_is_refused(host_ip):
    with pytest.raises(errors.BadParameter):
        ports.wanted({}, {"PortBindings": {"80/tcp": [{"HostIp": host_ip, "HostPort": "8080"}]}})


@pytest.mark.parametrize("host_ip", ["localhost", "300.1.1.1", "10.0.0", "not an address"])
def test_garbage_host_ip_is_refused(host_ip):
    with pytest.raises(errors.BadParameter, match="invalid host IP"):
        ports.wanted({}, {"PortBindings": {"80/tcp": [{"HostIp": host_ip, "HostPort": "8080"}]}})


def test_a_bad_port_key_in_bindings_is_refused():
    with pytest.raises(errors.BadParameter):
        ports.wanted({}, {"PortBindings": {"http/tcp": [{"HostPort": "8080"}]}})


def test_several_bindings_of_one_port():
    host = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"},
                                        {"HostIp": "192.0.2.10", "HostPort": "8080"}]}}
    assert ports.wanted({}, host) == [Wanted(80, "tcp", "127.0.0.1", 8080, 8080),
                                      Wanted(80, "tcp", "192.0.2.10", 8080, 8080)]


def test_exposed_ports_are_not_published_without_publish_all():
    config = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}
    assert ports.wanted(config, {}) == []
    assert ports.wanted(config, {"PublishAllPorts": False, "PortBindings": {}}) == []


def test_publish_all_gives_any_port_to_each_exposed_port_not_bound_already():
    config = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "443/tcp": {}}}
    host = {"PublishAllPorts": True, "PortBindings": {"443/tcp": [{"HostPort": "8443"}]}}
    assert sorted(ports.wanted(config, host), key=lambda w: w.port) == [
        Wanted(53, "udp", "", 0, 0), Wanted(80, "tcp", "", 0, 0), Wanted(443, "tcp", "", 8443, 8443)]


def test_publish_all_covers_an_exposed_port_with_empty_bindings():
    config = {"ExposedPorts": {"80/tcp": {}}}
    host = {"PublishAllPorts": True, "PortBindings": {"80/tcp": []}}
    assert ports.wanted(config, host) == [Wanted(80, "tcp", "", 0, 0)]


# -- the host ports it gets

def test_a_free_given_port_is_given():
    asked = [Wanted(80, "tcp", "", 8080, 8080)]
    assert ports.choose(asked, [], HostPorts()) == [Bound(80, "tcp", "", 8080)]


def test_a_port_another_container_has_is_a_conflict_in_dockers_words():
    asked = [Wanted(80, "tcp", "", 8080, 8080)]
    taken = [Bound(8000, "tcp", "", 8080)]
    with pytest.raises(errors.Conflict, match=ALLOCATED) as raised:
        ports.choose(asked, taken, HostPorts())
    assert "Bind for 0.0.0.0:8080 failed" in raised.value.message


def test_a_port_the_host_will_not_bind_is_a_conflict():
    with pytest.raises(errors.Conflict, match=ALLOCATED):
        ports.choose([Wanted(53, "udp", "", 5353, 5353)], [], HostPorts(busy={("udp", 5353)}))


def test_the_same_number_in_the_other_protocol_is_free():
    taken = [Bound(53, "udp", "", 8080)]
    host = HostPorts(busy={("udp", 8080)})
    assert ports.choose([Wanted(80, "tcp", "", 8080, 8080)], taken, host) == [Bound(80, "tcp", "", 8080)]


def test_one_address_clashes_with_every_address_but_not_with_another_address():
    asked = [Wanted(80, "tcp", "127.0.0.1", 8080, 8080)]
    assert ports.choose(asked, [Bound(80, "tcp", "192.0.2.10", 8080)], HostPorts()) == [
        Bound(80, "tcp", "127.0.0.1", 8080)]
    with pytest.raises(errors.Conflict, match=ALLOCATED) as raised:
        ports.choose(asked, [Bound(80, "tcp", "", 8080)], HostPorts())
    assert "127.0.0.1:8080" in raised.value.message
    with pytest.raises(errors.Conflict, match=ALLOCATED):
        ports.choose([Wanted(80, "tcp", "", 8080, 8080)], [Bound(80, "tcp", "127.0.0.1", 8080)], HostPorts())


def test_a_range_gives_its_first_free_port():
    asked = [Wanted(80, "tcp", "", 8000, 8005)]
    taken = [Bound(3000, "tcp", "", 8000)]            # another container's
    host = HostPorts(busy={("tcp", 8001)})            # some program on the host
    assert ports.choose(asked, taken, host) == [Bound(80, "tcp", "", 8002)]


def test_a_range_with_nothing_free_is_a_conflict():
    asked = [Wanted(80, "tcp", "", 8000, 8001)]
    taken = [Bound(3000, "tcp", "", 8000)]
    with pytest.raises(errors.Conflict, match=ALLOCATED):
        ports.choose(asked, taken, HostPorts(busy={("tcp", 8001)}))


def test_any_port_is_the_kernels_pick():
    asked = [Wanted(80, "tcp", "", 0, 0)]
    assert ports.choose(asked, [], HostPorts(kernel_picks=[32768])) == [Bound(80, "tcp", "", 32768)]


def test_a_kernel_pick_another_container_has_is_picked_again():
    asked = [Wanted(80, "tcp", "", 0, 0)]
    taken = [Bound(443, "tcp", "", 32768)]
    assert ports.choose(asked, taken, HostPorts(kernel_picks=[32768, 32769])) == [Bound(80, "tcp", "", 32769)]


def test_no_free_port_at_all_is_a_conflict():
    with pytest.raises(errors.Conflict):
        ports.choose([Wanted(80, "tcp", "", 0, 0)], [], HostPorts(kernel_picks=[]))


def test_two_bindings_of_one_container_on_one_host_port_clash():
    asked = [Wanted(80, "tcp", "", 8080, 8080), Wanted(81, "tcp", "", 8080, 8080)]
    with pytest.raises(errors.Conflict, match=ALLOCATED):
        ports.choose(asked, [], HostPorts())


def test_two_bindings_of_one_container_on_one_host_port_of_different_addresses():
    asked = [Wanted(80, "tcp", "127.0.0.1", 8080, 8080), Wanted(80, "tcp", "192.0.2.10", 8080, 8080)]
    assert ports.choose(asked, [], HostPorts()) == [Bound(80, "tcp", "127.0.0.1", 8080),
                                                     Bound(80, "tcp", "192.0.2.10", 8080)]


def test_two_ranges_of_one_container_share_them_out():
    asked = [Wanted(80, "tcp", "", 8000, 8001), Wanted(81, "tcp", "", 8000, 8001)]
    assert ports.choose(asked, [], HostPorts()) == [Bound(80, "tcp", "", 8000), Bound(81, "tcp", "", 8001)]


def test_a_kernel_pick_this_container_just_got_is_picked_again():
    asked = [Wanted(80, "tcp", "", 9000, 9000), Wanted(81, "tcp", "", 0, 0)]
    assert ports.choose(asked, [], HostPorts(kernel_picks=[9000, 9001])) == [
        Bound(80, "tcp", "", 9000), Bound(81, "tcp", "", 9001)]


# -- NetworkSettings.Ports

def test_exposed_only_ports_show_none_and_bound_ones_their_bindings():
    config = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}
    host = {"PortBindings": {"80/tcp": [{"HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "9090"}]}}
    bound = [Bound(80, "tcp", "", 8080), Bound(80, "tcp", "127.0.0.1", 9090)]
    assert ports.settings_ports(config, host, bound) == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "9090"}],
        "53/udp": None,
    }


def test_settings_ports_keys_carry_the_protocol():
    host = {"PortBindings": {"8080": [{"HostPort": "80"}]}}
    assert ports.settings_ports({}, host, [Bound(8080, "tcp", "", 80)]) == {
        "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]}


def test_nothing_exposed_nothing_shown():
    assert ports.settings_ports({}, {}, []) == {}


def test_from_settings_gives_back_the_bindings():
    config = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "22/tcp": {}}}
    host = {"PublishAllPorts": True,
            "PortBindings": {"80/tcp": [{"HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "9090"}]}}
    bound = ports.choose(ports.wanted(config, host), [], HostPorts(kernel_picks=[40001, 40002]))
    shown = ports.settings_ports(config, host, bound)
    assert sorted(ports.from_settings(shown), key=repr) == sorted(bound, key=repr)
    assert {b.host_port for b in bound} == {8080, 9090, 40001, 40002}
    assert ports.from_settings(None) == []
    assert ports.from_settings({"80/tcp": None}) == []
