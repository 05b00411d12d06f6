"""Every message that crosses a process boundary, declared once; `check` holds a value to its declaration.

- RPC methods (`METHODS`): name (noun.verb), the service that serves it, the shape of
  its parameters and of its reply, whether its reply is a stream of chunks and whether
  the caller uploads bytes, and how long a caller waits; and the records they carry (a
  container travels as `CONTAINER`, an image as `IMAGE` (wire/images.py), an exit as `EXIT`). The build
  methods are declared in `builds.py`, into the same table.
- The shim's start channel: JSON lines on the connection of whoever starts a shim (the
  zygote's unix socket, or the launcher's stdout). First a start report, `STARTED` or
  `START_FAILED` (`encode_report`/`decode_report`); after a start, `SERVING` once its
  socket serves, and once the container exited the exit record `EXIT` (`encode_exit`;
  `decode_notice` reads either); then the channel closes.
  The same exit record is the shim's `<container dir>/exit.json` and `shim.wait`'s reply.
- The zygote's protocol: it prints `ZYGOTE_READY` on its stdout once it serves; each
  request is one JSON line `ZYGOTE_REQUEST` on its socket, answered by the start channel.
- The OCI annotations a bundle carries from the supervisor to the shim (`ANNOTATIONS`).

A shape is a type (str, int, float, bool, bytes), `ANY`, a dict of keys to shapes
(exactly those keys; an `Opt` one may be absent or None), `[shape]` (a list of them) or
`MapOf(shape)` (a map of any string keys to them). `check` holds a value to its shape.
It loads nothing but the standard library, errors and sockets: the shim reads it before
its container runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..sockets import WIRE_SERVICES

DEFAULT_TIMEOUT = 5.0
SHIM = "shim"   # the kind of every shim's server (its socket is named by sockets.shim_name)
SERVER_KINDS = (*WIRE_SERVICES, SHIM)   # whose methods a server may serve

# --------------------------------------------------------------------------- kinds


class Opt:
    """A key that may be absent or None."""

    def __init__(self, spec: Any):
        self.spec = spec

    def __repr__(self) -> str:
        return f"Opt({self.spec!r})"


class MapOf:
    """A map of any string keys, each to a value of one shape."""

    def __init__(self, spec: Any):
        self.spec = spec

    def __repr__(self) -> str:
        return f"MapOf({self.spec!r})"


ANY = object()


def _type_name(spec: Any) -> str:
    if isinstance(spec, Opt):
        return f"optional {_type_name(spec.spec)}"
    if isinstance(spec, MapOf):
        return "map" if spec.spec is ANY else f"map of {_type_name(spec.spec)}"
    if isinstance(spec, dict):
        return "map"
    if isinstance(spec, list):
        return f"list of {_type_name(spec[0])}"
    if spec is ANY:
        return "any"
    return spec.__name__


def check(spec: Any, value: Any, where: str) -> None:
    """Raise BadParameter unless `value` has the shape `spec` describes."""
    if isinstance(spec, Opt):
        if value is not None:
            check(spec.spec, value, where)
        return
    if spec is ANY:
        return
    if isinstance(spec, (dict, MapOf)) and not isinstance(value, dict):
        raise errors.BadParameter(f"{where}: expected a map, got {type(value).__name__}")
    if isinstance(spec, MapOf):
        for key, item in value.items():
            if not isinstance(key, str):
                raise errors.BadParameter(f"{where}: expected string keys, got {type(key).__name__}")
            check(spec.spec, item, f"{where}.{key}")
        return
    if isinstance(spec, dict):
        for key in value:
            if key not in spec:
                raise errors.BadParameter(f"{where}: unexpected key {key!r}")
        for key, sub in spec.items():
            if key not in value:
                if isinstance(sub, Opt):
                    continue
                raise errors.BadParameter(f"{where}: missing key {key!r}")
            check(sub, value[key], f"{where}.{key}")
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise errors.BadParameter(f"{where}: expected a list, got {type(value).__name__}")
        if spec[0] in (str, bytes) and all(isinstance(item, spec[0]) for item in value):
            return   # a long list of strings (a listing's rows) at C speed; else find the culprit
        for i, item in enumerate(value):
            check(spec[0], item, f"{where}[{i}]")
        return
    ok = isinstance(value, spec)
    if spec is int and isinstance(value, bool):
        ok = False
    if spec is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise errors.BadParameter(f"{where}: expected {_type_name(spec)}, got {type(value).__name__}")


# ----------------------------------------------------------------- RPC methods

@dataclass(frozen=True)
class Method:
    name: str
    service: str              # the service that serves it; "*" for every service
    params: dict = field(default_factory=dict)
    reply: dict = field(default_factory=dict)
    chunk: Any = None         # None: unary reply; bytes, or a dict spec (a chunk may then also
                              # be a (dict, bytes) pair: a labelled raw frame)
    upload: bool = False      # the caller streams raw bytes to the service
    timeout: float | None = DEFAULT_TIMEOUT  # None: wait as long as the peer is alive
    # Whether a caller that gives up (or goes away) ends the call at the service. Streams
    # and uploads are (nothing else would end them), and waits that say so; any other
    # call changes state and always runs to its end, so a client's hang-up never leaves
    # a start or a removal half done.
    waits: bool = False

    @property
    def cancellable(self) -> bool:
        return self.chunk is not None or self.upload or self.waits


METHODS: dict[str, Method] = {}


def _declare(method: Method) -> Method:
    assert method.name not in METHODS, method.name
    METHODS[method.name] = method
    return method


def method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise errors.NotImplementedYet(f"no such method: {name}") from None


_declare(Method("system.ping", "*", reply={"service": str, "pid": int}, timeout=3.0))
_declare(Method("system.stats", "*", timeout=3.0,
                reply={"service": str, "pid": int, "fds": int, "threads": int, "tasks": int}))
_declare(Method("system.info", "supervisor", reply={
    "id": str, "name": str, "containers": int, "containers_running": int, "containers_paused": int,
    "containers_stopped": int, "images": int, "memory_limit": bool, "swap_limit": bool,
    "cpu_shares": bool, "pids_limit": bool, "oom_kill_disable": bool, "cgroup_version": str,
    "kernel_version": str, "operating_system": str, "os_version": str, "architecture": str,
    "ncpu": int, "mem_total": int, "data_root": str, "system_time": str, "security_options": [str],
    "backing_filesystem": str,
}))

# Containers, owned by the supervisor. A container travels as its whole record: the
# shape of a modern inspect, plus the supervisor's own keys under "Dockyard"; the api
# shapes it per version. Config and HostConfig are Docker's, as create completed them.
HEALTH = {"Status": str, "FailingStreak": int,
          "Log": [{"Start": str, "End": str, "ExitCode": int, "Output": str}]}
CONTAINER_STATE = {
    "Status": str, "Running": bool, "Paused": bool, "Restarting": bool, "OOMKilled": bool,
    "Dead": bool, "Pid": int, "ExitCode": int, "Error": str, "StartedAt": str, "FinishedAt": str,
    "Health": Opt(HEALTH),   # with a health check: its status and its last probes
}
# A volume, a bind or a tmpfs (a bind and a tmpfs have no Name or Driver). Spec: what the
# bundle needs beyond inspect's fields (Docker's mount.Mount as given, or as a Binds entry reads).
MOUNT = {"Type": str, "Name": Opt(str), "Source": str, "Destination": str, "Driver": Opt(str),
         "Mode": str, "RW": bool, "Propagation": str, "Spec": Opt(MapOf(ANY))}
CONTAINER = {
    "Id": str, "Created": str, "Path": str, "Args": [str], "State": CONTAINER_STATE, "Image": str,
    "ResolvConfPath": str, "HostnamePath": str, "HostsPath": str, "LogPath": str, "Name": str,
    "RestartCount": int, "Driver": str, "Platform": str,
    "Config": MapOf(ANY), "HostConfig": MapOf(ANY), "Mounts": [MOUNT],
    # Docker's NetworkSettings as the supervisor keeps it: Networks (name -> Docker's
    # EndpointSettings), Ports (a started container's bindings, "80/tcp" -> [{HostIp,
    # HostPort}] or None), SandboxID, SandboxKey. None in records made before networks.
    "NetworkSettings": Opt(MapOf(ANY)),
    "Dockyard": {
        "anonymous_volumes": [str],
        "cgroup": str,
        "shim_pid": int, "shim_start": int, "pid_start": int,  # 0 before a start; -1: unknown
        "manually_stopped": Opt(bool),   # a client stopped it: no restart policy applies
        "restart_delay": Opt(float),     # the restart policy's last delay
        "exits": Opt(int),               # how many times it exited (the next-exit wait)
        "build_step": Opt(bool),         # a build's RUN container (removed if its build is gone)
    },
}
_declare(Method("container.create", "supervisor",
                # networking_config: NetworkingConfig, type-checked at create (not yet stored)
                params={"config": ANY, "host_config": ANY, "networking_config": Opt(ANY), "name": Opt(str)},
                reply={"id": str, "warnings": [str]}))
# The filters of Docker's container list (moby daemon/list.go), each a list of values.
CONTAINER_FILTERS = {key: Opt([str]) for key in (
    "ancestor", "before", "exited", "expose", "health", "id", "is-task", "isolation", "label",
    "name", "network", "publish", "since", "status", "volume")}
CONTAINER_LIST = {"all": bool, "limit": int, "since": Opt(str), "before": Opt(str), "filters": Opt(CONTAINER_FILTERS)}
_declare(Method("container.list", "supervisor", params=CONTAINER_LIST, reply={"containers": [CONTAINER]}))
# The same list, each container as its row of the modern list, Docker's ContainerSummary as
# JSON, in the pieces the supervisor keeps ready: before + the Status words' span of time
# since `since` + after (services.common.container_summary.render).
SUMMARY_PIECES = {"before": bytes, "after": bytes, "since": Opt(float)}
_declare(Method("container.summaries", "supervisor", params=CONTAINER_LIST, reply={"rows": [SUMMARY_PIECES]}))
# Docker's container prune: stopped containers (created, exited, dead) created before `until`
# (unix seconds) with the labels `label` and not all of `label_not` (Docker's `label!`).
_declare(Method("container.prune", "supervisor",
                params={"until": Opt(float), "label": [str], "label_not": [str]},
                reply={"deleted": [str], "space_reclaimed": int}, timeout=None))
_declare(Method("container.inspect", "supervisor", params={"id": str}, reply=CONTAINER))
_declare(Method("container.start", "supervisor", params={"id": str}, timeout=60))
# `signal`: the one to stop with (API 1.42's ?signal=), instead of the container's StopSignal.
_declare(Method("container.stop", "supervisor", params={"id": str, "timeout": Opt(int), "signal": Opt(str)},
                timeout=None))
_declare(Method("container.restart", "supervisor", params={"id": str, "timeout": Opt(int), "signal": Opt(str)},
                timeout=None))
_declare(Method("container.kill", "supervisor", params={"id": str, "signal": Opt(str)}))
# `exits`: with next-exit, how many exits of the container the caller had seen (its
# record's Dockyard.exits): the wait ends at the one after those.
_declare(Method("container.wait", "supervisor", params={"id": str, "condition": Opt(str), "exits": Opt(int)},
                reply={"exit_code": int, "error": str}, timeout=None, waits=True))
_declare(Method("container.started", "supervisor", params={"id": str}, reply={"pid": int}, timeout=None,
                waits=True))
_declare(Method("container.remove", "supervisor", params={"id": str, "force": bool, "volumes": bool},
                timeout=60))
_declare(Method("container.pause", "supervisor", params={"id": str}))
_declare(Method("container.unpause", "supervisor", params={"id": str}))
_declare(Method("container.rename", "supervisor", params={"id": str, "name": str}))
# A legacy link's removal (DELETE /containers/{parent}/{alias}?link=1): `name` is the link's.
_declare(Method("container.unlink", "supervisor", params={"name": str}))
_declare(Method("container.changes", "supervisor", params={"id": str},
                reply={"changes": [{"path": str, "kind": int}]}, timeout=60))
_declare(Method("container.export", "supervisor", params={"id": str}, chunk=bytes))
# A log's entries: which streams, a window of time in unix nanoseconds (0: open), the last
# `tail` lines (-1: all), each entry after its time (`timestamps`) and its attributes
# (`details`) as docker logs shows them. A chunk is consecutive entries of one stream, `sizes`
# the length of each (Docker sends an entry a frame). The supervisor's reads the log as it
# is; its shim's (shim.logs) follows it until the output ends, an empty chunk first once
# where it starts is fixed.
LOG_QUERY = {"stdout": bool, "stderr": bool, "since_ns": int, "until_ns": int, "tail": int, "timestamps": bool,
             "details": bool}
LOG_CHUNK = {"fd": int, "sizes": [int]}
_declare(Method("container.logs", "supervisor", params={"id": str, **LOG_QUERY}, chunk=LOG_CHUNK))
_declare(Method("container.commit", "supervisor",
                params={"id": str, "repo": Opt(str), "tag": Opt(str), "comment": Opt(str),
                        "author": Opt(str), "config": ANY, "changes": [str]},
                reply={"id": str}, timeout=None))
_declare(Method("image.commit", "registry",
                params={"parent": str, "container": str, "created_by": str, "comment": str,
                        "author": str, "config": ANY, "container_config": ANY,
                        "repo": Opt(str), "tag": Opt(str)},
                reply={"id": str}, upload=True, timeout=120))

# The shim of one container (socket shim-<container id>): the process, its stdio, its exit.
EXIT = {"exit_code": int, "finished_at": str, "oom_killed": bool, "error": str}
STDIO = {"fd": int}   # a labelled raw frame: 1 stdout, 2 stderr (0: a tty's one stream)
_declare(Method("shim.state", SHIM,
                reply={"pid": int, "running": bool, "started_at": str, "exit": Opt(EXIT)}))
# `pid` names the start the caller means: a shim of an earlier start (lingering after its
# container exited, on the same socket path) answers Conflict, and the caller reconnects.
_declare(Method("shim.wait", SHIM, params={"pid": int}, reply=EXIT, timeout=None, waits=True))
_declare(Method("shim.kill", SHIM, params={"pid": int, "signal": int}))
_declare(Method("shim.resize", SHIM, params={"pid": int, "height": int, "width": int}))
_declare(Method("shim.logs", SHIM, params={"pid": int, **LOG_QUERY}, chunk=LOG_CHUNK))
_declare(Method("shim.attach", SHIM,
                params={"pid": int, "stdin": bool, "stdout": bool, "stderr": bool, "logs": bool,
                        "stream": bool},
                chunk=STDIO, upload=True))


# A health check's probe: `args` run in the container to its end (killed after `timeout`
# seconds); its exit code (-1 if it timed out) and the first 4 KiB of its output.
_declare(Method("shim.probe", SHIM, params={"pid": int, "args": [str], "timeout": float},
                reply={"exit_code": int, "output": str, "timed_out": bool}, timeout=None, waits=True))


def exit_record(exit_code: int, finished_at: str, oom_killed: bool, error: str = "") -> dict:
    """An exit record (`EXIT`): how, when and why a container's process ended. (It never
    fails: a shim recording its container's exit must not stumble on a truthy int.)"""
    return {"exit_code": int(exit_code), "finished_at": str(finished_at), "oom_killed": bool(oom_killed),
            "error": str(error)}


