"""The API versions Dockyard speaks and how a request's path selects one."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from services.common import errors

API_VERSION = "1.45"        # the newest; sent in the API-Version header of every response
MIN_API_VERSION = "1.24"    # the oldest modern version
LEGACY_VERSION = "1.0"      # the Remote API v1.0 of the spec
# A path without a /v{version} prefix is answered as v1.0, exactly as the spec shows.
UNPREFIXED_VERSION = LEGACY_VERSION


@functools.lru_cache(maxsize=256)   # a handful of versions, read on every request
def parse(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise errors.BadParameter(f"malformed API version {text!r}")
    return int(major), int(minor)


@dataclass(frozen=True)
class ApiVersion:
    text: str
    number: tuple[int, int]

    @property
    def legacy(self) -> bool:
        """True for the v1.0 shapes (short ids, raw streams, lower-case image keys)."""
        return self.number == parse(LEGACY_VERSION)

    def at_least(self, text: str) -> bool:
        return self.number >= parse(text)


@functools.lru_cache(maxsize=256)
def resolve(prefix: str | None) -> ApiVersion:
    """The version a request asked for: its /v{prefix}, or the unprefixed rule."""
    text = UNPREFIXED_VERSION if prefix is None else prefix
    number = parse(text)
    if number == parse(LEGACY_VERSION) or parse(MIN_API_VERSION) <= number <= parse(API_VERSION):
        return ApiVersion(text, number)
    raise errors.BadParameter(
        f"client version {text} is not supported: this daemon speaks API {LEGACY_VERSION} "
        f"and {MIN_API_VERSION} to {API_VERSION}")
