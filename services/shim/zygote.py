"""The shim zygote: a process with the shim's code already loaded, forked once per start.

A shim started with `python -m services.shim` spends most of its first 100 ms loading
Python modules. The supervisor keeps one zygote instead (its child, killed with it):
it loads everything once, opens no event loop and no ZeroMQ context (so it has no
threads and forking is safe), and for each request on its unix socket forks a child
that becomes the shim in a session of its own, as `services.shim.launch.main` would,
reporting its start on the request's connection. A request is one JSON line
(wire.ZYGOTE_REQUEST); the answer is the start channel (wire.encode_report).

    python -m services.shim.zygote --config DAEMON_JSON
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys

import setproctitle

from services.common import errors, sockets
from services.common.config import Settings
from services.common.wire import schema

from services.kernel.syscalls import SYS

from . import launch

def socket_path(exec_root: str) -> str:
    return sockets.socket_path(exec_root, sockets.ZYGOTE)


def serve(runtime_file: str) -> None:
    settings = Settings.from_runtime_file(runtime_file)
    importlib.import_module("services.shim.shim")  # loaded here, once, for every shim to come
    setproctitle.setproctitle("dockyard-shim-zygote")
    SYS.set_parent_death_signal(signal.SIGKILL)  # it goes with the supervisor
    # Its children are the shims (a fork each, not two): the kernel reaps them when they
    # end, and they outlive the zygote (they get a new parent when it goes).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    path = socket_path(settings.exec_root)
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(64)
    print(schema.ZYGOTE_READY, flush=True)
    while True:
        conn, _ = server.accept()
        try:
            container_id = schema.decode_zygote_request(conn.makefile("rb").readline())
        except (OSError, errors.BadParameter):
            conn.close()
            continue
        if os.fork() == 0:
            server.close()
            try:
                launch.become(settings, container_id, os.fdopen(conn.detach(), "wb"))
            finally:
                os._exit(0)
        conn.close()


def main() -> None:
    args = sys.argv[1:]
    if len(args) != 2 or args[0] != "--config":
        sys.exit("usage: python -m services.shim.zygote --config DAEMON_JSON")
    serve(args[1])


if __name__ == "__main__":
    main()
