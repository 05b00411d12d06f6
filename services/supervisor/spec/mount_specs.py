"""A create body's mounts read as Docker reads them (moby volume/mounts/linux_parser.go,
daemon/volumes.go): HostConfig.Binds, HostConfig.Mounts, HostConfig.Tmpfs and the
anonymous volumes of Config.Volumes, each checked, as mount points.

A mount point is the record's `Mounts` entry: inspect's fields, and `Spec`, Docker's
mount.Mount as given (or as a Binds entry reads), which the bundle turns into the OCI
mount. A volume's Source is filled in by supervisor.mounts, which makes the volume.
"""

from __future__ import annotations

import posixpath
import re

from services.common import errors

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
DEFAULT_PROPAGATION = "rprivate"
_LABELS, _CONSISTENCIES, _COPY = ("z", "Z"), ("consistent", "cached", "delegated"), ("nocopy",)
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
LOCAL = "local"

# Mount flags tmpfs takes (moby/sys/mount flags.go); the data options are TMPFS_DATA.
TMPFS_FLAGS = {
    "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev", "nodev": "nodev",
    "exec": "noexec", "noexec": "noexec", "sync": "sync", "async": "sync", "dirsync": "dirsync",
    "remount": "remount", "mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime", "bind": "bind", "rbind": "bind",
    "relatime": "relatime", "norelatime": "relatime", "strictatime": "strictatime",
    "nostrictatime": "strictatime", **{p: "propagation" for p in PROPAGATIONS},
    "unbindable": "propagation", "runbindable": "propagation",
}
TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
# What every tmpfs a client asks for starts from (moby oci_linux.go withMounts).
TMPFS_DEFAULTS = ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION]


def _bad(kind: str, why: str) -> errors.BadParameter:
    return errors.BadParameter(f'invalid mount config for type "{kind}": {why}')


def _absolute(path: str) -> bool:
    return posixpath.isabs(path.replace("\\", "/"))


def _target_problem(target: str) -> str | None:
    if not target:
        return "field Target must not be empty"
    if posixpath.normpath(target.replace("\\", "/")) == "/":
        return "invalid specification: destination can't be '/'"
    if not _absolute(target):
        return f"invalid mount path: '{target}' mount path must be absolute"
    return None


# ----------------------------------------------------------------------- tmpfs


def merged_tmpfs_options(options: list[str]) -> list[str]:
    """Options in order, a later one replacing an earlier one of the same flag (ro and rw,
    exec and noexec...) or data key (moby/sys/mount MergeTmpfsOptions); BadParameter for one
    tmpfs does not take."""
    seen_flags, seen_data, out = set(), set(), []
    for option in reversed(options):
        if option in ("", "defaults"):
            continue
        if option in TMPFS_FLAGS:
            if TMPFS_FLAGS[option] not in seen_flags:
                seen_flags.add(TMPFS_FLAGS[option])
                out.insert(0, option)
            continue
        key, sep, _ = option.partition("=")
        if not sep or key not in TMPFS_DATA:
            raise errors.BadParameter(f"Invalid tmpfs option {option!r}")
        if key not in seen_data:
            seen_data.add(key)
            out.insert(0, option)
    return out


def tmpfs_table(given: dict | None) -> dict | None:
    """HostConfig.Tmpfs (destination -> options), checked."""
    if not given:
        return None
    for dest, options in given.items():
        problem = _target_problem(dest)
        if problem:
            raise errors.BadParameter(problem)
        merged_tmpfs_options((options or "").split(","))
    return dict(given)


def tmpfs_data(options: dict | None, read_only: bool) -> list[str]:
    """A tmpfs mount's TmpfsOptions as mount options (moby ConvertTmpfsOptions)."""
    options = options or {}
    out = ["ro"] if read_only else []
    if options.get("Mode"):
        out.append(f"mode={options['Mode']:o}")
    size = options.get("SizeBytes") or 0
    if size < 0:
        raise errors.BadParameter("invalid mount config for type \"tmpfs\": SizeBytes must not be negative")
    if size:
        for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                out.append(f"size={size // divisor}{suffix}")
                break
        else:
            out.append(f"size={size}")
    return out


# ---------------------------------------------------------------------- mounts


