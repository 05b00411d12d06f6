"""The PID and IPC namespaces a container shares, as its HostConfig names them, looked up at
each start (as networks.modes does for the network namespace):

    PidMode   ""              a PID namespace of its own
              host            the host's
              container:<id>  that running container's
    IpcMode   private, shareable, none   an IPC namespace of its own (none: no /dev/shm)
              host            the host's, and the host's /dev/shm
              container:<id>  that running container's, and its /dev/shm; the other
                              container must be shareable (or share the host's or a third's)
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common import errors

from .records import Records

HOST = "host"
CONTAINER = "container:"
SHARING_IPC = ("shareable", HOST)   # IpcModes another container may join


@dataclass
class Shared:
    """What a start joins: the OCI namespace entry of each kind it does not make itself
    (None: the host's), and the pid of the container whose /dev/shm it binds (0: none)."""
    pid: dict | None
    ipc: dict | None
    shm_of: int = 0
    host_shm: bool = False   # IpcMode host: the host's /dev/shm


def _running(records: Records, ref: str, rec: dict, kind: str) -> dict:
    try:
        target = records.find(ref)
    except errors.NotFound as exc:
        raise errors.BadParameter(f"failed to join {kind} namespace: {exc.message}") from None
    if target["Id"] == rec["Id"]:
        raise errors.BadParameter(f"failed to join {kind} namespace: a container cannot join its own")
    state = target["State"]
    if state.get("Restarting"):
        raise errors.Conflict(f"Container {target['Id']} is restarting, wait until the container is running")
    if not state["Running"]:
        raise errors.Conflict(f"failed to join {kind} namespace: container {target['Id']} is not running")
    return target


def at_start(rec: dict, records: Records) -> Shared:
    host = rec["HostConfig"]
    pid_mode, ipc_mode = host.get("PidMode") or "", host.get("IpcMode") or "private"
    pid: dict | None = {"type": "pid"}
    if pid_mode == HOST:
        pid = None
    elif pid_mode.startswith(CONTAINER):
        target = _running(records, pid_mode[len(CONTAINER):], rec, "PID")
        pid = {"type": "pid", "path": f"/proc/{target['State']['Pid']}/ns/pid"}
    if ipc_mode == HOST:
        return Shared(pid, None, host_shm=True)
    if not ipc_mode.startswith(CONTAINER):
        return Shared(pid, {"type": "ipc"})
    ref = ipc_mode[len(CONTAINER):]
    target = _running(records, ref, rec, "IPC")
    donor = target["HostConfig"].get("IpcMode") or "private"
    if donor not in SHARING_IPC and not donor.startswith(CONTAINER):
        raise errors.BadParameter(f"failed to join IPC namespace: container {ref}: non-shareable IPC "
                                  "(hint: use IpcMode:shareable for the donor container)")
    if donor == HOST:
        return Shared(pid, None, host_shm=True)
    donor_pid = target["State"]["Pid"]
    return Shared(pid, {"type": "ipc", "path": f"/proc/{donor_pid}/ns/ipc"}, shm_of=donor_pid)