# -------------------------------------------------- the start channel, the zygote

STARTED = {"pid": int, "started_at": str, "shim_pid": int}   # the container runs
START_FAILED = {"error": str, "exit_code": int}              # it did not start: why
SERVING = {"serving": bool}                                  # after STARTED: its socket serves
ZYGOTE_REQUEST = {"id": str}                                 # start the shim of this container
ZYGOTE_READY = "ready"                                       # the zygote's line once it serves


def _line(spec: Any, record: Any, what: str) -> bytes:
    check(spec, record, what)
    return json.dumps(record).encode() + b"\n"


def _parse(line: bytes | str, what: str) -> Any:
    if not line:
        raise errors.BadParameter(f"{what}: the channel closed before a line came")
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:  # a UnicodeDecodeError is a ValueError
        raise errors.BadParameter(f"{what}: not a JSON line: {exc}") from None


def _report_spec(record: Any) -> dict:
    return START_FAILED if isinstance(record, dict) and "error" in record else STARTED


def encode_report(report: dict) -> bytes:
    """A start report (`STARTED` or `START_FAILED`) as its line on the start channel."""
    return _line(_report_spec(report), report, "start report")


def decode_report(line: bytes | str) -> dict:
    """The start report a line holds; BadParameter if it holds none (or the channel closed)."""
    record = _parse(line, "start report")
    check(_report_spec(record), record, "start report")
    return record


