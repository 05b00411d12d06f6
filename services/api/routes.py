"""The one route table: every route is served plain and under /v{version}."""

from __future__ import annotations

from aiohttp import web

from . import system

VERSION_PREFIX = r"/v{version:[0-9]+\.[0-9]+}"

ROUTES = [
    ("GET", "/_ping", system.ping),
    ("HEAD", "/_ping", system.ping),
    ("GET", "/version", system.version),
    ("GET", "/info", system.info),
]


def register(router: web.UrlDispatcher) -> None:
    for method, path, handler in ROUTES:
        router.add_route(method, path, handler)
        router.add_route(method, VERSION_PREFIX + path, handler)
