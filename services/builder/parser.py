"""Dockerfile text to nodes, as Docker's classic builder parses it: parser directives, line
continuations and comments, then each instruction's arguments by that instruction's rules.

No variable is expanded here; instructions.py types and checks the nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.builder import gocompat as go
from services.builder import lexer
from services.common import errors

# bufio.Scanner's token limit in Docker's parser: a longer line is refused, not read.
MAX_LINE_BYTES = 65535

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
                "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume",
                "workdir")

_DIRECTIVES = ("syntax", "escape", "check")
# After the "#" (Go's \s is [\t\n\f\r ]); the value is trimmed in code, as a lazy regex
# would take quadratic time on a long line of spaces.
_DIRECTIVE_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=(.*)")
_GO_RE_SPACE = "\t\n\f\r "
_WORD_SEP = re.compile(r"[\t\v\f\r ]+")  # Docker's reWhitespace: splits the keyword and word lists
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)


@dataclass(frozen=True)
class Node:
    keyword: str            # lower case: "from", "run", ...
    args: tuple[str, ...]
    flags: tuple[str, ...]  # "--name=value" / "--name", quotes and escapes removed as Docker does
    json: bool              # args came from a JSON array (exec form)
    original: str           # the instruction, continuation lines joined
    line: int               # first line, 1-based
    end_line: int
    sub: "Node | None" = None  # ONBUILD's trigger instruction


@dataclass(frozen=True)
class Parsed:
    nodes: tuple[Node, ...]
    escape: str
    directives: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def error_at(line: int, message: str) -> errors.BadParameter:
    """The one wording of a located Dockerfile error (Docker's instruction-parse prefix)."""
    return errors.BadParameter(f"dockerfile parse error on line {line}: {message}")


class _Fail(Exception):
    """An argument rule's complaint; the caller adds the line."""


def parse(text: str | bytes, any_keyword: bool = False) -> Parsed:
    """The Dockerfile's nodes. With `any_keyword`, an unknown instruction is a node without
    arguments, as Docker's parser keeps it (its caller refuses it: commit's changes)."""
    return _parse(text, "\\", directives_allowed=True, any_keyword=any_keyword)


def parse_line(text: str, escape: str = "\\") -> Node:
    """One instruction, e.g. an ONBUILD trigger stored in a base image's config."""
    parsed = _parse(text, escape, directives_allowed=False)
    if not parsed.nodes:
        raise errors.BadParameter("file with no instructions")
    if len(parsed.nodes) > 1:
        raise errors.BadParameter("onbuild trigger should be a single expression")
    return parsed.nodes[0]


def dump(parsed: Parsed) -> str:
    """The golden form: one `(keyword ["flags"] [json] "args"...)` line per instruction."""
    return "".join(f"({_dump_node(node)})\n" for node in parsed.nodes)


def _dump_node(node: Node) -> str:
    parts = [node.keyword]
    if node.flags:
        parts.append("[" + " ".join(go.quote(f) for f in node.flags) + "]")
    if node.json:
        parts.append("json")
    if node.sub is not None:
        parts.append(f"({_dump_node(node.sub)})")
    else:
        parts.extend(go.quote(a) for a in node.args)
    return " ".join(parts)


def _decode(text: str | bytes) -> str:
    # Go reads bytes and never fails on bad UTF-8; replacing keeps every later str encodable.
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text).decode("utf-8", "replace")
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _raw_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":  # a final newline ends the last line, it does not start another
        lines.pop()
    return lines


def _is_comment(line: str) -> bool:
    return go.trim_left(line).startswith("#")


def _join_continuation(line: str, escape: str) -> tuple[str, bool]:
    """(text without the continuation escape, whether the instruction goes on).

    The escape continues the line when it is the last thing but spaces and tabs, and is not
    itself escaped: Docker's `([^\\])\\[ \t]*$|^\\[ \t]*$`.
    """
    stripped = line.rstrip(" \t")
    if stripped.endswith(escape) and (len(stripped) == 1 or stripped[-2] != escape):
        return stripped[:-1], True
    return line, False


