"""The embedded resolver's sockets (UDP and TCP at 127.0.0.11:53 in a container's network
namespace), bound before the container's process starts so its first query waits in
them rather than being refused. Apart from services.shim.dns so that the shim's start,
before its container runs, loads neither asyncio nor dnslib.
"""

from __future__ import annotations

import logging
import os
import socket

from services.kernel import netns

log = logging.getLogger("shim")

ADDRESS = ("127.0.0.11", 53)   # Docker's embedded resolver


def _bind(address: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
    """A UDP socket and a listening TCP socket on `address` (port 0: one free for both)."""
    host, port = address
    for _ in range(20 if port == 0 else 1):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past connections in TIME_WAIT
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(128)
        except OSError:
            udp.close()
            tcp.close()
            if port != 0:
                raise
            continue  # the port UDP got is taken for TCP: another one
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError(f"no port on {host} free for both UDP and TCP")


def bind_in(handle: str | None, address: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
    # Binding is quick: done from the caller's thread (run_in waits for its own thread).
    return netns.run_in(handle, lambda: _bind(address)) if handle else _bind(address)


def network_namespace(config: dict) -> str | None:
    """The handle of the network namespace an OCI config names by path, if it does."""
    for namespace in (config.get("linux") or {}).get("namespaces") or []:
        if namespace.get("type") == "network":
            return namespace.get("path") or None
    return None


def bind_for_container(config: dict, handles: str) -> tuple[socket.socket, socket.socket] | None:
    """The resolver's sockets in the namespace of the container whose OCI config is
    `config`, if that namespace is its own handle under `handles` (a container on bridge
    networks: it may be connected to a user-defined one at any time): bound before its
    process starts, so its first query is queued, not refused. Sockets that cannot be
    bound are logged, and the container runs on without them."""
    handle = network_namespace(config)
    if handle is None or os.path.dirname(handle) != handles:
        return None
    try:
        return bind_in(handle, ADDRESS)
    except OSError as exc:  # its namespace gone, or its address taken
        log.warning("the embedded DNS resolver cannot start, the container runs without it: %s", exc)
    except Exception:
        log.exception("the embedded DNS resolver cannot start; the container runs without it")
    return None
