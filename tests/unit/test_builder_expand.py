"""Dockerfile variable substitution (services/builder/expand.py).

The tables reproduce the expectations of Docker's own lexer tests (BuildKit's
frontend/dockerfile/shell envVarTest, wordsTest and lex_test.go, which the classic builder
vendors) and the examples of the Dockerfile reference's "Environment replacement".
"""

import random

import pytest

from services.builder.expand import expand, expand_words
from services.common import errors

ERR = "error"

# envVarTest's environment.
ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}

# (word, expected) with ENV, from envVarTest (the lines for all platforms and for Unix).
ENV_VAR_TEST = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", ERR),
    ("he\\'llo", "he'llo"),
    ("he\\\\'llo", ERR),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hello', ERR),
    ('"hello\\"', ERR),
    ('"hel\'lo"', "hel'lo"),
    ("'hello", ERR),
    ("'hello\\'", "hello\\"),
    ("'hello\\there'", "hello\\there"),
    ("'hello\\\\there'", "hello\\\\there"),
    ('"\'\'"', "''"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("\\${}", "${}"),
    ("\\${}aaa", "${}aaa"),
    ("he\\${}", "he${}"),
    ("he\\${}xx", "he${}xx"),
    ("${}", ERR),
    ("${}aaa", ERR),
    ("he${}", ERR),
    ("he${}xx", ERR),
    ("he${hi}", "he"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${.}", ERR),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${XXX:YYY}", ERR),
    ("he${XXX?}", ERR),
    ("he${XXX:?}", ERR),
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${NULL?}", "he"),
    ("he${NULL:?}", ERR),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ('"he\'$PWD\'"', "he'/home'"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("'he\\$PWD'", "he\\$PWD"),
    ("he${PWD", ERR),
    ("he${PWD:=000}xx", ERR),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("안녕하세요", "안녕하세요"),
    ("안'녕'하세요", "안녕하세요"),
    ("안'녕하세요", ERR),
    ("안녕\\'하세요", "안녕'하세요"),
    ('"안녕\\t하세요"', "안녕\\t하세요"),
    ("안녕$PWD", "안녕/home"),
    ("$KOREAN", "한국어"),
    ("안녕$KOREAN", "안녕한국어"),
    ("${{aaa}", ERR),
    ("${aaa}}", "}"),
    ("${aaa", ERR),
    ("${{aaa:-bbb}", ERR),
    ("${aaa:-bbb}}", "bbb}"),
    ("${aaa:-bbb", ERR),
    ("${aaa:-bbb}", "bbb"),
    ("${aaa:-${bbb:-ccc}}", "ccc"),
    ("${aaa:-bbb ${foo}", ERR),
    ("${aaa:-bbb {foo}", "bbb {foo"),
    ("${:}", ERR),
    ("${:-bbb}", ERR),
    ("${:+bbb}", ERR),
    # positional and special parameters are never set in a Dockerfile
    ("$1", ""), ("${1}", ""), ("${1:+bbb}", ""), ("${1:-bbb}", "bbb"),
    ("$999aaa", "aaa"), ("${999:-bbb}aaa", "bbbaaa"),
    ("$001aaa", "aaa"), ("${001:+bbb}aaa", "aaa"),
    ("$@", ""), ("$@@@", "@@"), ("$@aaa", "aaa"), ("${@:-bbb}aaa", "bbbaaa"),
    ("$*", ""), ("${#}", ""), ("${?:-bbb}", "bbb"), ("${-:+bbb}", ""), ("$$", ""),
    ("${!:-bbb}", "bbb"), ("$0", ""), ("${0:-bbb}", "bbb"),
]


@pytest.mark.parametrize("word, expected", ENV_VAR_TEST)
def test_env_var_test_table(word, expected):
    if expected == ERR:
        with pytest.raises(errors.BadParameter):
            expand(word, ENV)
    else:
        assert expand(word, ENV) == expected


# (word, env, expected) from lex_test.go (TestProcessWithMatches, mandatory variables).
MODIFIERS = [
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x "),
    ("x ${FOO}", {"FOO": "y"}, "x y"),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
    ("${FOO:-}", {"FOO": "xxx"}, "xxx"),
    ("${FOO:-}", {}, ""),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
    ("${FOO?aaa}", {"FOO": "xxx"}, "xxx"),
    ("${BAR?bbb}", {"BAR": ""}, ""),
    ("${BAZ?ccc}", {}, ERR),
    ("${FOO:?aaa}", {"FOO": "xxx"}, "xxx"),
    ("${BAR:?bbb}", {"BAR": ""}, ERR),
    ("${BAZ:?}", {}, ERR),
    ("${FOO=aaa}", {"FOO": "xxx"}, ERR),
    ("${FOO=:aaa}", {"FOO": "xxx"}, ERR),
    ("${FOO=}", {}, ERR),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO:#}", {}, ERR),
    ("${FOO:##}", {}, ERR),
    ("${FOO:%}", {}, ERR),
    ("${FOO:%%}", {}, ERR),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt"),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
     "/tmp/bar.txt - /bar.txt"),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"}, "/foo/b/c.txt - /foo/c.txt"),
    ("${FOO/$NEEDLE/$REPLACEMENT}",
     {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de"),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO//ww}", {"FOO": "xxyy"}, ERR),
    ("${FOO//}", {"FOO": "xxyy"}, ERR),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO///}", {}, ""),
    ("something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64", "TARGETVARIANT": ""},
     "something-v1.2.3.linux-arm64.tar.gz"),
    ("something-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}",
     {"TARGETARCH": "arm", "TARGETVARIANT": "v7"}, "something-arm-v7"),
    ("${VAR:?message here$ARG}", {"VAR": "plain", "ARG": "x"}, "plain"),
    ("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}, ""),
    # the Dockerfile reference's examples
    ("${FOO}", {"FOO": "/bar"}, "/bar"),
    ("$FOO", {"FOO": "/bar"}, "/bar"),
    ("\\$FOO", {"FOO": "/bar"}, "$FOO"),
    ("\\${FOO}", {"FOO": "/bar"}, "${FOO}"),
    ("${foo}_bar", {"foo": "x"}, "x_bar"),
    ("$foo_bar", {"foo": "x"}, ""),
    ("${variable:-word}", {"variable": "set"}, "set"),
    ("${variable:-word}", {}, "word"),
    ("${variable:+word}", {"variable": "set"}, "word"),
    ("${variable:+word}", {}, ""),
    ("${variable#*/}", {"variable": "a/b/c"}, "b/c"),
    ("${variable##*/}", {"variable": "a/b/c"}, "c"),
    ("${variable%/*}", {"variable": "a/b/c"}, "a/b"),
    ("${variable%%/*}", {"variable": "a/b/c"}, "a"),
    ("${variable/b/x}", {"variable": "abcb"}, "axcb"),
    ("${variable//b/x}", {"variable": "abcb"}, "axcx"),
]


@pytest.mark.parametrize("word, env, expected", MODIFIERS)
def test_modifiers(word, env, expected):
    if expected == ERR:
        with pytest.raises(errors.BadParameter):
            expand(word, env)
    else:
        assert expand(word, env) == expected


# wordsTest: each (text, words) after the ENV lines before it.
WORDS_ENV = {"hi": "hi", "space": "abc  def", "leading": "  ab c", "trailing": "ab c   "}
WORDS_TEST = [
    ("hello", ["hello"]),
    ("hello${hi}bye", ["hellohibye"]),
    ("hello${space}bye", ["helloabc", "defbye"]),
    ('hello"${space}"bye', ["helloabc  defbye"]),
    ('hello "${space}"bye', ["hello", "abc  defbye"]),
    ("hello${leading}def", ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', ["hello  ab c", "def"]),
    ('hello"${leading}"', ["hello  ab c"]),
    ("hello${leading}", ["hello", "ab", "c"]),
    ("hello${trailing}", ["helloab", "c"]),
    ("hello${trailing}d", ["helloab", "c", "d"]),
    ('hello"${trailing}"d', ["helloab c   d"]),
    ('hel"lo${trailing}"', ["helloab c   "]),
    ('hello" there  "', ["hello there  "]),
    ("hello there     ", ["hello", "there"]),
    ("hello\\ there", ["hello there"]),
    ('hello" there', ERR),
    ('hello\\" there', ['hello"', "there"]),
    ('hello"\\\\there"', ["hello\\there"]),
    ('hello"\\there"', ["hello\\there"]),
    ("hello'\\\\there'", ["hello\\\\there"]),
    ("hello'\\there'", ["hello\\there"]),
    ("hello'$there'", ["hello$there"]),
    # more: empty quotes vanish, a default's words split, heredoc markers stay whole
    ('a "" b', ["a", "b"]),
    ("80/tcp ${PORTS:-443 8080}", ["80/tcp", "443", "8080"]),
    ("ab${x:-c}d e", ["abcd", "e"]),
    ("a <<  EOF b", ["a", "<<  EOF", "b"]),
    ("", []),
    ("   ", []),
]


@pytest.mark.parametrize("text, expected", WORDS_TEST)
def test_words_test_table(text, expected):
    if expected == ERR:
        with pytest.raises(errors.BadParameter):
            expand_words(text, WORDS_ENV)
    else:
        assert expand_words(text, WORDS_ENV) == expected


def test_expand_keeps_whitespace_that_words_split():
    assert expand("a  ${space} b", WORDS_ENV) == "a  abc  def b"
    assert expand_words("a  ${space} b", WORDS_ENV) == ["a", "abc", "def", "b"]


@pytest.mark.parametrize("word, expected", [
    ("C:\\path\\$X", "C:\\path\\y"),        # backslash is literal: Windows paths
    ("`$X", "$X"),
    ("a` b", "a b"),
    ('"q`"q"', 'q"q'),
    ('"`$X"', "$X"),
    ('"``"', "`"),
    ('"\\$X"', "\\y"),
    ("tail`", "tail"),
])
def test_backtick_escape(word, expected):
    assert expand(word, {"X": "y"}, escape="`") == expected


def test_bad_escape_token():
    with pytest.raises(errors.BadParameter, match="escape"):
        expand("x", {}, escape="!")


@pytest.mark.parametrize("word, message", [
    ("he${PWD:=000}xx",
     'failed to process "he${PWD:=000}xx": unsupported modifier (:=) in substitution'),
    ("${", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("${:a}", "syntax error: bad substitution"),
    ("${a:-b", "syntax error: missing '}'"),
    ("${a/b", "syntax error: missing '/' in ${}"),
    ("${a/b/c", "syntax error: missing '}'"),
    ("'abc", "unexpected end of statement while looking for matching single-quote"),
    ('"abc', "unexpected end of statement while looking for matching double-quote"),
    ("${FOO#\\x}", "invalid pattern (\\x) in substitution: invalid escape '\\x'"),
    ("${VAR:?}", "VAR: is not allowed to be unset"),
    ("${NULL:?}", "NULL: is not allowed to be empty"),
    ("${VAR?must be set}", "VAR: must be set"),
    ("${a b}", "unsupported modifier ( ) in substitution"),
])
def test_error_messages_are_dockers(word, message):
    with pytest.raises(errors.BadParameter) as info:
        expand(word, {"NULL": ""})
    assert message in info.value.message
    assert info.value.message.startswith("failed to process ")


def test_replace_all_follows_go_regexp_rules():
    env = {"FOO": "abc", "B": "baaac"}
    assert expand("${FOO//*/x}", env) == "x"         # no second, empty match at the end
    assert expand("${B//a*/-}", env) == "b-"
    assert expand("${FOO//b/'[$0]'}", env) == "a[b]c"  # the replacement is a Go template
    assert expand("${FOO//b/'$$'}", env) == "a$c"
    assert expand("${FOO/b/'[$0]'}", env) == "a[$0]c"  # a single replacement is literal


def test_wildcards_do_not_cross_newlines():
    env = {"A": "ab\nb"}
    assert expand("${A##*b}", env) == "\nb"
    assert expand("${A%%b*}", env) == "ab\n"


def test_leading_byte_order_mark_is_skipped():
    assert expand("\ufeff$X", {"X": "1"}) == "1"


def test_deep_nesting_is_an_error_not_a_crash():
    word = "${a:-" * 500 + "x" + "}" * 500
    with pytest.raises(errors.BadParameter, match="nested too deeply"):
        expand(word, {})
    assert expand("${a:-" * 40 + "x" + "}" * 40, {}) == "x"
    quoted = "\"${a:-" * 60 + "x" + "}\"" * 60
    with pytest.raises(errors.BadParameter, match="nested too deeply"):
        expand(quoted, {})


def test_hostile_patterns_take_linear_time():
    value = "a" * 20000
    assert expand("${V##*a*a*a*a*a*a*a*a*a*a*b}", {"V": value}) == value
    assert expand("${V//*a*a*a*a*a*a*a*a*a*b/x}", {"V": value}) == value
    assert expand("${V%%a*a*a*a*a}", {"V": value}) == ""


def test_random_input_gives_a_result_or_bad_parameter():
    rng = random.Random(1234)
    alphabet = "${}:-+?#%/\\`'\" a1_*\n\t<!@"
    env = {"a": "x y", "b": "", "1": "one"}
    for _ in range(4000):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        for escape in ("\\", "`"):
            try:
                assert isinstance(expand(word, env, escape), str)
                assert all(isinstance(w, str) for w in expand_words(word, env, escape))
            except errors.BadParameter:
                pass
