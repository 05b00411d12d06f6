"""Containers: their records, their one state machine, and the shims that run them.

The supervisor never touches a container's stdio: it spawns a detached shim per start,
keeps one `shim.wait` call open to each to learn of the exit, and on its own start
re-adopts every shim still alive. A container that exited while the supervisor was
away is found in its exit.json (written by the shim before anything else); one whose
shim died without writing it is killed and recorded as exited with an error.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

from services.common import errors, jsonlog, layout, timefmt, wire
from services.common.config import Settings
from services.common.store import Store
from services.shim.cgroups import Cgroup, cgroup_path, prime_migration
from services.shim import zygote
from services.shim.launch import read_exit

from . import bundle, changes, filters, names, spec, states
from .spec import _integer, _str_list

log = logging.getLogger("supervisor")

MIN_MEMORY = 6 << 20
DEFAULT_STOP_TIMEOUT = 10
KILL_GRACE = 10
SHIM_START_TIMEOUT = 30
SHIM_BIND_WAIT = 5.0
# Restart policies: the first delay, doubled at each restart up to the cap, and how long a
# container must have run for the next delay to be the first again (Docker's numbers).
RESTART_FIRST_DELAY = 0.1
RESTART_MAX_DELAY = 60.0
RESTART_RESET_AFTER = 10.0
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


def _signal_number(value: str | None, default: int = signal.SIGKILL) -> int:
    if value in (None, ""):
        return default
    text = str(value).upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        if hasattr(signal.Signals, name):
            return int(signal.Signals[name])
    raise errors.BadParameter(f"Invalid signal: {value}")


def _restart_policy(policy, auto_remove: bool) -> dict:
    """HostConfig.RestartPolicy checked as Docker checks it, in its full form."""
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise errors.BadParameter("RestartPolicy must be an object")
    name, most = policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0
    if name not in RESTART_POLICIES:
        raise errors.BadParameter(f"invalid restart policy: unknown policy '{name}'; use one of "
                                  "'no', 'always', 'on-failure', or 'unless-stopped'")
    if isinstance(most, bool) or not isinstance(most, int) or most < 0:
        raise errors.BadParameter("invalid restart policy: maximum retry count must be a positive integer")
    if most and name != "on-failure":
        raise errors.BadParameter("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if auto_remove and name != "no":
        raise errors.BadParameter("conflicting options: cannot specify both --restart and --rm")
    return {"Name": name, "MaximumRetryCount": most}


def _refused(path: str) -> bool:
    """Whether nobody listens on the unix socket `path` any more."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
            return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False


def _logged(task: asyncio.Task, cid: str) -> asyncio.Task:
    """A container's background task (its watcher, its restart), whose failure nobody
    awaits: logged, not lost."""
    def done(t: asyncio.Task) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("a task of container %s failed", cid[:12], exc_info=t.exception())
    task.add_done_callback(done)
    return task


def _log_chunks(data: bytes, wanted: set[int], p: dict):
    """container.logs chunks of complete log lines: an entry each with `timestamps`, else
    consecutive entries of a stream together."""
    entries = jsonlog.parse(data, p["since"], p["until"])
    if p["timestamps"]:
        return (({"fd": fd, "time": when}, chunk) for fd, chunk, when in entries if fd in wanted)
    return (({"fd": fd, "time": ""}, chunk) for fd, chunk in jsonlog.coalesce(entries, wanted))


