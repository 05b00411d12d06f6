"""What every service process does at start and stop: title, settings, logging, serving."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from typing import Awaitable, Callable

import setproctitle

from . import daemon_lock, layout, wire
from .config import SUPERVISORD_PID_ENV, Settings

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR, "fatal": logging.CRITICAL}


def bootstrap(name: str, argv: list[str] | None = None) -> Settings:
    """Name the process, read the settings dockyardd resolved, hold the services' lock
    (services.common.daemon_lock), set up logging."""
    config = _config_path(name, sys.argv[1:] if argv is None else argv)
    setproctitle.setproctitle(f"dockyard-{name}")
    settings = Settings.from_runtime_file(config)
    daemon_lock.hold(settings.exec_root)
    logging.basicConfig(
        stream=sys.stderr, level=_LEVELS[settings.log_level],
        format=f"%(asctime)s dockyard-{name}[%(process)d] %(levelname)s %(name)s: %(message)s")
    return settings


def _config_path(name: str, args: list[str]) -> str:
    """The one argument of a service: `--config DAEMON_JSON`. Read by hand: argparse would
    run (and so copy the pages of) a megabyte of code in every service forked from
    supervisord (services.preload), for one argument."""
    if len(args) == 2 and args[0] == "--config":
        return args[1]
    if len(args) == 1 and args[0].startswith("--config="):
        return args[0].partition("=")[2]
    sys.exit(f"usage: python -m services.{name} --config DAEMON_JSON")


def process_stats(name: str, live_tasks: int) -> dict:
    return {
        "service": name,
        "pid": os.getpid(),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "tasks": live_tasks,
    }


def watch_parent(stop: Callable[[], None]) -> None:
    """Call `stop` once the supervisord that started this service is gone (killed with -9,
    say): a service must not live on unsupervised, answering in its place, and keep the
    next dockyardd from starting. Containers do not depend on it: they live on in their
    shims, and the next dockyardd adopts them."""
    pid = int(os.environ.get(SUPERVISORD_PID_ENV) or 0)
    if not pid:
        return  # not started by dockyardd (a test, by hand)
    try:
        if os.getppid() != pid:
            raise ProcessLookupError  # it went before this service looked
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        logging.getLogger("service").warning("supervisord (pid %d) is gone: stopping", pid)
        asyncio.get_running_loop().call_soon(stop)
        return
    loop = asyncio.get_running_loop()

    def gone() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        logging.getLogger("service").warning("supervisord (pid %d) is gone: stopping", pid)
        stop()
    loop.add_reader(fd, gone)


Setup = Callable[[Settings, wire.ServiceServer, wire.Clients], Awaitable[None]]


def run(name: str, setup: Setup | None = None,
        before_loop: Callable[[Settings], None] | None = None) -> None:
    """Run a ROUTER service until SIGTERM or SIGINT. `before_loop` runs while the process
    has no thread but its main one (the event loop and ZeroMQ start theirs)."""
    settings = bootstrap(name)
    layout.clear_staging(settings.data_root, name)
    if before_loop is not None:
        before_loop(settings)
    asyncio.run(_serve(name, settings, setup))


async def _serve(name: str, settings: Settings, setup: Setup | None) -> None:
    log = logging.getLogger(name)
    server = wire.ServiceServer(settings.exec_root, name)
    clients = wire.Clients(settings.exec_root)

    @server.handle("system.ping")
    async def ping(call: wire.Call) -> dict:
        return {"service": name, "pid": os.getpid()}

    @server.handle("system.stats")
    async def stats(call: wire.Call) -> dict:
        return process_stats(name, len(asyncio.all_tasks()))

    if setup is not None:
        await setup(settings, server, clients)

    serving = asyncio.ensure_future(server.serve())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, serving.cancel)
    watch_parent(serving.cancel)
    log.info("serving on %s", wire.endpoint(settings.exec_root, name))
    try:
        await serving
    except asyncio.CancelledError:
        log.info("stopping")
    finally:
        server.close()
        clients.close()
