"""Reading a request's query parameters and JSON body, with Docker's rules and clear 400s."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from services.common import errors

from . import keys

_FALSE = {"", "0", "no", "false", "none"}
# The Remote API v1.0 read its booleans with Go's strconv.ParseBool (getBoolParam): the
# spec's 1/True/true and 0/False/false, and Go's other spellings; anything else was a 400.
_V1_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_V1_FALSE = {"", "0", "f", "F", "FALSE", "false", "False"}


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter. As dockerd reads one today (httputils.BoolValueOrDefault):
    anything but 0/no/false/none is true; on the v1.0 paths, as the v1.0 daemon did."""
    if name not in request.query:
        return default
    value = request.query[name]
    if not request[keys.API].legacy:
        return value.strip().lower() not in _FALSE
    if value in _V1_TRUE:
        return True
    if value in _V1_FALSE:
        return False
    raise errors.BadParameter(f"Bad parameter: {name} must be 1/True/true or 0/False/false, not {value!r}")


INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def integer(request: web.Request, name: str, default: int | None = None,
            minimum: int | None = None) -> int | None:
    if name not in request.query or request.query[name] == "":
        return default
    raw = request.query[name]
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadParameter(f"invalid value for {name}: {raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise errors.BadParameter(f"invalid value for {name}: must be at least {minimum}")
    if not INT64_MIN <= value <= INT64_MAX:  # what Docker parses, and what the wire carries
        raise errors.BadParameter(f"invalid value for {name}: {raw!r} is out of range")
    return value


def text(request: web.Request, name: str, default: str | None = None) -> str | None:
    return request.query.get(name, default)


async def json_body(request: web.Request, required: bool = False) -> Any:
    """The request's JSON body (None when empty and not required).

    As dockerd does, a body must be sent as application/json (or with no type), which
    keeps a browser's cross-site "simple" form posts out.
    """
    limit = request.app[keys.SETTINGS].max_json_body
    if request.content_length is not None and request.content_length > limit:
        raise errors.PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise errors.PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    if not raw.strip():
        if required:
            raise errors.BadParameter("a JSON request body is required")
        return None
    ctype = request.headers.get("Content-Type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media not in ("", "application/json") and not media.endswith("+json"):
        raise errors.BadParameter(
            f"unsupported Content-Type header ({ctype}): must be 'application/json'")
    too_deep = errors.BadParameter(f"malformed JSON body: arrays and objects more than {MAX_JSON_DEPTH} "
                                   "levels deep are nested too deeply")
    try:
        body = json.loads(raw, parse_int=_int64, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadParameter(f"malformed JSON body: {exc}") from None
    except RecursionError:
        raise too_deep from None
    if not _shallow(body, MAX_JSON_DEPTH):
        raise too_deep
    return body


# How deep a body's arrays and objects may nest. Docker's own bodies need a handful of
# levels; a deeper one could not travel the wire or be stored and read back (msgpack and
# Python's json recurse, so each would fail with a 500), and it is refused with a 400.
MAX_JSON_DEPTH = 100


def _shallow(value: Any, limit: int) -> bool:
    """Whether `value` nests no more than `limit` arrays and objects (without recursing)."""
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _int64(text: str) -> int:
    """A JSON integer as Docker reads it: 64 bits at most (nor can the wire carry more)."""
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"the number {text[:30]} is out of range")
    return value


def _no_constant(text: str):
    raise ValueError(f"{text} is not JSON")


def base64_json_object(request: web.Request, header: str) -> dict | None:
    """A header holding a JSON object, base64url-encoded (X-Registry-Auth, -Config)."""
    value = request.headers.get(header)
    if not value:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, TypeError, RecursionError):
        raise errors.BadParameter(f"{header} is not base64-encoded JSON") from None
    if not isinstance(data, dict):
        raise errors.BadParameter(f"{header} must hold a JSON object")
    return data


def credentials(data: dict) -> dict | None:
    """An auth config ({"username", "password", "identitytoken", ...}) as the wire's AUTH;
    None if it names nobody."""
    creds = {"username": str(data.get("username") or ""), "password": str(data.get("password") or ""),
             "token": str(data.get("identitytoken") or "")}
    return creds if (creds["username"] or creds["token"]) else None


def registry_auth(request: web.Request) -> dict | None:
    """X-Registry-Auth: base64url of one auth config."""
    data = base64_json_object(request, "X-Registry-Auth")
    return credentials(data) if data is not None else None
