"""services.kernel.links on the real kernel: a bridge, a veth into a namespace the test
made, traffic across them (only to that namespace), and everything removed."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from services.kernel import links, netns


@pytest.fixture
def names():
    tag = uuid.uuid4().hex[:8]
    made = {"bridge": f"dytb{tag}", "veth": f"dytv{tag}"}
    yield made
    for name in made.values():
        links.remove(name)


def test_bridge_and_endpoint_carry_traffic_and_go_away(tmp_path, names):
    handle = netns.create(str(tmp_path / "netns"), "ep")
    try:
        links.bridge(names["bridge"], [("10.215.77.1", 24)])
        links.bridge(names["bridge"], [("10.215.77.1", 24)])   # again, as after a restart: no change
        assert links.exists(names["bridge"])
        links.endpoint(names["veth"], names["bridge"], handle, [("10.215.77.2", 24, "10.215.77.1")],
                       "02:42:0a:d7:4d:02")
        assert links.addresses(handle) == ["10.215.77.2/24"]
        assert names["veth"] in links.names("dytv") and not links.exists(names["veth"] + "p")
        # A server inside the namespace answers the host across the bridge.
        server = netns.run_in(handle, lambda: socket.create_server(("10.215.77.2", 0)))
        with server:
            port = server.getsockname()[1]
            with socket.create_connection(("10.215.77.2", port), timeout=5) as client:
                conn, peer = server.accept()
                with conn:
                    client.sendall(b"across")
                    assert conn.recv(16) == b"across" and peer[0] == "10.215.77.1"
        with open(f"/sys/class/net/{names['veth']}/master/uevent") as fh:
            assert f"INTERFACE={names['bridge']}" in fh.read()
    finally:
        netns.remove(handle)
    # The namespace's end of the pair went with it, and so does the host's.
    links.remove(names["veth"])
    links.remove(names["bridge"])
    assert not links.exists(names["veth"]) and not links.exists(names["bridge"])
    links.remove(names["bridge"])   # gone already: nothing to do


def test_a_bad_name_or_a_missing_bridge_is_refused(tmp_path, names):
    with pytest.raises(ValueError):
        links.bridge("x" * 16, [("10.215.78.1", 24)])
    handle = netns.create(str(tmp_path / "netns"), "nobridge")
    try:
        with pytest.raises(ValueError, match="no bridge"):
            links.endpoint(names["veth"], "dytbmissing", handle, [("10.215.78.2", 24, None)], "02:42:0a:d7:4e:02")
        assert not links.exists(names["veth"]) and not links.exists(names["veth"] + "p")
    finally:
        netns.remove(handle)
    assert os.path.exists(str(tmp_path))
