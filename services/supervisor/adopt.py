"""At the supervisor's start: reconcile the records with what happened while none ran.

As containerd's shim loading does: container directories without a record (a create a
crash cut short) are removed; shims whose container has no record are killed; sockets of
dead shims are unlinked; a removal a crash cut short is finished; every container its
record says runs is watched again (its live shim is asked for its exit; one that exited
meanwhile is found in its exit.json, with every line of its output in its log); and the
restart policies that came due are fired once.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal

from services.common.config import Settings, cgroup_path
from services.kernel.cgroups import Cgroup

from . import states
from .lifecycle import Lifecycle
from .records import Records
from .shims import Shims

log = logging.getLogger("supervisor")


async def adopt(settings: Settings, records: Records, shims: Shims, lifecycle: Lifecycle) -> None:
    known = set(records.ids())
    root = os.path.join(settings.data_root, "containers")
    for name in os.listdir(root):
        if name not in known:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    for pid, cid in shims.leaked(known):
        log.warning("killing shim %d and its container %s: the container has no record", pid, cid[:12])
        try:
            Cgroup(cgroup_path(settings.cgroup_parent, cid)).destroy()  # kills what is in it
        except (OSError, ValueError) as exc:
            log.warning("removing the cgroup of %s: %s", cid[:12], exc)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shims.sweep_sockets()
    shims.sweep_runc_state(set(records.ids(states.RUNNING, states.PAUSED)))
    for cid in records.ids(states.RUNNING, states.PAUSED, states.RESTARTING, states.REMOVING):
        rec = records.load(cid)
        if rec["State"]["Status"] == states.REMOVING:
            await lifecycle.remove_locked(rec, volumes=False)
        else:
            lifecycle.adopt(rec)
    started = daemon_started(settings, records)
    for cid in records.ids(states.EXITED):
        lifecycle.restarts.at_daemon_start(records.load(cid), started)


def daemon_started(settings: Settings, records: Records) -> bool:
    """Whether dockyardd itself started since this supervisor last looked, not only this
    service: dockyardd writes its runtime file anew at each start."""
    try:
        st = os.stat(os.path.join(settings.exec_root, "daemon.json"))
    except OSError:
        return False
    mark = f"{st.st_ino}:{st.st_mtime_ns}"
    row = records.conn.execute("SELECT value FROM daemon WHERE key='started'").fetchone()
    if row and row[0] == mark:
        return False
    records.conn.execute("INSERT OR REPLACE INTO daemon (key, value) VALUES ('started', ?)", (mark,))
    return True
