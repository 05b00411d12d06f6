"""Typed keys for what the api keeps on its application and on each request."""

from aiohttp import web

from services.common import wire
from services.common.config import Settings

from .versions import ApiVersion

SETTINGS = web.AppKey("settings", Settings)
CLIENTS = web.AppKey("clients", wire.Clients)
API = web.RequestKey("api", ApiVersion)
