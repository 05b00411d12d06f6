"""A container's OCI bundle: config.json from its Docker config and host config, and its files.

The bundle lives in `<data-root>/containers/<id>/` beside the overlay's upper and work
dirs, the json-file log, and the hostname, hosts and resolv.conf files that are bound
into the container. What the OCI spec has no field for (the overlay's layers, stdin
handling, the log's path, Docker's User string) travels as `org.dockyard.*` annotations.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass

from services.common import errors, logdrivers, logfiles, wire
from services.common.wire import schema
from services.kernel import devices as device_rules
from services.kernel import seccomp
from services.kernel.capabilities import CAPABILITIES, held

from . import bundle_host, bundle_mounts
from .namespaces import Shared
from .networks.modes import Joined
from .spec import resources as resource_limits

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Docker's default capabilities (moby daemon/pkg/oci/caps/defaults.go).
DEFAULT_CAPABILITIES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def make_dirs(d: dict) -> None:
    for key in ("rootfs", "upper", "work", "empty"):
        os.makedirs(d[key], mode=0o755, exist_ok=True)


DEFAULT_SHM_SIZE = 64 << 20


def shm_size(host: dict) -> int:
    """The size of /dev/shm: ShmSize, or Docker's 64 MiB."""
    return int(host.get("ShmSize") or 0) or DEFAULT_SHM_SIZE


def capabilities(host: dict) -> dict:
    """The process's capability sets, as Docker tweaks its defaults: privileged has all
    (all this host grants: capabilities.held); CapAdd ALL is all but those dropped; CapDrop
    ALL leaves only those added; else the defaults without those dropped, with those added.
    An unknown name is a BadParameter."""
    def names(key: str) -> list[str]:
        out = []
        for c in host.get(key) or []:
            c = c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
            if c != "CAP_ALL" and c not in CAPABILITIES:
                raise errors.BadParameter(f"unknown capability: \"{c}\"")
            out.append(c)
        return out
    add, drop = names("CapAdd"), names("CapDrop")
    everything = sorted(held())
    if host.get("Privileged"):
        caps = everything
    elif "CAP_ALL" in add:
        caps = [c for c in everything if c not in drop]
    elif "CAP_ALL" in drop:
        caps = [c for c in add if c != "CAP_ALL"]
    else:
        caps = [c for c in DEFAULT_CAPABILITIES if c not in drop] + add
    caps = list(dict.fromkeys(caps))
    return {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []}


@dataclass
class Security:
    """What a container's SecurityOpt asks for."""
    seccomp: dict | None = None   # a profile of its own; None: the default, unless unconfined
    seccomp_unconfined: bool = False
    no_new_privileges: bool = False
    unmasked_paths: bool = False  # systempaths=unconfined


def security(options: list[str] | None) -> Security:
    """HostConfig.SecurityOpt, as Docker reads it (`key=value`, or the older `key:value`).
    AppArmor and SELinux labels are taken and have no effect: this host enforces neither."""
    out = Security()
    if options is not None and not isinstance(options, list):
        raise errors.BadParameter("SecurityOpt must be a list of strings")
    for number, option in enumerate(options or [], 1):
        if not isinstance(option, str):
            raise errors.BadParameter("SecurityOpt must be a list of strings")
        if option == "no-new-privileges":
            out.no_new_privileges = True
            continue
        key, sep, value = option.partition("=")
        if not sep:
            key, sep, value = option.partition(":")
        if not sep or not value:
            raise errors.BadParameter(f'invalid --security-opt {number}: "{option}"')
        if key == "seccomp":
            if value == "unconfined":
                out.seccomp_unconfined = True
            elif value != "builtin":
                try:
                    out.seccomp = json.loads(value)
                    seccomp.compile_profile(out.seccomp)
                except ValueError:
                    raise errors.BadParameter("seccomp profile must be unconfined, builtin or a JSON "
                                              "profile") from None
                except seccomp.ProfileError as exc:
                    raise errors.BadParameter(f"seccomp profile: {exc}") from None
        elif key == "no-new-privileges":
            if value not in ("true", "false"):
                raise errors.BadParameter(f'invalid --security-opt {number}: "{option}"')
            out.no_new_privileges = value == "true"
        elif key == "systempaths" and value == "unconfined":
            out.unmasked_paths = True
        elif key not in ("apparmor", "label"):
            raise errors.BadParameter(f'invalid --security-opt {number}: "{option}"')
    return out


def _seccomp_profile(host: dict, caps: dict, sec: Security) -> dict | None:
    if host.get("Privileged") or sec.seccomp_unconfined:
        return None
    if sec.seccomp is not None:
        return sec.seccomp
    return seccomp.default_profile(set(caps["bounding"])) if seccomp.supported() else None


