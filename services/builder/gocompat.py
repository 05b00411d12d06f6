"""Go's text rules that Docker's Dockerfile handling leans on: Go's white space, Go string
quoting, Go durations and integers, and Docker's "did you mean" suggestions.

Docker's builder is Go, so its results and messages follow these rules; keeping them in one
place lets the parser and the instruction layer match Docker byte for byte.
"""

from __future__ import annotations

import re

# Go's unicode.IsSpace: the Latin-1 spaces plus Unicode's White_Space property. Python's
# str.isspace differs (it counts \x1c-\x1f), which would split words Docker keeps whole.
SPACES = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
          "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_SPACE_SET = frozenset(SPACES)


def isspace(ch: str) -> bool:
    return ch in _SPACE_SET


def trim_left(s: str) -> str:
    return s.lstrip(SPACES)


def trim_space(s: str) -> str:
    return s.strip(SPACES)


_QUOTE_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r",
                  "\t": r"\t", "\v": r"\v", "\\": r"\\", '"': r'\"'}


def quote(s: str) -> str:
    """Go's strconv.Quote: the golden files and Docker's %q messages are written with it."""
    out = ['"']
    for ch in s:
        esc = _QUOTE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():  # same classes as Go's unicode.IsPrint (L, M, N, P, S, space)
            out.append(ch)
        else:
            o = ord(ch)
            if o < 0x20 or o == 0x7F:
                out.append(f"\\x{o:02x}")
            elif o < 0x10000:
                out.append(f"\\u{o:04x}")
            else:
                out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def suggest(value: str, options, case_sensitive: bool) -> str | None:
    """Docker's suggest.Search: the closest option under edit distance 3, cased like `value`."""
    if len(value) > 64:  # no option is that long; spare the quadratic distance
        return None
    probe = value if case_sensitive else value.lower()
    best, best_dist = None, 3
    for opt in sorted(options):  # sorted: Go walks a map, so ties had no defined winner
        cand = opt if case_sensitive else opt.lower()
        if cand == probe:
            return None
        dist = _distance(probe, cand)
        if dist < best_dist:
            best, best_dist = cand, dist
    if best is None or case_sensitive:
        return best
    if value == value.lower():
        return best.lower()
    if value == value.upper():
        return best.upper()
    return best


_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_MAX = (1 << 63) - 1


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds; ValueError carries Go's message."""
    invalid = ValueError("time: invalid duration " + quote(text))
    s, neg = text, False
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        m = re.match(r"[0-9]*", s)
        digits, s = m.group(), s[m.end():]
        if len(digits.lstrip("0")) > 19:  # overflow, and spares int() its digit limit
            raise invalid
        whole = int(digits.lstrip("0") or "0")
        if whole > _MAX:
            raise invalid
        frac, scale, had_frac = 0, 1.0, False
        if s.startswith("."):
            m = re.match(r"[0-9]*", s[1:])
            had_frac, s = m.end() > 0, s[1 + m.end():]
            for d in m.group():
                if frac > _MAX // 10:  # Go stops collecting precision, keeps consuming
                    break
                frac, scale = frac * 10 + int(d), scale * 10
        if not digits and not had_frac:
            raise invalid
        m = re.match(r"[^0-9.]*", s)
        unit_text, s = m.group(), s[m.end():]
        if not unit_text:
            raise ValueError("time: missing unit in duration " + quote(text))
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise ValueError(f"time: unknown unit {quote(unit_text)} in duration {quote(text)}")
        if whole > _MAX // unit:
            raise invalid
        value = whole * unit
        if frac:
            value += int(float(frac) * (float(unit) / scale))
            if value > _MAX:
                raise invalid
        total += value
        if total > _MAX + (1 if neg else 0):
            raise invalid
    return -total if neg else total


def parse_int32(text: str) -> int:
    """strconv.ParseInt(text, 10, 32) with Go's messages."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f"strconv.ParseInt: parsing {quote(text)}: invalid syntax")
    significant = text.lstrip("+-").lstrip("0") or "0"
    out_of_range = ValueError(f"strconv.ParseInt: parsing {quote(text)}: value out of range")
    if len(significant) > 10:  # also keeps int() clear of its digit-count limit
        raise out_of_range
    value = -int(significant) if text[0] == "-" else int(significant)
    if not -(1 << 31) <= value < (1 << 31):
        raise out_of_range
    return value
