"""system.info: the counts of containers and images, and the host facts /info shows."""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import datetime, timezone

from services.common import wire
from services.common.config import Settings
from services.kernel import seccomp

from . import hostinfo


def security_options() -> list[str]:
    """As dockerd lists them: its seccomp profile, and cgroupns where containers get a
    cgroup namespace of their own by default (cgroup v2)."""
    options = ["name=seccomp,profile=builtin"] if seccomp.supported() else []
    if hostinfo.cgroup_version() == "2":
        options.append("name=cgroupns")
    return options


class Info:
    def __init__(self, settings: Settings, conn: sqlite3.Connection):
        self.settings = settings
        self.conn = conn

    def handlers(self) -> dict:
        return {"system.info": self.info}

    async def info(self, call: wire.Call) -> dict:
        conn = self.conn
        states = dict(conn.execute("SELECT state, COUNT(*) FROM containers GROUP BY state").fetchall())
        total = sum(states.values())
        running = states.get("running", 0) + states.get("restarting", 0)
        paused = states.get("paused", 0)
        daemon_id = conn.execute("SELECT value FROM daemon WHERE key='id'").fetchone()[0]
        pretty, version = hostinfo.os_release()
        return {
            "id": daemon_id,
            "name": socket.gethostname(),
            "containers": total,
            "containers_running": running,
            "containers_paused": paused,
            "containers_stopped": total - running - paused,
            "images": conn.execute("SELECT COUNT(*) FROM images").fetchone()[0],
            **hostinfo.cgroup_features(),
            "cgroup_version": hostinfo.cgroup_version(),
            "kernel_version": hostinfo.kernel_version(),
            "operating_system": pretty,
            "os_version": version,
            "architecture": hostinfo.architecture(),
            "ncpu": os.cpu_count() or 1,
            "mem_total": hostinfo.mem_total(),
            "data_root": self.settings.data_root,
            "backing_filesystem": hostinfo.backing_filesystem(os.path.realpath(self.settings.data_root)),
            "system_time": datetime.now(timezone.utc).isoformat(),
            "security_options": security_options(),
        }
