"""Dockerfile variable substitution, as Docker's shell lexer does it.

The classic builder expands `$var` and `${...}` in most instructions' arguments with
BuildKit's shell lexer (frontend/dockerfile/shell, vendored by the daemon). This module
follows its behaviour, form for form:

* `'...'` is literal; `"..."` expands `$` and lets the escape character escape `"`, `$`
  and itself (any other escape stays as written); outside quotes the escape character
  takes the next character literally, and one at the very end is dropped.
* `$name`, `${name}`; a name is letters, digits and `_`, or a run of digits (a positional
  parameter), or one special parameter (`@ * # ? - $ ! 0`). Unset names give "".
* `${n:-w}` `${n-w}` `${n:+w}` `${n+w}` `${n:?msg}` `${n?msg}` (`:` also treats an empty
  value as unset), `${n#p}` `${n##p}` `${n%p}` `${n%%p}` (shortest/longest prefix or
  suffix trimmed; `*` and `?` wildcards) and `${n/p/r}` `${n//p/r}`. The word may nest.
* `expand_words` also splits the result on unquoted whitespace (EXPOSE-like lists);
  whitespace a variable's value brings is split too, quoted whitespace is not.

Errors are Docker's, wrapped as it wraps them: `failed to process "<word>": <reason>`.
"""

from __future__ import annotations

from typing import Mapping

from services.common import errors

from . import gocompat

# Go's unicode.IsSpace splits words (Python's isspace also counts \x1c-\x1f).
_SPACE = frozenset(gocompat.SPACES)
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
# A hostile word can nest ${a:-${b:-...}} without end; Go's stacks grow, Python's do not.
_MAX_NESTING = 50

_STAR, _ANY = object(), object()  # pattern tokens besides literal characters


class _LexError(Exception):
    pass


