"""Log drivers and their options as Docker reads and refuses them, the daemon's defaults
merged in, and the attributes (docker logs --details) a log's entries carry."""

import pytest

from services.common import logdrivers
from services.common.config import ConfigError, Settings
from services.common.logdrivers import LogConfigError


@pytest.mark.parametrize("text, size", [("10", 10), ("1k", 1000), ("1kb", 1000), ("1K", 1000), ("2 MB", 2_000_000),
                                        ("1.5m", 1_500_000), ("1g", 10 ** 9), ("5b", 5), ("1KiB", 1000)])
def test_sizes_are_go_units_decimal(text, size):
    assert logdrivers.parse_size(text) == size


def test_binary_sizes():
    assert logdrivers.parse_size("1k", binary=True) == 1024 and logdrivers.parse_size("2m", binary=True) == 2 << 20


@pytest.mark.parametrize("text, message", [("abc", "invalid size: 'abc'"), ("", "invalid size: ''"),
                                           ("-1", "invalid size: '-1'"), ("1x", "invalid suffix: 'x'"),
                                           ("1kk", "invalid suffix: 'kk'"), ("1kib2", None)])
def test_bad_sizes(text, message):
    with pytest.raises(LogConfigError) as exc:
        logdrivers.parse_size(text)
    if message:
        assert str(exc.value) == message


@pytest.mark.parametrize("driver, config", [
    ("json-file", {}), ("json-file", {"max-size": "1k", "max-file": "3", "compress": "true"}),
    ("json-file", {"max-file": "100"}), ("json-file", {"labels": "a,b", "env": "X", "tag": "{{.Name}}/{{.ID}}",
                                                        "labels-regex": "^com\\.", "env-regex": "^A"}),
    ("json-file", {"mode": "non-blocking", "max-buffer-size": "4m"}), ("local", {}),
    ("local", {"max-size": "10m", "max-file": "2", "compress": "false"}), ("none", {}),
    ("none", {"anything": "goes"}),
])
def test_configs_docker_takes(driver, config):
    logdrivers.validate(driver, config)


