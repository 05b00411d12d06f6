"""Image configs in the Docker/OCI image format: as Dockyard makes them (import, insert,
commit), and the check of their JSON types every image passes on its way into the store."""

from __future__ import annotations

import copy
import json
import re

from services.common import errors, release, timefmt


def empty_container_config() -> dict:
    """The container config of an image nothing has configured."""
    return {
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
        "Tty": False, "OpenStdin": False, "StdinOnce": False,
        "Env": None, "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "",
        "Entrypoint": None, "OnBuild": None, "Labels": None,
    }


def encode(config: dict) -> bytes:
    """The bytes whose sha256 is the image id (compact, as Docker writes them)."""
    return json.dumps(config, separators=(",", ":"), sort_keys=False).encode()


def imported(diff_id: str, source: str, message: str | None, arch: str, config: dict | None = None) -> dict:
    """The config of an image imported from a tarball: `config` its run config (the import's
    changes applied to an empty one), else an empty one."""
    now = timefmt.now()
    history = {"created": now, "comment": message or f"Imported from {source}"}
    return {
        "architecture": arch,
        "os": "linux",
        "created": now,
        "comment": message or "",
        "docker_version": f"dockyard-{release.VERSION}",
        "config": config if config is not None else empty_container_config(),
        "container_config": empty_container_config(),
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [history],
    }


