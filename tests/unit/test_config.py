"""Settings: defaults, YAML, overrides, and the refusals dockyardd makes from them."""

import pytest

from services.common.config import ConfigError, Settings, cgroup_path, parse_host
from services.common.sockets import SERVICES
from services.dockyardd import supervisord_conf


def test_defaults():
    s = Settings()
    assert s.hosts == ["unix:///run/dockyard/docker.sock", "tcp://127.0.0.1:2375"]
    assert s.data_root == "/var/lib/dockyard" and s.exec_root == "/run/dockyard"
    s.validate()


def test_example_config_lists_every_setting_with_its_default():
    import yaml
    with open("deploy/dockyard.yaml") as fh:
        example = yaml.safe_load(fh)
    assert sorted(example) == sorted(Settings.keys())
    assert Settings.from_file("deploy/dockyard.yaml") == Settings()


def test_yaml_and_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("hosts: [unix:///tmp/x.sock]\nlog-level: debug\n")
    s = Settings.from_file(str(f))
    assert s.hosts == ["unix:///tmp/x.sock"] and s.log_level == "debug"
    f.write_text("no-such-setting: 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.from_file(str(f))
    f.write_text("hosts: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Settings.from_file(str(f))
    f.write_text("max-json-body: lots\n")
    with pytest.raises(ConfigError, match="integer"):
        Settings.from_file(str(f))
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.from_file(str(tmp_path / "missing.yaml"))


def test_runtime_file_round_trip(tmp_path):
    s = Settings(hosts=["tcp://127.0.0.1:1"], tlscert=None, log_level="warn")
    s.write_runtime_file(str(tmp_path / "d.json"))
    assert Settings.from_runtime_file(str(tmp_path / "d.json")) == s


@pytest.mark.parametrize("text,want", [
    ("unix:///run/x.sock", ("unix", "/run/x.sock", "", 0)),
    ("tcp://127.0.0.1:2375", ("tcp", "", "127.0.0.1", 2375)),
    ("tcp://127.0.0.1", ("tcp", "", "127.0.0.1", 2375)),
    ("tcp://[::1]:99", ("tcp", "", "::1", 99)),
])
def test_parse_host(text, want):
    h = parse_host(text)
    assert (h.scheme, h.path, h.host, h.port) == want


@pytest.mark.parametrize("text", ["127.0.0.1:2375", "udp://x:1", "tcp://x:notaport", "unix://rel/path"])
def test_bad_hosts(text):
    with pytest.raises(ConfigError, match="invalid host"):
        parse_host(text)


def test_non_loopback_tcp_needs_tls():
    with pytest.raises(ConfigError, match="without TLS"):
        Settings(hosts=["tcp://0.0.0.0:2375"]).validate()
    Settings(hosts=["tcp://localhost:2375", "tcp://[::1]:2375"]).validate()


def test_tlsverify_needs_ca_and_files():
    with pytest.raises(ConfigError, match="tlscacert"):
        Settings(tlsverify=True).validate()
    with pytest.raises(ConfigError, match="no such file"):
        Settings(tlscert="/nope.pem", tlskey="/nope.key").validate()


@pytest.mark.parametrize("parent, want", [("dockyard", "dockyard/c1"), ("/docker", "docker/c1"),
                                          ("/ci/job-7/", "ci/job-7/c1"), ("./a/./b", "a/b/c1")])
def test_cgroup_parent_places_containers_below_it(parent, want):
    assert cgroup_path(parent, "c1") == want
    Settings(cgroup_parent=parent).validate()


@pytest.mark.parametrize("parent", ["", "/", "..", "../x", "a/../../b", "a\nb"])
def test_cgroup_parent_must_stay_below_the_root(parent):
    with pytest.raises(ValueError, match="cgroup parent"):
        cgroup_path(parent, "c1")
    with pytest.raises(ConfigError, match="cgroup parent"):
        Settings(cgroup_parent=parent).validate()


def test_supervisord_conf_keeps_shims_alive():
    conf = supervisord_conf(Settings(exec_root="/run/x"), "/run/x/daemon.json")
    for program in SERVICES:
        assert f"[program:{program}]" in conf
        assert f"-m services.{program} --config /run/x/daemon.json" in conf
    assert conf.count("stopasgroup=false") == len(SERVICES) == conf.count("killasgroup=false")
    assert "file=/run/x/supervisord.sock" in conf and "nodaemon=true" in conf
