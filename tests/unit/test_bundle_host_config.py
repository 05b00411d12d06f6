"""HostConfig's settings other than resources, from the create body to the OCI bundle: create's
defaults and refusals (spec.host), and what the bundle makes of them (bundle_host,
bundle_mounts): namespaces, docker-init, rlimits, sysctls, mounts and annotations."""

from __future__ import annotations

import json

import pytest

from services.common import container_files, errors
from services.common.wire import schema
from services.supervisor import bundle, bundle_mounts, spec
from services.supervisor.namespaces import Shared
from services.supervisor.spec import host as host_settings
from services.supervisor.spec import mount_specs

CID = "cd" * 32
D = container_files.paths("/data", CID)
OWN = Shared({"type": "pid"}, {"type": "ipc"})


def made(mounts=None, warnings=None) -> spec.Made:
    return spec.Made(id=CID, name="/box", image_id="sha256:" + "1" * 64, image={"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                     paths=D, mounts=mounts or [], anonymous_volumes=[], cgroup_parent="dockyard",
                     default_runtime="builtin", warnings=warnings if warnings is not None else [])


def record(host: dict | None = None, mounts=None, **config) -> dict:
    return spec.record(made(mounts), {"Image": "x", **config}, host or {})


def oci(rec: dict, shared: Shared = OWN) -> dict:
    return bundle.oci_config(rec, D, [], None, shared)


def mount_at(config: dict, dest: str) -> dict:
    found = [m for m in config["mounts"] if m["destination"] == dest]
    assert len(found) == 1, config["mounts"]
    return found[0]


# ----------------------------------------------------------------- create


def test_defaults_as_docker_fills_them(monkeypatch):
    monkeypatch.setattr(host_settings.cgroups, "is_v2", lambda: False)
    host = record()["HostConfig"]
    assert (host["IpcMode"], host["PidMode"], host["UTSMode"], host["CgroupnsMode"]) == ("private", "", "", "host")
    assert host["MaskedPaths"] == host_settings.MASKED_PATHS and host["ConsoleSize"] == [0, 0]
    assert host["OomKillDisable"] is False and host["MemorySwappiness"] is None and host["Ulimits"] is None
    assert not {"Init", "Tmpfs", "Sysctls", "Annotations", "Mounts"} & set(host)
    monkeypatch.setattr(host_settings.cgroups, "is_v2", lambda: True)
    assert record()["HostConfig"]["CgroupnsMode"] == "private"
    assert record({"Privileged": True})["HostConfig"]["MaskedPaths"] is None
    assert record({"Init": False})["HostConfig"]["Init"] is False   # Docker's *bool: false is shown


def test_config_keeps_what_only_docker_shows_when_set():
    config = record(StopTimeout=0, Shell=["/bin/bash", "-c"])["Config"]
    assert (config["StopTimeout"], config["Shell"]) == (0, ["/bin/bash", "-c"])
    assert record(Runtime="runc")["HostConfig"]["Runtime"] == "runc"   # docker-py's create_container(runtime=)


@pytest.mark.parametrize("host, config, words", [
    ({"IpcMode": "bogus"}, {}, "invalid IPC mode: bogus"),
    ({"PidMode": "container:"}, {}, "invalid PID mode"),
    ({"UTSMode": "private"}, {}, "invalid UTS mode: private"),
    ({"UTSMode": "host"}, {"Hostname": "me"}, "conflicting options: hostname and the UTS mode"),
    ({"CgroupnsMode": "both"}, {}, "invalid cgroup namespace mode: both"),
    ({"Isolation": "process"}, {}, "Invalid isolation"),
    ({"Sysctls": {"kernel.hostname": "x"}}, {}, "conflicts with the OCI"),
    ({"Sysctls": {"fs.file-max": "1"}}, {}, "not in a separate kernel namespace"),
    ({"Sysctls": {"fs.mqueue.msg_max": "1"}, "IpcMode": "host"}, {}, "hosts ipc namespace"),
    ({"Ulimits": [{"Name": "nofile", "Soft": -5, "Hard": 1}]}, {}, "invalid ulimit nofile"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}] * 2}, {}, "more than once"),
    ({"GroupAdd": ["a:b"]}, {}, "invalid group"),
    ({"Annotations": {"org.dockyard.runtime": "runc"}}, {}, "reserved"),
])
def test_refusals_at_create(host, config, words):
    with pytest.raises(errors.BadParameter) as exc:
        record(host, **config)
    assert words in exc.value.message


