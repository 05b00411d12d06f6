"""The wire between Dockyard's processes: one name for its schema, framing, client and server.

    schema   every message that crosses a process boundary, declared once, and `check`
    framing  a message's frames (the only module that touches msgpack), endpoints, numbers
    client   the caller's side: Clients, ServiceClient, ReplyStream
    server   the service's side: ServiceServer, Upload, Call

`from services.common import wire` and `wire.<name>` reach them all. The schema is
loaded at once; the framing, the client and the server (msgpack, ZeroMQ, asyncio) on
first use, so that the shim, which reads the schema before its container runs, starts
without them. The protocol's numbers (`STREAM_WINDOW`, `ALIVE_IVL`...) are read from
`wire.framing` whenever they are used: tune them there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..sockets import SERVICES, WIRE_SERVICES, shim_name, socket_path
from .schema import (
    ANNOTATION_FALSE, ANNOTATION_LOG_PATH, ANNOTATION_LOWERDIR, ANNOTATION_OPEN_STDIN, ANNOTATION_PORTS,
    ANNOTATION_RUNTIME,
    ANNOTATION_STDIN_ONCE, ANNOTATION_TRUE, ANNOTATION_UPPERDIR, ANNOTATION_USER,
    ANNOTATION_WORKDIR, ANNOTATIONS, ANY, CONTAINER, CONTAINER_FILTERS, CONTAINER_STATE,
    DEFAULT_TIMEOUT, EXIT, METHODS, MOUNT, SERVER_KINDS,
    SERVING, SHIM, START_FAILED, STARTED, STDIO, ZYGOTE_READY, ZYGOTE_REQUEST, MapOf, Method, Opt,
    check, decode_exit, decode_notice, decode_report, decode_zygote_request, encode_exit,
    encode_report, encode_serving, encode_zygote_request, exit_record, method,
)

from .images import AUTH, HISTORY_ENTRY, IMAGE, IMAGE_ROW, PROGRESS  # and the image methods
from .builds import BUILD_CACHE_RECORD, BUILD_CHUNK, BUILD_LIMITS  # loading it declares the build methods
from .networks import NETWORK, NETWORK_CREATE, NETWORK_FILTERS  # and the network methods
from .execs import EXEC, EXEC_CONFIG  # and the exec methods
from . import usage as _usage  # and the top and stats methods
from . import updates as _updates  # and the update method
from .archives import PATH_STAT  # and the copy (docker cp) methods
from .volumes import VOLUME, VOLUME_CREATE, VOLUME_FILTERS  # and the volume methods
from .events import EVENT, EVENT_FILTERS  # and the event methods

if TYPE_CHECKING:
    from . import client, framing, server
    from .client import Clients, ReplyStream, ServiceClient
    from .framing import (
        ALIVE_IVL, CALLER_TIMEOUT, CONNECT_GRACE, HEARTBEAT_IVL_MS, HEARTBEAT_TIMEOUT_MS,
        STREAM_WINDOW, endpoint, frames, pack, unpack,
    )
    from .server import Call, Handler, ServiceServer, Upload

__all__ = [
    # sockets
    "SERVICES", "WIRE_SERVICES", "shim_name", "socket_path",
    # schema
    "ANNOTATION_FALSE", "ANNOTATION_LOG_PATH", "ANNOTATION_LOWERDIR", "ANNOTATION_OPEN_STDIN", "ANNOTATION_RUNTIME",
    "ANNOTATION_STDIN_ONCE", "ANNOTATION_TRUE", "ANNOTATION_UPPERDIR", "ANNOTATION_USER",
    "ANNOTATION_WORKDIR", "ANNOTATION_PORTS", "ANNOTATIONS", "ANY", "AUTH", "BUILD_CACHE_RECORD", "BUILD_CHUNK", "BUILD_LIMITS",
    "PATH_STAT", "VOLUME", "VOLUME_CREATE", "VOLUME_FILTERS",
    "EVENT", "EVENT_FILTERS",
    "CONTAINER", "CONTAINER_FILTERS",
    "CONTAINER_STATE", "DEFAULT_TIMEOUT", "EXIT", "HISTORY_ENTRY", "IMAGE", "IMAGE_ROW", "METHODS",
    "MOUNT", "PROGRESS", "SERVER_KINDS", "SERVING", "SHIM", "START_FAILED", "STARTED", "STDIO",
    "ZYGOTE_READY", "ZYGOTE_REQUEST", "MapOf", "Method", "Opt", "check", "decode_exit",
    "decode_notice", "decode_report", "decode_zygote_request", "encode_exit", "encode_report",
    "encode_serving", "encode_zygote_request", "exit_record", "method",
    # loaded on first use
    "framing", "client", "server",
    "ALIVE_IVL", "CALLER_TIMEOUT", "CONNECT_GRACE", "HEARTBEAT_IVL_MS", "HEARTBEAT_TIMEOUT_MS",
    "STREAM_WINDOW", "endpoint", "frames", "pack", "unpack",
    "Clients", "ReplyStream", "ServiceClient",
    "Call", "Handler", "ServiceServer", "Upload",
]

# The protocol's numbers: read from framing at each use, never copied here.
_NUMBERS = ("STREAM_WINDOW", "HEARTBEAT_IVL_MS", "HEARTBEAT_TIMEOUT_MS", "CONNECT_GRACE", "ALIVE_IVL",
            "CALLER_TIMEOUT")
# The names loaded on first use, and the module of each.
_LATER = {
    **dict.fromkeys(("pack", "unpack", "frames", "endpoint", *_NUMBERS), "framing"),
    **dict.fromkeys(("Clients", "ServiceClient", "ReplyStream"), "client"),
    **dict.fromkeys(("ServiceServer", "Upload", "Call", "Handler"), "server"),
}


def __getattr__(name: str) -> Any:
    if name in ("framing", "client", "server"):
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _LATER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LATER[name]}"), name)
    if name not in _NUMBERS:
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
