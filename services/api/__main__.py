"""The api service: HTTP in front of the other services; it holds no state of its own."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from services.common import service, wire
from services.common.config import parse_host

from . import hijack, listeners
from .app import make_app

log = logging.getLogger("api")


async def serve() -> None:
    settings = service.bootstrap("api")
    clients = wire.Clients(settings.exec_root)
    app = make_app(settings, clients)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    loop = asyncio.get_running_loop()
    servers = []
    for sock, ctx in listeners.open_all(settings):
        # Every connection goes through a Sniffer, which lets attach take it over (hijack).
        servers.append(await loop.create_server(lambda: hijack.Sniffer(runner.server()),
                                                sock=sock, ssl=ctx, backlog=512))
    log.info("listening on %s", ", ".join(settings.hosts))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    for server in servers:
        server.close()
    await runner.cleanup()
    clients.close()
    for text in settings.hosts:
        host = parse_host(text, settings.tls)
        if host.scheme == "unix" and os.path.exists(host.path):
            os.unlink(host.path)


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
