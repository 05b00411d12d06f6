"""How Docker's classic builder cuts an instruction's text: its leading `--flags`, its
quote-aware words (ENV, LABEL, ARG) and its JSON (exec form) arrays.
"""

from __future__ import annotations

import json
import re

from services.builder import gocompat as go

NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"


class NotStringArray(ValueError):
    """Valid JSON array with an item that is not a string: Docker refuses it, no shell form."""


def split_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading words that start with `--`; quotes and escapes inside them are removed.

    A bare `--` ends the flags and is dropped, as in Docker.
    """
    flags: list[str] = []
    word: list[str] = []
    blank_ok = False
    quote = ""
    n = len(line)
    pos = 0
    while pos < n:
        ch = line[pos]
        if not word and not blank_ok and not quote:  # between words
            if go.isspace(ch):
                pos += 1
                continue
            if not line.startswith("--", pos):
                return line[pos:], flags
        if quote:
            if ch == quote:
                quote = ""
            else:
                if ch == escape:
                    pos += 1
                    if pos == n:
                        break
                    ch = line[pos]
                word.append(ch)
            pos += 1
            continue
        if go.isspace(ch):
            text = "".join(word)
            if text == "--":
                return line[pos:], flags
            flags.append(text)
            word, blank_ok = [], False
        elif ch in "'\"":
            quote, blank_ok = ch, True
        else:
            if ch == escape:
                pos += 1
                if pos == n:
                    break
                ch = line[pos]
            word.append(ch)
        pos += 1
    text = "".join(word)
    if text != "--" and (blank_ok or text):
        flags.append(text)
    return "", flags


def json_array(rest: str):
    """The strings of a JSON array, or None when `rest` is not one (then it is shell form)."""
    rest = go.trim_left(rest)
    if not rest.startswith("["):
        return None

    def refuse(_value):
        raise ValueError("not JSON")

    def finite(value):
        number = float(value)
        if number in (float("inf"), float("-inf")):
            raise ValueError("out of range")  # Go's decoder rejects these; so it is shell form
        return number

    try:
        items = json.loads(rest, parse_constant=refuse, parse_float=finite, parse_int=lambda _: 0)
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list):
        return None
    if not all(isinstance(item, str) for item in items):
        raise NotStringArray(NOT_STRINGS)
    # A lone \ud800 escape decodes to a surrogate; Go puts U+FFFD there.
    return [re.sub("[\ud800-\udfff]", "\ufffd", item) for item in items]




def words(rest: str, escape: str) -> list[str]:
    """Docker's parseWords: split on white space outside quotes; quotes and escapes are kept
    in the words (the executor's expansion removes them)."""
    out: list[str] = []
    word: list[str] = []
    in_word = blank_ok = False
    quote = ""
    n = len(rest)
    pos = 0
    while pos < n:
        ch = rest[pos]
        pos += 1
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":  # nothing escapes inside single quotes
                if pos == n:
                    quote = ""
                    continue
                word.append(ch)
                ch = rest[pos]
                pos += 1
            word.append(ch)
            continue
        if go.isspace(ch):
            if in_word and (blank_ok or word):
                out.append("".join(word))
            word, in_word, blank_ok = [], False, False
            continue
        in_word = True
        if ch in "'\"":
            quote, blank_ok = ch, True
        elif ch == escape:
            if pos == n:
                continue  # an escape at the very end is dropped
            word.append(ch)
            ch = rest[pos]
            pos += 1
        word.append(ch)
    if in_word and (blank_ok or word):
        out.append("".join(word))
    return out