def _proc_start(pid: int) -> int:
    """The start time of a process (clock ticks since boot), to tell it from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return -1


def _alive(pid: int, start: int) -> bool:
    return pid > 0 and start > 0 and _proc_start(pid) == start


class Containers:
    def __init__(self, settings: Settings, server: wire.ServiceServer, clients: wire.Clients):
        self.settings = settings
        self.clients = clients
        self.store = Store(settings.data_root, "supervisor")  # read only: the registry writes
        self.conn = self.store.conn
        self.staging = layout.staging_dir(settings.data_root, "supervisor")
        self.locks: dict[str, asyncio.Lock] = {}
        # Container -> a future of its State, resolved at its next recorded exit (or removal).
        self.next_exits: dict[str, asyncio.Future] = {}
        # Container -> a future of its final State, resolved when it is removed.
        self.removals: dict[str, asyncio.Future] = {}
        self.start_waiters: dict[str, list[asyncio.Future]] = {}  # container -> who awaits its start
        self.watchers: dict[str, asyncio.Task] = {}
        self.restarts: dict[str, asyncio.Task] = {}   # restarts waiting out their delay
        self.zygote: asyncio.subprocess.Process | None = None
        for name in ("create", "list", "prune", "inspect", "start", "stop", "restart", "kill", "wait",
                     "started", "remove", "changes", "export", "logs", "commit"):
            server.handle(f"container.{name}")(getattr(self, name))

    # ---------------------------------------------------------------- records

    def _lock(self, cid: str) -> asyncio.Lock:
        return self.locks.setdefault(cid, asyncio.Lock())

    def _resolve(self, ref: str) -> str:
        if not ref:
            raise errors.BadParameter("a container id or name is required")
        row = self.conn.execute("SELECT id FROM containers WHERE id=? OR name=? OR name=?",
                                (ref, ref, "/" + ref.lstrip("/"))).fetchone()
        if row:
            return row[0]
        if all(c in "0123456789abcdef" for c in ref):
            rows = self.conn.execute("SELECT id FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",)).fetchall()
            if len(rows) == 1:
                return rows[0][0]
            if len(rows) > 1:
                raise errors.BadParameter(f"multiple containers match the prefix {ref!r}")
        raise errors.NotFound(f"No such container: {ref}")

    def _load(self, cid: str) -> dict:
        row = self.conn.execute("SELECT config FROM containers WHERE id=?", (cid,)).fetchone()
        if row is None:
            raise errors.NotFound(f"No such container: {cid}")
        return json.loads(row[0])

    def _save(self, rec: dict) -> None:
        self.conn.execute("UPDATE containers SET state=?, config=? WHERE id=?",
                          (rec["State"]["Status"], json.dumps(rec), rec["Id"]))

    async def _save_until_it_works(self, rec: dict, what: str) -> None:
        """Save a record that must not be lost (a full disk fails the write until space is
        freed): until then its container keeps its last saved state."""
        warned = False
        while True:
            try:
                self._save(rec)
                if warned:
                    log.info("recorded %s %s at last", what, rec["Id"][:12])
                return
            except (sqlite3.Error, OSError) as exc:
                if not warned:
                    log.warning("cannot record %s %s (%s); trying again each second", what, rec["Id"][:12], exc)
                    warned = True
                await asyncio.sleep(1)

    def _lowers(self, image_id: str) -> list[str]:
        return [self.store.layer_path(row["chain_id"]) for row in self.store.chain(image_id)]

    # ----------------------------------------------------------------- create

    async def create(self, call: wire.Call) -> dict:
        p = call.params
        spec.check(p["config"] or {}, p["host_config"], p.get("networking_config"))
        config, host = p["config"] or {}, p["host_config"] or {}
        image_name = config.get("Image")
        if not isinstance(image_name, str) or not image_name:
            raise errors.BadParameter("Config.Image is required")
        image_id = self.store.resolve(image_name)
        image_config = self.store.config(image_id).get("config") or {}
        entrypoint = _str_list(config.get("Entrypoint"), "Entrypoint")
        cmd = _str_list(config.get("Cmd"), "Cmd")
        if entrypoint is None:
            entrypoint = image_config.get("Entrypoint") or []
            if cmd is None:
                cmd = image_config.get("Cmd") or []
        argv = list(entrypoint) + list(cmd or [])
        if not argv:
            raise errors.BadParameter("No command specified")
        env = _str_list(config.get("Env"), "Env") or []
        merged_env = {e.split("=", 1)[0]: e for e in (image_config.get("Env") or [])}
        merged_env.update({e.split("=", 1)[0]: e for e in env})
        memory = _integer(host.get("Memory") or config.get("Memory"), "Memory")
        memory_swap = _integer(host.get("MemorySwap") or config.get("MemorySwap"), "MemorySwap")
        cpu_shares = _integer(host.get("CpuShares") or config.get("CpuShares"), "CpuShares")
        if memory and memory < MIN_MEMORY:
            raise errors.BadParameter("Minimum memory limit allowed is 6MB")
        if memory_swap > 0 and memory and memory_swap < memory:
            raise errors.BadParameter("Minimum memoryswap limit should be larger than memory limit, "
                                      "see usage")
        if memory_swap > 0 and not memory:
            raise errors.BadParameter("You should always set the Memory limit when using Memoryswap limit")
        name = names.check(p["name"]) if p.get("name") else None
        if name and self.conn.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone():
            other = self.conn.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()[0]
            raise errors.Conflict(f'Conflict. The container name "{name}" is already in use by container '
                                  f'"{other}". You have to remove (or rename) that container to be able '
                                  "to reuse that name.")
        if name is None:
            name = names.generate(lambda n: self.conn.execute(
                "SELECT 1 FROM containers WHERE name=?", (n,)).fetchone() is not None)
        cid = self._new_id()
        dns = _str_list(host.get("Dns"), "Dns") or _str_list(config.get("Dns"), "Dns") or []
        full_config = {
            "Hostname": config.get("Hostname") or cid[:12],
            "Domainname": config.get("Domainname") or "",
            "User": config.get("User") or image_config.get("User") or "",
            "AttachStdin": bool(config.get("AttachStdin")),
            "AttachStdout": bool(config.get("AttachStdout")),
            "AttachStderr": bool(config.get("AttachStderr")),
            "Tty": bool(config.get("Tty")),
            "OpenStdin": bool(config.get("OpenStdin")),
            "StdinOnce": bool(config.get("StdinOnce")),
            "Env": list(merged_env.values()),
            "Cmd": cmd if cmd else None,
            "Image": image_name,
            "Volumes": config.get("Volumes") or None,
            "WorkingDir": config.get("WorkingDir") or image_config.get("WorkingDir") or "",
            "Entrypoint": entrypoint or None,
            "OnBuild": None,
            "Labels": {**(image_config.get("Labels") or {}), **(config.get("Labels") or {})},
            "StopSignal": config.get("StopSignal") or image_config.get("StopSignal") or "SIGTERM",
            "PortSpecs": config.get("PortSpecs"),
            "Dns": config.get("Dns"),
            "Memory": memory,
            "MemorySwap": memory_swap,
            "CpuShares": cpu_shares,
            "VolumesFrom": config.get("VolumesFrom") or "",
        }
        _str_list(full_config["StopSignal"], "StopSignal")
        _signal_number(full_config["StopSignal"])
        mounts, anonymous = self._mounts(config, host)
        host_config = {
            "Memory": memory, "MemorySwap": memory_swap, "CpuShares": cpu_shares,
            "Binds": host.get("Binds"), "VolumesFrom": host.get("VolumesFrom"),
            "Dns": dns, "NetworkMode": host.get("NetworkMode") or "default",
            "AutoRemove": bool(host.get("AutoRemove")), "Privileged": bool(host.get("Privileged")),
            "CapAdd": _str_list(host.get("CapAdd"), "CapAdd"), "CapDrop": _str_list(host.get("CapDrop"), "CapDrop"),
            "ReadonlyRootfs": bool(host.get("ReadonlyRootfs")),
            "SecurityOpt": host.get("SecurityOpt") or None,
            "PidsLimit": host.get("PidsLimit") or None,
            "RestartPolicy": _restart_policy(host.get("RestartPolicy"), bool(host.get("AutoRemove"))),
            "LogConfig": {"Type": "json-file", "Config": {}},
            "CgroupParent": host.get("CgroupParent") or "",
            "Devices": host.get("Devices") or [], "DeviceCgroupRules": host.get("DeviceCgroupRules") or [],
        }
        bundle.security(host_config["SecurityOpt"])  # refused now, not at start
        bundle.devices(host_config)
        _integer(host_config["PidsLimit"], "PidsLimit")
        if not isinstance(host_config["CgroupParent"], str):
            raise errors.BadParameter("CgroupParent must be a string")
        try:
            cgroup = cgroup_path(host_config["CgroupParent"] or self.settings.cgroup_parent, cid)
        except ValueError as exc:
            raise errors.BadParameter(str(exc)) from None
        d = bundle.paths(self.settings.data_root, cid)
        rec = {
            "Id": cid,
            "Created": timefmt.now(),
            "Path": argv[0],
            "Args": argv[1:],
            "State": {"Status": states.CREATED, "Running": False, "Paused": False, "Restarting": False,
                      "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                      "StartedAt": timefmt.ZERO, "FinishedAt": timefmt.ZERO},
            "Image": image_id,
            "ResolvConfPath": d["resolv"],
            "HostnamePath": d["hostname"],
            "HostsPath": d["hosts"],
            "LogPath": d["log"],
            "Name": name,
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "Config": full_config,
            "HostConfig": host_config,
            "Mounts": mounts,
            "Dockyard": {"anonymous_volumes": anonymous, "cgroup": cgroup, "shim_pid": 0, "shim_start": 0, "pid_start": 0},
        }
        # Made in staging, renamed into place, then recorded: a crash leaves nothing half-made.
        stage = tempfile.mkdtemp(dir=self.staging)
        try:
            sd = bundle.paths(self.settings.data_root, cid)
            sd = {k: v.replace(d["dir"], stage) for k, v in sd.items()}
            bundle.make_dirs(sd)
            bundle.write_files(sd, full_config["Hostname"], dns)
            with open(sd["config"], "w") as fh:
                json.dump(bundle.oci_config(rec, d, self._lowers(image_id)), fh, indent=1)
            os.rename(stage, d["dir"])
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        self.conn.execute("INSERT INTO containers(id, name, image_id, created, state, config) "
                          "VALUES(?,?,?,?,?,?)", (cid, name, image_id, rec["Created"], states.CREATED,
                                                  json.dumps(rec)))
        warnings = []
        return {"id": cid, "warnings": warnings}

    def _new_id(self) -> str:
        """A container id whose short id no other container has: shims' sockets are named
        by it (services.common.sockets.shim_name)."""
        while True:
            cid = secrets.token_hex(32)
            if self.conn.execute("SELECT 1 FROM containers WHERE id LIKE ?", (cid[:12] + "%",)).fetchone() is None:
                return cid

    def _volume(self, name: str | None = None) -> tuple[str, str]:
        name = name or secrets.token_hex(32)
        path = os.path.join(self.settings.data_root, "volumes", name, "_data")
        os.makedirs(path, mode=0o755, exist_ok=True)
        self.conn.execute("INSERT OR IGNORE INTO volumes(name, created) VALUES(?, ?)", (name, timefmt.now()))
        return name, path

    def _mounts(self, config: dict, host: dict) -> tuple[list[dict], list[str]]:
        mounts, anonymous = [], []
        volumes = config.get("Volumes") or {}
        if not isinstance(volumes, dict):
            raise errors.BadParameter("Volumes must be a map of container paths")
        for dest in volumes:
            if not isinstance(dest, str) or not dest.startswith("/"):
                raise errors.BadParameter(f"invalid volume path {dest!r}: it must be absolute")
            name, path = self._volume()
            anonymous.append(name)
            mounts.append({"Type": "volume", "Name": name, "Source": path, "Destination": dest,
                           "Driver": "local", "Mode": "", "RW": True, "Propagation": ""})
        for bind in _str_list(host.get("Binds"), "Binds") or []:
            parts = bind.split(":")
            if len(parts) not in (2, 3) or not parts[1].startswith("/"):
                raise errors.BadParameter(f"invalid bind {bind!r}: use SOURCE:/path[:ro]")
            src, dest = parts[0], parts[1]
            rw = not (len(parts) == 3 and "ro" in parts[2].split(","))
            if src.startswith("/"):
                os.makedirs(src, exist_ok=True)
                mounts.append({"Type": "bind", "Source": src, "Destination": dest, "Mode": parts[2] if len(parts) == 3 else "",
                               "RW": rw, "Propagation": "rprivate"})
            else:
                if not names.NAME_RE.fullmatch(src):
                    raise errors.BadParameter(f"invalid volume name {src!r}")
                _, path = self._volume(src)
                mounts.append({"Type": "volume", "Name": src, "Source": path, "Destination": dest,
                               "Driver": "local", "Mode": "", "RW": rw, "Propagation": ""})
        sources = _str_list(host.get("VolumesFrom"), "VolumesFrom") or []
        if config.get("VolumesFrom"):
            sources.append(str(config["VolumesFrom"]))
        for source in sources:
            ref, _, mode = source.partition(":")
            other = self._load(self._resolve(ref))
            for m in other.get("Mounts") or []:
                mounts.append({**m, "RW": m.get("RW", True) and mode != "ro"})
        return mounts, anonymous

    # ------------------------------------------------------------------ reads

    async def inspect(self, call: wire.Call):
        return self._load(self._resolve(call.params["id"]))

    async def list(self, call: wire.Call) -> dict:
        p = call.params
        wanted = {k: v for k, v in (p.get("filters") or {}).items() if v is not None}
        filters.check(wanted)
        rows = [json.loads(r[0]) for r in self.conn.execute(
            "SELECT config FROM containers ORDER BY created DESC, rowid DESC")]
        # The since and before parameters of old clients: all containers, newer or older.
        if p.get("since"):
            pivot = self._load(self._resolve(p["since"]))
            rows = [r for r in rows if r["Created"] > pivot["Created"]]
        if p.get("before"):
            pivot = self._load(self._resolve(p["before"]))
            rows = [r for r in rows if r["Created"] < pivot["Created"]]
        pivots = {key: self._resolve(value) for key in ("before", "since") for value in wanted.get(key) or []}
        images = filters.image_family(self.store, wanted["ancestor"]) if "ancestor" in wanted else None
        rows = filters.select(rows, wanted, p["all"] or bool(p.get("since") or p.get("before")), p["limit"],
                              pivots.get("before"), pivots.get("since"), images)
        return {"containers": rows}

    async def prune(self, call: wire.Call) -> dict:
        """Docker's container prune: remove the stopped containers the filters choose."""
        p = call.params
        deleted, space = [], 0
        for (cid,) in self.conn.execute("SELECT id FROM containers ORDER BY created").fetchall():
            async with self._lock(cid):
                if not self._exists(cid) or not filters.prunable(
                        self._load(cid), p.get("until"), p["label"], p["label_not"]):
                    continue
                size = await asyncio.to_thread(
                    filters.tree_size, bundle.paths(self.settings.data_root, cid)["upper"])
                try:
                    await self._remove(cid, volumes=False)
                except (errors.DockyardError, OSError) as exc:
                    log.warning("prune: removing %s failed: %s", cid[:12], exc)
                    continue
            deleted.append(cid)
            space += size
        return {"deleted": deleted, "space_reclaimed": space}

    async def changes(self, call: wire.Call) -> dict:
        rec = self._load(self._resolve(call.params["id"]))
        d = bundle.paths(self.settings.data_root, rec["Id"])
        lowers = list(reversed(self._lowers(rec["Image"])))
        return {"changes": await asyncio.to_thread(changes.changes, d["upper"], lowers)}

    async def export(self, call: wire.Call):
        rec = self._load(self._resolve(call.params["id"]))
        d = bundle.paths(self.settings.data_root, rec["Id"])
        lowers = list(reversed(self._lowers(rec["Image"]))) or [d["empty"]]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.shim.export", "--upper", d["upper"], "--lower", ":".join(lowers),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        try:
            while chunk := await proc.stdout.read(1 << 20):
                yield chunk
            if await proc.wait() != 0:
                message = (await proc.stderr.read()).decode(errors="replace").strip().splitlines()
                raise errors.ServerError(f"exporting the container failed: {message[-1] if message else ''}")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def logs(self, call: wire.Call):
        """Entries of a container's log; with `follow`, those to come until it stops. Without
        `timestamps`, consecutive entries of a stream come as one chunk."""
        p = call.params
        rec = self._load(self._resolve(p["id"]))
        cid = rec["Id"]
        wanted = {fd for fd, on in ((1, p["stdout"]), (2, p["stderr"])) if on}
        try:
            # Held open: a container removed while it is followed still has its whole log read.
            log_fd = os.open(rec["LogPath"], os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            upto = os.fstat(log_fd).st_size
            offset = jsonlog.tail_offset(log_fd, upto, p["tail"]) if p["tail"] >= 0 else 0
            running = True
            while True:
                data, offset = jsonlog.read_lines(log_fd, offset, upto)
                if data:
                    for item in _log_chunks(data, wanted, p):
                        yield item
                    continue
                if not p["follow"] or not running:
                    return
                if upto is None:
                    exited = self.next_exits.get(cid)
                    try:
                        await asyncio.wait_for(asyncio.shield(exited) if exited else asyncio.sleep(0.1), 0.1)
                    except asyncio.TimeoutError:
                        pass
                upto = None
                # Read before the log is: once it is not running, its log is complete.
                running = self._exists(cid) and self._load(cid)["State"]["Running"]
        finally:
            os.close(log_fd)

    def _exists(self, cid: str) -> bool:
        return self.conn.execute("SELECT 1 FROM containers WHERE id=?", (cid,)).fetchone() is not None

    # ---------------------------------------------------------------- running

    async def start(self, call: wire.Call) -> dict:
        cid = self._resolve(call.params["id"])
        async with self._lock(cid):
            states.check("start", self._load(cid)["State"]["Status"], cid)
            self._set_manually_stopped(cid, False)
            await self._start(cid)
        return {}

    async def _start(self, cid: str) -> None:
        rec = self._load(cid)
        states.check("start", rec["State"]["Status"], cid)
        asyncio.get_running_loop().run_in_executor(None, prime_migration)  # not awaited: see there
        d = bundle.paths(self.settings.data_root, cid)
        with open(d["config"], "w") as fh:
            json.dump(bundle.oci_config(rec, d, self._lowers(rec["Image"])), fh, indent=1)
        if os.path.exists(d["exit"]):
            os.unlink(d["exit"])
        report, reader, writer = await self._spawn_shim(cid)
        state = rec["State"]
        if "error" in report:
            state.update({"Error": report["error"], "ExitCode": report["exit_code"]})
            self._save(rec)
            error = errors.BadParameter(f"failed to create task for container: {report['error']}")
            for waiter in self.start_waiters.pop(cid, []):
                if not waiter.done():
                    waiter.set_exception(error)
            if rec["HostConfig"].get("AutoRemove"):
                # As dockerd: a --rm container that cannot start is removed (the docker CLI
                # waits for that removal before it reports the error).
                await self._remove(cid, volumes=True)
            raise error
        state.update({"Status": states.RUNNING, "Running": True, "Paused": False, "Restarting": False,
                      "OOMKilled": False, "Dead": False, "Pid": report["pid"], "ExitCode": 0, "Error": "",
                      "StartedAt": report["started_at"], "FinishedAt": timefmt.ZERO})
        rec["Dockyard"].update({"shim_pid": report["shim_pid"], "shim_start": _proc_start(report["shim_pid"]),
                                "pid_start": _proc_start(report["pid"])})
        self._save(rec)
        self.watchers[cid] = _logged(asyncio.ensure_future(self._watch(cid, (reader, writer))), cid)
        for waiter in self.start_waiters.pop(cid, []):
            if not waiter.done():
                waiter.set_result(report["pid"])

    # ------------------------------------------------------------------ shims

    @property
    def _runtime_file(self) -> str:
        return os.path.join(self.settings.exec_root, "daemon.json")

    async def start_zygote(self) -> None:
        """Start the shim zygote (services.shim.zygote); without it, shims start from scratch."""
        try:
            self.zygote = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.shim.zygote", "--config", self._runtime_file,
                stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
            ready = await asyncio.wait_for(self.zygote.stdout.readline(), 20)
            if ready.strip() != b"ready":
                raise OSError("the zygote did not say it was ready")
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("no shim zygote (%s): shims start from scratch", exc)
            self.zygote = None

    async def _spawn_shim(self, cid: str) -> tuple[dict, asyncio.StreamReader, asyncio.StreamWriter]:
        """Start the shim of `cid`: its start report, and the channel its exit record comes on."""
        if self.zygote is not None and self.zygote.returncode is None:
            try:
                reader, writer = await asyncio.open_unix_connection(zygote.socket_path(self.settings.exec_root))
                writer.write(json.dumps({"id": cid}).encode() + b"\n")
                await writer.drain()
                return await self._read_report(reader, writer)
            except (OSError, asyncio.TimeoutError) as exc:
                log.warning("the shim zygote failed (%s); starting the shim from scratch", exc)
        ours, theirs = socket.socketpair()
        with theirs:
            launcher = await asyncio.to_thread(
                subprocess.Popen, [sys.executable, "-m", "services.shim", "--config", self._runtime_file,
                                   "--id", cid],
                stdout=theirs.fileno(), stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        try:
            return await self._read_report(reader, writer)
        finally:
            await asyncio.to_thread(launcher.wait)  # it forks the shim and leaves at once

    @staticmethod
    async def _read_report(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            report = json.loads(await asyncio.wait_for(reader.readline(), SHIM_START_TIMEOUT))
        except (OSError, ValueError, asyncio.TimeoutError):
            report = None
        if not isinstance(report, dict) or ("pid" not in report and "error" not in report):
            report = {"error": "the shim did not start", "exit_code": 128}
        if "error" in report:
            writer.close()  # it did not start: nothing more will come
        return report, reader, writer

    @staticmethod
    async def _exit_report(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict | None:
        """The exit record the shim sends its starter, or None if the channel broke first."""
        try:
            line = await reader.readline()
        except (OSError, ValueError):
            line = b""
        finally:
            writer.close()
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if isinstance(record, dict) and {"exit_code", "finished_at", "oom_killed", "error"} <= record.keys():
            return record
        return None

    async def _watch(self, cid: str, channel: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
                     ) -> None:
        """Wait for the container's exit, and record it: from the channel of the start when
        this supervisor started it, else (or if that broke) by asking its shim."""
        shim = wire.shim_name(cid)
        result = await self._exit_report(*channel) if channel is not None else None
        while result is None:
            try:
                pid = self._load(cid)["State"]["Pid"]
                result = await self.clients[shim].call("shim.wait", {"pid": pid}, timeout=None)
            except errors.Conflict:
                self.clients.drop(shim)  # connected to the shim of an earlier start: again
                await asyncio.sleep(0.01)
            except errors.Unavailable:
                rec = self._load(cid)
                dock = rec["Dockyard"]
                result = read_exit(bundle.paths(self.settings.data_root, cid)["exit"])
                if result is None and _alive(dock["shim_pid"], dock["shim_start"]):
                    await asyncio.sleep(0.2)  # alive but not answering yet (starting, or busy)
                    continue
                if result is None:
                    result = self._shim_died(rec)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("waiting for %s", cid[:12])
                await asyncio.sleep(0.5)
        self.clients.drop(shim)
        if not self._exists(cid):
            return
        rec = self._load(cid)
        rec["State"].update({"Status": states.EXITED, "Running": False, "Paused": False, "Restarting": False,
                             "Pid": 0, "ExitCode": result["exit_code"], "FinishedAt": result["finished_at"],
                             "OOMKilled": result["oom_killed"], "Error": result["error"]})
        rec["Dockyard"]["exits"] = rec["Dockyard"].get("exits", 0) + 1
        await self._save_until_it_works(rec, "the exit of")
        self.watchers.pop(cid, None)
        self._tell(self.next_exits, cid, rec["State"])
        if rec["HostConfig"].get("AutoRemove"):
            async with self._lock(cid):
                await self._remove(cid, volumes=True)
        else:
            self._maybe_restart(rec)

    # -------------------------------------------------------- restart policy

    def _maybe_restart(self, rec: dict) -> None:
        """Schedule the restart its policy asks for after this exit, if any."""
        policy, dock, state = rec["HostConfig"].get("RestartPolicy") or {}, rec["Dockyard"], rec["State"]
        name, most = policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0
        if name == "no" or dock.get("manually_stopped") or rec["Id"] in self.restarts:
            return
        if name == "on-failure" and (state["ExitCode"] == 0 or (most and rec["RestartCount"] >= most)):
            return
        ran = timefmt.unix(state["FinishedAt"]) - timefmt.unix(state["StartedAt"]) \
            if state["StartedAt"] != timefmt.ZERO and state["FinishedAt"] != timefmt.ZERO else 0
        last = dock.get("restart_delay") or 0
        delay = RESTART_FIRST_DELAY if ran >= RESTART_RESET_AFTER or not last else min(2 * last, RESTART_MAX_DELAY)
        dock["restart_delay"] = delay
        state.update({"Status": states.RESTARTING, "Restarting": True})
        self._save(rec)
        cid = rec["Id"]
        task = self.restarts[cid] = _logged(asyncio.ensure_future(self._restart_later(cid, delay)), cid)
        task.add_done_callback(lambda _: self.restarts.pop(cid, None) if self.restarts.get(cid) is task else None)

    async def _restart_later(self, cid: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock(cid):
            if not self._exists(cid) or self._load(cid)["State"]["Status"] != states.RESTARTING:
                return
            rec = self._load(cid)
            rec["RestartCount"] += 1
            self._save(rec)
            try:
                await self._start(cid)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the policy tries again
                log.warning("restarting %s failed: %s", cid[:12], exc)
                rec = self._load(cid)
                rec["State"].update({"Status": states.EXITED, "Restarting": False})
                self._save(rec)
                self.restarts.pop(cid, None)
                self._maybe_restart(rec)  # again, later: the delay grows

    def _cancel_restart(self, cid: str) -> None:
        task = self.restarts.pop(cid, None)
        if task is not None:
            task.cancel()

    def _set_manually_stopped(self, cid: str, stopped: bool) -> dict:
        """A stop or kill from a client ends restarts; a start from one allows them again."""
        rec = self._load(cid)
        rec["Dockyard"]["manually_stopped"] = stopped
        if stopped:
            self._cancel_restart(cid)
            if rec["State"]["Status"] == states.RESTARTING:
                rec["State"].update({"Status": states.EXITED, "Restarting": False})
        else:
            rec["Dockyard"]["restart_delay"] = 0
        self._save(rec)
        return rec

    def _shim_died(self, rec: dict) -> dict:
        """The shim is gone and left no exit record: kill what it ran, say so."""
        dock, state = rec["Dockyard"], rec["State"]
        if _alive(state["Pid"], dock["pid_start"]):
            try:
                os.kill(state["Pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            Cgroup(rec["Dockyard"]["cgroup"]).destroy()
        except OSError as exc:
            log.warning("removing the cgroup of %s: %s", rec["Id"][:12], exc)
        self._unlink_shim_socket(rec["Id"])
        log.warning("the shim of %s died; its container was killed", rec["Id"][:12])
        return {"exit_code": 255, "finished_at": timefmt.now(), "oom_killed": False,
                "error": "the container's shim died unexpectedly; its process was killed"}

    def _unlink_shim_socket_after(self, shim_pid: int, cid: str) -> None:
        """Unlink a removed container's shim socket once its shim has left (it does so
        itself, unless it was killed)."""
        try:
            fd = os.pidfd_open(shim_pid)
        except OSError:
            self._unlink_shim_socket(cid)
            return
        loop = asyncio.get_running_loop()

        def gone() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._unlink_shim_socket(cid)
        loop.add_reader(fd, gone)

    def _unlink_shim_socket(self, cid: str) -> None:
        try:
            os.unlink(wire.socket_path(self.settings.exec_root, wire.shim_name(cid)))
        except FileNotFoundError:
            pass

    async def started(self, call: wire.Call) -> dict:
        """The pid of the container's process once it runs (at once if it does already),
        and its shim serves: an attach made before the start goes to the shim next."""
        cid = self._resolve(call.params["id"])
        state = self._load(cid)["State"]
        if state["Running"]:
            pid = state["Pid"]
        else:
            waiter = asyncio.get_running_loop().create_future()
            self.start_waiters.setdefault(cid, []).append(waiter)
            try:
                pid = await waiter
            finally:
                waiters = self.start_waiters.get(cid)
                if waiters and waiter in waiters:
                    waiters.remove(waiter)
        # The shim binds its socket just after it reports the start; on a busy host, later.
        path = wire.socket_path(self.settings.exec_root, wire.shim_name(cid))
        deadline = time.monotonic() + SHIM_BIND_WAIT
        while not os.path.exists(path) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return {"pid": pid}

    @staticmethod
    def _future(table: dict[str, asyncio.Future], cid: str) -> asyncio.Future:
        """The future of `table` for `cid` (next exit, removal): made by the first who waits."""
        future = table.get(cid)
        if future is None:
            future = table[cid] = asyncio.get_running_loop().create_future()
        return future

    @staticmethod
    def _tell(table: dict[str, asyncio.Future], cid: str, state: dict) -> None:
        future = table.pop(cid, None)
        if future is not None and not future.done():
            future.set_result(copy.deepcopy(state))

    async def _wait_exit(self, cid: str, timeout: float | None) -> bool:
        """Whether the container is not running (now, or by the end of `timeout`)."""
        if not self._exists(cid) or not self._load(cid)["State"]["Running"]:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._future(self.next_exits, cid)), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def _signal(self, cid: str, number: int) -> None:
        for _ in range(50):
            try:
                with self.clients.connection(wire.shim_name(cid)) as shim:
                    await shim.call("shim.kill", {"pid": self._load(cid)["State"]["Pid"], "signal": number})
                return
            except errors.Conflict:
                await asyncio.sleep(0.01)  # the shim of an earlier start: connect again
            except errors.Unavailable:
                return  # the shim is gone: the watcher records the exit

    async def stop(self, call: wire.Call) -> dict:
        cid = self._resolve(call.params["id"])
        async with self._lock(cid):
            states.check("stop", self._load(cid)["State"]["Status"], cid)
            if self._set_manually_stopped(cid, True)["State"]["Running"]:
                await self._stop(cid, call.params.get("timeout"))
        return {}

    async def _stop(self, cid: str, timeout: int | None) -> None:
        rec = self._load(cid)
        states.check("stop", rec["State"]["Status"], cid)
        timeout = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
        await self._signal(cid, _signal_number(rec["Config"].get("StopSignal"), signal.SIGTERM))
        if timeout < 0:
            await self._wait_exit(cid, None)
            return
        if not await self._wait_exit(cid, timeout):
            await self._signal(cid, signal.SIGKILL)
            if not await self._wait_exit(cid, KILL_GRACE):
                raise errors.ServerError(f"container {cid[:12]} did not stop after SIGKILL")

    async def restart(self, call: wire.Call) -> dict:
        cid = self._resolve(call.params["id"])
        async with self._lock(cid):
            self._cancel_restart(cid)
            if self._load(cid)["State"]["Running"]:
                await self._stop(cid, call.params.get("timeout"))
            states.check("restart", self._load(cid)["State"]["Status"], cid)
            self._set_manually_stopped(cid, False)
            await self._start(cid)
        return {}

    async def kill(self, call: wire.Call) -> dict:
        cid = self._resolve(call.params["id"])
        number = _signal_number(call.params.get("signal"))
        rec = self._load(cid)
        states.check("kill", rec["State"]["Status"], cid)
        stopping = number in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT,
                              _signal_number(rec["Config"].get("StopSignal"), signal.SIGTERM))
        if not stopping:
            if not rec["State"]["Running"]:
                raise errors.Conflict(f"Container {cid[:12]} is restarting, wait until the container is running")
        elif not self._set_manually_stopped(cid, True)["State"]["Running"]:
            return {}  # it was waiting to restart: now it will not
        await self._signal(cid, number)
        if number == signal.SIGKILL:
            await self._wait_exit(cid, KILL_GRACE)
        return {}

    async def wait(self, call: wire.Call) -> dict:
        cid = self._resolve(call.params["id"])
        condition = call.params.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise errors.BadParameter(f"invalid condition {condition!r}")
        rec = self._load(cid)
        state = rec["State"]
        if condition == "removed":
            state = await asyncio.shield(self._future(self.removals, cid))
        elif condition == "next-exit":
            # The next exit after the one the caller saw last (the api reads the count before
            # it answers the client, which may then start the container at once).
            seen = call.params.get("exits")
            seen = rec["Dockyard"].get("exits", 0) if seen is None else seen
            while rec["Dockyard"].get("exits", 0) <= seen:
                state = await asyncio.shield(self._future(self.next_exits, cid))
                if not self._exists(cid):
                    break
                rec = self._load(cid)
                state = rec["State"]
        elif state["Running"]:
            state = await asyncio.shield(self._future(self.next_exits, cid))
        return {"exit_code": state["ExitCode"], "error": state["Error"]}

    # ---------------------------------------------------------------- removal

    async def remove(self, call: wire.Call) -> dict:
        cid = self._resolve(call.params["id"])
        async with self._lock(cid):
            rec = self._load(cid)
            if rec["State"]["Running"]:
                if not call.params["force"]:
                    states.check("remove", states.RUNNING, cid)
                await self._signal(cid, signal.SIGKILL)
                await self._wait_exit(cid, KILL_GRACE)
            await self._remove(cid, call.params["volumes"])
        return {}

    async def _remove(self, cid: str, volumes: bool) -> None:
        self._cancel_restart(cid)
        if not self._exists(cid):
            return
        rec = self._load(cid)
        rec["State"]["Status"] = states.REMOVING
        self._save(rec)
        d = bundle.paths(self.settings.data_root, cid)
        doomed = tempfile.mkdtemp(dir=self.staging)
        if os.path.exists(d["dir"]):
            os.rename(d["dir"], os.path.join(doomed, "c"))
        try:
            await asyncio.to_thread(Cgroup(rec["Dockyard"]["cgroup"]).destroy)
        except OSError as exc:
            log.warning("removing the cgroup of %s: %s", cid[:12], exc)
        dock = rec["Dockyard"]
        if _alive(dock["shim_pid"], dock["shim_start"]):
            # A lingering shim still serves late attaches (docker run --rm attaches to a
            # container that may be gone already); its socket goes when it does.
            self._unlink_shim_socket_after(dock["shim_pid"], cid)
        else:
            self._unlink_shim_socket(cid)
        self.conn.execute("DELETE FROM containers WHERE id=?", (cid,))
        if volumes:
            for name in rec["Dockyard"].get("anonymous_volumes") or []:
                self.conn.execute("DELETE FROM volumes WHERE name=?", (name,))
                shutil.rmtree(os.path.join(self.settings.data_root, "volumes", name), ignore_errors=True)
        await asyncio.to_thread(shutil.rmtree, doomed, True)
        self.locks.pop(cid, None)
        self._tell(self.removals, cid, rec["State"])
        self._tell(self.next_exits, cid, rec["State"])

    # ----------------------------------------------------------------- commit

    async def commit(self, call: wire.Call) -> dict:
        p = call.params
        cid = self._resolve(p["id"])
        rec = self._load(cid)
        states.check("commit", rec["State"]["Status"], cid)
        changes_config = p["config"] or {}
        if not isinstance(changes_config, dict):
            raise errors.BadParameter("the commit config must be a JSON object")
        config = copy.deepcopy(rec["Config"])
        for key in ("Memory", "MemorySwap", "CpuShares", "Dns", "VolumesFrom", "PortSpecs"):
            config.pop(key, None)
        config.update({k: v for k, v in changes_config.items() if v is not None})
        d = bundle.paths(self.settings.data_root, cid)
        stage = tempfile.mkdtemp(dir=self.staging)
        try:
            tar_path = os.path.join(stage, "layer.tar")

            def write() -> None:
                from services.common import safetar
                with open(tar_path, "wb") as fh:
                    safetar.write_tree(d["upper"], fh, overlay_whiteouts=True)
            await asyncio.to_thread(write)

            async def chunks():
                with open(tar_path, "rb") as fh:
                    while data := fh.read(1 << 20):
                        yield data
            result = await self.clients.call("image.commit", {
                "parent": rec["Image"], "container": cid,
                "created_by": " ".join([rec["Path"], *rec["Args"]]),
                "comment": p.get("comment") or "", "author": p.get("author") or "",
                "config": config, "container_config": rec["Config"],
                "repo": p.get("repo"), "tag": p.get("tag")}, upload=chunks())
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return {"id": result["id"]}

    # ------------------------------------------------------------- adoption

    async def adopt(self) -> None:
        """At start: drop what a crash left half-made, re-adopt live shims, settle the rest."""
        known = {r[0] for r in self.conn.execute("SELECT id FROM containers")}
        root = os.path.join(self.settings.data_root, "containers")
        for name in os.listdir(root):
            if name not in known:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        # Sockets of shims killed while this supervisor was away (the live ones bind anew
        # only when they start, so only a dead shim's socket refuses a connection).
        sockets = os.path.dirname(wire.socket_path(self.settings.exec_root, "x"))
        for name in os.listdir(sockets) if os.path.isdir(sockets) else []:
            if name.startswith("shim-") and name.endswith(".sock") and _refused(os.path.join(sockets, name)):
                os.unlink(os.path.join(sockets, name))
        for (cid,) in self.conn.execute("SELECT id FROM containers WHERE state IN (?,?,?,?)",
                                        (states.RUNNING, states.PAUSED, states.RESTARTING, states.REMOVING)).fetchall():
            rec = self._load(cid)
            if rec["State"]["Status"] == states.REMOVING:
                await self._remove(cid, volumes=False)
                continue
            self.watchers[cid] = _logged(asyncio.ensure_future(self._watch(cid)), cid)
        # Exited ones a policy restarts and no client stopped (their restart was due while
        # no supervisor ran); on dockyardd's start, as on dockerd's, "always" ones a client
        # stopped too.
        daemon_start = self._daemon_started()
        for (cid,) in self.conn.execute("SELECT id FROM containers WHERE state=?", (states.EXITED,)).fetchall():
            rec = self._load(cid)
            policy = (rec["HostConfig"].get("RestartPolicy") or {}).get("Name")
            if policy == "always" and daemon_start and rec["Dockyard"].get("manually_stopped"):
                rec = self._set_manually_stopped(cid, False)
            if policy in ("always", "unless-stopped"):
                self._maybe_restart(rec)

    def _daemon_started(self) -> bool:
        """Whether dockyardd itself started since this supervisor last looked, not only this
        service: dockyardd writes its runtime file anew at each start."""
        try:
            st = os.stat(self._runtime_file)
        except OSError:
            return False
        mark = f"{st.st_ino}:{st.st_mtime_ns}"
        row = self.conn.execute("SELECT value FROM daemon WHERE key='started'").fetchone()
        if row and row[0] == mark:
            return False
        self.conn.execute("INSERT OR REPLACE INTO daemon (key, value) VALUES ('started', ?)", (mark,))
        return True
