"""Typed instructions and stages from a Dockerfile: what each instruction holds, and the
classic builder's checks (flags, argument counts, durations), each a BadParameter naming
the line in Docker's words."""

import pytest

from services.builder import instructions as ins
from services.builder import parser
from services.common import errors


def one(text: str):
    """The instructions of the only stage of `FROM base\\n<text>`."""
    df = ins.parse_dockerfile("FROM base\n" + text)
    return df.stages[0].commands


def first(text: str):
    return one(text)[0]


def bad(text: str) -> str:
    with pytest.raises(errors.BadParameter) as info:
        ins.parse_dockerfile(text)
    return info.value.message


def test_stages_meta_args_and_names():
    df = ins.parse_dockerfile(
        "# syntax=docker/dockerfile:1\nARG BASE=alpine\nARG TAG\n"
        "FROM --platform=linux/amd64 ${BASE}:${TAG} AS Build\nRUN make\n"
        "FROM scratch\nCOPY --from=build /out /\n")
    assert [a.args for a in df.meta_args] == [(("BASE", "alpine"),), (("TAG", None),)]
    assert [(s.index, s.name) for s in df.stages] == [(0, "build"), (1, None)]
    base = df.stages[0].base
    assert base == ins.From("${BASE}:${TAG}", "build", "linux/amd64", line=4,
                            original="FROM --platform=linux/amd64 ${BASE}:${TAG} AS Build")
    assert df.stages[0].commands == [ins.Run(("make",), False, line=5, original="RUN make")]
    assert df.stages[1].commands[0].from_ == "build"
    assert df.escape == "\\" and df.directives == {"syntax": "docker/dockerfile:1"} and df.warnings == ()


def test_an_arg_after_the_first_from_belongs_to_the_stage():
    df = ins.parse_dockerfile("FROM a\nARG x=1\n")
    assert df.meta_args == [] and df.stages[0].commands[0].args == (("x", "1"),)


def test_only_meta_args_is_no_stage_for_the_executor_to_decide():
    df = ins.parse_dockerfile("ARG a\n")
    assert df.stages == [] and len(df.meta_args) == 1


def test_run_cmd_entrypoint_shell():
    assert first("RUN echo a  b") == ins.Run(("echo a  b",), False, line=2, original="RUN echo a  b")
    assert first('RUN ["echo", "a"]').command == ("echo", "a")
    assert first('RUN ["echo", "a"]').json
    assert first("CMD echo hi") == ins.Cmd(("echo hi",), False, line=2, original="CMD echo hi")
    assert first("CMD []") == ins.Cmd((), True, line=2, original="CMD []")
    assert first("ENTRYPOINT") == ins.Entrypoint((), False, line=2, original="ENTRYPOINT")
    assert first('ENTRYPOINT ["/bin/app", "-v"]').command == ("/bin/app", "-v")
    assert first('SHELL ["powershell", "-Command"]').command == ("powershell", "-Command")


def test_env_and_label_pairs_keep_quotes_for_expansion():
    assert first('ENV a=1 b="two words" c=x\\ y').pairs == (("a", "1"), ("b", '"two words"'), ("c", "x\\ y"))
    assert first("ENV PATH /usr/bin:$PATH").pairs == (("PATH", "/usr/bin:$PATH"),)
    assert first('LABEL "com.x"="v" version=1').pairs == (('"com.x"', '"v"'), ("version", "1"))
    assert first("LABEL description some words").pairs == (("description", "some words"),)


def test_simple_instructions():
    assert first("MAINTAINER Jane <j@x>").name == "Jane <j@x>"
    assert first("EXPOSE 8080 80/udp 443").ports == ("443", "80/udp", "8080")  # Docker sorts
    assert first("ARG a b=c d=").args == (("a", None), ("b", "c"), ("d", ""))
    assert first("WORKDIR /a b").path == "/a b"
    assert first("USER 1000:1000").user == "1000:1000"
    assert first('VOLUME ["/a", " /b "]').paths == ("/a", "/b")
    assert first("VOLUME /a /b").paths == ("/a", "/b")
    assert first("STOPSIGNAL SIGKILL").signal == "SIGKILL"
    assert first("ONBUILD  RUN echo hi").expression == "RUN echo hi"


def test_copy_and_add():
    copy = first("COPY --from=build --chown=1:2 --chmod=644 --link a b /dst/")
    assert copy == ins.Copy(("a", "b"), "/dst/", "build", "1:2", "644", True, line=2,
                            original="COPY --from=build --chown=1:2 --chmod=644 --link a b /dst/")
    plain = first('COPY ["a b", "/c d/"]')
    assert (plain.sources, plain.dest, plain.from_, plain.chown, plain.chmod, plain.link) == \
        (("a b",), "/c d/", None, None, None, False)
    assert first("COPY --from= a b").from_ is None  # Docker: an empty value is no flag
    add = first("ADD --chown=app --checksum=sha256:00 --keep-git-dir=false http://x/y.tar /z")
    assert (add.sources, add.dest, add.chown, add.chmod, add.checksum, add.keep_git_dir) == \
        (("http://x/y.tar",), "/z", "app", None, "sha256:00", False)


