"""The embedded DNS resolver Docker runs at 127.0.0.11 for containers on user-defined
networks, served by the container's shim so that its name answers keep coming while any
service restarts.

The supervisor writes what the container may resolve to `<container dir>/names.json`,
atomically, whenever that changes:

    {"records": {"<lowercase name>": ["10.214.0.2", ...], ...},
     "upstream": ["192.168.1.1", "127.0.0.53:53", ...]}

Names in `records` are answered here (A with every address, PTR for their addresses);
every other query is relayed as it came to the upstream resolvers in turn, over the
transport it came on, from the shim's own network namespace (the host's).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket

from dnslib import AAAA, A, CLASS, OPCODE, PTR, QTYPE, RCODE, RR, DNSRecord

from .resolver_sockets import ADDRESS, bind_in


log = logging.getLogger("shim.dns")

TTL = 600                   # as Docker answers its own names
UPSTREAM_TIMEOUT = 5.0      # per upstream, then the next one is asked
TCP_IDLE_SECONDS = 30.0     # a client connection that sends nothing for this long is closed
MAX_IN_FLIGHT = 1024        # queries (and TCP connections) served at once; more are dropped
UDP_PLAIN_LIMIT = 512       # an answer without EDNS must fit in this, or it is truncated
REVERSE_SUFFIX = ".in-addr.arpa"


class Names:
    """What names.json says, reloaded when the file changes (checked by `refresh`)."""

    def __init__(self, path: str):
        self.path = path
        self.records: dict[str, list[str]] = {}
        self.reverse: dict[str, str] = {}           # address -> the first name that has it
        self.upstream: list[tuple[str, int]] = []
        self._loaded: tuple | None = None           # (mtime_ns, size, inode) of what was read

    def refresh(self) -> None:
        """Reload the file if it is not the one last read. A file that is missing or cannot
        be read keeps the last answers (the supervisor replaces it, never removes it, while
        the container runs)."""
        try:
            if self._identity(os.stat(self.path)) == self._loaded:
                return
            with open(self.path, "rb") as fh:
                # What is read, not what was stat'ed: it may have been replaced in between.
                self._loaded = self._identity(os.fstat(fh.fileno()))
                records, upstream, skipped = _parse(json.load(fh))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # Told once per version of the file: a bad one is not read again until replaced.
            log.warning("%s cannot be read, the last names stay: %s", self.path, exc)
            return
        if skipped:
            log.warning("%s: left out, not IPv4: %s", self.path, ", ".join(skipped))
        self.records, self.upstream = records, upstream
        self.reverse = {}
        for name, addresses in records.items():
            for address in addresses:
                self.reverse.setdefault(address, name)

    @staticmethod
    def _identity(st: os.stat_result) -> tuple:
        return (st.st_mtime_ns, st.st_size, st.st_ino)


def _parse(content) -> tuple[dict[str, list[str]], list[tuple[str, int]], list[str]]:
    """names.json's records and upstreams, and the entries of them left out (not IPv4);
    ValueError for a file of another shape."""
    if not isinstance(content, dict) or not isinstance(content.get("records", {}), dict) \
            or not isinstance(content.get("upstream", []), list):
        raise ValueError("not a names file")
    records, upstream, skipped = {}, [], []
    for name, addresses in content.get("records", {}).items():
        known = records.setdefault(str(name).rstrip(".").lower(), [])  # even with no IPv4 address
        for address in addresses if isinstance(addresses, list) else [addresses]:
            try:
                known.append(str(ipaddress.ip_address(address)))   # IPv4 (A) or IPv6 (AAAA)
            except ValueError:
                skipped.append(f"{name}: {address!r}")
    for entry in content.get("upstream", []):
        host, _, port = str(entry).partition(":")
        try:
            upstream.append((str(ipaddress.IPv4Address(host)), int(port or 53)))
        except ValueError:  # an IPv6 resolver among the host's, say: the others serve
            skipped.append(f"upstream {entry!r}")
    return records, upstream, skipped


def _reversed_address(name: str) -> str | None:
    """The IPv4 address a PTR name stands for (2.0.214.10.in-addr.arpa: 10.214.0.2)."""
    if not name.endswith(REVERSE_SUFFIX):
        return None
    octets = name[:-len(REVERSE_SUFFIX)].split(".")
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(octets))))
    except ValueError:
        return None


def _udp_limit(request: DNSRecord) -> int:
    """The largest answer the client takes over UDP: its EDNS payload size, or 512."""
    sizes = [rr.rclass for rr in request.ar if rr.rtype == QTYPE.OPT]
    return max(UDP_PLAIN_LIMIT, min(sizes[0], 65535)) if sizes else UDP_PLAIN_LIMIT


class Resolver:
    """Answers one query packet: from the names, or from the upstreams."""

    def __init__(self, names: Names, timeout: float = UPSTREAM_TIMEOUT):
        self.names = names
        self.timeout = timeout

    async def answer(self, packet: bytes, tcp: bool) -> bytes | None:
        """The answer to send back; None when there is none to send (not a query)."""
        try:
            request = DNSRecord.parse(packet)
        except Exception:  # dnslib mostly raises DNSError, but a hostile packet may find others
            return None
        if request.header.qr or not request.questions:
            return None  # an answer, or a query asking nothing: never relayed, never answered
        self.names.refresh()
        reply = self._local(request)
        if reply is not None:
            data = reply.pack()
            if not tcp and len(data) > _udp_limit(request):
                reply.rr = []
                reply.header.tc = 1  # the client asks again over TCP
                data = reply.pack()
            return data
        ask = self._ask_tcp if tcp else self._ask_udp
        for upstream in self.names.upstream:
            try:
                return await asyncio.wait_for(ask(upstream, packet), self.timeout)
            except (OSError, EOFError, asyncio.TimeoutError) as exc:
                log.debug("upstream %s:%d did not answer: %r", *upstream, exc)
        failed = request.reply(ra=1, aa=0)
        failed.header.rcode = RCODE.SERVFAIL
        return failed.pack()

    def _local(self, request: DNSRecord) -> DNSRecord | None:
        """The answer from the names; None when they do not have it."""
        question = request.q
        if request.header.opcode != OPCODE.QUERY or len(request.questions) != 1 \
                or question.qclass != CLASS.IN:
            return None
        name = str(question.qname).rstrip(".").lower()
        addresses = self.names.records.get(name)
        reply = request.reply(ra=1, aa=0)
        if addresses is not None:
            if question.qtype in (QTYPE.A, QTYPE.AAAA):
                record, version = (A, 4) if question.qtype == QTYPE.A else (AAAA, 6)
                for address in addresses:
                    if ipaddress.ip_address(address).version == version:
                        reply.add_answer(RR(question.qname, question.qtype, rdata=record(address), ttl=TTL))
            return reply  # other types of a name of ours: it has no such records
        owner = self.names.reverse.get(_reversed_address(name)) if question.qtype == QTYPE.PTR else None
        if owner is None:
            return None
        reply.add_answer(RR(question.qname, QTYPE.PTR, rdata=PTR(owner + "."), ttl=TTL))
        return reply

    @staticmethod
    async def _ask_udp(upstream: tuple[str, int], packet: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            # Connected: only the upstream's datagrams come in, and a refusal (ICMP port
            # unreachable) is an error at once rather than a wait for the timeout.
            sock.connect(upstream)
            await loop.sock_sendall(sock, packet)
            while True:
                data = await loop.sock_recv(sock, 65535)
                if data[:2] == packet[:2]:  # its answer (the same id), truncated or not
                    return data

    @staticmethod
    async def _ask_tcp(upstream: tuple[str, int], packet: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*upstream)
        try:
            writer.write(len(packet).to_bytes(2, "big") + packet)
            await writer.drain()
            size = int.from_bytes(await reader.readexactly(2), "big")
            return await reader.readexactly(size)
        finally:
            writer.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: Server):
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, peer) -> None:
        self.server.spawn(self._reply(data, peer))

    async def _reply(self, data: bytes, peer) -> None:
        reply = await self.server.resolver.answer(data, tcp=False)
        if reply is not None and not self.transport.is_closing():
            self.transport.sendto(reply, peer)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error about a client that left: nothing to do


class Server:
    """A resolver served on a UDP socket and a TCP listening socket, until closed."""

    def __init__(self, resolver: Resolver, udp: socket.socket, tcp: socket.socket):
        self.resolver = resolver
        self.address = udp.getsockname()
        self._udp_socket, self._tcp_socket = udp, tcp
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=self._udp_socket)
        self._tcp = await asyncio.start_server(self._connection, sock=self._tcp_socket)

    def spawn(self, work) -> bool:
        """Serve one query (or connection) on its own, so a slow one delays no other;
        False when flooded (`work` is dropped, as a lost datagram would be)."""
        if len(self._tasks) >= MAX_IN_FLIGHT:
            work.close()
            return False
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a DNS query failed", exc_info=task.exception())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Run as a task of ours, so that close() ends it and the flood limit counts it.
        if not self.spawn(self._queries(reader, writer)):
            writer.close()

    async def _queries(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS), "big")
                packet = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_SECONDS)
                reply = await self.resolver.answer(packet, tcp=True)
                if reply is None:
                    return  # not a query: the connection is closed
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (OSError, EOFError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        for transport in (self._udp, self._tcp):
            if transport is not None:
                transport.close()
        if self._udp is None:
            self._udp_socket.close()
        if self._tcp is None:
            self._tcp_socket.close()
        for task in list(self._tasks):
            task.cancel()


async def serve(handle: str | None, names_path: str, address: tuple[str, int] = ADDRESS) -> Server:
    """Serve the names of `names_path` at `address` in the network namespace of `handle`
    (None: the caller's), on the running loop, until the returned server is closed.
    Only the listening sockets are made in that namespace; upstreams are asked from the
    caller's."""
    return await serve_bound(bind_in(handle, address), names_path)


async def serve_bound(sockets: tuple[socket.socket, socket.socket], names_path: str) -> Server:
    """Serve the names of `names_path` on sockets bound already (bind_for_container)."""
    server = Server(Resolver(Names(names_path)), *sockets)
    try:
        await server.start()
    except BaseException:
        server.close()
        raise
    return server


async def start_for_container(sockets, names_path: str) -> Server | None:
    """Serve the sockets bind_for_container made (None: there is no resolver)."""
    if sockets is None:
        return None
    try:
        return await serve_bound(sockets, names_path)
    except Exception:
        log.exception("the embedded DNS resolver cannot start; the container runs without it")
    return None
