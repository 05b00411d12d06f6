"""Response shapes per API version: `legacy` for v1.0, `modern` for 1.24 to 1.45."""

from __future__ import annotations

from types import ModuleType

from aiohttp import web

from .. import keys
from . import legacy, modern


def for_request(request: web.Request) -> ModuleType:
    return legacy if request[keys.API].legacy else modern