def check_mount(m: dict) -> None:
    """One HostConfig.Mounts entry, as Docker validates it (validateMountConfigImpl); a bind's
    source is checked for existence by the caller."""
    kind = m.get("Type") or ""
    problem = _target_problem(m.get("Target") or "")
    if problem:
        raise _bad(kind, problem)
    bind_options, volume_options = m.get("BindOptions"), m.get("VolumeOptions")
    if kind == "bind":
        if not m.get("Source"):
            raise _bad(kind, "field Source must not be empty")
        propagation = (bind_options or {}).get("Propagation") or ""
        if propagation and propagation not in PROPAGATIONS:
            raise _bad(kind, f"invalid propagation mode: {propagation}")
        if volume_options is not None:
            raise _bad(kind, "field VolumeOptions must not be specified")
        if not _absolute(m["Source"]):
            raise _bad(kind, f"invalid mount path: '{m['Source']}' mount path must be absolute")
        if (bind_options or {}).get("ReadOnlyNonRecursive") and (bind_options or {}).get("ReadOnlyForceRecursive"):
            raise errors.BadParameter("mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive")
    elif kind == "volume":
        if bind_options is not None:
            raise _bad(kind, "field BindOptions must not be specified")
        anonymous = not m.get("Source")
        subpath = (volume_options or {}).get("Subpath") or ""
        if subpath:
            if anonymous:
                raise _bad(kind, "must not set Subpath when using anonymous volumes")
            if not local_path(subpath):
                raise _bad(kind, "subpath must be a relative path within the volume")
        if m.get("ReadOnly") and anonymous:
            raise _bad(kind, "must not set ReadOnly mode when using anonymous volumes")
        if not anonymous and not VOLUME_NAME.fullmatch(m["Source"]):
            raise invalid_volume_name(m["Source"])
    elif kind == "tmpfs":
        if bind_options is not None:
            raise _bad(kind, "field BindOptions must not be specified")
        if m.get("Source"):
            raise _bad(kind, "field Source must not be specified")
        tmpfs_data(m.get("TmpfsOptions"), bool(m.get("ReadOnly")))
    else:
        raise _bad(kind, "mount type unknown")


def local_path(path: str) -> bool:
    """Go's filepath.IsLocal: relative, not empty, and not reaching above where it starts."""
    if not path or path.startswith("/"):
        return False
    depth = 0
    for part in path.split("/"):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            return False
    return True


