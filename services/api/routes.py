"""The one route table: every route is served plain and under /v{version}."""

from __future__ import annotations

from aiohttp import web

from . import images, system

VERSION_PREFIX = r"/v{version:[0-9]+\.[0-9]+}"

ROUTES = [
    ("GET", "/_ping", system.ping),
    ("HEAD", "/_ping", system.ping),
    ("GET", "/version", system.version),
    ("GET", "/info", system.info),
    # Images. Fixed paths first: a name may hold slashes, so {name:.+} would swallow them.
    ("GET", "/images/json", images.list_images),
    ("GET", "/images/viz", images.viz),
    ("GET", "/images/get", images.get_many),
    ("POST", "/images/create", images.create),
    ("POST", "/images/load", images.load),
    ("GET", "/images/{name:.+}/json", images.inspect),
    ("GET", "/images/{name:.+}/history", images.history),
    ("GET", "/images/{name:.+}/get", images.get_one),
    ("POST", "/images/{name:.+}/tag", images.tag),
    ("POST", "/images/{name:.+}/insert", images.insert),
    ("DELETE", "/images/{name:.+}", images.remove),
]


def register(router: web.UrlDispatcher) -> None:
    for method, path, handler in ROUTES:
        router.add_route(method, path, handler)
        router.add_route(method, VERSION_PREFIX + path, handler)
