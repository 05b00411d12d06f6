"""Where a container's files live under the data root, and its exit file.

    <data-root>/containers/<id>/   rootfs/ upper/ work/ empty/ (the overlay's), config.json
                                   (its OCI bundle), <id>-json.log (and its rotated
                                   .1, .2...; local-logs/container.log with the local log
                                   driver), hostname, hosts,
                                   resolv.conf, names.json (what its embedded DNS answers), exit.json (written by its shim at its exit,
                                   read by a supervisor that was away), shim.log

The supervisor makes them, the shim runs the bundle and writes the log and exit file.
"""

from __future__ import annotations

import os

from . import errors
from .wire import schema


def container_dir(data_root: str, container_id: str) -> str:
    return os.path.join(data_root, "containers", container_id)


def paths(data_root: str, container_id: str) -> dict:
    d = container_dir(data_root, container_id)
    return {
        "dir": d,
        "rootfs": os.path.join(d, "rootfs"),
        "upper": os.path.join(d, "upper"),
        "work": os.path.join(d, "work"),
        "empty": os.path.join(d, "empty"),
        "log": os.path.join(d, f"{container_id}-json.log"),
        "local_log": os.path.join(d, "local-logs", "container.log"),   # the local log driver's
        "config": os.path.join(d, "config.json"),
        "hostname": os.path.join(d, "hostname"),
        "hosts": os.path.join(d, "hosts"),
        "resolv": os.path.join(d, "resolv.conf"),
        "names": os.path.join(d, "names.json"),
        "exit": os.path.join(d, "exit.json"),
        "shim_log": os.path.join(d, "shim.log"),
    }


def write_exit(path: str, record: dict) -> None:
    """The exit record (wire.EXIT), durably: renamed into place and synced."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(schema.encode_exit(record))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_exit(path: str) -> dict | None:
    """The exit record at `path`; None when there is none (or not a whole one)."""
    try:
        with open(path, "rb") as fh:
            return schema.decode_exit(fh.read())
    except (OSError, errors.BadParameter):
        return None