class _Directives:
    """Parser directives: only in the comment block that opens the file, each key once."""

    def __init__(self, escape: str, allowed: bool):
        self.escape = escape
        self.found: dict[str, str] = {}
        self.done = not allowed

    def feed(self, line: str, number: int) -> None:
        if self.done:
            return
        m = _DIRECTIVE_RE.fullmatch(go.trim_left(line[1:])) if line.startswith("#") else None
        key = m.group(1).lower() if m and m.group(2) else None
        if key not in _DIRECTIVES:
            self.done = True  # anything else, blank lines included, ends the section
            return
        if key in self.found:
            raise error_at(number, f"only one {key} parser directive can be used")
        # Docker's `\s*(.+?)\s*$`: trimmed, but an all-space value keeps its last space.
        value = m.group(2).strip(_GO_RE_SPACE) or m.group(2)[-1]
        if key == "escape":
            if value not in ("\\", "`"):
                raise error_at(number, f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        self.found[key] = value


def _parse(text: str | bytes, escape: str, directives_allowed: bool, any_keyword: bool = False) -> Parsed:
    text = _decode(text)
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _raw_lines(text)
    state = _Directives(escape, directives_allowed)
    nodes: list[Node] = []
    warnings: list[str] = []
    count = len(lines)
    i = 0

    def take() -> str:
        nonlocal i
        raw = lines[i].rstrip("\r\n")
        i += 1
        if len(raw) > MAX_LINE_BYTES // 4 and len(raw.encode("utf-8")) > MAX_LINE_BYTES:
            raise error_at(i, f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}")
        return raw

    while i < count:
        raw = go.trim_left(take())
        start = i
        state.feed(raw, start)
        if raw.startswith("#"):
            continue
        text_part, more = _join_continuation(raw, state.escape)
        if not more and text_part == "":
            continue
        parts = [text_part]
        empty_continuation = False
        while more and i < count:
            raw = take()  # continuation lines keep their leading white space, as in Docker
            if _is_comment(raw):
                continue  # comments inside a continuation vanish without ending it
            if go.trim_left(raw) == "":
                empty_continuation = True
                continue
            text_part, more = _join_continuation(raw, state.escape)
            parts.append(text_part)
        line = "".join(parts)
        if empty_continuation:
            warnings.append("Empty continuation line found in: " + line)
        try:
            nodes.append(_node_from_line(line, state.escape, start, i, nested=False, any_keyword=any_keyword))
        except _Fail as exc:
            raise error_at(start, str(exc)) from None
    return Parsed(tuple(nodes), state.escape, dict(state.found), tuple(warnings))


def _node_from_line(line: str, escape: str, start: int, end: int, nested: bool,
                    any_keyword: bool = False) -> Node:
    cmd, flags, rest = _split_command(line, escape)
    keyword = cmd.lower()
    sub = None
    is_json = False
    if keyword == "onbuild":
        args, sub = _onbuild(line, rest, escape, start, end)
    elif keyword in _ARG_RULES:
        args, is_json = _ARG_RULES[keyword](rest, escape)
    elif nested or any_keyword:
        # Docker accepts any word as an ONBUILD trigger; it fails when a child build runs it.
        args = ()
    else:
        hint = go.suggest(cmd, INSTRUCTIONS, case_sensitive=False)
        raise _Fail(f"unknown instruction: {cmd}" + (f" (did you mean {hint}?)" if hint else ""))
    return Node(keyword, tuple(args), tuple(flags), is_json, line, start, end, sub)


def _onbuild(line: str, rest: str, escape: str, start: int, end: int):
    if rest == "":
        return (), None
    if _WORD_SEP.split(rest, maxsplit=1)[0].lower() == "onbuild":  # before recursing into it
        raise _Fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    sub = _node_from_line(rest, escape, start, end, nested=True)
    if sub.keyword in ("from", "maintainer"):
        raise _Fail(f"{sub.keyword.upper()} isn't allowed as an ONBUILD trigger")
    return (_ONBUILD_PREFIX.sub("", line, count=1),), sub


def _split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    """The keyword, its leading `--flags`, and the rest of the line."""
    parts = _WORD_SEP.split(go.trim_space(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = lexer.split_flags(parts[1], escape)
    return parts[0], flags, go.trim_space(rest)


def _maybe_json(rest: str, escape: str):
    if rest == "":
        return (), False
    items = _json_array(rest)
    if items is not None:
        return items, True
    return (rest,), False


def _json_array(rest: str):
    try:
        return lexer.json_array(rest)
    except lexer.NotStringArray as exc:
        raise _Fail(str(exc)) from None


def _maybe_json_list(rest: str, escape: str):
    items = _json_array(rest)
    if items is not None:
        return items, True
    return _whitespace_words(rest, escape)


def _whitespace_words(rest: str, escape: str):
    return (_WORD_SEP.split(rest) if rest else ()), False


def _single_string(rest: str, escape: str):
    return ((rest,) if rest else ()), False


def _arg_words(rest: str, escape: str):
    return lexer.words(rest, escape), False


def _name_values(key: str):
    def rule(rest: str, escape: str):
        words = lexer.words(rest, escape)
        if not words:
            return (), False
        if "=" not in words[0]:
            # The old form, `ENV name value with spaces`: the value is the raw rest.
            parts = _WORD_SEP.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise _Fail(f"{key} must have two arguments")
            return tuple(parts), False
        pairs: list[str] = []
        for word in words:
            if "=" not in word:
                raise _Fail(f"Syntax error - can't find = in {go.quote(word)}. "
                            "Must be of the form: name=value")
            pairs.extend(word.split("=", 1))
        return pairs, False
    return rule


def _healthcheck(rest: str, escape: str):
    """`NONE`, or `CMD` followed by exec or shell form; the type word is kept as written."""
    if rest == "":
        return (), False
    sep = 0
    while sep < len(rest) and not go.isspace(rest[sep]):
        sep += 1
    command, is_json = _maybe_json(go.trim_left(rest[sep:]), escape)
    return (rest[:sep], *command), is_json


_ARG_RULES = {
    "add": _maybe_json_list, "copy": _maybe_json_list, "volume": _maybe_json_list,
    "run": _maybe_json, "cmd": _maybe_json, "entrypoint": _maybe_json, "shell": _maybe_json,
    "from": _whitespace_words, "expose": _whitespace_words,
    "arg": _arg_words,
    "env": _name_values("ENV"), "label": _name_values("LABEL"),
    "maintainer": _single_string, "workdir": _single_string, "user": _single_string,
    "stopsignal": _single_string,
    "healthcheck": _healthcheck,
}
