"""The shim's embedded DNS resolver (services.shim.dns), served on 127.0.0.1 in the
test's own network namespace, with a stand-in upstream resolver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from services.shim import dns, resolver_sockets

OUTSIDE = "outside.example"      # the one name the stand-in upstream knows
OUTSIDE_ADDRESS = "192.0.2.7"
LARGE = "large.example"          # the stand-in answers it truncated over UDP
WAIT = 10.0                      # the longest any answer may take here


def write_names(path, records: dict, upstream: list) -> None:
    """As the supervisor does: a new file renamed into place (a new inode)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"records": records, "upstream": upstream}, fh)
    os.replace(tmp, path)


def free_port_pair() -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on one port of 127.0.0.1."""
    while True:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(udp.getsockname())
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(16)
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp


def dead_port() -> int:
    """A port of 127.0.0.1 nothing listens on (UDP or TCP)."""
    udp, tcp = free_port_pair()
    port = udp.getsockname()[1]
    udp.close()
    tcp.close()
    return port


def standin_answer(packet: bytes, tcp: bool) -> bytes:
    request = DNSRecord.parse(packet)
    reply = request.reply()
    name = str(request.q.qname).rstrip(".")
    if name == OUTSIDE:
        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(OUTSIDE_ADDRESS), ttl=30))
    elif name == LARGE and not tcp:
        reply.header.tc = 1
    else:
        reply.header.rcode = RCODE.NXDOMAIN
    return reply.pack()


class Upstream(asyncio.DatagramProtocol):
    """A stand-in upstream resolver over UDP and TCP; `silent` ones receive and never answer."""

    def __init__(self, silent: bool = False):
        self.silent = silent
        self.asked: list[str] = []  # "udp" or "tcp", one per query received
        self.received = asyncio.Event()

    async def start(self) -> str:
        udp, tcp = free_port_pair()
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=udp)
        self.server = await asyncio.start_server(self._connection, sock=tcp)
        return "%s:%d" % udp.getsockname()

    def close(self) -> None:
        self.transport.close()
        self.server.close()

    def datagram_received(self, data: bytes, peer) -> None:
        self.asked.append("udp")
        self.received.set()
        if not self.silent:
            self.transport.sendto(standin_answer(data, tcp=False), peer)

    async def _connection(self, reader, writer) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, OSError):
            size = int.from_bytes(await reader.readexactly(2), "big")
            packet = await reader.readexactly(size)
            self.asked.append("tcp")
            self.received.set()
            if not self.silent:
                answer = standin_answer(packet, tcp=True)
                writer.write(len(answer).to_bytes(2, "big") + answer)
                await writer.drain()
        writer.close()


async def ask_udp(address, packet: bytes) -> DNSRecord:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(address)
        await loop.sock_sendall(sock, packet)
        return DNSRecord.parse(await asyncio.wait_for(loop.sock_recv(sock, 65535), WAIT))


async def ask_tcp(address, packet: bytes) -> DNSRecord:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(len(packet).to_bytes(2, "big") + packet)
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), WAIT), "big")
        return DNSRecord.parse(await asyncio.wait_for(reader.readexactly(size), WAIT))
    finally:
        writer.close()


def query(name: str, qtype: str = "A") -> bytes:
    return DNSRecord.question(name, qtype).pack()


def addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


RECORDS = {"web": ["10.214.0.2"], "db": ["10.214.0.3"], "api": ["10.214.0.4", "10.214.0.5"],
           "six": ["10.214.0.6", "fd7e:d0c::6"]}


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_names_are_answered(tmp_path):
    names = tmp_path / "names.json"
    write_names(names, RECORDS, [])

    async def scenario():
        server = await dns.serve(None, str(names), ("127.0.0.1", 0))
        try:
            reply = await ask_udp(server.address, query("web"))
            assert addresses(reply) == ["10.214.0.2"]
            assert reply.header.rcode == RCODE.NOERROR
            assert reply.header.aa == 0 and reply.header.ra == 1
            assert {rr.ttl for rr in reply.rr} == {600}
            reply = await ask_udp(server.address, query("api"))
            assert sorted(addresses(reply)) == ["10.214.0.4", "10.214.0.5"]
            for spelling in ("WEB", "Web.", "web."):
                assert addresses(await ask_udp(server.address, query(spelling))) == ["10.214.0.2"]
            reply = await ask_tcp(server.address, query("db"))
            assert addresses(reply) == ["10.214.0.3"]
            reply = await ask_udp(server.address, query("web", "AAAA"))
            assert reply.header.rcode == RCODE.NOERROR and reply.rr == []
            # A name on an IPv6 network has both: A the IPv4 address, AAAA the IPv6 one.
            assert addresses(await ask_udp(server.address, query("six"))) == ["10.214.0.6"]
            reply = await ask_tcp(server.address, query("six", "AAAA"))
            assert [str(rr.rdata) for rr in reply.rr] == ["fd7e:d0c::6"] and reply.rr[0].rtype == QTYPE.AAAA
            reply = await ask_udp(server.address, query("2.0.214.10.in-addr.arpa", "PTR"))
            assert [str(rr.rdata) for rr in reply.rr] == ["web."]
            reply = await ask_udp(server.address, query("5.0.214.10.in-addr.arpa", "PTR"))
            assert [str(rr.rdata) for rr in reply.rr] == ["api."]
        finally:
            server.close()
    run(scenario)


def test_a_changed_file_is_picked_up(tmp_path):
    names = tmp_path / "names.json"
    write_names(names, RECORDS, [])

    async def scenario():
        server = await dns.serve(None, str(names), ("127.0.0.1", 0))
        try:
            assert addresses(await ask_udp(server.address, query("web"))) == ["10.214.0.2"]
            write_names(names, {**RECORDS, "web": ["10.214.0.9"], "cache": ["10.214.0.10"]}, [])
            assert addresses(await ask_udp(server.address, query("web"))) == ["10.214.0.9"]
            assert addresses(await ask_udp(server.address, query("cache"))) == ["10.214.0.10"]
            # Entries that are not IPv4 are left out, the others serve.
            write_names(names, {"web": ["10.214.0.2", "fe80::1"], "db": "10.214.0.3"}, ["::1", "127.0.0.1:5353"])
            assert addresses(await ask_udp(server.address, query("web"))) == ["10.214.0.2"]
            assert server.resolver.names.upstream == [("127.0.0.1", 5353)]
            # A file that is not a names file keeps the last answers.
            (tmp_path / "broken").write_text("{not json")
            os.replace(tmp_path / "broken", names)
            assert addresses(await ask_udp(server.address, query("db"))) == ["10.214.0.3"]
        finally:
            server.close()
    run(scenario)


def test_other_names_are_forwarded(tmp_path):
    names = tmp_path / "names.json"

    async def scenario():
        upstream = Upstream()
        write_names(names, RECORDS, [await upstream.start()])
        server = await dns.serve(None, str(names), ("127.0.0.1", 0))
        try:
            reply = await ask_udp(server.address, query(OUTSIDE))
            assert addresses(reply) == [OUTSIDE_ADDRESS] and reply.rr[0].ttl == 30
            reply = await ask_tcp(server.address, query(OUTSIDE))
            assert addresses(reply) == [OUTSIDE_ADDRESS]
            assert upstream.asked == ["udp", "tcp"]
            reply = await ask_udp(server.address, query("missing.example"))
            assert reply.header.rcode == RCODE.NXDOMAIN
            # A truncated answer goes back as it is (the client asks again over TCP).
            reply = await ask_udp(server.address, query(LARGE))
            assert reply.header.tc == 1
            # An address that is not one of ours is asked upstream too.
            reply = await ask_udp(server.address, query("9.9.214.10.in-addr.arpa", "PTR"))
            assert reply.header.rcode == RCODE.NXDOMAIN and upstream.asked[-1] == "udp"
        finally:
            server.close()
            upstream.close()
    run(scenario)


def test_upstreams_are_asked_in_turn(tmp_path):
    names = tmp_path / "names.json"
    dead = f"127.0.0.1:{dead_port()}"

    async def scenario():
        write_names(names, RECORDS, [dead])
        server = await dns.serve(None, str(names), ("127.0.0.1", 0))
        upstream = Upstream()
        try:
            assert (await ask_udp(server.address, query(OUTSIDE))).header.rcode == RCODE.SERVFAIL
            assert (await ask_tcp(server.address, query(OUTSIDE))).header.rcode == RCODE.SERVFAIL
            write_names(names, RECORDS, [dead, await upstream.start()])
            assert addresses(await ask_udp(server.address, query(OUTSIDE))) == [OUTSIDE_ADDRESS]
            assert addresses(await ask_tcp(server.address, query(OUTSIDE))) == [OUTSIDE_ADDRESS]
            write_names(names, RECORDS, [])
            assert (await ask_udp(server.address, query(OUTSIDE))).header.rcode == RCODE.SERVFAIL
        finally:
            server.close()
            upstream.close()
    run(scenario)


def test_a_silent_upstream_delays_no_local_answer(tmp_path):
    names = tmp_path / "names.json"

    async def scenario():
        silent, upstream = Upstream(silent=True), Upstream()
        write_names(names, RECORDS, [await silent.start(), await upstream.start()])
        server = await dns.serve(None, str(names), ("127.0.0.1", 0))
        server.resolver.timeout = 3.0  # instead of 5 s, to keep the test short
        try:
            forwarded = asyncio.ensure_future(ask_udp(server.address, query(OUTSIDE)))
            await asyncio.wait_for(silent.received.wait(), WAIT)
            assert addresses(await ask_udp(server.address, query("web"))) == ["10.214.0.2"]
            assert not forwarded.done()
            # The silent one's time is up: the next one answers.
            assert addresses(await forwarded) == [OUTSIDE_ADDRESS]
            assert silent.asked == ["udp"] and upstream.asked == ["udp"]
        finally:
            server.close()
            silent.close()
            upstream.close()
    run(scenario)


def test_malformed_packets_stop_nothing(tmp_path):
    names = tmp_path / "names.json"
    write_names(names, RECORDS, [])

    async def scenario():
        server = await dns.serve(None, str(names), ("127.0.0.1", 0))
        loop = asyncio.get_running_loop()
        try:
            garbage = [b"", b"\x00" * 5, b"\xff" * 40, query("web")[:20],
                       DNSRecord.question("web").reply().pack()]  # an answer, not a query
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.connect(server.address)
                for packet in garbage:
                    await loop.sock_sendall(sock, packet)
                # The garbage gets no answer: the first to come is the valid query's.
                await loop.sock_sendall(sock, query("web"))
                reply = DNSRecord.parse(await asyncio.wait_for(loop.sock_recv(sock, 65535), WAIT))
                assert addresses(reply) == ["10.214.0.2"]
            # Over TCP, the connection is closed.
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(len(garbage[2]).to_bytes(2, "big") + garbage[2])
            assert await asyncio.wait_for(reader.read(), WAIT) == b""
            writer.close()
            assert addresses(await ask_tcp(server.address, query("web"))) == ["10.214.0.2"]
        finally:
            server.close()
    run(scenario)


def test_a_large_local_answer_is_truncated_over_udp(tmp_path):
    names = tmp_path / "names.json"
    many = [f"10.214.{i // 250}.{i % 250 + 1}" for i in range(100)]
    write_names(names, {"crowd": many}, [])

    async def scenario():
        server = await dns.serve(None, str(names), ("127.0.0.1", 0))
        try:
            reply = await ask_udp(server.address, query("crowd"))
            assert reply.header.tc == 1 and reply.rr == []
            reply = await ask_tcp(server.address, query("crowd"))
            assert sorted(addresses(reply)) == sorted(many)
        finally:
            server.close()
    run(scenario)


def test_bound_only_in_a_namespace_of_the_containers_own(tmp_path, caplog):
    """A handle under the daemon's handles dir is the container's own namespace (on bridge
    networks: a user-defined one may be connected at any time); another path is one it
    joined (container:<id>), whose own container answers there; none: no namespace path."""
    handles = str(tmp_path / "netns")
    own = {"linux": {"namespaces": [{"type": "network", "path": os.path.join(handles, "0123456789ab")}]}}
    joined = {"linux": {"namespaces": [{"type": "network", "path": "/proc/4242/ns/net"}]}}
    unnamed = {"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}}
    assert resolver_sockets.network_namespace(unnamed) is None
    assert resolver_sockets.network_namespace({"linux": {}}) is None
    assert resolver_sockets.network_namespace(own) == os.path.join(handles, "0123456789ab")

    assert resolver_sockets.bind_for_container(joined, handles) is None   # not its own: not tried
    assert resolver_sockets.bind_for_container(unnamed, handles) is None
    assert "cannot start" not in caplog.text
    # Its own handle that is no namespace (here: no file at all): logged, and no resolver.
    assert resolver_sockets.bind_for_container(own, handles) is None
    assert "cannot start" in caplog.text
    names = tmp_path / "names.json"

    async def scenario():
        assert await dns.start_for_container(None, str(names)) is None   # nothing was bound
    run(scenario)
