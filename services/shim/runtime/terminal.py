"""The container's terminal: a pty made in its own devpts, its master handed to the shim."""

from __future__ import annotations

import os
import socket

from services.kernel.syscalls import SYS, Syscalls


# A terminal's size until a client sets its own (docker run -t resizes it at once).
DEFAULT_SIZE = (24, 80)


def size_of(process: dict) -> tuple[int, int]:
    """The terminal's first size: the bundle's process.consoleSize (ConsoleSize), or DEFAULT_SIZE."""
    size = process.get("consoleSize") or {}
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    return DEFAULT_SIZE


def take(console: int, kernel: Syscalls = SYS, size: tuple[int, int] = DEFAULT_SIZE) -> None:
    """Make a pty in the container's devpts, send its master over the unix socket
    `console` to the shim, and make its slave this process's stdio and controlling tty."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    number = kernel.unlock_pty(master)
    kernel.set_window_size(master, *size)  # before the process can ask for it
    slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
    with socket.socket(fileno=os.dup(console)) as sock:
        socket.send_fds(sock, [b"m"], [master])
    os.close(master)
    os.close(console)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    kernel.set_controlling_terminal(0)
