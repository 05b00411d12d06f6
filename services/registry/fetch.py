"""Fetching a file by URL (import fromSrc=URL, insert) into staging, with a size cap."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from services.common import errors

CONNECT_TIMEOUT = 15


async def download(url: str, path: str, limit: int) -> AsyncIterator[tuple[int, int]]:
    """Write `url` to `path`, yielding (bytes so far, total or 0) as it goes."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.BadParameter(f"invalid URL {url!r}: only http:// and https:// URLs can be fetched")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url) as resp:
                if resp.status != 200:
                    raise errors.BadParameter(f"fetching {url} failed: HTTP {resp.status} {resp.reason}")
                total = resp.content_length or 0
                if total > limit:
                    raise errors.BadParameter(f"{url} is larger than {limit} bytes")
                done = 0
                with open(path, "wb") as fh:
                    async for chunk in resp.content.iter_chunked(1 << 20):
                        done += len(chunk)
                        if done > limit:
                            raise errors.BadParameter(f"{url} is larger than {limit} bytes")
                        fh.write(chunk)
                        yield done, total
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise errors.BadParameter(f"fetching {url} failed: {exc or type(exc).__name__}") from None

