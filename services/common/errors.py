"""Typed errors shared by every process, and the one map from error kind to HTTP status.

A service raises one of these; the wire carries its kind and message; the api turns
the kind into a status with `http_status`. No handler picks a status code itself.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error that may cross a process boundary or reach a client."""

    kind = "server_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict:
        return {"kind": self.kind, "message": self.message}


class BadParameter(DockyardError):
    kind = "bad_parameter"


class Unauthorized(DockyardError):
    kind = "unauthorized"


class Forbidden(DockyardError):
    kind = "forbidden"


class NotFound(DockyardError):
    kind = "not_found"


class Conflict(DockyardError):
    kind = "conflict"


class NotModified(DockyardError):
    kind = "not_modified"


class PayloadTooLarge(DockyardError):
    kind = "payload_too_large"


class HeadersTooLarge(DockyardError):
    kind = "headers_too_large"


class ServerError(DockyardError):
    kind = "server_error"


class NotImplementedYet(DockyardError):
    kind = "not_implemented"


class Unavailable(DockyardError):
    """A service is down, restarting, or did not answer in time."""

    kind = "unavailable"


_STATUS_BY_KIND: dict[str, int] = {
    NotModified.kind: 304,
    BadParameter.kind: 400,
    Unauthorized.kind: 401,
    Forbidden.kind: 403,
    NotFound.kind: 404,
    Conflict.kind: 409,
    PayloadTooLarge.kind: 413,
    HeadersTooLarge.kind: 431,
    ServerError.kind: 500,
    NotImplementedYet.kind: 501,
    Unavailable.kind: 503,
}

_CLASS_BY_KIND: dict[str, type[DockyardError]] = {
    cls.kind: cls
    for cls in (
        BadParameter, Unauthorized, Forbidden, NotFound, Conflict, NotModified,
        PayloadTooLarge, HeadersTooLarge, ServerError, NotImplementedYet, Unavailable,
    )
}


def http_status(kind: str) -> int:
    """The HTTP status for an error kind; an unknown kind is a server error."""
    return _STATUS_BY_KIND.get(kind, 500)


def from_wire(error: dict) -> DockyardError:
    """Rebuild the typed error a remote service raised."""
    kind = error.get("kind", ServerError.kind) if isinstance(error, dict) else ServerError.kind
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    cls = _CLASS_BY_KIND.get(kind, ServerError)
    return cls(str(message))


def known_kinds() -> list[str]:
    return sorted(_STATUS_BY_KIND)
