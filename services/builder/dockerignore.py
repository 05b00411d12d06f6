""".dockerignore files: reading their patterns and deciding which context paths they exclude.

Follows Docker's ignorefile reader and patternmatcher:

* A line starting with `#` is a comment; lines are trimmed, blank ones skipped; a leading
  UTF-8 BOM is dropped; each pattern is cleaned like Go's filepath.Clean and loses a
  leading `/`; a `!` (re-inclusion) is kept in front.
* A path is excluded when the last pattern matching it, or matching any of its parent
  directories, is not a `!` pattern. `*` and `?` never match `/`, `[...]` is a character
  class (`^` negates), `\\` escapes, `**` matches any number of directories.
* Docker sorts patterns into exact, prefix (`dir/**`), suffix (`**/name`) and regexp
  matches; the prefix and suffix forms are plain string tests (so `**foo` also matches
  `barfoo`), and that is kept here.
"""

from __future__ import annotations

import re

from services.common import errors

from . import gocompat

_SPACE = gocompat.SPACES  # what Go's strings.TrimSpace trims

_EXACT, _PREFIX, _SUFFIX, _REGEXP = range(4)


def _go_clean(path: str) -> str:
    """Go's path.Clean: the shortest equivalent path, lexically."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def read_patterns(data: bytes | str) -> list[str]:
    """The patterns of a .dockerignore file, as Docker's ignorefile.ReadAll gives them."""
    if isinstance(data, bytes):
        # Names are bytes on Linux: keep undecodable ones as the os module does.
        data = data.decode("utf-8", "surrogateescape")
    data = data.removeprefix("\ufeff")
    patterns = []
    for line in data.split("\n"):
        line = line.removesuffix("\r")  # bufio.ScanLines drops a CR before the LF
        if line.startswith("#"):  # only at the very start of the line, before trimming
            continue
        pattern = line.strip(_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_SPACE)
        if pattern:
            pattern = _go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


class _BadPattern(Exception):
    pass


def _escape_char(pattern: str, i: int) -> tuple[str, int]:
    """One (possibly `\\`-escaped) character of a class, as Go's getEsc reads it."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise _BadPattern
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise _BadPattern
    if i + 1 >= len(pattern):
        raise _BadPattern  # a class must still be closed after this character
    return pattern[i], i + 1


def _class(pattern: str, i: int) -> tuple[str, int, bool]:
    """The `[...]` class starting after the `[` at i-1: a regex, the index after `]`, and
    whether it can match `/` (then it may join path components)."""
    negated = i < len(pattern) and pattern[i] == "^"
    i += negated
    items, slash = [], False
    while True:
        if i < len(pattern) and pattern[i] == "]" and items:
            i += 1
            break
        lo, i = _escape_char(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _escape_char(pattern, i + 1)
        if lo > hi:
            raise _BadPattern  # filepath.Match lets it pass, Docker's regexp then refuses it
        items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
        slash = slash or lo <= "/" <= hi
    body = "".join(items)
    return (f"[^{body}]", i, True) if negated else (f"[{body}]", i, slash)


def _compile(pattern: str) -> tuple[int, str, bool]:
    """Docker's pattern compile: (match type, regex, whether a class may match `/`)."""
    kind, regex, wide = _EXACT, [], False
    i, step = 0, 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*" and i < len(pattern) and pattern[i] == "*":
            i += 1
            if i < len(pattern) and pattern[i] == "/":
                i += 1  # `**/` is `**`
            if i >= len(pattern):
                if kind == _EXACT:
                    kind = _PREFIX
                else:
                    regex.append(".*")
                    kind = _REGEXP
            else:
                regex.append("(?:.*/)?")  # any number of directories, even none
                kind = _REGEXP
            if step == 0:
                kind = _SUFFIX
        elif ch in "*?":
            regex.append("[^/]*" if ch == "*" else "[^/]")
            kind = _REGEXP
        elif ch == "\\":
            if i >= len(pattern):
                raise _BadPattern  # filepath.Match refuses a trailing backslash
            regex.append(re.escape(pattern[i]))
            i += 1
            kind = _REGEXP
        elif ch == "[":
            cls, i, slash = _class(pattern, i)
            regex.append(cls)
            wide = wide or slash
            kind = _REGEXP
        elif ch == "]":
            regex.append(r"\]")
            kind = _REGEXP
        else:
            regex.append(re.escape(ch))
        step += 1
    return kind, "".join(regex), wide