def encode_serving() -> bytes:
    return _line(SERVING, {"serving": True}, "serving notice")


def decode_notice(line: bytes | str) -> dict:
    """A line after a start report: the `SERVING` notice, or the exit record."""
    record = _parse(line, "start channel")
    check(SERVING if isinstance(record, dict) and "serving" in record else EXIT, record, "start channel")
    return record


def encode_exit(record: dict) -> bytes:
    """An exit record (`EXIT`) as its line: on the start channel, and as exit.json."""
    return _line(EXIT, record, "exit record")


def decode_exit(line: bytes | str) -> dict:
    """The exit record a line (or exit.json) holds; BadParameter if it holds none."""
    record = _parse(line, "exit record")
    check(EXIT, record, "exit record")
    return record


def encode_zygote_request(container_id: str) -> bytes:
    return _line(ZYGOTE_REQUEST, {"id": container_id}, "zygote request")


def decode_zygote_request(line: bytes | str) -> str:
    """The id of the container whose shim a zygote request asks for."""
    record = _parse(line, "zygote request")
    check(ZYGOTE_REQUEST, record, "zygote request")
    return record["id"]


# ------------------------------------------------------------ bundle annotations

# What the supervisor tells the shim in config.json's "annotations" beyond the OCI spec.
ANNOTATION_LOWERDIR = "org.dockyard.lowerdir"      # the overlay's lower dirs, ":"-joined
ANNOTATION_UPPERDIR = "org.dockyard.upperdir"
ANNOTATION_WORKDIR = "org.dockyard.workdir"
ANNOTATION_LOG_PATH = "org.dockyard.log-path"      # the json-file log the shim writes
ANNOTATION_OPEN_STDIN = "org.dockyard.open-stdin"  # ANNOTATION_TRUE or ANNOTATION_FALSE
ANNOTATION_STDIN_ONCE = "org.dockyard.stdin-once"  # ANNOTATION_TRUE or ANNOTATION_FALSE
ANNOTATION_USER = "org.dockyard.user"              # Docker's User string, resolved in the rootfs
ANNOTATION_RUNTIME = "org.dockyard.runtime"        # which runtime runs the bundle (config.RUNTIMES)
# The host ports its shim holds while the container runs (published: the firewall forwards
# them), space-separated `proto:host-ip:port` ("tcp:0.0.0.0:8080"); "" for none.
ANNOTATION_PORTS = "org.dockyard.ports"
ANNOTATION_TRUE, ANNOTATION_FALSE = "true", "false"
# How the shim keeps the log (a JSON line, LOG_SETTINGS; absent: json-file, never rotated):
# its driver (services.common.logdrivers; "none" is kept in the shim's memory only, for
# attach), its rotation (a file rotated once it holds `max_size` bytes, -1: never; `max_file`
# files kept, the written one included; rotated ones gzipped) and each entry's attributes.
ANNOTATION_LOG = "org.dockyard.log"
LOG_SETTINGS = {"driver": str, "max_size": int, "max_file": int, "compress": bool, "attrs": MapOf(str)}
ANNOTATIONS = {key: str for key in (
    ANNOTATION_LOWERDIR, ANNOTATION_UPPERDIR, ANNOTATION_WORKDIR, ANNOTATION_LOG_PATH,
    ANNOTATION_OPEN_STDIN, ANNOTATION_STDIN_ONCE, ANNOTATION_USER, ANNOTATION_RUNTIME)}
