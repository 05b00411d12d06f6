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
        self.started_hooks: list = []   # told of each exec marked started (its record)

    def handlers(self) -> dict:
        return {"exec.create": self.create, "exec.start": self.start, "exec.inspect": self.inspect}

    def forget(self, container_id: str) -> None:
        forget(self.conn, container_id)

    # --------------------------------------------------------------- storage

    def load(self, exec_id: str) -> dict:
        row = self.conn.execute("SELECT record FROM execs WHERE id=?", (exec_id,)).fetchone() if exec_id else None
        if row is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return json.loads(row[0])

    def _save(self, exec_rec: dict) -> None:
        self.conn.execute("UPDATE execs SET record=? WHERE id=?", (json.dumps(exec_rec), exec_rec["ID"]))

    def started_unended(self) -> list[dict]:
        """The records of the execs that were started and were not seen ending."""
        rows = self.conn.execute("SELECT record FROM execs").fetchall()
        return [r for r in (json.loads(row[0]) for row in rows) if r["Started"] and not r["Ended"]]

    def ended(self, exec_id: str, exit_code: int | None, pid: int = 0, ran: bool = True) -> bool:
        """Record that a started exec ended (its exit code; None: unknown, it went with its
        container), and Docker's exec_die unless it never ran. Whether this call recorded it:
        the record is loaded afresh and saved with no wait between, so the end is recorded,
        and its event emitted, once whoever learns it first (a watch, an inspect)."""
        try:
            exec_rec = self.load(exec_id)
            rec = self.records.load(exec_rec["ContainerID"])
        except errors.NotFound:
            return False   # gone with its container
        if not exec_rec["Started"] or exec_rec["Ended"]:
            return False
        exec_rec.update(Ended=True, ExitCode=exit_code)
        if pid:
            exec_rec["Pid"] = pid
        self._save(exec_rec)
        if ran:
            container_event(rec, "exec_die", execID=exec_id, exitCode=exit_code)
        return True

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
        exec_rec = self.load(call.params["id"])
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
        for hook in self.started_hooks:
            hook(exec_rec)
        return {"container": rec["Id"], "pid": pid, "config": exec_rec["Config"]}

    async def inspect(self, call: wire.Call) -> dict:
        exec_rec = self.load(call.params["id"])
        rec = self._container(exec_rec)
        if exec_rec["Started"] and not exec_rec["Ended"]:
            exec_rec = await self._refresh(exec_rec, rec)
        return shape(exec_rec)

    async def _refresh(self, exec_rec: dict, rec: dict) -> dict:
        """The started exec as it is now: the shim asked how it is doing, its end recorded
        once it ended."""
        exec_id, state = exec_rec["ID"], rec["State"]
        if not state.get("Running") or state.get("Pid") != exec_rec["ContainerPid"]:
            self.ended(exec_id, None)   # its container stopped (or runs another start): it went with it
            return self.load(exec_id)
        try:
            answer = await locator.call(self.clients, exec_rec["ContainerID"], exec_rec["ContainerPid"],
                                        "shim.exec_state", {"exec_id": exec_id})
        except (errors.Unavailable, errors.Conflict):
            # Its shim is gone, so is the exec: shown ended, recorded so by its watch.
            return {**exec_rec, "Ended": True}
        if answer["known"] and not answer["running"]:
            self.ended(exec_id, answer["exit_code"], answer["pid"], ran=bool(answer["pid"]))
        exec_rec = self.load(exec_id)   # as it is now (its watch may have recorded its end meanwhile)
        if answer["pid"] and not exec_rec["Ended"] and answer["pid"] != exec_rec["Pid"]:
            exec_rec["Pid"] = answer["pid"]
            self._save(exec_rec)
        return exec_rec
