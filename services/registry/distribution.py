"""A client of the Registry HTTP API v2: requests, the auth challenge, capped reads.

The registry's `WWW-Authenticate` challenge drives authentication: none, Basic, or a
Bearer token fetched from the challenge's realm (cached until it expires). Credentials
go only to the registry they were given for and to its token realm; they are never
logged. Plain HTTP is used for loopback registries (as Docker does) and for those the
settings call insecure.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.common import errors
from services.common.store.reference import DEFAULT_DOMAIN

if TYPE_CHECKING:
    # aiohttp's client is imported where a registry is first talked to: a registry service
    # that never pulls or pushes does not hold it (it weighs more than the rest of it).
    import aiohttp

DOCKER_HUB_HOST = "registry-1.docker.io"
MAX_MANIFEST = 4 << 20
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Credentials:
    username: str = ""
    password: str = ""
    token: str = ""   # an identity token, used as a refresh token


def domain_of(server: str) -> str:
    """The registry a login's server address names ("" and Docker Hub's index URL: docker.io)."""
    text = (server or "").strip()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    host = text.split("/", 1)[0]
    if host in ("", "index.docker.io", "registry-1.docker.io", "docker.io"):
        return DEFAULT_DOMAIN
    if any(c.isspace() for c in host):
        raise errors.BadParameter(f"invalid server address {server!r}")
    return host


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") else host[1:host.index("]")]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Registry:
    """One registry, as seen with one set of credentials."""

    def __init__(self, domain: str, creds: Credentials | None = None, insecure: tuple[str, ...] = (),
                 max_manifest: int = MAX_MANIFEST):
        self.domain = domain
        self.max_manifest = max_manifest
        host = DOCKER_HUB_HOST if domain == DEFAULT_DOMAIN else domain
        scheme = "http" if (is_loopback(host) or host in insecure) else "https"
        self.base = f"{scheme}://{host}"
        self.creds = creds
        self.tokens: dict[str, tuple[str, float]] = {}
        import aiohttp
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=15,
                                                                          sock_read=120))

    async def close(self) -> None:
        await self.session.close()

    def _basic(self) -> str:
        raw = f"{self.creds.username}:{self.creds.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    async def _token(self, challenge: str, scope: str) -> str:
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm")
        if not realm:
            raise errors.Unauthorized(f"{self.domain}: a Bearer challenge without a realm")
        key = f"{realm}|{params.get('service', '')}|{scope}"
        cached = self.tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        query = [("scope", part) for part in scope.split()]  # one scope parameter per scope
        if params.get("service"):
            query.append(("service", params["service"]))
        headers = {"Authorization": self._basic()} if self.creds and self.creds.username else {}
        import aiohttp
        try:
            async with self.session.get(realm, params=query, headers=headers) as resp:
                if resp.status in (401, 403):
                    raise errors.Unauthorized(f"{self.domain}: the token service refused the credentials")
                if resp.status != 200:
                    raise errors.ServerError(f"{self.domain}: the token service answered {resp.status}")
                body = json.loads(await resp.content.read(1 << 20))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise errors.Unavailable(f"{self.domain}: fetching a token failed: {exc}") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise errors.Unauthorized(f"{self.domain}: the token service gave no token")
        lifetime = int(body.get("expires_in") or 60)
        self.tokens[key] = (token, time.monotonic() + max(10, lifetime - 10))
        return token

    async def request(self, method: str, path: str, scope: str = "", headers: dict | None = None,
                      data=None, allow_redirects: bool = True) -> aiohttp.ClientResponse:
        """A request to the registry, answering its auth challenge once. The caller closes it.

        `data` may be a function that opens the body afresh (a file, streamed), so the
        request can be sent again after the challenge.
        """
        url = path if path.startswith(("http://", "https://")) else self.base + path
        headers = dict(headers or {})
        import aiohttp
        for attempt in range(2):
            body = data() if callable(data) else data
            try:
                resp = await self.session.request(method, url, headers=headers, data=body,
                                                  allow_redirects=allow_redirects)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise errors.Unavailable(f"the registry {self.domain} cannot be reached: {exc}") from None
            if resp.status != 401 or attempt:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.release()
            scheme = challenge.split(" ", 1)[0].lower()
            if scheme == "basic":
                if not (self.creds and self.creds.username):
                    raise errors.Unauthorized(f"{self.domain}: authentication required")
                headers["Authorization"] = self._basic()
            elif scheme == "bearer":
                headers["Authorization"] = "Bearer " + await self._token(challenge, scope)
            else:
                raise errors.Unauthorized(f"{self.domain}: unsupported authentication {scheme or 'none'}")
        raise AssertionError("unreachable")

    async def check(self) -> None:
        """That the credentials are good for this registry (GET /v2/)."""
        resp = await self.request("GET", "/v2/")
        async with resp:
            if resp.status == 401:
                raise errors.Unauthorized(f"{self.domain}: unauthorized")
            if resp.status >= 400:
                raise errors.Unavailable(f"{self.domain}: /v2/ answered {resp.status}")




async def search(reg: Registry, term: str, limit: int) -> list[tuple[str, str]]:
    """(name, description) of the repositories matching `term`: the index's /v1/search where the
    registry has one, else its v2 catalog filtered by the term."""
    resp = await reg.request("GET", "/v1/search", headers={"Accept": "application/json"})
    async with resp:
        if resp.status == 200:
            try:
                body = json.loads(await resp.content.read(MAX_MANIFEST))
                results = [(r["name"], r.get("description") or "") for r in body.get("results", [])]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise errors.ServerError(f"{reg.domain}: a malformed search answer") from None
            return [r for r in results if term in r[0]][:limit]
    found: list[tuple[str, str]] = []
    path = "/v2/_catalog?n=1000"
    while path and len(found) < limit:
        resp = await reg.request("GET", path, scope="registry:catalog:*")
        async with resp:
            if resp.status in (401, 403):
                raise errors.Unauthorized(f"{reg.domain}: not allowed to list its repositories")
            if resp.status != 200:
                raise errors.ServerError(f"{reg.domain}: the catalog answered {resp.status}")
            try:
                names = json.loads(await resp.content.read(MAX_MANIFEST)).get("repositories") or []
            except (ValueError, AttributeError):
                raise errors.ServerError(f"{reg.domain}: a malformed catalog") from None
            link = resp.headers.get("Link", "")
        found += [(name, "") for name in names if term in name]
        path = link[link.index("<") + 1:link.index(">")] if "<" in link and 'rel="next"' in link else ""
    return found[:limit]
