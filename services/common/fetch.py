"""Fetching a file by URL (import fromSrc=URL, insert, a build's remote context and ADD) into staging, with a size cap."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, AsyncIterator
from urllib.parse import urlsplit

from services.common import errors

if TYPE_CHECKING:
    # Imported by the first download: most services that can fetch (the registry, the
    # builder) seldom do, and aiohttp's client weighs more than the rest of them.
    import aiohttp

CONNECT_TIMEOUT = 15


async def download(url: str, path: str, limit: int) -> AsyncIterator[tuple[int, int]]:
    """Write `url` to `path`, yielding (bytes so far, total or 0) as it goes."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.BadParameter(f"invalid URL {url!r}: only http:// and https:// URLs can be fetched")
    import aiohttp
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url) as resp:
                if resp.status != 200:
                    raise errors.BadParameter(f"fetching {url} failed: HTTP {resp.status} {resp.reason}")
                total = resp.content_length or 0
                if total > limit:
                    raise errors.BadParameter(f"{url} is larger than {limit} bytes")
                async for done in write_body(resp, path, limit, f"{url} is larger than {limit} bytes"):
                    yield done, total
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise errors.BadParameter(f"fetching {url} failed: {exc or type(exc).__name__}") from None


async def write_body(resp: aiohttp.ClientResponse, path: str, limit: int, too_big: str,
                     sha=None) -> AsyncIterator[int]:
    """Write a response's body to `path` (hashing it into `sha`, if given), yielding the
    bytes so far; past `limit` bytes, stop with the error `too_big`."""
    done = 0
    with open(path, "wb") as fh:
        async for chunk in resp.content.iter_chunked(1 << 20):
            done += len(chunk)
            if done > limit:
                raise errors.BadParameter(too_big)
            if sha is not None:
                sha.update(chunk)
            fh.write(chunk)
            yield done

