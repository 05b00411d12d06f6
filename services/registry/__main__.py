"""The registry service: Registry HTTP API v2 pull, push, search and auth.

It answers the shared system methods now; its own methods arrive with their issues.
"""

from services.common import service


def main() -> None:
    service.run("registry")


if __name__ == "__main__":
    main()
