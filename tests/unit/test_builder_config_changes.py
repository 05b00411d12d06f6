"""Commit's and import's `changes` (docker commit -c, docker import -c): Dockerfile
instructions applied to a config by the builder's parser and dispatch, as Docker's
BuildFromConfig applies them, and refused with Docker's words."""

from __future__ import annotations

import pytest

from services.builder.config_changes import apply
from services.common import errors


def empty() -> dict:
    return {"Hostname": "", "User": "", "Env": None, "Cmd": None, "Entrypoint": None, "Volumes": None,
            "WorkingDir": "", "Labels": None, "OnBuild": None, "Image": ""}


def test_what_docker_py_sends():
    out = apply(empty(), ["EXPOSE 8000", 'CMD ["bash"]'])
    assert out["ExposedPorts"] == {"8000/tcp": {}} and out["Cmd"] == ["bash"]
    out = apply(empty(), ["USER foobar", 'CMD ["echo"]'])
    assert out["User"] == "foobar" and out["Cmd"] == ["echo"]


def test_each_allowed_instruction():
    base = {**empty(), "Env": ["PATH=/bin", "HOME=/root"], "Labels": {"a": "1"}, "Cmd": ["sh"],
            "WorkingDir": "/srv", "ExposedPorts": {"80/tcp": {}}}
    out = apply(base, ["ENV GREETING=hi WHO=$HOME", "LABEL b=2 c=\"with space\"", "EXPOSE 53/udp 8000-8001",
                       "VOLUME /data /logs", "WORKDIR app", "STOPSIGNAL SIGQUIT", "ONBUILD RUN make",
                       "HEALTHCHECK --interval=5s --retries=2 CMD true", "CMD echo $WHO"])
    assert out["Env"] == ["PATH=/bin", "HOME=/root", "GREETING=hi", "WHO=/root"]
    assert out["Labels"] == {"a": "1", "b": "2", "c": "with space"}
    assert out["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert out["Volumes"] == {"/data": {}, "/logs": {}}
    assert out["WorkingDir"] == "/srv/app" and out["StopSignal"] == "SIGQUIT"
    assert out["OnBuild"] == ["RUN make"]
    assert out["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert out["Cmd"] == ["/bin/sh", "-c", "echo $WHO"]   # a shell form's words stay for the shell
    assert base["Env"] == ["PATH=/bin", "HOME=/root"] and base["Cmd"] == ["sh"]   # the given config is kept


def test_entrypoint_resets_a_cmd_given_before_it_only_by_the_image():
    base = {**empty(), "Cmd": ["sh"]}
    assert apply(base, ['ENTRYPOINT ["top"]'])["Cmd"] is None
    out = apply(base, ['CMD ["-b"]', 'ENTRYPOINT ["top"]'])
    assert out["Entrypoint"] == ["top"] and out["Cmd"] == ["-b"]
    assert apply(base, ["USER 1000:1000", "USER nobody"])["User"] == "nobody"


def test_no_changes_is_the_config_itself():
    base = empty()
    assert apply(base, []) is base


@pytest.mark.parametrize("changes, message", [
    (["RUN echo hi"], "RUN is not a valid change command"),
    (["run echo hi"], "run is not a valid change command"),
    (["EXPOSE 80", "COPY a b"], "COPY is not a valid change command"),
    (["FROM busybox"], "FROM is not a valid change command"),
    (["MAINTAINER me"], "MAINTAINER is not a valid change command"),
    (["SHELL [\"/bin/bash\", \"-c\"]"], "SHELL is not a valid change command"),
    (["ARG a=1"], "ARG is not a valid change command"),
    (["FOO bar"], "FOO is not a valid change command"),
    (["EXPOSE"], "dockerfile parse error on line 1: EXPOSE requires at least one argument"),
    (["USER a", "USER"], "dockerfile parse error on line 2: USER requires exactly one argument"),
    (["EXPOSE 80/xyz"], "invalid proto: xyz"),
    (["EXPOSE abc"], "invalid containerPort: abc"),
    (["ENV"], "dockerfile parse error on line 1: ENV requires at least one argument"),
    (["CMD --foo=bar x"], "dockerfile parse error on line 1: unknown flag: --foo"),
    ([""], "file with no instructions"),
])
def test_bad_changes_are_refused_with_dockers_words(changes, message):
    with pytest.raises(errors.BadParameter) as info:
        apply(empty(), changes)
    assert info.value.message == message
