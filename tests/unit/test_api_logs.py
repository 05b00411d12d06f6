"""The logs endpoint's parameters as dockerd reads them, and its frames: one an entry."""

import struct

import pytest

from services.api import logs
from services.common import errors


@pytest.mark.parametrize("raw, ns", [
    (None, 0), ("", 0), ("0", 0), ("1", 10 ** 9), ("1700000000.5", 1700000000 * 10 ** 9 + 500_000_000),
    ("1700000000.123456789", 1700000000_123456789), ("1700000000.1234567891234", 1700000000_123456789),
    ("1.", 10 ** 9), ("2026-01-01T00:00:00.000000001Z", 1767225600 * 10 ** 9 + 1),
    ("2026-01-01T02:00:00+02:00", 1767225600 * 10 ** 9),
])
def test_since_is_unix_seconds_to_the_nanosecond_or_rfc3339(raw, ns):
    assert logs.unix_ns("since", raw) == ns


def test_until_zero_is_no_until():
    assert logs.unix_ns("until", "0") == 0


@pytest.mark.parametrize("raw, message", [
    ("yesterday", 'invalid value for "since": invalid timestamp "yesterday": invalid seconds "yesterday"'),
    ("1.x", 'invalid value for "since": invalid timestamp "1.x": invalid nanoseconds: invalid character \'x\' '
            'at position 0'),
    ("1." + "0" * 21, "exceeds maximum 20"),
    ("2026-13-45", 'invalid value for "since"'),
])
def test_bad_times_are_400s_with_dockers_message(raw, message):
    with pytest.raises(errors.BadParameter) as exc:
        logs.unix_ns("since", raw)
    assert message in exc.value.message


@pytest.mark.parametrize("raw, lines", [(None, -1), ("all", -1), ("", -1), ("lots", -1), ("-2", -1), ("0", 0),
                                        ("25", 25)])
def test_tail_is_read_as_dockerd_reads_it(raw, lines):
    assert logs.tail(raw) == lines


def test_an_entry_a_frame():
    data = b"one\ntwo\n"
    assert logs.frames(2, data, [4, 4], True) == (struct.pack(">BxxxI", 2, 4) + b"one\n" +
                                                  struct.pack(">BxxxI", 2, 4) + b"two\n")
    assert logs.frames(1, data, [4, 4], False) == data
