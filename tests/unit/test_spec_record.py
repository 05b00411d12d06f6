"""Docker's create body to the container record: the image's defaults, and Docker's refusals."""

from __future__ import annotations

import pytest

from services.common import container_files, errors
from services.supervisor import spec

CID = "ab" * 32


def made(image: dict | None = None, **kw) -> spec.Made:
    return spec.Made(id=CID, name="/box", image_id="sha256:" + "1" * 64,
                     image=image if image is not None else {"Cmd": ["sh"], "Env": ["PATH=/bin", "A=image"]},
                     paths=container_files.paths("/data", CID), mounts=[], anonymous_volumes=[],
                     cgroup_parent=kw.get("cgroup_parent", "dockyard"), default_runtime=kw.get("runtime", "builtin"))


def test_the_image_gives_what_the_body_does_not():
    image = {"Entrypoint": ["/init"], "Cmd": ["serve"], "Env": ["PATH=/bin", "A=image"], "User": "app",
             "WorkingDir": "/srv", "Labels": {"from": "image", "both": "image"}, "StopSignal": "SIGINT"}
    rec = spec.record(made(image), {"Image": "app", "Env": ["A=body", "B=1"], "Labels": {"both": "body"}}, {})
    assert (rec["Path"], rec["Args"]) == ("/init", ["serve"])
    assert rec["Config"]["Env"] == ["PATH=/bin", "A=body", "B=1"]
    assert rec["Config"]["User"] == "app" and rec["Config"]["WorkingDir"] == "/srv"
    assert rec["Config"]["Labels"] == {"from": "image", "both": "body"}
    assert rec["Config"]["StopSignal"] == "SIGINT" and rec["Config"]["Hostname"] == CID[:12]


def test_cmd_and_entrypoint_combine_as_dockers():
    image = {"Entrypoint": ["/init"], "Cmd": ["serve"]}
    # A Cmd of the body replaces the image's; an Entrypoint of the body drops the image's Cmd.
    assert spec.record(made(image), {"Image": "x", "Cmd": "x"}, {})["Args"] == ["x"]
    rec = spec.record(made(image), {"Image": "x", "Entrypoint": ["echo"]}, {})
    assert (rec["Path"], rec["Args"], rec["Config"]["Cmd"]) == ("echo", [], None)
    with pytest.raises(errors.BadParameter, match="No command specified"):
        spec.record(made({}), {"Image": "x"}, {})


def test_host_config_defaults_and_the_cgroup():
    rec = spec.record(made(cgroup_parent="ci/jobs"), {"Image": "x"}, {})
    host = rec["HostConfig"]
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["NetworkMode"] == "default" and host["LogConfig"]["Type"] == "json-file"
    assert host["Runtime"] == "builtin"
    assert rec["Dockyard"]["cgroup"] == f"ci/jobs/{CID}"
    assert spec.record(made(), {"Image": "x"}, {"CgroupParent": "/mine"})["Dockyard"]["cgroup"] == f"mine/{CID}"
    assert rec["State"]["Status"] == "created" and rec["LogPath"].endswith(f"{CID}-json.log")


def test_limits_of_v1_0_bodies_and_their_refusals():
    rec = spec.record(made(), {"Image": "x", "Memory": 64 << 20, "CpuShares": 512}, {})
    assert rec["HostConfig"]["Memory"] == 64 << 20 and rec["HostConfig"]["CpuShares"] == 512
    for host, message in [({"Memory": 1 << 20}, "Minimum memory limit"),
                          ({"Memory": 64 << 20, "MemorySwap": 1 << 20}, "larger than memory limit"),
                          ({"MemorySwap": 64 << 20}, "always set the Memory limit")]:
        with pytest.raises(errors.BadParameter, match=message):
            spec.record(made(), {"Image": "x"}, host)


@pytest.mark.parametrize("config, host, message", [
    ({"StopSignal": "SIGNOPE"}, {}, "invalid signal: SIGNOPE"),   # dockerd's words
    ({"WorkingDir": "relative"}, {}, "needs to be an absolute path"),
    ({}, {"RestartPolicy": {"Name": "sometimes"}}, "unknown policy"),
    ({}, {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}, "only be used with 'on-failure'"),
    ({}, {"RestartPolicy": {"Name": "always"}, "AutoRemove": True}, "both --restart and --rm"),
    ({}, {"Runtime": "kata"}, "unknown or invalid runtime name: kata"),
    ({}, {"CgroupParent": "../host"}, "cgroup parent"),
    ({}, {"SecurityOpt": ["seccomp=nonsense"]}, "seccomp"),
])
def test_refusals_come_at_create(config, host, message):
    with pytest.raises(errors.BadParameter, match=message):
        spec.record(made(), {"Image": "x", **config}, host)


def test_runc_is_a_runtime_a_container_may_choose():
    assert spec.record(made(), {"Image": "x"}, {"Runtime": "runc"})["HostConfig"]["Runtime"] == "runc"
    assert spec.record(made(runtime="runc"), {"Image": "x"}, {})["HostConfig"]["Runtime"] == "runc"


@pytest.mark.parametrize("text, number", [("9", 9), ("KILL", 9), ("SIGTERM", 15), ("hup", 1), (None, 9)])
def test_signals_as_dockers_api_names_them(text, number):
    assert spec.signal_number(text) == number


@pytest.mark.parametrize("text", ["0", "65", "SIGNOPE", "-1"])
def test_bad_signals(text):
    with pytest.raises(errors.BadParameter):
        spec.signal_number(text)
