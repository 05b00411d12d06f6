"""The one error map: every kind has its status and survives the wire."""

import pytest

from services.common import errors

EXPECTED = {
    "not_modified": 304, "bad_parameter": 400, "unauthorized": 401, "forbidden": 403,
    "not_found": 404, "conflict": 409, "payload_too_large": 413, "headers_too_large": 431, "server_error": 500,
    "not_implemented": 501, "unavailable": 503,
}


def test_status_of_every_kind():
    assert {k: errors.http_status(k) for k in errors.known_kinds()} == EXPECTED


def test_unknown_kind_is_a_server_error():
    assert errors.http_status("no-such-kind") == 500
    assert isinstance(errors.from_wire({"kind": "no-such-kind", "message": "m"}), errors.ServerError)
    assert isinstance(errors.from_wire("garbage"), errors.ServerError)


@pytest.mark.parametrize("cls", [errors.BadParameter, errors.NotFound, errors.Conflict,
                                 errors.NotModified, errors.Unavailable, errors.PayloadTooLarge,
                                 errors.HeadersTooLarge,
                                 errors.Unauthorized, errors.Forbidden, errors.ServerError,
                                 errors.NotImplementedYet])
def test_round_trip(cls):
    back = errors.from_wire(cls("it went wrong").to_wire())
    assert type(back) is cls and back.message == "it went wrong"
