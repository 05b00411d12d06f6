"""Which stages a build runs (the target and what it needs) and the ARGs before FROM."""

import pytest

from services.builder import instructions, stages
from services.common import errors

DOCKERFILE = """\
ARG BASE=busybox
ARG TAG=${BASE}-tag
FROM ${BASE} AS one
FROM busybox AS unused
FROM one AS two
COPY --from=0 /a /a
FROM busybox AS three
COPY --from=two /b /b
"""


def parsed():
    return instructions.parse_dockerfile(DOCKERFILE)


def test_meta_args_take_build_args_and_expand_defaults():
    values, used = stages.meta_args(parsed(), {"BASE": "alpine", "OTHER": "x"})
    assert values == {"BASE": "alpine", "TAG": "alpine-tag"} and used == {"BASE"}
    values, used = stages.meta_args(parsed(), {"BASE": None})
    assert values["BASE"] == "busybox" and used == {"BASE"}


def names(found):
    return [s.name for s in found]


def test_only_the_target_and_what_it_needs():
    df = parsed()
    ident = lambda word: word.replace("${BASE}", "busybox")
    assert names(stages.needed(df, None, ident)) == ["one", "two", "three"]
    assert names(stages.needed(df, "two", ident)) == ["one", "two"]
    assert names(stages.needed(df, "UNUSED", ident)) == ["unused"]
    with pytest.raises(errors.BadParameter, match="failed to reach build target nosuch"):
        stages.needed(df, "nosuch", ident)
    assert stages.index_of(df, "1") == 1 and stages.index_of(df, "9") is None