@pytest.mark.parametrize("driver, config, message", [
    ("asdf", {}, "logger: no log driver named 'asdf' is registered"),
    ("json-file", {"max-sizes": "1k"}, "unknown log opt 'max-sizes' for json-file log driver"),
    ("local", {"labels-nope": "x"}, "unknown log opt 'labels-nope' for log driver local"),
    ("json-file", {"max-size": "0"}, "max-size must be a positive number"),
    ("json-file", {"max-size": "lots"}, "invalid size: 'lots'"),
    ("json-file", {"max-file": "0"}, "max-file cannot be less than 1"),
    ("json-file", {"max-file": "two"}, 'strconv.Atoi: parsing "two": invalid syntax'),
    ("json-file", {"compress": "yes"}, 'strconv.ParseBool: parsing "yes": invalid syntax'),
    ("json-file", {"compress": "true", "max-size": "1k"},
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
    ("json-file", {"compress": "true", "max-file": "3"},
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
    ("local", {"max-file": "1"}, "compression cannot be enabled when max file count is 1"),
    ("local", {"max-file": "-1"}, "max-file must not be negative"),
    ("local", {"max-size": "x"}, "invalid value for max-size: x: invalid size: 'x'"),
    ("local", {"compress": "maybe"}, 'invalid boolean value for compress: strconv.ParseBool: parsing "maybe": '
                                     'invalid syntax'),
    ("json-file", {"mode": "sometimes"}, "logger: logging mode not supported: sometimes"),
    ("json-file", {"max-buffer-size": "1m"}, "logger: max-buffer-size option is only supported with "
                                             "'mode=non-blocking'"),
    ("json-file", {"labels-regex": "("}, "error parsing regexp"),
    ("json-file", {"tag": "{{.Nope}}"}, "can't evaluate field Nope"),
    ("json-file", {"tag": "{{json .Name}}"}, "only {{.Field}} is understood"),
])
def test_configs_docker_refuses(driver, config, message):
    with pytest.raises(LogConfigError) as exc:
        logdrivers.validate(driver, config)
    assert message in str(exc.value)


def test_rotation_of_each_driver():
    assert logdrivers.rotation("json-file", {}) == (-1, 1, False)
    assert logdrivers.rotation("json-file", {"max-size": "1k", "max-file": "3"}) == (1000, 3, False)
    assert logdrivers.rotation("local", {}) == (20 * 1024 * 1024, 5, True)
    assert logdrivers.rotation("local", {"max-size": "1m", "max-file": "2", "compress": "false"}) == (10 ** 6, 2, False)


DEFAULT = {"Type": "json-file", "Config": {}}


def test_merged_fills_in_the_daemons_driver_and_its_options():
    assert logdrivers.merged(None, DEFAULT) == {"Type": "json-file", "Config": {}}
    assert logdrivers.merged({"Type": "", "Config": {"max-file": "100"}}, DEFAULT) == \
        {"Type": "json-file", "Config": {"max-file": "100"}}
    daemon = {"Type": "local", "Config": {"max-size": "1m"}}
    assert logdrivers.merged({}, daemon) == {"Type": "local", "Config": {"max-size": "1m"}}
    assert logdrivers.merged({"Config": {"max-size": "2m", "max-file": "2"}}, daemon) == \
        {"Type": "local", "Config": {"max-size": "2m", "max-file": "2"}}
    # Another driver than the daemon's takes none of the daemon's options.
    assert logdrivers.merged({"Type": "json-file"}, daemon) == {"Type": "json-file", "Config": {}}
    with pytest.raises(LogConfigError, match="no log driver named 'syslog'"):
        logdrivers.merged({"Type": "syslog"}, daemon)


def record():
    return {"Id": "0123456789abcdef" * 4, "Name": "/web", "Path": "sh", "Args": ["-c", "true"],
            "Image": "sha256:" + "fe" * 32,
            "Config": {"Image": "busybox:latest", "Labels": {"com.example.team": "blue", "tier": "db"},
                       "Env": ["PATH=/bin", "APP_MODE=prod", "APP_X=1", "SECRET=no"]}}


def test_attributes_are_the_labels_and_env_the_options_name():
    rec = record()
    assert logdrivers.attributes({}, rec) == {}
    assert logdrivers.attributes({"labels": "tier,missing", "env": "APP_MODE,NOPE"}, rec) == \
        {"tier": "db", "APP_MODE": "prod"}
    assert logdrivers.attributes({"labels-regex": "^com\\.", "env-regex": "^APP_"}, rec) == \
        {"com.example.team": "blue", "APP_MODE": "prod", "APP_X": "1"}
    assert logdrivers.attributes({"tag": "{{.Name}}/{{.ID}} {{.ImageID}} {{.ImageName}}"}, rec) == \
        {"tag": f"web/{rec['Id'][:12]} {'fe' * 6} busybox:latest"}
    assert logdrivers.attributes({"tag": "plain"}, rec) == {"tag": "plain"}


def test_settings_for_the_shim():
    rec = record()
    assert logdrivers.settings({"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3", "labels": "tier"}},
                               rec) == {"driver": "json-file", "max_size": 1000, "max_file": 3, "compress": False,
                                        "attrs": {"tier": "db"}}
    assert logdrivers.settings({"Type": "none", "Config": {"labels": "tier"}}, rec)["driver"] == "none"
    assert logdrivers.settings({"Type": "local", "Config": {}}, rec)["compress"] is True


def test_details_prefix_is_sorted_and_query_escaped():
    assert logdrivers.details_prefix({"b": "2 3", "a": "x/y"}) == b"a=x%2Fy,b=2+3 "
    assert logdrivers.details_prefix(None) == b" "


def test_daemon_settings_take_and_check_a_default_driver():
    s = Settings().update({"log-driver": "local", "log-opts": {"max-size": "1m"}})
    s.validate()
    s = Settings().update({"log_opts": ["max-size=1k", "max-file=3"]}, source="command line")
    assert s.log_opts == {"max-size": "1k", "max-file": "3"}
    s.validate()
    with pytest.raises(ConfigError, match="failed to set log opts: unknown log opt 'bogus'"):
        Settings().update({"log-opts": {"bogus": "1"}}).validate()
    with pytest.raises(ConfigError, match="no log driver named 'syslog'"):
        Settings().update({"log-driver": "syslog"}).validate()
    with pytest.raises(ConfigError, match="map of strings"):
        Settings().update({"log-opts": {"max-file": 3}})
