"""COPY and ADD source wildcards as Docker's classic builder reads them: Go's filepath.Match
(`*`, `?`, `[...]` with `^` and ranges, `\\` escapes), matched component by component against
a tree's paths, in the order Go's filepath.WalkDir visits them.

moby walks the whole source tree and keeps each path that Match accepts; as Match's `*` never
crosses a "/", that is the same as matching one component a level, which is what glob() does
(entering real directories only: WalkDir does not follow symlinks either).
"""

from __future__ import annotations

import re
import stat


def has_wildcards(path: str) -> bool:
    """moby's containsWildcards: a `*`, `?` or `[` not escaped by a backslash."""
    i = 0
    while i < len(path):
        if path[i] == "\\":
            i += 2
            continue
        if path[i] in "*?[":
            return True
        i += 1
    return False


def glob(tree, pattern: str) -> list[str]:
    """The paths of `tree` (relative, "/"-separated) that `pattern` matches."""
    matchers = [compile_component(part) for part in pattern.split("/")]
    if any(m is None for m in matchers):
        return []  # Go's Match refuses a malformed pattern; moby then matches nothing
    last = len(matchers) - 1
    found: list[str] = []
    stack = [("", 0)]
    while stack:
        prefix, depth = stack.pop()
        subdirs = []
        for name in tree.listdir(prefix):
            if not matchers[depth].fullmatch(name):
                continue
            path = f"{prefix}/{name}" if prefix else name
            if depth == last:
                found.append(path)
                continue
            st = tree.lstat(path)
            if st is not None and stat.S_ISDIR(st.st_mode):
                subdirs.append((path, depth + 1))
        stack.extend(reversed(subdirs))
    return found


def compile_component(pattern: str) -> re.Pattern | None:
    """One path component of a Go filepath.Match pattern as a regex; None when malformed."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            if i >= n:
                return None
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            negate = i < n and pattern[i] == "^"
            i += negate
            ranges: list[str] = []
            while True:
                if i < n and pattern[i] == "]" and ranges:
                    i += 1
                    break
                lo, i = _class_char(pattern, i)
                if lo is None:
                    return None
                hi = lo
                if i < n and pattern[i] == "-":
                    hi, i = _class_char(pattern, i + 1)
                    if hi is None:
                        return None
                # Go matches nothing for a reversed range; Python would refuse it.
                ranges.append(f"{re.escape(lo)}-{re.escape(hi)}" if lo <= hi else "")
            body = "".join(ranges)
            if negate:
                out.append(f"[^{body}]" if body else ".")
            else:
                out.append(f"[{body}]" if body else "(?!)")
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int) -> tuple[str | None, int]:
    # Go's getEsc: an unescaped "-" or "]" here, or a pattern ending, is malformed.
    if i >= len(pattern) or pattern[i] in "-]":
        return None, i
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None, i
    return pattern[i], i + 1
