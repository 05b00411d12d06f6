"""services.kernel.firewall on the real kernel: a table of the test's own publishing a
port of a server in a namespace the test made, reached from loopback and from a host
address the test added (a dummy link: local delivery, nothing leaves the host), and
nothing left once the table is removed."""

from __future__ import annotations

import errno
import socket
import threading
import uuid

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from services.kernel import firewall, links, netns
from services.kernel.firewall import Bridge, Forward

# 10.215.77/78 are test_kernel_links.py's.
SUBNET, GATEWAY, CONTAINER = "10.215.81.0/24", "10.215.81.1", "10.215.81.2"
HOST_ADDRESS = "10.215.82.1"


@pytest.fixture
def names():
    tag = uuid.uuid4().hex[:8]
    made = {"table": f"dyt{tag}", "bridge": f"dytb{tag}", "veth": f"dytv{tag}", "dummy": f"dytd{tag}"}
    yield made
    firewall.remove(made["table"])
    for link in ("veth", "dummy", "bridge"):
        links.remove(made[link])


def free_port() -> int:
    """A TCP port nothing on the host listens on (the host's side of the published port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A TCP server in a namespace: each connection it accepts is answered with the
    address the server saw it come from, then closed."""

    def __init__(self, handle: str, address: str):
        self.listener = netns.run_in(handle, lambda: socket.create_server((address, 0)))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, peer = self.listener.accept()
            except OSError:   # closed: the test is over
                return
            with conn:
                conn.sendall(peer[0].encode())

    def close(self) -> None:
        # shutdown wakes the blocked accept(); close alone may not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(timeout=10)


def peer_seen(address: str, port: int) -> str:
    """Connect to address:port; the peer address the server reports."""
    with socket.create_connection((address, port), timeout=5) as client:
        answer = b""
        while chunk := client.recv(64):
            answer += chunk
        return answer.decode()


def add_dummy(name: str, address: str) -> None:
    """A link of the host's own holding `address`: traffic to it is delivered locally."""
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=name, kind="dummy")
        except NetlinkError as exc:
            # Some kernels (a VM's minimal build) lack the dummy driver; an ifb link is
            # just as inert for this: it sends nothing anywhere by itself.
            if exc.code != errno.EOPNOTSUPP:
                raise
            ipr.link("add", ifname=name, kind="ifb")
        index = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=index, address=address, prefixlen=32)
        ipr.link("set", index=index, state="up")


def test_a_published_port_forwards_from_loopback_and_host_addresses_until_removed(tmp_path, names):
    handle = netns.create(str(tmp_path / "netns"), "published")
    server = None
    try:
        links.bridge(names["bridge"], [(GATEWAY, 24)])
        links.endpoint(names["veth"], names["bridge"], handle, [(CONTAINER, 24, GATEWAY)], "02:42:0a:d7:51:02")
        add_dummy(names["dummy"], HOST_ADDRESS)
        firewall.allow_localnet(names["bridge"])
        server = Server(handle, CONTAINER)
        loopback_port, any_port = free_port(), free_port()
        while any_port == loopback_port:
            any_port = free_port()
        bridges = [Bridge(names["bridge"], SUBNET)]
        forwards = [
            Forward("tcp", "127.0.0.1", loopback_port, CONTAINER, server.port, names["bridge"]),
            Forward("tcp", "", any_port, CONTAINER, server.port, names["bridge"]),
        ]
        firewall.apply(names["table"], bridges, forwards)
        firewall.apply(names["table"], bridges, forwards)   # again, as after a restart: replaced whole
        shown = firewall.listing(names["table"])
        assert f"table ip {names['table']}" in shown and shown.count("dnat to") == 2

        # A loopback client leaves with the bridge's address (masquerade): the container
        # could not answer 127.0.0.1.
        assert peer_seen("127.0.0.1", loopback_port) == GATEWAY
        # host_ip "" answers on every local address: the dummy's too, and loopback.
        assert peer_seen(HOST_ADDRESS, any_port) == HOST_ADDRESS
        assert peer_seen("127.0.0.1", any_port) == GATEWAY
        # The 127.0.0.1-only port does not answer on another host address.
        with pytest.raises(ConnectionRefusedError):
            peer_seen(HOST_ADDRESS, loopback_port)

        firewall.remove(names["table"])
        assert firewall.listing(names["table"]) == ""
        for address, port in (("127.0.0.1", loopback_port), (HOST_ADDRESS, any_port)):
            with pytest.raises(ConnectionRefusedError):
                peer_seen(address, port)
        firewall.remove(names["table"])   # gone already: nothing to do
    finally:
        if server is not None:
            server.close()
        netns.remove(handle)


def test_a_refused_script_is_a_firewall_error_and_changes_nothing(names):
    bridges = [Bridge(names["bridge"], SUBNET)]
    firewall.apply(names["table"], bridges, [])
    before = firewall.listing(names["table"])
    # "drop" passes the name check but is a keyword to nft: nft refuses the whole script.
    with pytest.raises(firewall.FirewallError) as refused:
        firewall.apply("drop", bridges, [])
    assert "\n" not in str(refused.value) and "Error" in str(refused.value)
    assert firewall.listing(names["table"]) == before


def _reach_host_loopback(handle: str, port: int) -> bool:
    """From inside the namespace, a TCP connection to the host's 127.0.0.2:port through the
    namespace's gateway (what a container could send with a hand-made frame): the local
    route of 127/8 taken away and route_localnet on, so the kernel sends it out."""
    def attempt() -> bool:
        with IPRoute() as ns:
            try:
                ns.route("del", dst="127.0.0.0/8", table=255, type="local", proto=2, scope=254,
                         oif=ns.link_lookup(ifname="lo")[0])
                ns.route("add", dst="127.0.0.2/32", gateway=GATEWAY)
            except NetlinkError as exc:   # done by an earlier attempt
                if exc.code not in (errno.ESRCH, errno.EEXIST):
                    raise
        with open("/proc/sys/net/ipv4/conf/eth0/route_localnet", "w") as fh:
            fh.write("1")
        try:
            with socket.create_connection(("127.0.0.2", port), timeout=2) as conn:
                return conn.recv(16) == b"host loopback"
        except OSError:
            return False
    return netns.run_in(handle, attempt)


def test_a_container_cannot_reach_the_hosts_loopback_through_its_gateway(tmp_path, names):
    handle = netns.create(str(tmp_path / "netns"), "guard")
    server = socket.create_server(("127.0.0.2", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"host loopback")
    threading.Thread(target=answer, daemon=True).start()
    try:
        links.bridge(names["bridge"], [(GATEWAY, 24)])
        links.endpoint(names["veth"], names["bridge"], handle, [(CONTAINER, 24, GATEWAY)], "02:42:0a:d7:51:02",
                       ifname="eth0")
        firewall.allow_localnet(names["bridge"])   # as the supervisor sets it on every bridge
        firewall.apply(names["table"], [Bridge(names["bridge"], SUBNET)], [])
        assert not _reach_host_loopback(handle, port)
        # Without the guard chain the same packets reach the host's loopback service: the
        # check above is what stops them.
        firewall.remove(names["table"])
        assert _reach_host_loopback(handle, port)
    finally:
        server.close()
        netns.remove(handle)
