"""Who the container's process runs as, and where: Docker's User read in the container's own
/etc/passwd and /etc/group, and its working directory (run after pivot_root)."""

from __future__ import annotations

import json
import os

from services.common import pathwalk
from services.common.wire import schema

from .base import StartError


def resolve(process: dict, annotations: dict, root: str = "/") -> tuple[int, int, list[int], str]:
    """Resolve Docker's User (name or uid[:gid], names looked up in the container's files,
    below `root`: the init's own / after pivot_root, or the rootfs the shim mounted for
    runc): (uid, gid, supplementary groups ending with gid, home)."""
    spec = annotations.get(schema.ANNOTATION_USER, "")
    user = process.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    home = "/"
    passwd = _table(root, "passwd")
    name, _, group = spec.partition(":")
    if name:
        row = next((r for r in passwd if r[0] == name), None) if not name.isdigit() else \
            next((r for r in passwd if r[2] == name), None)
        if row is not None:
            uid, gid, home = int(row[2]), int(row[3]), row[5] or "/"
        elif name.isdigit():
            uid, gid = int(name), 0 if not group else gid
        else:
            raise StartError(f"unable to find user {name}: no matching entries in passwd file")
    elif passwd:
        row = next((r for r in passwd if r[2] == str(uid)), None)
        if row is not None:
            home = row[5] or "/"
    groups_table = _table(root, "group")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            row = next((r for r in groups_table if r[0] == group), None)
            if row is None:
                raise StartError(f"unable to find group {group}: no matching entries in group file")
            gid = int(row[2])
    username = next((r[0] for r in passwd if r[2] == str(uid)), None)
    extra = sorted({int(r[2]) for r in groups_table
                    if username and len(r) > 3 and username in r[3].split(",") and r[2].isdigit()})
    extra += [g for g in added_groups(annotations, groups_table) if g not in extra]
    return uid, gid, [g for g in extra if g != gid] + [gid], home


def added_groups(annotations: dict, groups_table: list[list[str]]) -> list[int]:
    """HostConfig.GroupAdd: each a group of the container's /etc/group (by name, or by number)
    or else a number, as Docker reads them."""
    try:
        wanted = json.loads(annotations.get(schema.ANNOTATION_GROUP_ADD) or "[]")
    except ValueError:
        raise StartError(f"config.json: {schema.ANNOTATION_GROUP_ADD} is not a JSON list") from None
    out = []
    for group in wanted:
        row = next((r for r in groups_table if len(r) > 2 and group in (r[0], r[2]) and r[2].isdigit()), None)
        if row is not None:
            out.append(int(row[2]))
        elif str(group).isdigit():
            out.append(int(group))
        else:
            raise StartError(f"Unable to find group {group}: no matching entries in group file")
    return out


def identity(config: dict) -> tuple[list[str], int, int, list[int]]:
    """The bundle's process environment (with HOME, as Docker adds it when the image does
    not) and who it runs as: (env, uid, gid, groups). Run inside the container's root."""
    process = config["process"]
    env = list(process.get("env") or [])
    uid, gid, groups, home = resolve(process, config.get("annotations") or {})
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    return env, uid, gid, groups


def _table(root: str, name: str) -> list[list[str]]:
    """The rows of <root>/etc/<name>; missing: none. Inside the container (root "/") a
    symlink leads nowhere but the container's files; from the shim, it is not followed
    (one in an image must not lead the shim to a file of the host's)."""
    try:
        if root == "/":
            fd = os.open(f"/etc/{name}", os.O_RDONLY)
        else:
            root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                etc = pathwalk.open_dir(root_fd, ["etc"], False, "/etc")
            finally:
                os.close(root_fd)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=etc)
            finally:
                os.close(etc)
        with open(fd, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n").split(":") for line in fh if line.strip() and not line.startswith("#")]
    except (OSError, pathwalk.LayerError):
        return []


def make_cwd(cwd: str) -> None:
    """Make the working directory if it is missing, as Docker does. This runs after
    pivot_root with the shim's fds closed, so no path leads out of the container's root
    (and enter_cwd checks that none did)."""
    try:
        os.makedirs(cwd, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise StartError(f"cannot make the working directory {cwd}: {exc.strerror}", 126) from None


def enter_cwd(cwd: str) -> None:
    try:
        os.chdir(cwd)
        here = os.getcwd()
    except OSError as exc:
        raise StartError(f"chdir to the working directory {cwd}: {exc.strerror}", 126) from None
    if not here.startswith("/"):  # "(unreachable)/...": a directory outside the container
        raise StartError(f"the working directory {cwd} is outside the container's root", 126)