def test_healthcheck():
    check = first("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0s --start-interval=2s "
                  "--retries=3 CMD curl -f http://localhost/ || exit 1")
    assert check.test == ("CMD-SHELL", "curl -f http://localhost/ || exit 1")
    assert (check.interval, check.timeout, check.start_period, check.start_interval, check.retries) == \
        (90_000_000_000, 500_000_000, 0, 2_000_000_000, 3)
    assert not check.none
    assert first('HEALTHCHECK cmd ["true"]').test == ("CMD", "true")
    assert first("HEALTHCHECK --interval=1.5h CMD x").interval == 5_400_000_000_000
    assert first("HEALTHCHECK --interval=1µs1ms CMD x").interval == 1_001_000
    none = first("HEALTHCHECK none")
    assert none.none and none.test == () and none.interval == 0
    # Docker reads no flags for NONE.
    assert first("HEALTHCHECK --bogus NONE").none


def test_onbuild_trigger_from_node():
    node = parser.parse_line("COPY --chown=1 a /b")
    assert ins.from_node(node) == ins.Copy(("a",), "/b", None, "1", None, line=1,
                                           original="COPY --chown=1 a /b")
    with pytest.raises(errors.BadParameter, match="unknown flag: --nope"):
        ins.from_node(parser.parse_line("COPY --nope a b"))


def test_unknown_onbuild_trigger_is_accepted_until_it_runs_as_in_docker():
    trigger = first("ONBUILD FOO bar")
    assert trigger.expression == "FOO bar"
    with pytest.raises(errors.BadParameter, match="unknown instruction: FOO"):
        parser.parse_line(trigger.expression)


def test_unknown_instruction_from_a_node_built_elsewhere():
    node = parser.Node("xyzzy", (), (), False, "Xyzzy x", 7, 7)
    with pytest.raises(errors.BadParameter) as info:
        ins.from_node(node)
    assert info.value.message == "dockerfile parse error on line 7: unknown instruction: Xyzzy"


BUILDKIT = "requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"


