"""The builder's configuring instructions: what each does to a stage's run config, and the
ARG scoping and build-arg rules of Docker's classic builder."""

import pytest

from services.builder import cache, dispatch
from services.builder import instructions as ins
from services.common import errors


def state(**kw) -> dispatch.StageState:
    return dispatch.StageState(image="sha256:" + "a" * 64, config={"Env": ["PATH=/bin"]}, **kw)


def test_env_expands_and_an_env_wins_over_an_arg():
    s = state(build_args={"WHO": "alice"})
    dispatch.declare_arg(s, "WHO", None)
    assert dispatch.configure(s, ins.Env(pairs=(("GREETING", '"hi ${WHO}"'),))) == "ENV GREETING=hi alice"
    dispatch.configure(s, ins.Env(pairs=(("WHO", "bob"),)))
    assert s.expand("$WHO") == "bob" and s.run_args() == [] and "WHO=bob" in s.config["Env"]


def test_arg_values_build_args_meta_args_and_defaults():
    s = state(build_args={"A": "given", "C": None}, meta_args={"B": "meta", "C": "meta-c"})
    dispatch.declare_arg(s, "A", "default")
    dispatch.declare_arg(s, "B", None)
    dispatch.declare_arg(s, "C", None)
    dispatch.declare_arg(s, "D", "dflt")
    assert s.args == {"A": "given", "B": "meta", "C": "meta-c", "D": "dflt"}
    assert s.used_args == {"A", "C"}
    assert s.history_args() == ["A=given", "B=meta", "C=meta-c", "D=dflt"]


def test_proxy_args_reach_run_but_not_the_history():
    s = state(build_args={"HTTP_PROXY": "http://p:3128"})
    assert s.run_args() == ["HTTP_PROXY=http://p:3128"] and s.history_args() == []


def test_expose_forms():
    s = state()
    dispatch.configure(s, ins.Expose(ports=("80", "53/udp", "8000-8001")))
    assert s.config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    with pytest.raises(errors.BadParameter):
        dispatch.configure(s, ins.Expose(ports=("80/xyz",)))


def test_entrypoint_resets_an_inherited_cmd_but_not_one_the_stage_gave():
    s = state()
    s.config["Cmd"] = ["inherited"]
    dispatch.configure(s, ins.Entrypoint(command=("/bin/app",), json=True))
    assert s.config["Cmd"] is None
    dispatch.configure(s, ins.Cmd(command=("run",), json=True))
    dispatch.configure(s, ins.Entrypoint(command=("/bin/other",), json=True))
    assert s.config["Cmd"] == ["run"]


def test_shell_form_uses_the_stage_shell_and_workdir_is_relative():
    s = state()
    dispatch.configure(s, ins.Shell(command=("/bin/bash", "-ec")))
    assert s.command(("echo hi",), False) == ["/bin/bash", "-ec", "echo hi"]
    dispatch.configure(s, ins.Workdir(path="/a"))
    dispatch.configure(s, ins.Workdir(path="b/../c"))
    assert s.config["WorkingDir"] == "/a/c"


def test_healthcheck_none_and_values():
    s = state()
    dispatch.configure(s, ins.Healthcheck(none=False, test=("CMD", "true"), interval=5, timeout=0,
                                          start_period=0, start_interval=0, retries=2))
    assert s.config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5, "Retries": 2}
    dispatch.configure(s, ins.Healthcheck(none=True, test=(), interval=0, timeout=0, start_period=0,
                                          start_interval=0, retries=0))
    assert s.config["Healthcheck"] == {"Test": ["NONE"]}


def test_the_cache_key_follows_the_step_config():
    s = state()
    one = cache.key(dispatch.step_config(s, dispatch.nop_cmd(s, "ENV A=1")))
    assert one == cache.key(dispatch.step_config(s, dispatch.nop_cmd(s, "ENV A=1")))
    assert one != cache.key(dispatch.step_config(s, dispatch.nop_cmd(s, "ENV A=2")))


def test_nop_history_forms_are_dockers():
    s = state()
    assert " ".join(dispatch.nop_cmd(s, "ENV A=1")) == "/bin/sh -c #(nop)  ENV A=1"
    assert " ".join(dispatch.nop_cmd(s, "WORKDIR /app")) == "/bin/sh -c #(nop) WORKDIR /app"
    assert " ".join(dispatch.nop_cmd(s, "COPY file:ab in / ")) == "/bin/sh -c #(nop) COPY file:ab in / "
    dispatch.configure(s, ins.Shell(command=("/bin/bash", "-c")))
    assert dispatch.nop_cmd(s, "CMD [\"x\"]")[:2] == ["/bin/bash", "-c"]


def test_a_build_arg_without_a_value_takes_the_stage_default_first():
    s = state(build_args={"X": None}, meta_args={"X": "meta"})
    dispatch.declare_arg(s, "X", "stage")
    assert s.args["X"] == "stage"
    dispatch.declare_arg(s, "Y", None)
    assert s.args["Y"] is None
