"""Log drivers as Docker names and checks them (HostConfig.LogConfig, the daemon's log-driver
and log-opts), and what the shim needs to keep a container's log (`settings`).

Three drivers: `json-file` (Docker's default, `<id>-json.log` in the container's directory),
`local` (Docker keeps it in a binary format of its own; Dockyard keeps it in the json-file
format, in `local-logs/container.log`, with local's defaults: 20 MB a file, 5 files,
rotated files gzipped) and `none` (nothing kept: `docker logs` cannot read it, attach still
works). Messages are Docker's (daemon/logger: factory.go, jsonfilelog, local/config.go).
Pure: no I/O beyond the host's name, no service imported.
"""

from __future__ import annotations

import math
import re
import socket
from urllib.parse import quote_plus

JSON_FILE, LOCAL, NONE = "json-file", "local", "none"
DRIVERS = (JSON_FILE, LOCAL, NONE)
# Options every driver takes (daemon/logger/factory.go builtInLogOpts).
BUILT_IN = ("mode", "max-buffer-size")
# Options naming the attributes each entry carries (docker logs --details shows them).
ATTRIBUTES = ("env", "env-regex", "labels", "labels-regex", "tag")
OPTIONS = {
    JSON_FILE: ("max-file", "max-size", "compress", *ATTRIBUTES),
    LOCAL: ("max-file", "max-size", "compress", *ATTRIBUTES),
}
LOCAL_MAX_SIZE, LOCAL_MAX_FILE, LOCAL_COMPRESS = 20 * 1024 * 1024, 5, True
# A `none` log is kept in the shim's memory only, so that an attach made before the start
# sees the output from its beginning: this much, twice.
MEMORY_MAX_SIZE, MEMORY_MAX_FILE = 1 << 20, 2

_DECIMAL = {"k": 1000, "m": 1000 ** 2, "g": 1000 ** 3, "t": 1000 ** 4, "p": 1000 ** 5}
_BINARY = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4, "p": 1024 ** 5}
_TAG_FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


class LogConfigError(ValueError):
    """A log config Docker refuses; the message is Docker's."""


def parse_size(text: str, binary: bool = False) -> int:
    """A size as go-units v0.5.0 (Docker's) reads it: FromHumanSize (k = 1000) or, `binary`,
    RAMInBytes (k = 1024). A number as strconv.ParseFloat reads it ("10", "1.5", "1e3", "1_0"),
    then a suffix, after a space or not ("k", "kb", "KiB", " MB", "b"); converted as Go's
    int64() does on amd64 (too large: the lowest int64, which the callers then refuse)."""
    units = _BINARY if binary else _DECIMAL
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep < 0:
        raise LogConfigError(f"invalid size: '{text}'")
    number, suffix = (text[:sep + 1], text[sep + 1:]) if text[sep] != " " else (text[:sep], text[sep + 1:])
    size = _parse_float(number)
    if size < 0:
        raise LogConfigError(f"invalid size: '{text}'")
    if not suffix:
        return _int64(size)
    if len(suffix.encode()) > 3:
        raise LogConfigError(f"invalid suffix: '{suffix}'")
    low = suffix.lower()
    if low[0] == "b" and len(low) == 1:
        return _int64(size)
    if low[0] not in units or (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise LogConfigError(f"invalid suffix: '{low}'")
    return _int64(size * units[low[0]])


# strconv.ParseFloat's syntax (Go's float literals, and inf, infinity, nan in any case):
# underscores only between digits (a 0x prefix counts as one); a hexadecimal one needs its p.
_GO_FLOAT = re.compile(r"[+-]?(?:(?P<dec>[0-9_]*\.?[0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?"
                       r"|0[xX](?P<hex>[0-9a-fA-F_]*\.?[0-9a-fA-F_]*)[pP][+-]?[0-9][0-9_]*)")
_GO_SPECIAL = re.compile(r"[+-]?inf(?:inity)?|nan", re.IGNORECASE)
_LONE_UNDERSCORE = {"dec": re.compile(r"(?<![0-9])_|_(?![0-9])"),
                    "hex": re.compile(r"(?<![0-9a-fA-F])_|_(?![0-9a-fA-F])")}
_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
               '"': '\\"', "\\": "\\\\"}


