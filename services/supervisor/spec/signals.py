"""Signals as Docker's API names them (moby/sys/signal's ParseSignal and SignalMap on Linux).

A number (9), or a name in any case with or without its SIG prefix (KILL, sigkill, hup),
real-time ones as RTMIN, RTMIN+n and RTMAX-n. 0 or a name Linux lacks is "invalid signal";
a number no name has (32, 33, 65, -1) is one "the linux daemon does not support".
"""

from __future__ import annotations

import signal

from services.common import errors

RTMIN, RTMAX = 34, 64
NAMES = {
    "ABRT": 6, "ALRM": 14, "BUS": 7, "CHLD": 17, "CLD": 17, "CONT": 18, "FPE": 8, "HUP": 1, "ILL": 4, "INT": 2,
    "IO": 29, "IOT": 6, "KILL": 9, "PIPE": 13, "POLL": 29, "PROF": 27, "PWR": 30, "QUIT": 3, "SEGV": 11,
    "STKFLT": 16, "STOP": 19, "SYS": 31, "TERM": 15, "TRAP": 5, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23,
    "USR1": 10, "USR2": 12, "VTALRM": 26, "WINCH": 28, "XCPU": 24, "XFSZ": 25,
    "RTMIN": RTMIN, "RTMAX": RTMAX,
    **{f"RTMIN+{n}": RTMIN + n for n in range(1, 16)},
    **{f"RTMAX-{n}": RTMAX - n for n in range(1, 15)},
}
SUPPORTED = frozenset(NAMES.values())


def _go_int(text: str) -> int | None:
    """The integer Go's strconv.Atoi reads (an optional sign, then decimal digits)."""
    digits = text[1:] if text[:1] in "+-" else text
    return int(text) if digits.isdigit() and digits.isascii() else None


def parse(value: str) -> int:
    """The signal `value` names, as dockerd's ParseSignal reads it: BadParameter for 0 or an
    unknown name. (A number is taken as it is: `supported` tells whether Linux has it.)"""
    number = _go_int(value)
    if number is not None:
        if number == 0:
            raise errors.BadParameter(f"invalid signal: {value}")
        return number
    upper = value.upper()
    name = upper[3:] if upper.startswith("SIG") else upper
    if name not in NAMES:
        raise errors.BadParameter(f"invalid signal: {value}")
    return NAMES[name]


def signal_number(value: str | None, default: int = signal.SIGKILL) -> int:
    """A signal a client names for a kill, a stop or a StopSignal: parsed, and one this
    platform has; absent or empty, `default`."""
    if value in (None, ""):
        return default
    number = parse(str(value))
    if number not in SUPPORTED:
        raise errors.BadParameter(f"the linux daemon does not support signal {number}")
    return number