def _components(pattern: str) -> list[str]:
    """A pattern split at the `/` that separate path components (not in a class)."""
    parts, start, i = [], 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _class(pattern, i + 1)[1]
            continue
        if ch == "/":
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


class _Pattern:
    def __init__(self, text: str, exclusion: bool):
        self.text = text
        self.exclusion = exclusion
        self.kind, regex, self.wide = _compile(text)
        self.regex = re.compile(regex) if self.kind == _REGEXP else None
        self._parts: list[re.Pattern | None] | None = None

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.fullmatch(path) is not None

    def may_match_below(self, dirs: list[str]) -> bool:
        """Whether this pattern could match some path strictly below the directory `dirs`.

        Errs towards yes: a walker then merely looks at more entries than needed."""
        if self.kind == _SUFFIX or self.wide:
            return True
        if self._parts is None:
            # One regex a component; None for a component holding `**` (any depth).
            self._parts = [None if "**" in part else re.compile(_compile(part)[1])
                           for part in _components(self.text)]
        for depth, name in enumerate(dirs):
            if depth >= len(self._parts):
                # The pattern only reaches an ancestor of what is below: it cannot decide
                # anything there that it did not decide for the directory itself.
                return False
            part = self._parts[depth]
            if part is None:
                return True
            if part.fullmatch(name) is None:
                return False
        return len(self._parts) > len(dirs)


class Matcher:
    """Decides which paths of a build context a list of .dockerignore patterns excludes."""

    def __init__(self, patterns: list[str]):
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip(_SPACE)
            if not text:
                continue
            text = _go_clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise errors.BadParameter('illegal exclusion pattern: "!"')
                text = text[1:]
            try:
                self.patterns.append(_Pattern(text, exclusion))
            except (_BadPattern, re.error):
                raise errors.BadParameter(f"syntax error in pattern: {raw}") from None
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether `path` (relative to the context root, `/`-separated) is excluded."""
        path = _go_clean(path).lstrip("/")
        if path in ("", "."):
            return False  # the context root itself is never excluded
        parents = path.split("/")[:-1]
        result = False
        for pattern in self.patterns:
            if pattern.match(path) or any(pattern.match("/".join(parents[:i + 1]))
                                          for i in range(len(parents))):
                result = not pattern.exclusion  # the last matching pattern decides
        return result

    def excluded_below(self, path: str, parent_hits: tuple[bool, ...] | None
                       ) -> tuple[bool, tuple[bool, ...]]:
        """`excluded` for a walker going down the tree: `parent_hits` is what this returned
        for the parent directory (None at the top), so each path costs one match a pattern
        rather than one a pattern and ancestor."""
        if parent_hits is None:
            hits = tuple(self._hit_self_or_parent(p, path) for p in self.patterns)
        else:
            hits = tuple(was or p.match(path) for p, was in zip(self.patterns, parent_hits))
        result = False
        for pattern, hit in zip(self.patterns, hits):
            if hit:
                result = not pattern.exclusion
        return result, hits

    @staticmethod
    def _hit_self_or_parent(pattern: _Pattern, path: str) -> bool:
        parts = path.split("/")
        return any(pattern.match("/".join(parts[:i + 1])) for i in range(len(parts)))

    def dir_may_hold_inclusions(self, path: str) -> bool:
        """Whether a `!` pattern could re-include something below the directory `path`, so
        that a walker must look inside it even though it is excluded."""
        if not self.has_exclusions:
            return False
        path = _go_clean(path).lstrip("/")
        dirs = [] if path in ("", ".") else path.split("/")
        return any(p.exclusion and p.may_match_below(dirs) for p in self.patterns)
