"""The host ports a container publishes, held by its shim while the container runs: bound
(and listened on, never accepted from) so that no other program of the host can
take one and shadow what the firewall forwards, as Docker's proxy holds them. The kernel
forwards the traffic itself (services.kernel.firewall); a held port goes with the exit.
"""

from __future__ import annotations

import socket

KINDS = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}


class PortTaken(Exception):
    """A published port another program of the host has bound: Docker's words."""


def hold(spec: str) -> list[socket.socket]:
    """Bind each `proto:host-ip:port` of the space-separated `spec` (the bundle's
    org.dockyard.ports); PortTaken (nothing held) when one cannot be bound."""
    held: list[socket.socket] = []
    try:
        for entry in spec.split():
            proto, _, rest = entry.partition(":")
            address, _, port = rest.rpartition(":")
            sock = socket.socket(socket.AF_INET, KINDS[proto])
            held.append(sock)
            if proto == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # past connections in TIME_WAIT
            try:
                sock.bind((address, int(port)))
                if proto == "tcp":
                    # Listening, for a bound socket alone does not keep out a program that
                    # binds with SO_REUSEADDR too; every connection is forwarded before it
                    # could reach this one, which never accepts.
                    sock.listen(1)
            except OSError as exc:
                raise PortTaken(f"driver failed programming external connectivity: Bind for {address}:{port} "
                                f"failed: port is already allocated ({exc.strerror})") from None
    except BaseException:
        release(held)
        raise
    return held


def release(held: list[socket.socket]) -> None:
    for sock in held:
        sock.close()
    held.clear()
