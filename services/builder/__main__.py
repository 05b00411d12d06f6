"""The builder service: Dockerfile parsing, build steps and the build cache.

It answers the shared system methods now; its own methods arrive with their issues.
"""

from services.common import service


def main() -> None:
    service.run("builder")


if __name__ == "__main__":
    main()