ANNOTATIONS[ANNOTATION_PORTS] = Opt(str)
ANNOTATIONS[ANNOTATION_LOG] = Opt(str)
ANNOTATION_PREFIX = "org.dockyard."   # Dockyard's own: HostConfig.Annotations may not use it
# HostConfig.GroupAdd (a JSON list of names and numbers), resolved in the container's /etc/group.
ANNOTATION_GROUP_ADD = "org.dockyard.group-add"
# The destinations (a JSON list) of volumes that get the image's files there while empty.
ANNOTATION_COPY_UP = "org.dockyard.copy-up"
# IpcMode container:<id>: the pid of that container's process, whose /dev/shm this one binds.
ANNOTATION_SHM_OF = "org.dockyard.shm-of"
ANNOTATIONS.update({key: Opt(str) for key in (ANNOTATION_GROUP_ADD, ANNOTATION_COPY_UP, ANNOTATION_SHM_OF)})
# Beyond the OCI spec in one of the bundle's bind mounts (runtimes ignore what they do not
# know): the path below its source that it binds (a volume's Subpath). The runtime walks it
# at mount time, following no symlink, and binds what it reached (runc gets a private bind
# of that instead, made by the shim): the path string could be swapped for a symlink.
MOUNT_SUBPATH = "org.dockyard.subpath"


def encode_log_settings(settings: dict) -> str:
    return _line(LOG_SETTINGS, settings, "log settings").decode().rstrip("\n")


def decode_log_settings(text: str | None) -> dict:
    """The log settings an annotation holds (json-file, never rotated, when it holds none)."""
    if not text:
        return {"driver": "json-file", "max_size": -1, "max_file": 1, "compress": False, "attrs": {}}
    settings = _parse(text, "log settings")
    check(LOG_SETTINGS, settings, "log settings")
    return settings
