"""Where every unix socket of the daemon lives, and the names of the services and shims that bind them.

A unix socket's path may have 107 bytes at most, and the exec root is the user's to
choose: names are kept short (a shim's is its container's short id), and dockyardd
refuses at start, saying why, an exec root under which the longest would not fit.
"""

from __future__ import annotations

import os

# sun_path holds 108 bytes, its NUL included.
SOCKET_PATH_MAX = 107

# The services: each a supervisord program of that name (started in this order), and but
# for the api (which serves HTTP only) the server of the wire socket of that name. Shims
# and the shim zygote are not among them: the supervisor starts those.
SERVICES = ("supervisor", "api", "builder", "registry")
WIRE_SERVICES = tuple(name for name in SERVICES if name != "api")


def shim_name(container_id: str) -> str:
    """The socket name of a container's shim. The supervisor keeps short ids unique."""
    return f"shim-{container_id[:12]}"


def console_name(container_id: str) -> str:
    """The socket runc hands a container's terminal to its shim on, while it starts."""
    return f"tty-{container_id[:12]}"


def exec_console_name(exec_id: str) -> str:
    """The socket runc hands a tty exec's terminal to its shim on (no longer than a shim's)."""
    return f"tx-{exec_id[:12]}"


LONGEST_NAME = shim_name("0" * 64)
ZYGOTE = "zygote"   # the shim zygote's socket


def socket_path(exec_root: str, name: str) -> str:
    """A service's, a shim's or the zygote's socket: <exec-root>/sock/<name>.sock."""
    return os.path.join(exec_root, "sock", f"{name}.sock")


def check_room(exec_root: str) -> None:
    """Raise ValueError when the sockets under `exec_root` would pass the kernel's limit."""
    root = os.path.abspath(exec_root)
    longest = len(socket_path(root, LONGEST_NAME).encode())
    if longest > SOCKET_PATH_MAX:
        room = SOCKET_PATH_MAX - (longest - len(root.encode()))
        raise ValueError(f"exec root {exec_root} is too long: the unix sockets under it would pass "
                         f"the kernel's limit of {SOCKET_PATH_MAX} bytes; use one of at most {room} bytes")
