"""The Dockerfile parser: every golden case under tests/fixtures/dockerfiles parses to its
`expected` dump, bad input is a BadParameter that names the line, and no input at all
(binary junk, huge lines, deep nesting) escapes as another exception."""

import pathlib
import random

import pytest

from services.builder import parser
from services.common import errors

CASES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "Dockerfile").is_file())


def test_there_are_enough_golden_cases():
    assert len(CASE_NAMES) >= 25


@pytest.mark.parametrize("case", CASE_NAMES)
def test_golden_case(case):
    text = (CASES / case / "Dockerfile").read_bytes()
    expected = (CASES / case / "expected").read_text(encoding="utf-8")
    assert parser.dump(parser.parse(text)) == expected


def bad(text, escape=None) -> str:
    with pytest.raises(errors.BadParameter) as info:
        parser.parse(text) if escape is None else parser.parse_line(text, escape)
    return info.value.message


@pytest.mark.parametrize("text, message", [
    ("FROM busybox\n\nBAZ bar\n", "dockerfile parse error on line 3: unknown instruction: BAZ"),
    # Docker's hint: the instruction within edit distance 2, cased as written.
    ("FROM busybox\nFOO bar\n", "dockerfile parse error on line 2: unknown instruction: FOO (did you mean FROM?)"),
    ("FROM busybox\nCOPPY a b\n",
     "dockerfile parse error on line 2: unknown instruction: COPPY (did you mean COPY?)"),
    ("FROM busybox\nrunn x\n", "dockerfile parse error on line 2: unknown instruction: runn (did you mean run?)"),
    ("FROM a\nRUN a \\\n  b\nENV x\n", "dockerfile parse error on line 4: ENV must have two arguments"),
    ("FROM a\nLABEL x\n", "dockerfile parse error on line 2: LABEL must have two arguments"),
    ("FROM a\nENV a=b c\n", 'dockerfile parse error on line 2: Syntax error - can\'t find = in "c". '
                            "Must be of the form: name=value"),
    ('FROM a\nCMD ["a", 1]\n', "dockerfile parse error on line 2: when using JSON array syntax, "
                               "arrays must be comprised of strings only"),
    ('FROM a\nCOPY [ "echo", [ "nested" ] ]\n', "dockerfile parse error on line 2: when using JSON array "
                                                "syntax, arrays must be comprised of strings only"),
    ("# escape=`\n# Escape=\\\nFROM a\n",
     "dockerfile parse error on line 2: only one escape parser directive can be used"),
    ("# syntax=a\n# SYNTAX=b\nFROM a\n", "dockerfile parse error on line 2: only one syntax parser directive can be used"),
    ("# escape=x\nFROM a\n", "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\"),
    ("FROM a\nONBUILD ONBUILD RUN x\n",
     "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD from b\n", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD Maintainer me\n",
     "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("\\\n", "dockerfile parse error on line 1: unknown instruction: "),
])
def test_errors_name_the_line(text, message):
    assert bad(text) == message


def test_heredoc_looking_text_is_plain_text_as_in_the_classic_builder():
    # The body is not swallowed: its lines are instructions of their own.
    assert bad("FROM busybox\nRUN <<EOF\necho hi\nEOF\n") == \
        "dockerfile parse error on line 3: unknown instruction: echo"
    node = parser.parse("FROM busybox\nRUN <<EOF\n").nodes[1]
    assert (node.keyword, node.args, node.json) == ("run", ("<<EOF",), False)


def test_directives_only_at_the_top():
    assert parser.parse("FROM a\n# escape=`\nRUN a `\n").nodes[1].args == ("a `",)
    parsed = parser.parse("# syntax=docker/dockerfile:1.4\n# escape=`\nFROM a\n")
    assert parsed.escape == "`"
    assert parsed.directives == {"syntax": "docker/dockerfile:1.4", "escape": "`"}
    plain = parser.parse("# hello\n# escape=`\nFROM a\n")
    assert plain.escape == "\\" and plain.directives == {}
    # A repeat after the section ended is a plain comment, not an error.
    assert parser.parse("# escape=`\nFROM a\n# escape=\\\n").escape == "`"


def test_lines_of_nodes_and_original_text():
    text = "# c\n\nFROM a AS b\nRUN one \\\n\n  # inside\n  two\nCMD x   \n"
    nodes = parser.parse(text).nodes
    assert [(n.line, n.end_line) for n in nodes] == [(3, 3), (4, 7), (8, 8)]
    assert nodes[1].original == "RUN one   two"
    assert nodes[2].original == "CMD x   "


def test_empty_continuation_line_is_a_warning_not_an_error():
    parsed = parser.parse("FROM a\nRUN a \\\n\n  b\n")
    assert parsed.warnings == ("Empty continuation line found in: RUN a   b",)
    assert parser.parse("FROM a\nRUN a \\\n  b\n").warnings == ()


def test_crlf_and_bom_inline():
    # Also inline, so no checkout's line-ending handling can hide a regression.
    parsed = parser.parse(b"\xef\xbb\xbf# escape=`\r\nFROM a\r\nRUN x `\r\n  y\r\n")
    assert parsed.escape == "`"
    assert parser.dump(parsed) == '(from "a")\n(run "x   y")\n'


def test_text_and_bytes_agree_and_bad_utf8_is_replaced():
    assert parser.parse("FROM a\nRUN é\n") == parser.parse("FROM a\nRUN é\n".encode())
    assert parser.parse(b"FROM a\nRUN \xff\n").nodes[1].args == ("\ufffd",)


def test_no_instructions_gives_no_nodes():
    for text in ("", "\n\n", "# only\n# comments\n", "   \n\t\n"):
        assert parser.parse(text).nodes == ()


def test_onbuild_node():
    node = parser.parse("FROM a\nONBUILD  RUN --x=1 echo hi\n").nodes[1]
    assert node.args == ("RUN --x=1 echo hi",)
    assert node.sub.keyword == "run" and node.sub.flags == ("--x=1",) and node.sub.args == ("echo hi",)


def test_parse_line():
    node = parser.parse_line("COPY --from=x a b")
    assert (node.keyword, node.flags, node.args, node.line) == ("copy", ("--from=x",), ("a", "b"), 1)
    assert parser.parse_line("RUN a `\n b", "`").args == ("a  b",)
    assert bad("RUN a\nRUN b", "\\") == "onbuild trigger should be a single expression"
    assert bad("", "\\") == "file with no instructions"
    assert bad("XYZZY x", "\\") == "dockerfile parse error on line 1: unknown instruction: XYZZY"


def test_flags_stop_at_the_first_word_and_at_double_dash():
    node = parser.parse_line('COPY --chown="a b" --link -- --x y')
    assert node.flags == ("--chown=a b", "--link") and node.args == ("--x", "y")
    assert parser.parse_line("COPY a --from=x b").flags == ()


def test_huge_line_is_refused_like_docker():
    message = bad("FROM a\nLABEL k=" + "v" * 70000 + "\n")
    assert message == "dockerfile parse error on line 2: dockerfile line greater than max allowed size of 65535"
    assert len(parser.parse("FROM a\nLABEL k=" + "v" * 60000 + "\n").nodes) == 2


@pytest.mark.parametrize("text", [
    "FROM a\nCMD " + "[" * 100000 + "]" * 100000 + "\n",
    "FROM a\nCMD " + "[" * 50000 + "\n",
    "FROM a\nENV " + "a=\"" * 20000 + "\n",
    "FROM a\nRUN " + "\\\n" * 50000,
    "FROM a\n" + "ONBUILD " * 5000 + "RUN x\n",
    "FROM a\nHEALTHCHECK --interval=" + "9" * 5000 + "s CMD x\n",
    "\x00\x01\x02\nFROM\x00 a\n",
    "FROM a\nCMD [\"\\ud800\", \"\\udc00x\"]\n",
])
def test_hostile_input_is_a_result_or_bad_parameter(text):
    try:
        parser.dump(parser.parse(text))
    except errors.BadParameter:
        pass


def test_random_bytes_never_escape_as_other_errors():
    rng = random.Random(20240501)
    alphabet = b"FROM RUN ENV CMD ONBUILD HEALTHCHECK \\`#=\"'[]{},-\n\r\t \x00\xff\xef\xbb\xbf"
    for _ in range(400):
        size = rng.randint(0, 300)
        if rng.random() < 0.5:
            blob = bytes(rng.randrange(256) for _ in range(size))
        else:
            blob = bytes(rng.choice(alphabet) for _ in range(size))
        try:
            parser.dump(parser.parse(blob))
        except errors.BadParameter:
            pass
