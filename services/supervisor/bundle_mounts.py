"""A bundle's mounts, as moby's withMounts makes them: the defaults every container has (/proc,
/dev, /dev/pts, /dev/shm, /dev/mqueue, /sys), then the container's own, parents first: its
IPC mount, HostConfig.Tmpfs, its mount points (binds, volumes, tmpfs of HostConfig.Mounts),
its hosts, hostname and resolv.conf, and docker-init. One of its own replaces a default at
the same place (and one at /dev every default below it). With a read-only root the
defaults are read-only too (but /proc and /dev's); privileged, /sys is writable.
"""

from __future__ import annotations

import os
import posixpath
import stat

from services.common import errors
from services.common.wire import schema

from .namespaces import Shared
from .spec import host as host_settings
from .spec import mount_specs

# Left writable by a read-only root (moby withMounts).
WRITABLE_WITH_READONLY_ROOT = ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev")
SHARED, SLAVE = ("shared", "rshared"), ("slave", "rslave")


def defaults(host: dict, shm_size: int) -> list[dict]:
    """The mounts every container has; /dev/shm (of `shm_size` bytes) as its IpcMode has it
    (the container's own replaces it where it shares another's)."""
    out = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size // 1024}k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev"] + ([] if host.get("Privileged") else ["ro"])},
    ]
    if (host.get("IpcMode") or "private") == "none":
        out = [m for m in out if m["destination"] != "/dev/shm"]
    return out


def _subpath(mp: dict) -> str:
    """A volume's Subpath, cleaned ("" for none), checked as Docker checks it at start: it must
    be there, reached through no symlink. (The runtime walks it again as it mounts it, from
    the volume's root, following no symlink: it may have changed since.)"""
    subpath = ((mp.get("Spec") or {}).get("VolumeOptions") or {}).get("Subpath") or ""
    parts = [p for p in subpath.split("/") if p not in ("", ".")]
    path = mp["Source"]
    for part in parts:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise errors.BadParameter(f"cannot access path {path}: {exc.strerror.lower()}") from None
        if stat.S_ISLNK(st.st_mode):
            raise errors.BadParameter(f"subpath {subpath!r} of volume {mp.get('Name')} goes through a symlink")
    return "/".join(parts)


def point_mount(mp: dict) -> dict:
    """The OCI mount of one of the record's mount points."""
    spec = mp.get("Spec") or {}
    if mp["Type"] == "tmpfs":
        options = mount_specs.TMPFS_DEFAULTS + mount_specs.tmpfs_data(spec.get("TmpfsOptions"), not mp.get("RW", True))
        return {"destination": mp["Destination"], "type": "tmpfs", "source": "tmpfs",
                "options": mount_specs.merged_tmpfs_options(options)}
    bind_options = spec.get("BindOptions") or {}
    options = ["bind" if bind_options.get("NonRecursive") else "rbind"]
    if not mp.get("RW", True):
        # Read-only all the way down (Docker's default since API 1.44), unless asked not to be.
        options.append("ro" if bind_options.get("ReadOnlyNonRecursive") else "rro")
    if mp.get("Propagation"):
        options.append(mp["Propagation"])
    out = {"destination": mp["Destination"], "type": "bind", "source": mp["Source"], "options": options}
    subpath = _subpath(mp) if mp["Type"] == "volume" else ""
    if subpath:
        out[schema.MOUNT_SUBPATH] = subpath   # below the source, walked by the runtime
    return out


def copies_up(rec: dict) -> list[str]:
    """Where a volume gets the image's files while it is empty (not with NoCopy, nor a
    Subpath, nor for a bind)."""
    out = []
    for mp in rec.get("Mounts") or []:
        options = (mp.get("Spec") or {}).get("VolumeOptions") or {}
        if mp["Type"] == "volume" and not options.get("NoCopy") and not options.get("Subpath"):
            out.append(mp["Destination"])
    return out


def _depth(m: dict) -> int:
    return len(posixpath.normpath(m["destination"]).split("/"))


def oci_mounts(rec: dict, files: dict, shared: Shared, shm_size: int) -> tuple[list[dict], str | None]:
    """The bundle's mounts, and its rootfs propagation (None: the runtime's default)."""
    host = rec["HostConfig"]
    own: list[dict] = []
    if shared.host_shm:
        own.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]})
    elif shared.shm_of:
        # Another container's /dev/shm: the runtime clones it from that container's mount namespace.
        own.append({"destination": "/dev/shm", "type": "bind", "source": f"/proc/{shared.shm_of}/root/dev/shm",
                    "options": ["rbind", "rprivate"]})
    for dest, data in (host.get("Tmpfs") or {}).items():
        options = mount_specs.merged_tmpfs_options(mount_specs.TMPFS_DEFAULTS + (data or "").split(","))
        own.append({"destination": posixpath.normpath(dest), "type": "tmpfs", "source": "tmpfs", "options": options})
    own += [point_mount(mp) for mp in rec.get("Mounts") or []]
    own += [{"destination": f"/etc/{name}", "type": "bind", "source": files[key], "options": ["rbind", "rprivate"]}
            for name, key in (("resolv.conf", "resolv"), ("hostname", "hostname"), ("hosts", "hosts"))]
    own.sort(key=_depth)   # stable: parents first, in the order given otherwise
    taken = {m["destination"] for m in own}
    base = [m for m in defaults(host, shm_size)
            if m["destination"] not in taken and not ("/dev" in taken and m["destination"].startswith("/dev/"))]
    if host.get("ReadonlyRootfs"):
        for m in base:
            if m["destination"] not in WRITABLE_WITH_READONLY_ROOT and "ro" not in m["options"]:
                m["options"] = m["options"] + ["ro"]
    init = init_mount(rec)
    if init is not None:
        base.append(init)
    propagations = {m["options"][-1] for m in own if m["type"] == "bind"}
    propagation = "shared" if propagations & set(SHARED) else "rslave" if propagations & set(SLAVE) else None
    return base + own, propagation


def init_mount(rec: dict) -> dict | None:
    """docker-init bound into a container that asks for it and has a PID namespace of its own."""
    host = rec["HostConfig"]
    if not host.get("Init") or host.get("PidMode"):
        return None
    path = host_settings.init_binary()
    if path is None:
        raise errors.BadParameter('exec: "docker-init": executable file not found in $PATH')
    return {"destination": host_settings.INIT_IN_CONTAINER, "type": "bind", "source": path, "options": ["bind", "ro"]}