def test_allowed_sysctls():
    host = {"Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "1",
                        "kernel.domainname": "x"}}
    assert record(host)["HostConfig"]["Sysctls"] == host["Sysctls"]


def test_init_needs_the_binary(monkeypatch):
    monkeypatch.setattr(host_settings, "init_binary", lambda: None)
    with pytest.raises(errors.BadParameter, match="docker-init"):
        record({"Init": True})
    assert record({"Init": True, "PidMode": "host"})["HostConfig"]["Init"] is True   # no init there anyway


# ----------------------------------------------------------------- bundle


def test_namespaces_each_mode_makes():
    kinds = lambda c: [(ns["type"], ns.get("path")) for ns in c["linux"]["namespaces"]]   # noqa: E731
    rec = record({"CgroupnsMode": "private"})
    assert kinds(oci(rec)) == [("pid", None), ("mount", None), ("ipc", None), ("uts", None), ("network", None),
                               ("cgroup", None)]
    rec = record({"UTSMode": "host", "CgroupnsMode": "host", "PidMode": "host", "IpcMode": "host"})
    config = oci(rec, Shared(None, None, host_shm=True))
    assert kinds(config) == [("mount", None), ("network", None)]
    assert "hostname" not in config and "domainname" not in config
    assert mount_at(config, "/dev/shm") == {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                                            "options": ["rbind", "rprivate"]}
    joined = Shared({"type": "pid", "path": "/proc/7/ns/pid"}, {"type": "ipc", "path": "/proc/7/ns/ipc"}, shm_of=7)
    config = oci(record({"IpcMode": "container:other", "PidMode": "container:other"}), joined)
    assert kinds(config)[:3] == [("pid", "/proc/7/ns/pid"), ("mount", None), ("ipc", "/proc/7/ns/ipc")]
    assert config["annotations"][schema.ANNOTATION_SHM_OF] == "7"
    assert mount_at(config, "/dev/shm")["source"] == "/proc/7/root/dev/shm"
    assert not [m for m in oci(record({"IpcMode": "none"}))["mounts"] if m["destination"] == "/dev/shm"]


def test_init_rlimits_console_and_sysctls(monkeypatch):
    monkeypatch.setattr(host_settings, "init_binary", lambda: "/usr/bin/tini-static")
    rec = record({"Init": True, "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20},
                                            {"Name": "core", "Soft": -1, "Hard": -1}],
                  "ConsoleSize": [30, 100], "Sysctls": {"net.core.somaxconn": "7"}},
                 Cmd=["top", "-b"], Tty=True)
    config = oci(rec)
    assert config["process"]["args"] == ["/sbin/docker-init", "--", "top", "-b"]
    assert (rec["Path"], rec["Args"]) == ("top", ["-b"])   # inspect shows the command as given
    assert mount_at(config, "/sbin/docker-init") == {"destination": "/sbin/docker-init", "type": "bind",
                                                     "source": "/usr/bin/tini-static", "options": ["bind", "ro"]}
    assert config["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
                                            {"type": "RLIMIT_CORE", "soft": (1 << 64) - 1, "hard": (1 << 64) - 1}]
    assert config["process"]["consoleSize"] == {"height": 30, "width": 100}
    assert config["linux"]["sysctl"]["net.core.somaxconn"] == "7"
    host_net = oci(record({"NetworkMode": "host"}))["linux"]["sysctl"]
    assert "net.ipv4.ip_unprivileged_port_start" not in host_net   # Docker's defaults: its own network only
    assert oci(record({"Init": True, "PidMode": "host"}))["process"]["args"] == ["sh"]


