"""The shim's embedded DNS resolver at 127.0.0.11:53 inside a network namespace the test
made, asked from inside it; names it does not have go upstream from the host's namespace."""

from __future__ import annotations

import asyncio
import socket

from dnslib import DNSRecord

from services.kernel import links, netns
from services.shim import dns
from tests.unit.test_shim_dns import OUTSIDE, OUTSIDE_ADDRESS, WAIT, Upstream, addresses, query, write_names


def test_answers_inside_the_namespace(tmp_path):
    handle = netns.create(str(tmp_path / "netns"), "dns")
    names = tmp_path / "names.json"

    async def ask(kind: int, packet: bytes) -> DNSRecord:
        loop = asyncio.get_running_loop()
        # Made in the namespace, the socket stays there: its 127.0.0.11 is the namespace's.
        sock = netns.run_in(handle, lambda: socket.socket(socket.AF_INET, kind))
        with sock:
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, dns.ADDRESS), WAIT)
            if kind == socket.SOCK_STREAM:
                await loop.sock_sendall(sock, len(packet).to_bytes(2, "big") + packet)
                data = b""
                while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                    chunk = await asyncio.wait_for(loop.sock_recv(sock, 65535), WAIT)
                    assert chunk, "the connection closed before the answer"
                    data += chunk
                return DNSRecord.parse(data[2:])
            await loop.sock_sendall(sock, packet)
            return DNSRecord.parse(await asyncio.wait_for(loop.sock_recv(sock, 65535), WAIT))

    async def scenario():
        # The stand-in listens on the host's 127.0.0.1, which the namespace cannot reach:
        # its answer shows the query left from the shim's namespace.
        upstream = Upstream()
        write_names(names, {"web": ["10.214.0.2"], "api": ["10.214.0.4", "10.214.0.5"]},
                    [await upstream.start()])
        server = await dns.serve(handle, str(names))
        try:
            assert server.address == dns.ADDRESS
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                assert addresses(await ask(kind, query("web"))) == ["10.214.0.2"]
                assert sorted(addresses(await ask(kind, query("API.")))) == ["10.214.0.4", "10.214.0.5"]
                assert addresses(await ask(kind, query(OUTSIDE))) == [OUTSIDE_ADDRESS]
            assert upstream.asked == ["udp", "tcp"]
        finally:
            server.close()
            upstream.close()

    try:
        links.loopback_up(handle)
        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        netns.remove(handle)
