"""Typed keys for what the api keeps on its application and on each request."""

from aiohttp import web

from services.common import wire
from services.common.config import Settings

from .container_list import ContainerLists
from .versions import ApiVersion

SETTINGS = web.AppKey("settings", Settings)
CLIENTS = web.AppKey("clients", wire.Clients)
CONTAINER_LISTS = web.AppKey("container_lists", ContainerLists)
API = web.RequestKey("api", ApiVersion)