def _parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64), refusing as it does, in its words."""
    if _GO_SPECIAL.fullmatch(text):
        return float(text)
    match = _GO_FLOAT.fullmatch(text)
    kind = match and ("hex" if match["hex"] is not None else "dec")
    if not match or not re.search("[0-9a-fA-F]" if kind == "hex" else "[0-9]", match[kind]) or \
            _LONE_UNDERSCORE[kind].search(re.sub(r"^[+-]?(0[xX])?", lambda m: "0" if m[1] else "", text)):
        raise LogConfigError(f"strconv.ParseFloat: parsing {_go_quote(text)}: invalid syntax")
    plain = text.replace("_", "")
    try:
        value = float.fromhex(plain) if kind == "hex" else float(plain)
    except OverflowError:
        value = math.inf
    if math.isinf(value):
        raise LogConfigError(f"strconv.ParseFloat: parsing {_go_quote(text)}: value out of range")
    return value


def _int64(value: float) -> int:
    """Go's int64(value) on amd64: truncated; NaN or out of range, the lowest int64."""
    return int(value) if -2.0 ** 63 <= value < 2.0 ** 63 else -2 ** 63


def _go_quote(text: str) -> str:
    """strconv.Quote, as Go's messages quote what they could not read."""
    def one(ch: str) -> str:
        if ch in _GO_ESCAPES:
            return _GO_ESCAPES[ch]
        if ch.isprintable():
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return '"' + "".join(map(one, text)) + '"'