class _Words:
    """Collects words split on unquoted whitespace (Go's wordsStruct)."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.buf: list[str] = []
        self.size = 0
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in _SPACE:
            if self.in_word and self.size:
                self.words.append("".join(self.buf))
                self.buf, self.size, self.in_word = [], 0, False
        else:
            self.add_raw(ch)

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.size += len(text)
        self.in_word = True

    def result(self) -> list[str]:
        if self.size:
            self.words.append("".join(self.buf))
            self.buf, self.size, self.in_word = [], 0, False
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str):
        # Go's text/scanner skips a byte-order mark at the very start.
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.pos = 0
        self.env = env
        self.escape = escape
        # Whether escapes are kept in the result: true while reading a #, % or / pattern,
        # so the pattern code can tell `\*` from `*`. Dynamically scoped, as in Go.
        self.raw = False
        self.depth = 0

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def next(self) -> str | None:
        ch = self.peek()
        if ch is not None:
            self.pos += 1
        return ch

    def stop_on(self, stop: str | None, raw: bool) -> tuple[str, list[str]]:
        """Read up to `stop` (consumed) or the end; the text and its words."""
        saved, self.raw = self.raw, raw
        try:
            return self._stop_on(stop)
        finally:
            self.raw = saved

    def _stop_on(self, stop: str | None) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while (ch := self.peek()) is not None:
            if ch == stop:
                self.pos += 1
                return "".join(result), words.result()
            if ch == "$":
                piece = self.dollar()
                result.append(piece)
                words.add_string(piece)  # a value's whitespace splits words
                continue
            if ch in "'\"<":
                piece = self.single_quote() if ch == "'" else \
                    self.double_quote() if ch == '"' else self.heredoc()
                result.append(piece)
                words.add_raw(piece)
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if ch is None:
                    break  # an escape at the very end is dropped
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop is not None:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def single_quote(self) -> str:
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise _LexError("unexpected end of statement while looking for matching single-quote")
        piece, self.pos = self.text[self.pos:end], end + 1
        return piece

    def double_quote(self) -> str:
        self.pos += 1
        result: list[str] = []
        while True:
            ch = self.peek()
            if ch is None:
                raise _LexError("unexpected end of statement while looking for matching "
                                "double-quote")
            if ch == '"':
                self.pos += 1
                return "".join(result)
            if ch == "$":
                result.append(self.dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw:
                    result.append(ch)
                following = self.peek()
                if following is None:
                    continue  # the missing closing quote is reported next turn
                if following in ('"', "$", self.escape):
                    ch = self.next()
                # else the escape stays as written (twice in raw mode, as in Go)
            result.append(ch)

    def heredoc(self) -> str:
        # Go keeps `<<` and the blanks after it together, so a heredoc marker stays one word.
        self.pos += 1
        if self.peek() != "<":
            return "<"
        self.pos += 1
        start = self.pos
        while self.peek() in ("\t", "\r", " "):
            self.pos += 1
        return "<<" + self.text[start:self.pos]

    def name(self) -> str:
        start = self.pos
        ch = self.peek()
        if ch is None:
            return ""
        if ch.isdecimal():
            while (ch := self.peek()) is not None and ch.isdecimal():
                self.pos += 1
            return self.text[start:self.pos]
        if ch in _SPECIAL_PARAMS:
            self.pos += 1
            return ch
        while (ch := self.peek()) is not None and (ch.isalpha() or ch.isdecimal() or ch == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def dollar(self) -> str:
        self.depth += 1
        try:
            if self.depth > _MAX_NESTING:
                raise _LexError("syntax error: substitutions are nested too deeply")
            return self._dollar()
        finally:
            self.depth -= 1

    def _dollar(self) -> str:
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        ch = self.peek()
        if ch is None:
            raise _LexError("syntax error: missing '}'")
        if ch in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch is None:
            # Go reports "unsupported modifier (\ufffd)" here (its EOF rune); say what is wrong.
            raise _LexError("syntax error: missing '}'")
        if ch == "}":
            return self.env.get(name, "")
        modifier, null_is_unset = ch, False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch if ch is not None else "\ufffd"
        if ch == "/" and not null_is_unset:
            return self._replace(name)
        if not null_is_unset and ch not in ("+", "-", "?", "#", "%"):
            raise _LexError(f"unsupported modifier ({modifier}) in substitution")
        pattern_kind = ch in ("#", "%")
        if null_is_unset and pattern_kind:
            raise _LexError(f"unsupported modifier ({modifier}) in substitution")
        word = self._word_until("}", pattern_kind, "syntax error: missing '}'")
        is_set = name in self.env
        value = self.env.get(name, "")
        empty = not is_set or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not is_set:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if empty:
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            longest = word.startswith(ch)
            if longest:
                word = word[1:]
            return _trim(word, value, suffix=ch == "%", longest=longest)
        raise _LexError(f"unsupported modifier ({modifier}) in substitution")

    def _word_until(self, stop: str, raw: bool, at_end: str) -> str:
        try:
            return self.stop_on(stop, raw)[0]
        except _LexError:
            if self.peek() is None:
                raise _LexError(at_end) from None
            raise

    def _replace(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.pos += 1
        pattern = self._word_until("/", True, "syntax error: missing '/' in ${}")
        replacement = self._word_until("}", True, "syntax error: missing '}'")
        tokens = _pattern_tokens(pattern)
        value = self.env.get(name, "")
        if not every:
            found = _match(tokens, value, 0, False, True)
            if found is None:
                return value
            return value[:found[0]] + replacement + value[found[1]:]
        # Go's ReplaceAllString: an empty match right after a match is not replaced, the
        # search always moves on, and the replacement is a template ($0 is the match).
        out: list[str] = []
        last_end = search = 0
        while search <= len(value):
            found = _match(tokens, value, search, False, True)
            if found is None:
                break
            start, end = found
            out.append(value[last_end:start])
            if end > last_end or start == 0:
                out.append(_expand_template(replacement, value[start:end]))
            last_end = end
            search = search + 1 if search + 1 > end else end
        out.append(value[last_end:])
        return "".join(out)


def _pattern_tokens(pattern: str) -> list:
    """A ${..#..}/${../..} pattern as tokens: literal characters, _ANY (`?`), _STAR (`*`).

    `\\*`, `\\?`, `\\\\` are literal; `\\}` and `\\/` were only escaped for the lexer."""
    tokens: list = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            tokens.append(_STAR)
        elif ch == "?":
            tokens.append(_ANY)
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            following = pattern[i] if i < len(pattern) else ""
            i += 1
            if following not in ("*", "?", "\\"):
                raise _LexError(f"invalid pattern ({pattern}) in substitution: "
                                f"invalid escape '\\{following}'")
            tokens.append(following)
        else:
            tokens.append(ch)
    return tokens


def _step(tokens: list, state: int, ch: str) -> int | None:
    """The state after `ch` from `state` (before its closure), or None."""
    tok = tokens[state]
    if tok is _STAR:
        return state if ch != "\n" else None  # Go's `.` does not match a newline
    if tok is _ANY:
        return state + 1 if ch != "\n" else None
    return state + 1 if tok == ch else None


def _closure(tokens: list, state: int) -> list[int]:
    states = [state]
    while state < len(tokens) and tokens[state] is _STAR:
        state += 1
        states.append(state)
    return states


def _match(tokens: list, value: str, start: int, anchored: bool, longest: bool
           ) -> tuple[int, int] | None:
    """The match Go's leftmost-first regexp search finds: the leftmost start at or after
    `start` (only `start` itself if anchored), then the longest (greedy `*`) or shortest
    (lazy `*`) end there. Run as a state automaton, not Python's backtracking `re`, so a
    hostile `*a*a*a*b` takes linear time."""
    accept = len(tokens)
    threads: dict[int, int] = {}  # state -> leftmost start reaching it
    best: tuple[int, int] | None = None
    pos = start
    while True:
        if best is None and (not anchored or pos == start):
            for state in _closure(tokens, 0):
                threads.setdefault(state, pos)
        if accept in threads:
            origin = threads[accept]
            if best is None or origin < best[0] or (origin == best[0] and longest):
                best = (origin, pos)
        if best is not None:  # only a thread that may still beat `best` goes on
            threads = {s: o for s, o in threads.items()
                       if o < best[0] or (longest and o == best[0])}
        if pos == len(value) or (not threads and (best is not None or anchored)):
            return best
        ch = value[pos]
        nxt: dict[int, int] = {}
        for state, origin in threads.items():
            if state < accept and (to := _step(tokens, state, ch)) is not None:
                for s in _closure(tokens, to):
                    if s not in nxt or origin < nxt[s]:
                        nxt[s] = origin
        threads, pos = nxt, pos + 1


def _trim(pattern: str, value: str, suffix: bool, longest: bool) -> str:
    tokens = _pattern_tokens(pattern)
    if suffix:  # a suffix of the value is a prefix of the reversed value
        tokens, value = tokens[::-1], value[::-1]
    found = _match(tokens, value, 0, True, longest)
    if found is not None:
        value = value[found[1]:]
    return value[::-1] if suffix else value


def _expand_template(template: str, match: str) -> str:
    """Go's Regexp.Expand with one group (0, the whole match) and no names."""
    out: list[str] = []
    i = 0
    while True:
        dollar = template.find("$", i)
        if dollar < 0:
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:dollar])
        i = dollar + 1
        if template.startswith("$", i):
            out.append("$")
            i += 1
            continue
        brace = template.startswith("{", i)
        j = k = i + brace
        while k < len(template) and (template[k].isalpha() or template[k].isdecimal()
                                     or template[k] == "_"):
            k += 1
        name = template[j:k]
        if not name or (brace and not template.startswith("}", k)):
            out.append("$")  # malformed: the $ is kept as text
            continue
        i = k + brace
        if name == "0":
            out.append(match)  # any other group or name does not exist: nothing


def _process(text: str, env: Mapping[str, str], escape: str) -> tuple[str, list[str]]:
    if escape not in ("\\", "`"):
        # The parser only ever sets these two (the `# escape=` directive).
        raise errors.BadParameter(f"invalid escape token '{escape}' does not validate as escape "
                                  "token; must be ` or \\")
    try:
        return _Lexer(text, env, escape).stop_on(None, False)
    except _LexError as exc:
        raise errors.BadParameter(f"failed to process {gocompat.quote(text)}: {exc}") from None


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """`word` with its variables substituted and quotes removed; whitespace is kept."""
    return _process(word, env, escape)[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Like expand, then split on whitespace that was not quoted or escaped."""
    return _process(text, env, escape)[1]
