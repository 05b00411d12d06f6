"""The registry service: the image store's one writer (imports, loads, tags, removals) and,
with its issue, the Registry HTTP API v2 (pull, push, search, auth)."""

from services.common import service, wire
from services.common.config import Settings

from .images import ImageMethods


async def setup(settings: Settings, server: wire.ServiceServer, clients: wire.Clients) -> None:
    ImageMethods(settings, server, clients)


def main() -> None:
    service.run("registry", setup)


if __name__ == "__main__":
    main()
