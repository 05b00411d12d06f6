"""The api service: HTTP in front of the other services; it holds no state of its own."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from services.common import service, wire
from services.common.config import parse_host

from . import hijack, listeners, tls_halfclose
from .app import SHUTDOWN_GRACE, Connection, make_app

log = logging.getLogger("api")


async def serve() -> None:
    settings = service.bootstrap("api")
    clients = wire.Clients(settings.exec_root)
    app = make_app(settings, clients)
    # A client that hangs up cancels its request's handler, and with it the call the handler
    # waits on (a wait, a followed log: see wire.Method.cancellable).
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True,
                           shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    loop = asyncio.get_running_loop()
    servers = []
    for sock, ctx in listeners.open_all(settings):
        # Every connection goes through a Sniffer, which lets attach take it over (hijack);
        # behind TLS, one a hijacked stream can half-close.
        servers.append(await tls_halfclose.create_server(
            loop, lambda: hijack.Sniffer(Connection(runner.server, loop)), sock, ctx, backlog=512))
    log.info("listening on %s", ", ".join(settings.hosts))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service.watch_parent(stop.set)
    await stop.wait()
    log.info("stopping")
    for server in servers:
        server.close()
    # Streams that wait on a service (a followed log, an attach, a wait) end now, each
    # properly (a log's last chunk, a wait's error), and every other request has a moment
    # to finish before it is cancelled.
    clients.close()
    await runner.cleanup()
    for text in settings.hosts:
        host = parse_host(text, settings.tls)
        if host.scheme == "unix" and os.path.exists(host.path):
            os.unlink(host.path)


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