def test_masked_paths_privileged_and_read_only_root():
    config = oci(record({"MaskedPaths": ["/etc/x"], "ReadonlyPaths": []}))
    assert (config["linux"]["maskedPaths"], config["linux"]["readonlyPaths"]) == (["/etc/x"], [])
    config = oci(record({"Privileged": True}))
    assert config["linux"]["maskedPaths"] == [] and "ro" not in mount_at(config, "/sys")["options"]
    config = oci(record({"ReadonlyRootfs": True}))
    assert config["root"]["readonly"] and "ro" in mount_at(config, "/sys")["options"]
    assert "ro" not in mount_at(config, "/dev/shm")["options"] and "ro" not in mount_at(config, "/proc")["options"]


def test_mounts_parents_first_and_replacing_defaults():
    points = [mount_specs.bind("/srv/a:/data/inner:ro"), mount_specs.bind("/srv/b:/data"),
              mount_specs.point({"Type": "tmpfs", "Target": "/dev/shm", "TmpfsOptions": {"SizeBytes": 1 << 20}})]
    config = oci(record({"Tmpfs": {"/run": "size=1m,exec"}}, mounts=points))
    dests = [m["destination"] for m in config["mounts"]]
    assert dests.index("/data") < dests.index("/data/inner") and dests.count("/dev/shm") == 1
    assert mount_at(config, "/data/inner")["options"] == ["rbind", "rro", "rprivate"]
    assert mount_at(config, "/dev/shm")["options"] == ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]
    assert mount_at(config, "/run")["options"] == ["nosuid", "nodev", "rprivate", "size=1m", "exec"]
    assert "rootfsPropagation" not in config["linux"]
    shallow = mount_specs.point({"Type": "bind", "Source": "/s", "Target": "/m", "ReadOnly": True,
                                 "BindOptions": {"ReadOnlyNonRecursive": True, "NonRecursive": True,
                                                 "Propagation": "rslave"}})
    config = oci(record(mounts=[shallow]))
    assert mount_at(config, "/m")["options"] == ["bind", "ro", "rslave"]
    assert config["linux"]["rootfsPropagation"] == "rslave"
    config = oci(record(mounts=[mount_specs.bind("/s:/m:rshared")]))
    assert config["linux"]["rootfsPropagation"] == "shared"


def test_volumes_to_fill_and_groups_to_add():
    points = [mount_specs.bind("v1:/filled"), mount_specs.bind("v2:/not:nocopy"), mount_specs.bind("/host:/bound")]
    for mp in points:
        mp["Source"] = mp["Source"] or f"/volumes/{mp['Name']}/_data"
    rec = record({"GroupAdd": ["audio", "1234"]}, mounts=points)
    annotations = oci(rec)["annotations"]
    assert json.loads(annotations[schema.ANNOTATION_COPY_UP]) == ["/filled"]
    assert json.loads(annotations[schema.ANNOTATION_GROUP_ADD]) == ["audio", "1234"]


def test_a_subpath_that_is_missing_or_a_symlink_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("/")
    point = mount_specs.point({"Type": "volume", "Source": "v", "Target": "/m", "VolumeOptions": {"Subpath": "real"}})
    point["Source"] = str(tmp_path)
    # The volume's root, and the subpath the runtime walks below it as it mounts it.
    mounted = mount_at(oci(record(mounts=[point])), "/m")
    assert (mounted["source"], mounted[schema.MOUNT_SUBPATH]) == (str(tmp_path), "real")
    for sub, words in (("missing", "cannot access path"), ("link", "symlink")):
        point["Spec"]["VolumeOptions"]["Subpath"] = sub
        with pytest.raises(errors.BadParameter, match=words):
            oci(record(mounts=[point]))


def test_a_volume_of_a_subpath_is_not_filled():
    sub = mount_specs.point({"Type": "volume", "Source": "vv", "Target": "/sub", "VolumeOptions": {"Subpath": "a"}})
    assert bundle_mounts.copies_up({"Mounts": [sub, mount_specs.bind("ww:/w")]}) == ["/w"]
