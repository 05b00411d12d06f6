"""A configured MAC address (Config.MacAddress, an endpoint's MacAddress), checked by
services.supervisor.networks.ipam.mac_address: six colon-separated bytes, as Docker's
`--mac-address 92:d0:c6:0a:29:33`, shown lowercased."""

import pytest

from services.common import errors
from services.supervisor.networks import ipam


@pytest.mark.parametrize("text, expected", [
    ("92:d0:c6:0a:29:33", "92:d0:c6:0a:29:33"),
    ("92:D0:C6:0A:29:33", "92:d0:c6:0a:29:33"),
    ("02:42:Ac:11:00:02", "02:42:ac:11:00:02"),
])
def test_a_valid_mac_address_is_lowercased(text, expected):
    assert ipam.mac_address(text) == expected


@pytest.mark.parametrize("text", ["", None])
def test_no_mac_address_is_empty(text):
    assert ipam.mac_address(text) == ""


@pytest.mark.parametrize("text", ["92:d0:c6:0a:29", "92:d0:c6:0a:29:33:44", "92:d0:c6:0a:29:3g",
                                  "92:d0:c6:0a:29:333", "92d0c60a2933", "not a mac", " 92:d0:c6:0a:29:33x", 42])
def test_an_invalid_mac_address_is_refused(text):
    with pytest.raises(errors.BadParameter, match="invalid MAC address"):
        ipam.mac_address(text)
