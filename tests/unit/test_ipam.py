"""Address management for bridge networks: subnets from the pools, Docker's checks of an
IPAM config, addresses handed out and taken back, the MAC Docker derives."""

import ipaddress

import pytest

from services.common import errors
from services.supervisor.networks import ipam

net = ipaddress.ip_network


def test_default_pools_stay_clear_of_docker_and_podman():
    docker_and_podman = [net("172.16.0.0/12"), net("192.168.0.0/16"), net("10.88.0.0/16")]
    assert not any(net(ipam.DEFAULT_BRIDGE, strict=False).overlaps(o) for o in docker_and_podman)
    for base, _ in ipam.DEFAULT_POOLS:
        assert not any(net(base).overlaps(o) for o in docker_and_podman)


def test_pick_subnet_skips_what_is_taken():
    assert ipam.pick_subnet([]) == net("10.214.0.0/24")
    assert ipam.pick_subnet([net("10.214.0.0/24"), net("10.214.1.0/25")]) == net("10.214.2.0/24")
    with pytest.raises(errors.BadParameter, match="could not find an available"):
        ipam.pick_subnet([net("10.214.0.0/15")])


def test_configure_defaults_and_checks():
    pool = ipam.Pool.configure({}, [])
    assert pool.config() == {"Subnet": "10.214.0.0/24", "Gateway": "10.214.0.1"}
    pool = ipam.Pool.configure({"Subnet": "10.9.0.0/16", "IPRange": "10.9.5.0/24", "Gateway": "10.9.0.254",
                                "AuxiliaryAddresses": {"router": "10.9.5.1"}}, [])
    assert pool.config() == {"Subnet": "10.9.0.0/16", "Gateway": "10.9.0.254", "IPRange": "10.9.5.0/24",
                             "AuxiliaryAddresses": {"router": "10.9.5.1"}}
    assert str(pool.allocate()) == "10.9.5.2"   # the range's first free one: .1 is reserved
    with pytest.raises(errors.Forbidden, match="Pool overlaps"):
        ipam.Pool.configure({"Subnet": "10.9.128.0/24"}, [net("10.9.0.0/16")])
    for bad, message in (({"Subnet": "nonsense"}, "not a CIDR"), ({"Subnet": "fd00::/64"}, "only IPv4"),
                         ({"Subnet": "10.1.0.0/24", "IPRange": "10.2.0.0/24"}, "not inside the subnet"),
                         ({"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.255"}, "not a host address"),
                         ({"Gateway": "10.1.0.1"}, "a subnet is required"),
                         ({"Subnet": "10.1.0.0/31"}, "no room"),
                         ({"Subnet": "10.1.0.0/24", "AuxiliaryAddresses": {"a": "10.2.0.1"}}, "not inside")):
        with pytest.raises(errors.BadParameter, match=message):
            ipam.Pool.configure(bad, [])


def test_allocate_wanted_lowest_release_and_exhaustion():
    pool = ipam.Pool.configure({"Subnet": "10.7.0.0/29"}, [])   # hosts .1-.6, .1 the gateway
    assert [str(pool.allocate()) for _ in range(2)] == ["10.7.0.2", "10.7.0.3"]
    assert str(pool.allocate("10.7.0.6")) == "10.7.0.6"
    with pytest.raises(errors.Conflict, match="Address already in use"):
        pool.allocate("10.7.0.6")
    with pytest.raises(errors.Conflict):
        pool.allocate("10.7.0.1")   # the gateway
    with pytest.raises(errors.BadParameter, match="does not belong"):
        pool.allocate("10.8.0.2")
    assert [str(pool.allocate()) for _ in range(2)] == ["10.7.0.4", "10.7.0.5"]
    with pytest.raises(errors.Unavailable, match="no available IPv4 addresses"):
        pool.allocate()
    pool.release("10.7.0.3")
    assert str(pool.allocate()) == "10.7.0.3"


def test_mac_of_an_address_is_dockers():
    assert ipam.mac_of(ipaddress.ip_address("172.17.0.2")) == "02:42:ac:11:00:02"
