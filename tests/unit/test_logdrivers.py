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


# go-units v0.5.0 (moby's since 2022) reads the number with strconv.ParseFloat: exponents,
# underscores between digits, hexadecimal floats and a trailing dot are Go float syntax.
@pytest.mark.parametrize("text, size, binary", [
    ("1e3", 1000, False), ("1_0k", 10_000, False), ("1_0k", 10_240, True), ("1.5e1 kB", 15_000, False),
    (".3kB", 300, False), ("32.", 32, False), ("0.b", 0, False), ("-0", 0, False), ("0x1p4", 16, False),
    ("0x_1.8p1 k", 3000, False), ("1e-400", 0, False), ("10 MiB", 10 << 20, True),
    # Go's int64() of a float beyond int64 (or NaN) on amd64: the lowest int64, refused by the callers.
    ("1e30", -2 ** 63, False), ("9223372036854775807", -2 ** 63, False), ("inf b", -2 ** 63, False),
    ("nan k", -2 ** 63, False), ("1e18k", -2 ** 63, False),
])
def test_sizes_read_as_go_units_reads_them(text, size, binary):
    assert logdrivers.parse_size(text, binary=binary) == size


@pytest.mark.parametrize("text, message", [
    ("1e400", 'strconv.ParseFloat: parsing "1e400": value out of range'),
    ("1.8e308k", 'strconv.ParseFloat: parsing "1.8e308": value out of range'),
    ("0x1p1024", 'strconv.ParseFloat: parsing "0x1p1024": value out of range'),
    ("1__0", 'strconv.ParseFloat: parsing "1__0": invalid syntax'),
    ("_10", 'strconv.ParseFloat: parsing "_10": invalid syntax'),
    ("1_.5", 'strconv.ParseFloat: parsing "1_.5": invalid syntax'),
    ("1_e3", 'strconv.ParseFloat: parsing "1_e3": invalid syntax'),
    (" 10", 'strconv.ParseFloat: parsing " 10": invalid syntax'),
    ("0x10", 'strconv.ParseFloat: parsing "0x10": invalid syntax'),
    ("1.2.3", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
    ("+nan0", 'strconv.ParseFloat: parsing "+nan0": invalid syntax'),
    ("\u0661\u0660", "invalid size: '\u0661\u0660'"),
    ("1\u06610", 'strconv.ParseFloat: parsing "1\u06610": invalid syntax'),
    ('1"\n0', 'strconv.ParseFloat: parsing "1\\"\\n0": invalid syntax'),
    ("1e", "invalid suffix: 'e'"), ("10KiBB", "invalid suffix: 'KiBB'"), ("1bb", "invalid suffix: 'bb'"),
    ("-inf b", "invalid size: '-inf b'"),
])
def test_sizes_go_units_refuses(text, message):
    with pytest.raises(LogConfigError) as exc:
        logdrivers.parse_size(text)
    assert str(exc.value) == message


@pytest.mark.parametrize("driver, config, message", [
    ("json-file", {"max-size": "1e400"}, 'strconv.ParseFloat: parsing "1e400": value out of range'),
    ("json-file", {"max-size": "1e30"}, "max-size must be a positive number"),
    ("json-file", {"max-size": "inf b"}, "max-size must be a positive number"),
    ("local", {"max-size": "1e400"}, 'invalid value for max-size: 1e400: strconv.ParseFloat: parsing "1e400": '
                                     'value out of range'),
    ("local", {"max-size": "1e30"}, "max-size must not be negative"),
    ("json-file", {"max-file": "9223372036854775808"},
     'strconv.Atoi: parsing "9223372036854775808": value out of range'),
    ("json-file", {"max-file": "\u0665"}, 'strconv.Atoi: parsing "\u0665": invalid syntax'),
    ("local", {"max-file": "1_0"}, 'invalid value for max-file: 1_0: strconv.Atoi: parsing "1_0": invalid syntax'),
    ("json-file", {"mode": "non-blocking", "max-buffer-size": "1e400"},
     'error parsing option max-buffer-size: strconv.ParseFloat: parsing "1e400": value out of range'),
])
def test_out_of_range_and_malformed_options_are_refused_in_dockers_words(driver, config, message):
    with pytest.raises(LogConfigError) as exc:
        logdrivers.validate(driver, config)
    assert str(exc.value) == message


def test_every_size_a_driver_takes_fits_the_shims_int64():
    for text in ("9e18", "9.2e18", "8191p", "0x7ffffffffffffc00p0"):
        size, _, _ = logdrivers.rotation("json-file", {"max-size": text})
        assert 0 < size < 2 ** 63


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
