"""Where things live under the data root and the exec root, and making them at start."""

from __future__ import annotations

import os
import shutil
import uuid

from . import db

DATA_DIRS = ("blobs/sha256", "layers", "containers", "volumes", "tmp")


def prepare_data_root(data_root: str) -> None:
    """Create the data-root layout (0700: host users must not reach container files)."""
    os.makedirs(data_root, mode=0o700, exist_ok=True)
    os.chmod(data_root, 0o700)
    for sub in DATA_DIRS:
        os.makedirs(os.path.join(data_root, sub), mode=0o700, exist_ok=True)
    conn = db.connect(data_root)
    try:
        if conn.execute("SELECT 1 FROM daemon WHERE key='id'").fetchone() is None:
            conn.execute("INSERT INTO daemon(key, value) VALUES('id', ?)", (str(uuid.uuid4()).upper(),))
    finally:
        conn.close()


def prepare_exec_root(exec_root: str) -> None:
    os.makedirs(exec_root, mode=0o700, exist_ok=True)
    os.chmod(exec_root, 0o700)
    os.makedirs(os.path.join(exec_root, "sock"), mode=0o700, exist_ok=True)


def staging_dir(data_root: str, service: str) -> str:
    """A service's own staging area; emptied when the service starts."""
    return os.path.join(data_root, "tmp", service)


def clear_staging(data_root: str, service: str) -> None:
    path = staging_dir(data_root, service)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700, exist_ok=True)


def check_writable(path: str) -> None:
    """Raise OSError unless files can be created and removed under `path`."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    probe = os.path.join(path, f".probe-{os.getpid()}")
    with open(probe, "w") as fh:
        fh.write("ok")
    os.unlink(probe)


def netns_dir(exec_root: str) -> str:
    """Where the supervisor keeps containers' network namespace handles (one per container
    with a namespace of its own on bridge networks, named by its short id)."""
    return os.path.join(exec_root, "netns")