def invalid_volume_name(name: str) -> errors.BadParameter:
    return errors.BadParameter(f'create {name}: "{name}" includes invalid characters for a local volume name, '
                               'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                               'directory, use absolute path')


def point(m: dict, mode: str = "") -> dict:
    """The mount point of a checked mount.Mount (moby parseMountSpec)."""
    kind = m["Type"]
    out = {"Type": kind, "Source": "", "Destination": posixpath.normpath(m["Target"]), "Mode": mode,
           "RW": not m.get("ReadOnly"), "Propagation": "", "Spec": m}
    if kind == "volume":
        driver = ((m.get("VolumeOptions") or {}).get("DriverConfig") or {}).get("Name") or LOCAL
        out.update(Name=m.get("Source") or None, Driver=driver)
        if not mode and driver == LOCAL:
            out["Mode"] = "z"   # as Docker marks a local volume (setBindModeIfNull)
    elif kind == "bind":
        out["Source"] = posixpath.normpath(m["Source"])
        out["Propagation"] = (m.get("BindOptions") or {}).get("Propagation") or DEFAULT_PROPAGATION
    return out


# ----------------------------------------------------------------------- binds


def _valid_mode(mode: str) -> bool:
    if not mode:
        return True
    counts: dict[tuple, int] = {}
    for option in mode.split(","):
        group = next((g for g in (("rw", "ro"), _LABELS, PROPAGATIONS, _COPY, _CONSISTENCIES) if option in g), None)
        if group is None:
            return False
        counts[group] = counts.get(group, 0) + 1
    return all(n == 1 for n in counts.values())


def bind(raw: str, volume_driver: str = "") -> dict:
    """One HostConfig.Binds entry (`[source:]dest[:mode]`) as its mount point."""
    parts = raw.split(":", 3)
    if not parts[0] or len(parts) > 3 or (len(parts) == 2 and _valid_mode(parts[1])):
        raise errors.BadParameter(f"invalid volume specification: '{raw}'")
    if len(parts) == 1:   # a destination alone: an anonymous volume
        source, target, mode = "", parts[0], ""
    else:
        source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    if not _valid_mode(mode):
        raise errors.BadParameter(f"invalid mode: {mode}")
    options = mode.split(",") if mode else []
    spec: dict = {"Type": "bind" if _absolute(source) else "volume", "Source": source, "Target": target,
                  "ReadOnly": "ro" in options}
    if volume_driver and spec["Type"] == "volume":
        spec["VolumeOptions"] = {"DriverConfig": {"Name": volume_driver}}
    if "nocopy" in options:
        spec.setdefault("VolumeOptions", {})["NoCopy"] = True
    propagation = next((o for o in options if o in PROPAGATIONS), None)
    if propagation:
        spec["BindOptions"] = {"Propagation": propagation}
    try:
        check_mount(spec)
    except errors.BadParameter as exc:
        raise errors.BadParameter(f"invalid volume specification: '{raw}': {exc.message}") from None
    return point(spec, mode)


def points(config: dict, host: dict, inherited: list[dict] = ()) -> list[dict]:
    """The mount points of a new container: those `inherited` (VolumesFrom's), then Binds and
    Mounts (each replacing an inherited one at its destination; two of them at one destination
    are a 'Duplicate mount point'), then Config.Volumes' anonymous volumes where nothing else
    mounts anything."""
    chosen: dict[str, dict] = {mp["Destination"]: mp for mp in inherited}
    taken: set[str] = set()
    tmpfs = {posixpath.normpath(d) for d in (host.get("Tmpfs") or {})}
    for raw in host.get("Binds") or []:
        mp = bind(raw, host.get("VolumeDriver") or "")
        if mp["Destination"] in taken or mp["Destination"] in tmpfs:
            raise errors.BadParameter(f"Duplicate mount point: {mp['Destination']}")
        taken.add(mp["Destination"])
        chosen[mp["Destination"]] = mp
    for m in host.get("Mounts") or []:
        check_mount(m)
        mp = point(m)
        if mp["Destination"] in taken:
            raise errors.BadParameter(f"Duplicate mount point: {m['Target']}")
        taken.add(mp["Destination"])
        chosen[mp["Destination"]] = mp
    for dest in config.get("Volumes") or {}:
        problem = _target_problem(dest)
        if problem:
            raise errors.BadParameter(f"invalid volume specification: '{dest}': {problem}")
        spec = {"Type": "volume", "Source": "", "Target": dest}
        if host.get("VolumeDriver"):
            spec["VolumeOptions"] = {"DriverConfig": {"Name": host["VolumeDriver"]}}
        mp = point(spec)
        if mp["Destination"] not in chosen and mp["Destination"] not in tmpfs:
            chosen[mp["Destination"]] = mp
    return list(chosen.values())


def _source_mount(source: str, mountinfo: str) -> tuple[str, set[str]]:
    """The mount point the host path `source` lies on, and its propagation tags (shared:N,
    master:N) from /proc/self/mountinfo (moby getSourceMount)."""
    path = posixpath.realpath(source)
    best, tags = "/", set()
    for line in mountinfo.splitlines():
        fields = line.split(" - ")[0].split()
        if len(fields) < 6:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])   # " " is \040 there
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, tags = point, {f.split(":")[0] for f in fields[6:]}
    return best, tags


def warnings(mount_points: list[dict], mountinfo: str | None = None) -> list[str]:
    """What a bind's shared or slave propagation promises and the host does not give: Docker
    refuses a source whose mount is not shared (rshared) or not shared or slave (rslave); a
    container here gets the host's mounts through either, and never sends its own back."""
    asking = [mp for mp in mount_points
              if mp["Type"] == "bind" and mp.get("Propagation") in ("shared", "rshared", "slave", "rslave")]
    if asking and mountinfo is None:
        try:
            with open("/proc/self/mountinfo") as fh:
                mountinfo = fh.read()
        except OSError:
            mountinfo = ""
    out = []
    for mp in asking:
        propagation = mp["Propagation"]
        point, tags = _source_mount(mp["Source"], mountinfo)
        if "shared" in propagation and "shared" not in tags:
            out.append(f"path {mp['Source']} is mounted on {point} but it is not a shared mount: nothing mounted "
                       f"below {mp['Destination']} propagates")
        elif not tags & {"shared", "master"}:
            out.append(f"path {mp['Source']} is mounted on {point} but it is not a shared or slave mount: nothing "
                       f"mounted below it reaches {mp['Destination']}")
        elif "shared" in propagation:
            out.append(f"{mp['Destination']}: {propagation} propagation is one way here: mounts made on the host "
                       f"below {mp['Source']} reach the container, mounts the container makes there do not reach "
                       "the host")
    return out
