"""The registry service's methods that talk to registries: pull, push, search and login
(credentials kept in the store's database, as POST /auth stored them)."""

from __future__ import annotations

from services.common import errors, timefmt, wire
from services.common.config import Settings
from services.common.store import Store, reference

from . import distribution, transfer
from .distribution import Credentials, Registry
from .events import image_event


class RemoteMethods:
    def __init__(self, settings: Settings, store: Store, server: wire.ServiceServer, clients: wire.Clients):
        self.settings = settings
        self.store = store
        self.clients = clients
        handlers = {"image.pull": self.pull, "image.push": self.push, "auth.login": self.login,
                    "auth.get": self.auth_get, "image.search": self.search}
        for name, handler in handlers.items():
            server.handle(name)(handler)

    def _credentials(self, domain: str, given: dict | None) -> Credentials | None:
        """The credentials a request brought, or those POST /auth stored for this registry."""
        if given:
            return Credentials(**given)
        row = self.store.conn.execute("SELECT username, secret FROM credentials WHERE registry=?",
                                      (domain,)).fetchone()
        return Credentials(row[0], row[1]) if row else None

    async def login(self, call: wire.Call) -> dict:
        p = call.params
        domain = self._host(distribution.domain_of(p["serveraddress"]))
        reg = Registry(domain, Credentials(p["username"], p["password"]), tuple(self.settings.insecure_registries))
        try:
            await reg.check()
        finally:
            await reg.close()
        self.store.conn.execute(
            "INSERT OR REPLACE INTO credentials(registry, username, email, secret, stored) VALUES(?,?,?,?,?)",
            (domain, p["username"], p["email"], p["password"], timefmt.now()))
        return {"status": "Login Succeeded"}

    async def auth_get(self, call: wire.Call) -> dict:
        row = self.store.conn.execute(
            "SELECT username, email FROM credentials ORDER BY stored DESC LIMIT 1").fetchone()
        return {"username": row[0], "email": row[1]} if row else {"username": "", "email": ""}

    async def search(self, call: wire.Call) -> dict:
        p = call.params
        term = p["term"].strip()
        if not term:
            raise errors.BadParameter("a search term is required")
        domain, query = reference.DEFAULT_DOMAIN, term
        first, sep, rest = term.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            domain, query = first, rest
        reg = self._registry(domain, p.get("auth"))
        try:
            names = await distribution.search(reg, query, p["limit"] if p["limit"] > 0 else 25)
        finally:
            await reg.close()
        prefix = "" if domain == reference.DEFAULT_DOMAIN else f"{domain}/"
        return {"results": [{"name": prefix + name, "description": description, "star_count": 0,
                             "is_official": False, "is_automated": False} for name, description in names]}

    def _host(self, domain: str) -> str:
        """Where a name's registry is: unqualified names go to the default registry."""
        return self.settings.default_registry if domain == reference.DEFAULT_DOMAIN else domain

    def _registry(self, domain: str, auth: dict | None) -> Registry:
        host = self._host(domain)
        return Registry(host, self._credentials(host, auth), tuple(self.settings.insecure_registries),
                        self.settings.max_manifest_bytes)

    async def pull(self, call: wire.Call):
        p = call.params
        ref = reference.parse(p["image"])
        if ref.tag is None and ref.digest is None:
            ref = ref.with_default_tag()
        # docker.io images are asked of the mirrors first; a mirror that fails before it
        # has sent anything hands over to the next, and the last word is docker.io's.
        sources = (list(self.settings.registry_mirrors) if ref.domain == reference.DEFAULT_DOMAIN else []) + [ref.domain]
        for i, source in enumerate(sources):
            reg = self._registry(source, p.get("auth") if source == ref.domain else None)
            pulling = transfer.pull(self.store, reg, ref, self.settings.max_layer_bytes)
            try:
                try:
                    first = await pulling.__anext__()
                except (errors.NotFound, errors.Unavailable, errors.Unauthorized):
                    if i + 1 < len(sources):
                        continue
                    raise
                yield first
                async for message in pulling:
                    yield message
                await image_event(self.clients, self.store, "pull", str(ref), str(ref))
                return
            finally:
                await pulling.aclose()
                await reg.close()

    async def push(self, call: wire.Call):
        p = call.params
        ref = reference.parse(p["name"])
        if p.get("tag"):
            ref = reference.Reference(ref.domain, ref.path, reference.check_tag(p["tag"]))
        if ref.digest:
            raise errors.BadParameter("push a tag, not a digest")
        if ref.tag is None:   # the whole repository: every tag of it here, as dockerd pushes it
            tags = transfer.repository_tags(self.store, ref)
            if not tags:
                raise errors.NotFound(f"An image does not exist locally with the tag: {ref.repository}")
        else:
            tags = [(ref, self.store.resolve(str(ref)))]
        reg = self._registry(ref.domain, p.get("auth"))
        try:
            for i, (tagged, image_id) in enumerate(tags):
                async for message in transfer.push(self.store, reg, image_id, tagged, announce=i == 0):
                    yield message
                await image_event(self.clients, self.store, "push", str(tagged), str(tagged))
        finally:
            await reg.close()