@pytest.mark.parametrize("text, message", [
    ("", "file with no instructions"),
    ("# nothing\n\n", "file with no instructions"),
    ("RUN true\n", "dockerfile parse error on line 1: no build stage in current context"),
    ("ARG a\nENV b=c\nFROM x\n", "dockerfile parse error on line 2: no build stage in current context"),
    ("FROM a AS one\nFROM b AS One\n", "dockerfile parse error on line 2: one stage name already used"),
    ("FROM a AS 1st\n", 'dockerfile parse error on line 1: invalid name for build stage: "1st", '
                        "name can't start with a number or contain symbols"),
    ("FROM a AS b$c\n", 'dockerfile parse error on line 1: invalid name for build stage: "b$c", '
                        "name can't start with a number or contain symbols"),
    ("FROM a b\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
    ("FROM\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
    ("FROM --plaform=x a\n", "dockerfile parse error on line 1: unknown flag: --plaform (did you mean platform?)"),
    ("FROM a\nCOPY --nope=1 a b\n", "dockerfile parse error on line 2: unknown flag: --nope"),
    ("FROM a\nCOPY --chwn=1 a b\n", "dockerfile parse error on line 2: unknown flag: --chwn (did you mean chown?)"),
    ("FROM a\nCOPY --parents a b\n", "dockerfile parse error on line 2: unknown flag: --parents"),
    ("FROM a\nCOPY --from a b\n", "dockerfile parse error on line 2: missing a value on flag: --from"),
    ("FROM a\nCOPY --from=x --from=y a b\n", "dockerfile parse error on line 2: duplicate flag specified: --from"),
    ("FROM a\nCOPY --link=maybe a b\n",
     "dockerfile parse error on line 2: expecting boolean value for flag --link, not: maybe"),
    ("FROM a\nCOPY --link= a b\n", "dockerfile parse error on line 2: missing a value on flag: --link"),
    ("FROM a\nCOPY a\n", "dockerfile parse error on line 2: COPY requires at least two arguments, "
                         "but only one was provided. Destination could not be determined"),
    ("FROM a\nADD a\n", "dockerfile parse error on line 2: ADD requires at least two arguments, "
                        "but only one was provided. Destination could not be determined"),
    ("FROM a\nADD --from=x a b\n", "dockerfile parse error on line 2: unknown flag: --from"),
    ("FROM a\nRUN --mount=type=cache,target=/x true\n", "dockerfile parse error on line 2: the --mount option " + BUILDKIT),
    ("FROM a\nRUN --network=none true\n", "dockerfile parse error on line 2: the --network option " + BUILDKIT),
    ("FROM a\nRUN --security=insecure true\n", "dockerfile parse error on line 2: the --security option " + BUILDKIT),
    ("FROM a\nRUN --foo true\n", "dockerfile parse error on line 2: unknown flag: --foo"),
    ("FROM a\nCMD --x echo\n", "dockerfile parse error on line 2: unknown flag: --x"),
    ("FROM a\nSHELL /bin/sh -c\n", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
    ("FROM a\nSHELL []\n", "dockerfile parse error on line 2: SHELL requires at least one argument"),
    ("FROM a\nENV\n", "dockerfile parse error on line 2: ENV requires at least one argument"),
    ("FROM a\nENV =x\n", "dockerfile parse error on line 2: ENV names can not be blank"),
    ("FROM a\nLABEL =x\n", "dockerfile parse error on line 2: LABEL names can not be blank"),
    ("FROM a\nARG\n", "dockerfile parse error on line 2: ARG requires at least one argument"),
    ("FROM a\nARG =x\n", "dockerfile parse error on line 2: ARG names can not be blank"),
    ("FROM a\nMAINTAINER\n", "dockerfile parse error on line 2: MAINTAINER requires exactly one argument"),
    ("FROM a\nWORKDIR\n", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
    ("FROM a\nUSER\n", "dockerfile parse error on line 2: USER requires exactly one argument"),
    ("FROM a\nSTOPSIGNAL\n", "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument"),
    ("FROM a\nEXPOSE\n", "dockerfile parse error on line 2: EXPOSE requires at least one argument"),
    ("FROM a\nVOLUME\n", "dockerfile parse error on line 2: VOLUME requires at least one argument"),
    ('FROM a\nVOLUME ["/a", "  "]\n', "dockerfile parse error on line 2: VOLUME specified can not be an empty string"),
    ("FROM a\nONBUILD\n", "dockerfile parse error on line 2: ONBUILD requires at least one argument"),
    ("FROM a\nONBUILD onbuild RUN x\n",
     "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nHEALTHCHECK\n", "dockerfile parse error on line 2: HEALTHCHECK requires at least one argument"),
    ("FROM a\nHEALTHCHECK NONE x\n", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK CMD\n", "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK CMD []\n", "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK connect x\n",
     'dockerfile parse error on line 2: Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("FROM a\nHEALTHCHECK --intervl=1s CMD x\n",
     "dockerfile parse error on line 2: unknown flag: --intervl (did you mean interval?)"),
    ("FROM a\nHEALTHCHECK --interval=500us CMD x\n",
     'dockerfile parse error on line 2: Interval "interval" cannot be less than 1ms'),
    ("FROM a\nHEALTHCHECK --timeout=-1s CMD x\n",
     'dockerfile parse error on line 2: Interval "timeout" cannot be less than 1ms'),
    ("FROM a\nHEALTHCHECK --start-period=soon CMD x\n",
     'dockerfile parse error on line 2: time: invalid duration "soon"'),
    ("FROM a\nHEALTHCHECK --interval=30 CMD x\n",
     'dockerfile parse error on line 2: time: missing unit in duration "30"'),
    ("FROM a\nHEALTHCHECK --interval=3d CMD x\n",
     'dockerfile parse error on line 2: time: unknown unit "d" in duration "3d"'),
    ("FROM a\nHEALTHCHECK --interval=9999999999h CMD x\n",
     'dockerfile parse error on line 2: time: invalid duration "9999999999h"'),
    ("FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "dockerfile parse error on line 2: --retries cannot be negative (-1)"),
    ("FROM a\nHEALTHCHECK --retries=three CMD x\n",
     'dockerfile parse error on line 2: strconv.ParseInt: parsing "three": invalid syntax'),
    ("FROM a\nHEALTHCHECK --retries=1_0 CMD x\n",
     'dockerfile parse error on line 2: strconv.ParseInt: parsing "1_0": invalid syntax'),
    ("FROM a\nHEALTHCHECK --retries=3000000000 CMD x\n",
     'dockerfile parse error on line 2: strconv.ParseInt: parsing "3000000000": value out of range'),
])
def test_errors_in_dockers_words(text, message):
    assert bad(text) == message


def test_durations_as_go_parses_them():
    from services.builder import gocompat as go
    assert go.parse_duration("0") == 0
    assert go.parse_duration("-1.5s") == -1_500_000_000
    assert go.parse_duration(".5m") == 30_000_000_000
    assert go.parse_duration("1h2m3s4ms5us6ns") == 3_723_004_005_006
    for text in ("", "s", ".s", "1..5s", "+", "1s2"):
        with pytest.raises(ValueError):
            go.parse_duration(text)


def test_hostile_instructions_are_bad_parameter():
    for text in ("FROM a\nHEALTHCHECK --retries=" + "0" * 5000 + "1 CMD x\n",
                 "FROM a\nHEALTHCHECK --interval=" + "0" * 5000 + "1s CMD x\n",
                 "FROM a\nCOPY --" + "x" * 5000 + "=1 a b\n"):
        try:
            ins.parse_dockerfile(text)
        except errors.BadParameter:
            pass
