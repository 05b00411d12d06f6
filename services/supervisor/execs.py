"""Exec sessions' records: what `docker exec` made, whether it started, and its end.

The supervisor keeps them (the execs table, so an inspect answers after a restart of any
service); the container's shim runs them (services/shim/execs.py) and knows how a started
one is doing (shim.exec_state), which an inspect asks until it has ended and keeps then.
An exec is tied to one start of its container (the pid of that start): once its container
stopped or started again, a started exec that was not seen ending is shown ended, its exit
code unknown, as Docker shows one whose container went away.

A record: {"ID", "ContainerID", "Config" (the wire's EXEC_CONFIG), "Started": bool,
"ContainerPid": the container's pid at the start (0 before), "Pid": the exec's process's
(0 until known), "ExitCode": int or None, "Ended": bool}.
"""

from __future__ import annotations

import json
import secrets
import sqlite3

from services.common import errors, locator, timefmt, wire

from .events import container_event
from .records import Records


def forget(conn: sqlite3.Connection, container_id: str) -> None:
    """Delete the exec records of a container (at its removal)."""
    conn.execute("DELETE FROM execs WHERE container_id=?", (container_id,))


def _check_running(rec: dict) -> None:
    """Docker's refusals of an exec in a container that does not run (getActiveContainer)."""
    cid, state = rec["Id"], rec["State"]
    if not state.get("Running"):
        raise errors.Conflict(f"Container {cid} is not running")
    if state.get("Paused"):
        raise errors.Conflict(f"Container {cid} is paused, unpause the container before exec")
    if state.get("Restarting"):
        raise errors.Conflict(f"Container {cid} is restarting, wait until the container is running")


def shape(exec_rec: dict) -> dict:
    """The record as Docker's GET /exec/{id}/json shows it (the wire's EXEC)."""
    config = exec_rec["Config"]
    cmd = config["Cmd"]
    return {
        "ID": exec_rec["ID"], "Running": bool(exec_rec["Started"] and not exec_rec["Ended"]),
        "ExitCode": exec_rec["ExitCode"], "Pid": exec_rec["Pid"], "CanRemove": False,
        "ContainerID": exec_rec["ContainerID"], "DetachKeys": config["DetachKeys"],
        "OpenStdin": config["AttachStdin"], "OpenStdout": config["AttachStdout"],
        "OpenStderr": config["AttachStderr"],
        "ProcessConfig": {"tty": config["Tty"], "entrypoint": cmd[0] if cmd else "", "arguments": cmd[1:],
                          "privileged": config["Privileged"], "user": config["User"]},
    }


class Execs:
    def __init__(self, records: Records, clients: wire.Clients):
        self.records = records
        self.clients = clients
        self.conn = records.conn

    def handlers(self) -> dict:
        return {"exec.create": self.create, "exec.start": self.start, "exec.inspect": self.inspect}

    def forget(self, container_id: str) -> None:
        forget(self.conn, container_id)

    # --------------------------------------------------------------- storage

    def _load(self, exec_id: str) -> dict:
        row = self.conn.execute("SELECT record FROM execs WHERE id=?", (exec_id,)).fetchone() if exec_id else None
        if row is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return json.loads(row[0])

    def _save(self, exec_rec: dict) -> None:
        self.conn.execute("UPDATE execs SET record=? WHERE id=?", (json.dumps(exec_rec), exec_rec["ID"]))

    def _container(self, exec_rec: dict) -> dict:
        """The exec's container's record; a container gone takes its execs with it."""
        try:
            return self.records.load(exec_rec["ContainerID"])
        except errors.NotFound:
            self.forget(exec_rec["ContainerID"])
            raise errors.NotFound(f"No such exec instance: {exec_rec['ID']}") from None

    # --------------------------------------------------------------- methods

    async def create(self, call: wire.Call) -> dict:
        rec = self.records.find(call.params["container"])
        config = call.params["config"]
        if not config["Cmd"]:
            raise errors.BadParameter("No exec command specified")
        _check_running(rec)
        exec_id = secrets.token_hex(32)
        exec_rec = {"ID": exec_id, "ContainerID": rec["Id"], "Config": config, "Started": False,
                    "ContainerPid": 0, "Pid": 0, "ExitCode": None, "Ended": False}
        self.conn.execute("INSERT INTO execs(id, container_id, created, record) VALUES(?,?,?,?)",
                          (exec_id, rec["Id"], timefmt.now(), json.dumps(exec_rec)))
        container_event(rec, "exec_create: " + " ".join(config["Cmd"]), execID=exec_id)
        return {"id": exec_id}

    async def start(self, call: wire.Call) -> dict:
        # No await from the load to the save: two starts cannot both pass.
        exec_rec = self._load(call.params["id"])
        rec = self._container(exec_rec)
        if exec_rec["Started"]:
            if exec_rec["Ended"]:
                raise errors.Conflict(f"Error: Exec command {exec_rec['ID']} has already run")
            raise errors.Conflict(f"Error: Exec command {exec_rec['ID']} is already running")
        if not rec["State"].get("Running"):
            raise errors.Conflict(f"Container {rec['Id']} is not running")
        pid = rec["State"]["Pid"]
        exec_rec.update(Started=True, ContainerPid=pid)
        self._save(exec_rec)
        container_event(rec, "exec_start: " + " ".join(exec_rec["Config"]["Cmd"]), execID=exec_rec["ID"])
        return {"container": rec["Id"], "pid": pid, "config": exec_rec["Config"]}

    async def inspect(self, call: wire.Call) -> dict:
        exec_rec = self._load(call.params["id"])
        rec = self._container(exec_rec)
        if exec_rec["Started"] and not exec_rec["Ended"]:
            await self._refresh(exec_rec, rec)
        return shape(exec_rec)

    async def _refresh(self, exec_rec: dict, rec: dict) -> None:
        """Ask the shim how the started exec is doing; keep its end once it ended."""
        state = rec["State"]
        if not state.get("Running") or state.get("Pid") != exec_rec["ContainerPid"]:
            exec_rec["Ended"] = True   # its container stopped (or runs another start): it went with it
            self._save(exec_rec)
            return
        try:
            answer = await locator.call(self.clients, exec_rec["ContainerID"], exec_rec["ContainerPid"],
                                        "shim.exec_state", {"exec_id": exec_rec["ID"]})
        except (errors.Unavailable, errors.Conflict):
            exec_rec["Ended"] = True   # its shim is gone, so is the exec: shown ended, not stored so
            return
        if not answer["known"]:
            return   # started, but its run has not reached the shim yet
        changed = bool(answer["pid"]) and answer["pid"] != exec_rec["Pid"]
        if answer["pid"]:
            exec_rec["Pid"] = answer["pid"]
        if not answer["running"]:
            exec_rec.update(Ended=True, ExitCode=answer["exit_code"])
            changed = True
            # Its end as the supervisor learns it (the exec's stream ran api to shim).
            container_event(rec, "exec_die", execID=exec_rec["ID"], exitCode=answer["exit_code"])
        if changed:
            self._save(exec_rec)
