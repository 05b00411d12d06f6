"""The shim's hold on a container's published ports: bound while it runs, refused with
Docker's words when another program has one, all let go at once."""

from __future__ import annotations

import socket

import pytest

from services.shim import held_ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bindable(kind: int, port: int) -> bool:
    """Whether a program could take the port, even one that binds with SO_REUSEADDR (as
    Go's listeners, nginx and Python's servers do)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_held_ports_cannot_be_bound_by_others_until_released():
    tcp, udp = free_port(), free_port()
    held = held_ports.hold(f"tcp:127.0.0.1:{tcp} udp:127.0.0.1:{udp}")
    try:
        assert len(held) == 2
        assert not bindable(socket.SOCK_STREAM, tcp) and not bindable(socket.SOCK_DGRAM, udp)
    finally:
        held_ports.release(held)
    assert held == [] and bindable(socket.SOCK_STREAM, tcp) and bindable(socket.SOCK_DGRAM, udp)
    assert held_ports.hold("") == []


def test_a_port_another_program_holds_is_refused_and_nothing_stays_held():
    first, taken = free_port(), free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", taken))
        other.listen()
        with pytest.raises(held_ports.PortTaken, match=rf"Bind for 127.0.0.1:{taken} failed: port is already allocated"):
            held_ports.hold(f"tcp:127.0.0.1:{first} tcp:127.0.0.1:{taken}")
    assert bindable(socket.SOCK_STREAM, first)   # the first one was let go again