def scratch(arch: str) -> dict:
    """The config a build starts from on `FROM scratch`: no layers, no history."""
    return {"architecture": arch, "os": "linux", "config": empty_container_config(),
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


def child(parent_id: str, parent: dict, diff_id: str | None, created_by: str,
          comment: str = "", author: str = "", container: str = "",
          config: dict | None = None, container_config: dict | None = None) -> dict:
    """The config of an image made on top of `parent` (insert, commit), with one more step.

    `created_by` is the history's text for the step, as Docker writes it
    ("/bin/sh -c #(nop) ..." for a step that ran nothing, the command for a commit).
    A parent stored before configs were checked is read as `sanitized` reads it.
    """
    parent = sanitized(parent)
    now = timefmt.now()
    out = copy.deepcopy(parent)
    out["created"] = now
    if parent_id:
        out["parent"] = parent_id
    else:
        out.pop("parent", None)
    out["docker_version"] = f"dockyard-{release.VERSION}"
    out["author"] = author
    out["comment"] = comment
    out["container"] = container
    run_config = copy.deepcopy(config if config is not None else parent.get("config") or empty_container_config())
    out["config"] = run_config
    if container_config is None:
        container_config = copy.deepcopy(run_config)
        container_config["Cmd"] = ["/bin/sh", "-c", created_by.removeprefix("/bin/sh -c ")]
    out["container_config"] = container_config
    rootfs = out.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    entry = {"created": now, "created_by": created_by}
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    if diff_id is None:
        entry["empty_layer"] = True
    else:
        rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + [diff_id]
    out["history"] = list(parent.get("history") or []) + [entry]
    return out


# ------------------------------------------------------------------ types

# The JSON types of an image config, as the OCI image spec (config.md) and Docker's image
# format define them and as Go decodes them: null is taken wherever Go reads it as the
# zero value (a field, a list item, a map value); keys nobody defines are kept, unread.
# Each kind maps (value, path, strict) to the value as Docker reads it (a Cmd string is
# a one-item list, a null list item an empty string), or raises _Wrong. Not strict (a
# stored record being read), a wrong-typed field is dropped, as if it were absent.

class _Wrong(Exception):
    def __init__(self, path: str, what: str):
        super().__init__(f"{path} must be {what}")


_INT64 = (-(1 << 63), 1 << 63)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _leaf(what: str, ok):
    def kind(value, path, strict):
        if not ok(value):
            raise _Wrong(path, what)
        return value
    return kind


_str = _leaf("a string", lambda v: isinstance(v, str))
_bool = _leaf("true or false", lambda v: isinstance(v, bool))
_int = _leaf("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v < _INT64[1])
_layers = _leaf('"layers"', lambda v: v == "layers")


def _time(value, path, strict):
    try:
        timefmt.parse(_str(value, path, strict))
    except ValueError:
        raise _Wrong(path, "an RFC 3339 time") from None
    return value


def _strings(value, path, strict, what="a list of strings"):
    if not isinstance(value, list) or not all(v is None or isinstance(v, str) for v in value):
        raise _Wrong(path, what)
    return ["" if v is None else v for v in value]


def _str_slice(value, path, strict):
    """Docker's strslice: a list of strings, or one string."""
    return [value] if isinstance(value, str) else _strings(value, path, strict, "a string or a list of strings")


def _env(value, path, strict):
    value = _strings(value, path, strict)
    for i, entry in enumerate(value):
        if not entry.partition("=")[0]:
            raise _Wrong(f"{path}[{i}]", "KEY=value (or KEY)")
    return value


def _map(what: str, item: type):
    def kind(value, path, strict):
        if not isinstance(value, dict) or not all(v is None or isinstance(v, item) for v in value.values()):
            raise _Wrong(path, what)
        return {k: item() if v is None else v for k, v in value.items()}
    return kind


_str_map = _map("an object of strings", str)
_obj_map = _map("an object of objects", dict)


def _digests(value, path, strict):
    if not isinstance(value, list) or not all(isinstance(v, str) and _DIGEST.fullmatch(v) for v in value):
        raise _Wrong(path, "a list of sha256:<64 hex> digests")
    return value


def _object(fields: dict, required: tuple = ()):
    def kind(value, path, strict):
        if not isinstance(value, dict):
            raise _Wrong(path, "an object")
        out = dict(value)
        for key in required:
            if value.get(key) is None and strict:
                fields[key](None, f"{path}.{key}", strict)   # says what it must be
        for key, sub in fields.items():
            if value.get(key) is None:
                continue
            try:
                out[key] = sub(value[key], f"{path}.{key}", strict)
            except _Wrong:
                if strict:
                    raise
                del out[key]
        return out
    return kind


def _list_of(item, what: str):
    def kind(value, path, strict):
        if not isinstance(value, list):
            raise _Wrong(path, what)
        return [{} if v is None else item(v, f"{path}[{i}]", strict) for i, v in enumerate(value)]
    return kind


_HEALTHCHECK = _object({
    "Test": _strings,
    **dict.fromkeys(("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"), _int),
})
_CONTAINER = _object({
    **dict.fromkeys(("User", "WorkingDir", "StopSignal", "Hostname", "Domainname", "Image", "MacAddress"), _str),
    "Env": _env, "OnBuild": _strings,
    **dict.fromkeys(("Cmd", "Entrypoint", "Shell"), _str_slice),
    **dict.fromkeys(("ExposedPorts", "Volumes"), _obj_map),
    "Labels": _str_map,
    "Healthcheck": _HEALTHCHECK,
    **dict.fromkeys(("StopTimeout", "Memory", "MemorySwap", "CpuShares"), _int),
    **dict.fromkeys(("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr",
                     "ArgsEscaped", "NetworkDisabled"), _bool),
})
_HISTORY = _object({
    "created": _time, **dict.fromkeys(("author", "created_by", "comment"), _str), "empty_layer": _bool,
})
_IMAGE = _object({
    **dict.fromkeys(("architecture", "os", "variant", "os.version", "author", "comment", "docker_version",
                     "container", "parent"), _str),
    "created": _time,
    "os.features": _strings,
    **dict.fromkeys(("config", "container_config"), _CONTAINER),
    "rootfs": _object({"type": _layers, "diff_ids": _digests}, required=("type",)),
    "history": _list_of(_HISTORY, "a list of objects"),
}, required=("rootfs",))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse(data: bytes) -> dict:
    """An image config's bytes as JSON, checked (`check`); BadParameter naming what is wrong."""
    try:
        config = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise errors.BadParameter(f"invalid image config: not valid JSON: {exc}") from None
    check(config)
    return config


def check(config) -> None:
    """Raise BadParameter unless `config` has the JSON types of an image config."""
    if not isinstance(config, dict):
        raise errors.BadParameter("invalid image config: it must be a JSON object")
    try:
        _IMAGE(config, "", True)
    except _Wrong as exc:
        raise errors.BadParameter(f"invalid image config: {str(exc).removeprefix('.')}") from None


def sanitized(config) -> dict:
    """A stored config as it can be read safely: every wrong-typed field dropped, values as
    Docker reads them. Records stored before configs were checked may hold anything."""
    return _IMAGE(config, "", False) if isinstance(config, dict) else {}


def run_config(config, image: str) -> dict:
    """The run config (`config`) of a stored image, checked, as container create reads it:
    Cmd, Entrypoint and Shell lists, null items empty strings. BadParameter if it is wrong."""
    if not isinstance(config, dict):
        raise errors.BadParameter(f"image {image} has an invalid config: it is not a JSON object")
    if config.get("config") is None:
        return {}
    try:
        return _CONTAINER(config["config"], "config", True)
    except _Wrong as exc:
        raise errors.BadParameter(f"image {image} has an invalid config: {exc}") from None
