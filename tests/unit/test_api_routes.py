"""The route table: every route plain and under /v{version}, a versioned request found by
the path after its version."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.api import containers, routes, system


def resolve(router: web.UrlDispatcher, method: str, path: str):
    return asyncio.run(router.resolve(make_mocked_request(method, path)))


@pytest.fixture(scope="module")
def router():
    made = web.UrlDispatcher()
    routes.register(made)
    return made


@pytest.mark.parametrize("path", ["/containers/json", "/v1.41/containers/json", "/v1.45/containers/json?all=1"])
def test_a_route_is_served_plain_and_under_a_version(router, path):
    match = resolve(router, "GET", path)
    assert match.handler is containers.list_containers
    assert match.get("version") == ("1.41" if "1.41" in path else "1.45" if "1.45" in path else None)


def test_a_versioned_request_keeps_its_variables(router):
    match = resolve(router, "GET", "/v1.43/containers/abc123/json")
    assert dict(match) == {"version": "1.43", "id": "abc123"}


def test_the_order_of_the_table_still_decides(router):
    """Fixed paths come before a name that is anything: /volumes/create is not a volume."""
    assert resolve(router, "POST", "/v1.41/volumes/create").get("name") is None
    assert resolve(router, "GET", "/v1.41/volumes/create").get("name") == "create"
    assert resolve(router, "GET", "/v1.41/volumes/a/b").get("name") == "a/b"


def test_unknown_paths_and_methods_answer_as_aiohttp_does(router):
    assert resolve(router, "GET", "/v1.41/nothing/here").http_exception.status == 404
    assert resolve(router, "PATCH", "/v1.41/containers/json").http_exception.status == 405
    assert resolve(router, "GET", "/v1/containers/json").http_exception.status == 404
    assert resolve(router, "GET", "/version").handler is system.version
    assert resolve(router, "GET", "/v1.41/version").handler is system.version


def test_a_versioned_request_tries_only_the_routes_of_its_path(router, monkeypatch):
    """Not every versioned route in turn (aiohttp indexes none of them: /v{version} has no
    static part)."""
    tried = []
    for resource in router.resources():
        original = resource.resolve

        async def counted(request, original=original, resource=resource):
            tried.append(resource.canonical)
            return await original(request)
        monkeypatch.setattr(resource, "resolve", counted)
    assert resolve(router, "DELETE", "/v1.41/volumes/v1").get("name") == "v1"
    assert len(tried) <= 3, tried
