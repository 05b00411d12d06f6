"""What a build fetches by URL: a remote context (the `remote` parameter) and ADD's URLs."""

from __future__ import annotations

import os
import posixpath
from urllib.parse import urlsplit

from services.common import errors, fetch

# A file ADD fetches, or a remote context, is capped as a context is not: it is held whole.
MAX_DOWNLOAD = 8 << 30


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def is_git(url: str) -> bool:
    """A remote Docker would clone: the classic builder's git URL forms."""
    path = urlsplit(url).path if is_url(url) else url
    return url.startswith(("git://", "git@", "github.com/")) or path.endswith(".git") or "#" in url


async def fetch_context(url: str, path: str, limit: int) -> None:
    """The remote context at `url` into `path` (a tar, or a Dockerfile alone)."""
    if is_git(url):
        raise errors.BadParameter(f"unable to prepare context: git contexts are not supported: {url}")
    if not is_url(url):
        raise errors.BadParameter(f"unable to prepare context: {url!r} is not an http:// or https:// URL")
    async for _ in fetch.download(url, path, limit):
        pass


async def download_into(url: str, directory: str) -> str:
    """ADD's URL into `directory`, named as Docker names it (the last part of the URL's path),
    mode 0600; that name."""
    name = posixpath.basename(urlsplit(url).path)
    if not name or name in (".", ".."):
        raise errors.BadParameter(f"cannot determine filename from url: {url}")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    async for _ in fetch.download(url, path, MAX_DOWNLOAD):
        pass
    os.chmod(path, 0o600)
    return name
