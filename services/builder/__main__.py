"""The builder service: Dockerfile parsing, build steps and the build cache. It runs no
container process itself (RUN steps are the supervisor's) and writes no image itself
(the registry service makes each step's image). This module only composes it."""

from services.common import service, wire
from services.common.config import Settings

from . import config_changes
from .builds import Builds


async def setup(settings: Settings, server: wire.ServiceServer, clients: wire.Clients) -> None:
    for name, handler in Builds(settings, clients).handlers().items():
        server.handle(name)(handler)
    server.handle("build.configure")(config_changes.configure)


def main() -> None:
    service.run("builder", setup)


if __name__ == "__main__":
    main()