HOST_DEV = "/dev"
# What privileged mode does not copy from the host's /dev: its mounts, console, and
# ptmx (the container's own is a link to its devpts).
HOST_DEV_SKIP = {"pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts", ".udev", "console", "ptmx"}


def _device_node(path: str) -> dict | None:
    """linux.devices' entry for the host's device node `path` (not followed if a symlink);
    None if it is not a device. FileNotFoundError if there is nothing there."""
    st = os.lstat(path)
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
    if kind is None:
        return None
    return {"path": path, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid}


def _nodes_below(top: str, into: str) -> list[dict]:
    """The device nodes in the host directory `top`, at their places below `into`."""
    nodes = []
    for dirpath, dirnames, filenames in os.walk(top):
        if dirpath == HOST_DEV:
            dirnames[:] = [n for n in dirnames if n not in HOST_DEV_SKIP]
        for name in sorted(filenames):
            if dirpath == HOST_DEV and name in HOST_DEV_SKIP:
                continue
            try:
                node = _device_node(os.path.join(dirpath, name))
            except OSError:
                continue
            if node is not None:
                node["path"] = os.path.join(into, os.path.relpath(node["path"], top))
                nodes.append(node)
    return nodes


def _mapped_device(mapping, number: int) -> tuple[list[dict], str]:
    """One of HostConfig.Devices, checked: its nodes and their cgroup permissions."""
    where = f"HostConfig.Devices[{number}]"
    if not isinstance(mapping, dict):
        raise errors.BadParameter("HostConfig.Devices must be a list of objects")
    for key in ("PathOnHost", "PathInContainer", "CgroupPermissions"):
        if mapping.get(key) is not None and not isinstance(mapping[key], str):
            raise errors.BadParameter(f"{where}.{key} must be a string")
    on_host = mapping.get("PathOnHost") or ""
    in_container = mapping.get("PathInContainer") or on_host
    permissions = mapping.get("CgroupPermissions") or "rwm"
    if not device_rules.valid_access(permissions):
        raise errors.BadParameter(f"bad mode specified: {permissions}")
    nodes, reason = [], "no such file or directory"
    if on_host.startswith("/"):  # not relative to wherever the supervisor runs
        path = os.path.normpath(on_host)
        # Like Docker, a symlink is followed only to a device under /dev (/dev/disk/by-id/...).
        if os.path.islink(path) and os.path.realpath(path).startswith(HOST_DEV + "/"):
            path = os.path.realpath(path)
        try:
            node = _device_node(path)
            if node is not None:
                nodes = [dict(node, path=in_container)]
            elif os.path.isdir(path):  # a directory of devices: those below it
                nodes = _nodes_below(path, in_container)
            reason = "not a device node"
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
    if not nodes:
        raise errors.BadParameter(f"error gathering device information while adding custom device "
                                  f"{json.dumps(on_host)}: {reason}")
    if not in_container.startswith("/") or not in_container.strip("/"):
        raise errors.BadParameter(f"{in_container} is not an absolute path")
    return nodes, permissions


def devices(host: dict) -> tuple[list[dict], list[device_rules.Rule]]:
    """HostConfig's Devices, DeviceCgroupRules and Privileged as Docker reads them: the
    nodes to make (OCI linux.devices) and the devices cgroup's rules, Docker's defaults
    first. A setting that is not right is a BadParameter, in Docker's words where it has any."""
    mappings, texts = host.get("Devices") or [], host.get("DeviceCgroupRules") or []
    if not isinstance(mappings, list):
        raise errors.BadParameter("HostConfig.Devices must be a list of objects")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise errors.BadParameter("HostConfig.DeviceCgroupRules must be a list of strings")
    try:
        extra_rules = [device_rules.parse(t) for t in texts]
    except ValueError as exc:
        raise errors.BadParameter(str(exc)) from None
    mapped = [_mapped_device(m, n) for n, m in enumerate(mappings)]
    if host.get("Privileged"):
        # Every host device, and those mapped elsewhere; no rule (their permissions are ignored).
        nodes = _nodes_below(HOST_DEV, HOST_DEV)
        nodes += [node for (found, _), m in zip(mapped, mappings) for node in found
                  if node["path"] != m.get("PathOnHost")]
        return nodes, list(device_rules.ALLOW_ALL)
    nodes, rules = [], list(device_rules.DEFAULT_RULES)
    for found, permissions in mapped:
        nodes += found
        rules += [device_rules.Rule(True, n["type"], n["major"], n["minor"], permissions) for n in found]
    return nodes, rules + extra_rules