def _atoi(text: str) -> int:
    """strconv.Atoi on a 64-bit host."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise LogConfigError(f"strconv.Atoi: parsing {_go_quote(text)}: invalid syntax")
    if not -2 ** 63 <= int(text) < 2 ** 63:
        raise LogConfigError(f"strconv.Atoi: parsing {_go_quote(text)}: value out of range")
    return int(text)


def _bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise LogConfigError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def validate(driver: str, config: dict) -> None:
    """Refuse what Docker refuses of a log config, at create rather than at start: an unknown
    driver, an option the driver does not take, a value it cannot read."""
    if driver == NONE:
        return  # Docker takes any option for it, and ignores them
    mode = config.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise LogConfigError(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in config:
        if mode != "non-blocking":
            raise LogConfigError("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        try:
            parse_size(config["max-buffer-size"], binary=True)
        except LogConfigError as exc:
            raise LogConfigError(f"error parsing option max-buffer-size: {exc}") from None
    if driver not in OPTIONS:
        raise LogConfigError(f"logger: no log driver named '{driver}' is registered")
    for key in config:
        if key not in OPTIONS[driver] and key not in BUILT_IN:
            if driver == JSON_FILE:
                raise LogConfigError(f"unknown log opt '{key}' for json-file log driver")
            raise LogConfigError(f"unknown log opt '{key}' for log driver {driver}")
    rotation(driver, config)
    for key in ("labels-regex", "env-regex"):
        if config.get(key):
            _regex(config[key])
    if config.get("tag"):
        _tag_fields(config["tag"])


def merged(given: dict | None, default: dict) -> dict:
    """The container's LogConfig as Docker keeps it (daemon/logs.go mergeAndVerifyLogConfig):
    no type is the daemon's, with the daemon's options it does not set; checked."""
    given = given or {}
    driver = given.get("Type") or default["Type"]
    config = dict(given.get("Config") or {})
    if driver == default["Type"]:
        for key, value in (default.get("Config") or {}).items():
            config.setdefault(key, value)
    validate(driver, config)
    return {"Type": driver, "Config": config}


def rotation(driver: str, config: dict) -> tuple[int, int, bool]:
    """(max size in bytes, -1 for none; files kept, the one written included; gzip rotated
    files) of a json-file or local log, as its driver reads its options."""
    if driver == LOCAL:
        size, files, compress = LOCAL_MAX_SIZE, LOCAL_MAX_FILE, LOCAL_COMPRESS
        try:
            if "max-size" in config:
                size = parse_size(config["max-size"])
        except LogConfigError as exc:
            raise LogConfigError(f"invalid value for max-size: {config['max-size']}: {exc}") from None
        try:
            if "max-file" in config:
                files = _atoi(config["max-file"])
        except LogConfigError as exc:
            raise LogConfigError(f"invalid value for max-file: {config['max-file']}: {exc}") from None
        try:
            if "compress" in config:
                compress = _bool(config["compress"])
        except LogConfigError as exc:
            raise LogConfigError(f"invalid boolean value for compress: {exc}") from None
        if size < 0:
            raise LogConfigError("max-size must not be negative")
        if files < 0:
            raise LogConfigError("max-file must not be negative")
        if compress and files <= 1:
            raise LogConfigError("compression cannot be enabled when max file count is 1")
        return size, max(files, 1), compress   # 0 files: one, as Docker's rotation does
    size, files, compress = -1, 1, False
    if "max-size" in config:
        size = parse_size(config["max-size"])
        if size <= 0:
            raise LogConfigError("max-size must be a positive number")
    if "max-file" in config:
        files = _atoi(config["max-file"])
        if files < 1:
            raise LogConfigError("max-file cannot be less than 1")
    if "compress" in config:
        compress = _bool(config["compress"])
        if compress and (files == 1 or size == -1):
            raise LogConfigError("compress cannot be true when max-file is less than 2 or max-size is not set")
    return size, files, compress


def _regex(text: str) -> re.Pattern:
    try:
        return re.compile(text)
    except re.error as exc:
        raise LogConfigError(f"error parsing regexp: {exc}: `{text}`") from None


def _tag_fields(template: str) -> list[str]:
    """The fields a tag template names; only {{.Field}} of logger.Info is understood."""
    fields = _TAG_FIELD.findall(template)
    rest = _TAG_FIELD.sub("", template)
    if "{{" in rest or "}}" in rest:
        raise LogConfigError(f"template: log-tag: only {{{{.Field}}}} is understood here: {template}")
    for name in fields:
        if name not in _TAG_VALUES:
            raise LogConfigError(f'template: log-tag:1:2: executing "log-tag" at <.{name}>: '
                                 f"can't evaluate field {name} in type *logger.Info")
    return fields


def _short(ident: str) -> str:
    return ident.partition(":")[2][:12] if ":" in ident else ident[:12]


_TAG_VALUES = {
    "ID": lambda r: r["Id"][:12], "FullID": lambda r: r["Id"], "Name": lambda r: r["Name"].lstrip("/"),
    "Command": lambda r: " ".join([r["Path"], *r["Args"]]), "ImageID": lambda r: _short(r["Image"]),
    "ImageFullID": lambda r: r["Image"], "ImageName": lambda r: r["Config"]["Image"],
    "Hostname": lambda r: socket.gethostname(), "DaemonName": lambda r: "docker",
}


def attributes(config: dict, rec: dict) -> dict:
    """The attributes each entry of the container's log carries (logger.Info.ExtraAttributes,
    and `tag`): labels and environment variables the options name, by name or pattern."""
    labels = rec["Config"].get("Labels") or {}
    env = dict(e.split("=", 1) for e in rec["Config"].get("Env") or [] if "=" in e)
    extra = {}
    for name in filter(None, (config.get("labels") or "").split(",")):
        if name in labels:
            extra[name] = labels[name]
    if config.get("labels-regex"):
        pattern = _regex(config["labels-regex"])
        extra.update({k: v for k, v in labels.items() if pattern.search(k)})
    for name in filter(None, (config.get("env") or "").split(",")):
        if name in env:
            extra[name] = env[name]
    if config.get("env-regex"):
        pattern = _regex(config["env-regex"])
        extra.update({k: v for k, v in env.items() if pattern.search(k)})
    if config.get("tag"):
        extra["tag"] = _TAG_FIELD.sub(lambda m: _TAG_VALUES[m.group(1)](rec), config["tag"])
    return extra


def of(rec: dict) -> dict:
    """A container record's LogConfig (json-file for a record older than log drivers)."""
    return (rec.get("HostConfig") or {}).get("LogConfig") or {"Type": JSON_FILE, "Config": {}}


def settings(log_config: dict, rec: dict) -> dict:
    """What the container's shim needs to keep its log (wire LOG_SETTINGS)."""
    driver, config = log_config["Type"], log_config.get("Config") or {}
    if driver == NONE:
        return {"driver": NONE, "max_size": MEMORY_MAX_SIZE, "max_file": MEMORY_MAX_FILE, "compress": False,
                "attrs": {}}
    size, files, compress = rotation(driver, config)
    return {"driver": driver, "max_size": size, "max_file": files, "compress": compress,
            "attrs": attributes(config, rec)}


def details_prefix(attrs: dict | None) -> bytes:
    """What `docker logs --details` puts before an entry: its attributes sorted by name,
    `k=v` query-escaped and comma-joined, then a space (api/server/httputils write_log_stream)."""
    pairs = sorted((attrs or {}).items())
    return (",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs) + " ").encode()
