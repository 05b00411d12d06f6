"""The shim zygote: a process with the shim's code already loaded, forked once per start
(ahead of it).

A shim started with `python -m services.shim` spends most of its first 100 ms loading
Python modules, and holds a copy of them of its own. The supervisor keeps one zygote
instead (its child, killed with it), forked from itself before its event loop starts
(`fork`): it has no thread then, so forking is safe, and the zygote and every shim it
forks share the pages of what the supervisor had loaded (with services.preload, all the
shim runs) rather than loading their own. The zygote opens no event loop and no ZeroMQ
context (it stays single-threaded), and for each request on its unix socket hands the
request to a child it forked ahead (a spare: a start does not wait for the fork), which
becomes the shim in a session of its own, as `services.shim.launch.main` would,
reporting its start on the request's connection; then it forks the next spare. A
request is one JSON line (wire.ZYGOTE_REQUEST); the answer is the start channel
(wire.encode_report). It says it serves with one line (wire.ZYGOTE_READY) on the pipe
`fork` returns.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import socket
import traceback

import setproctitle

from services.common import daemon_lock, errors, sockets
from services.common.config import Settings
from services.common.wire import schema

from services.kernel import page_merging
from services.kernel.syscalls import SYS

from . import launch

log = logging.getLogger("zygote")


def socket_path(exec_root: str) -> str:
    return sockets.socket_path(exec_root, sockets.ZYGOTE)


def fork(settings: Settings) -> tuple[int, int]:
    """Fork the zygote from the calling process, which must have no thread but its main
    one (the supervisor, before its loop starts): its pid, and the read end of the pipe it
    says it is ready on. The caller reaps it."""
    ready_r, ready_w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        return pid, ready_r
    try:
        os.close(ready_r)
        daemon_lock.let_go()   # its shims outlive the daemon: they must not hold the next one back
        # What the parent loaded stays shared: never collected here (a collection would
        # write to, and so copy, every page of it).
        gc.freeze()
        SYS.set_parent_death_signal(signal.SIGKILL)   # it goes with the supervisor...
        if os.getppid() == parent:                   # ... which may have gone already
            _serve(settings, ready_w)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(1)


def _serve(settings: Settings, ready_w: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)   # not the supervisor's stdin
    os.close(devnull)
    importlib.import_module("services.shim.shim")  # loaded here, once, for every shim to come
    setproctitle.setproctitle("dockyard-shim-zygote")
    launch.prepare_logging()
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
    os.write(ready_w, f"{schema.ZYGOTE_READY}\n".encode())
    os.close(ready_w)
    spare = _Spare.fork(settings, server)
    while True:
        conn, _ = server.accept()
        try:
            container_id = schema.decode_zygote_request(conn.makefile("rb").readline())
        except (OSError, errors.BadParameter):
            conn.close()
            continue
        if not spare.take(container_id, conn):   # it went (killed): one forked now instead
            _fork_shim(settings, server, lambda: launch.become(settings, container_id, os.fdopen(conn.detach(), "wb")))
        conn.close()
        # The next start's shim, forked now: a fork of this process costs milliseconds
        # (copying its page tables), which a start no longer waits for.
        spare = _Spare.fork(settings, server)


def _fork_shim(settings: Settings, server: socket.socket, become) -> None:
    """Fork a child that runs `become` (and never comes back here)."""
    # Everything loaded so far moves out of the collector's sight: a shim's collections
    # would otherwise touch (and so copy) every page of objects it shares with the zygote.
    gc.freeze()
    # Its mappings (those made since supervisord marked its own, too) marked mergeable, as
    # the shim inherits them: the pages twenty shims copy alike are then kept once.
    page_merging.mark_mergeable()
    if os.fork() == 0:
        server.close()
        try:
            become()
        finally:
            os._exit(0)


class _Spare:
    """A shim forked ahead of its start: it waits on a socket of its own for the start
    request (the container's id, and the connection to report on), then becomes that
    container's shim as a child forked at the request would. It dies with the zygote
    until then (a shim outlives it)."""

    def __init__(self, sock: socket.socket | None):
        self.sock = sock   # ours of the pair; None once used, or when none could be forked

    @classmethod
    def fork(cls, settings: Settings, server: socket.socket) -> "_Spare":
        try:
            ours, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError as exc:   # out of fds: a start forks its own shim
            log.warning("no spare shim: %s", exc)
            return cls(None)
        zygote = os.getpid()

        def wait_then_become() -> None:
            ours.close()
            SYS.set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != zygote:   # it went before the signal was set
                return
            setproctitle.setproctitle("dockyard-shim-spare")
            try:
                line, fds, _, _ = socket.recv_fds(its, 4096, 1)
            except OSError:
                return
            if not line or not fds:      # the zygote went, or let it go
                return
            SYS.set_parent_death_signal(0)
            its.close()
            launch.become(settings, schema.decode_zygote_request(line), os.fdopen(fds[0], "wb"))

        try:
            _fork_shim(settings, server, wait_then_become)
        except OSError as exc:   # no spare this time (out of processes): a start forks its own
            log.warning("no spare shim: %s", exc)
            ours.close()
            its.close()
            return cls(None)
        its.close()
        return cls(ours)

    def take(self, container_id: str, conn: socket.socket) -> bool:
        """Hand it a start: whether it took it."""
        if self.sock is None:
            return False
        try:
            socket.send_fds(self.sock, [schema.encode_zygote_request(container_id)], [conn.fileno()],
                            socket.MSG_NOSIGNAL)
            return True
        except OSError:
            return False
        finally:
            self.sock.close()
            self.sock = None