def oci_config(rec: dict, d: dict, lowers: list[str], network: "Joined | None" = None,
               shared: Shared | None = None) -> dict:
    """config.json for the container record `rec`; `lowers` are its layer dirs, bottom first;
    `network` what its network mode joins (networks.modes.at_start; none: its own), `shared`
    its PID and IPC namespaces (namespaces.at_start; none: its own)."""
    config, host = rec["Config"], rec["HostConfig"]
    network_ns = network.namespace if network is not None else {"type": "network"}
    files = {**d, **(network.files or {})} if network is not None else d
    env = list(config.get("Env") or []) + (network.env if network is not None else [])
    if not any(e.startswith("PATH=") for e in env):
        env.append(f"PATH={DEFAULT_PATH}")
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.append(f"HOSTNAME={config.get('Hostname') or rec['Id'][:12]}")
    if config.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    user = config.get("User") or ""
    name, _, group = user.partition(":")
    numeric = {"uid": int(name) if name.isdigit() else 0, "gid": int(group) if group.isdigit() else 0}
    shared = shared or Shared({"type": "pid"}, {"type": "ipc"})
    mounts, propagation = bundle_mounts.oci_mounts(rec, files, shared, shm_size(host))
    own_uts = (host.get("UTSMode") or "") != "host"
    resources = resource_limits.oci(host)
    nodes, rules = devices(host)
    resources["devices"] = [device_rules.to_oci(rule) for rule in rules]
    caps, sec = capabilities(host), security(host.get("SecurityOpt"))
    profile = _seccomp_profile(host, caps, sec)
    masked, readonly = bundle_host.protected_paths(host, sec.unmasked_paths)
    console = bundle_host.console_size(config, host)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": bool(config.get("Tty")),
            "user": numeric,
            "args": bundle_host.args(rec),
            "env": env,
            "cwd": config.get("WorkingDir") or "/",
            "capabilities": caps,
            "noNewPrivileges": sec.no_new_privileges,
            "oomScoreAdj": int(host.get("OomScoreAdj") or 0),   # always: not the shim's own
            "rlimits": bundle_host.rlimits(host),
            **({"consoleSize": console} if console else {}),
        },
        "root": {"path": "rootfs", "readonly": bool(host.get("ReadonlyRootfs"))},
        # With the host's UTS namespace, neither (a runtime may not set the host's name).
        **({"hostname": config.get("Hostname") or rec["Id"][:12]} if own_uts else {}),
        **({"domainname": config["Domainname"]} if config.get("Domainname") and own_uts else {}),
        "mounts": mounts,
        "linux": {
            "namespaces": bundle_host.namespaces(host, network_ns, shared),
            "devices": nodes,
            # Absolute: below the hierarchies' roots, as runc reads it (a relative path is
            # below the cgroup runc itself runs in).
            "cgroupsPath": "/" + rec["Dockyard"]["cgroup"],
            "resources": resources,
            "maskedPaths": masked,
            "readonlyPaths": readonly,
            "sysctl": bundle_host.sysctls(host),
            **({"rootfsPropagation": propagation} if propagation else {}),
            **({"seccomp": profile} if profile is not None else {}),
        },
        "annotations": {
            **bundle_host.annotations(host, shared, bundle_mounts.copies_up(rec)),
            wire.ANNOTATION_LOWERDIR: ":".join(reversed(lowers)) if lowers else d["empty"],
            wire.ANNOTATION_UPPERDIR: d["upper"],
            wire.ANNOTATION_WORKDIR: d["work"],
            wire.ANNOTATION_LOG_PATH: logfiles.path_of(d, logdrivers.of(rec)["Type"]),
            schema.ANNOTATION_LOG: schema.encode_log_settings(logdrivers.settings(logdrivers.of(rec), rec)),
            wire.ANNOTATION_OPEN_STDIN: wire.ANNOTATION_TRUE if config.get("OpenStdin") else wire.ANNOTATION_FALSE,
            wire.ANNOTATION_STDIN_ONCE: wire.ANNOTATION_TRUE if config.get("StdinOnce") else wire.ANNOTATION_FALSE,
            wire.ANNOTATION_USER: user,
            wire.ANNOTATION_RUNTIME: host.get("Runtime") or "builtin",
            wire.ANNOTATION_PORTS: " ".join(
                f"{proto}:{binding['HostIp'] or '0.0.0.0'}:{binding['HostPort']}"
                for key, bindings in ((rec.get("NetworkSettings") or {}).get("Ports") or {}).items()
                for proto in [key.partition("/")[2] or "tcp"] for binding in bindings or []),
        },
    }
