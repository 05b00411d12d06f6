"""docker cp on the supervisor's side: each copy runs in a helper process of its own
(services.shim.archive), which enters the container's root before it resolves any path.

A running container's copy joins (a private copy of) its init's mount namespace (`--pid`),
without the container's lock: a stop does not wait for a slow reader. That copy keeps the
container's overlay mounted, so the container's next start, or next copy once stopped,
first ends it (running_copies; it fails with a 409). A stopped one (created, exited,
restarting) has its overlay and binds mounted by the helper in a namespace of the helper's
own, under the container's lifecycle lock, so it cannot start on the same upper dir
meanwhile; its volumes that need a mount (tmpfs, a bind's device) are mounted on the host
for the copy first, as a start mounts them (volume_mounts), and given back after. A
container that exits just as its copy joins it is then taken as stopped.

The helper's protocol: a JSON stat line first on its stdout (stat, get: then the tar), or a
"ready" line once a put's destination is checked (only then is the upload fed to it); a
refusal as one JSON line {kind, message} on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import posixpath
import sys
from typing import AsyncIterator

from services.common import errors, wire
from services.common.config import Settings

from . import bundle_mounts, running_copies
from .commit import Snapshots
from .lifecycle import Lifecycle
from .records import Records
from .volume_mounts import VolumeMounts

HELPER = ("-m", "services.shim.archive")
GONE = 75          # the helper's word for "its process is gone": take the container as stopped
READY = b"ready\n"
CHUNK = 1 << 20
ATTEMPTS = 3
EXIT_RECORDED = 10.0   # how long a copy waits for the exit of a container that went away
PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private")


class Archives:
    def __init__(self, settings: Settings, records: Records, snapshots: Snapshots, lifecycle: Lifecycle,
                 volume_mounts: VolumeMounts):
        self.settings = settings
        self.volume_mounts = volume_mounts
        self.records = records
        self.snapshots = snapshots
        self.lifecycle = lifecycle
        self.running_copies = running_copies.RunningCopies()
        lifecycle.starting_hooks.append(self.running_copies.end)
        lifecycle.removing_hooks.append(self._end_for_removal)

    async def _end_for_removal(self, cid: str) -> None:
        await self.running_copies.end(cid, running_copies.REMOVED_WORDS)

    def handlers(self) -> dict:
        return {"container.archive_stat": self.stat, "container.archive_get": self.get,
                "container.archive_put": self.put}

    # ------------------------------------------------------------ the methods

    async def stat(self, call: wire.Call) -> dict:
        for _ in range(ATTEMPTS):
            async with self._view(call.params["id"]) as (rec, view):
                async with self._helper("stat", call.params, rec, view) as proc:
                    line = await proc.stdout.readline()
                    if line:
                        await self._finished(proc)
                        return {"stat": _stat(line)}
                    if not await self._gone(proc, rec):
                        raise await self._failure(proc)
        raise _unsettled()

    async def get(self, call: wire.Call) -> AsyncIterator:
        for _ in range(ATTEMPTS):
            async with self._view(call.params["id"]) as (rec, view):
                async with self._helper("get", call.params, rec, view) as proc:
                    line = await proc.stdout.readline()
                    if not line:
                        if await self._gone(proc, rec):
                            continue
                        raise await self._failure(proc)
                    yield {"stat": _stat(line)}
                    while chunk := await proc.stdout.read(CHUNK):
                        yield {}, chunk
                    await self._finished(proc)
                    return
        raise _unsettled()

    async def put(self, call: wire.Call) -> dict:
        for _ in range(ATTEMPTS):
            async with self._view(call.params["id"]) as (rec, view):
                extra = ["--volumes", json.dumps([[m["Destination"], bool(m.get("RW", True))]
                                                  for m in rec.get("Mounts") or []])]
                if call.params["no_overwrite_dir_non_dir"]:
                    extra.append("--no-overwrite-dir-non-dir")
                if call.params["copy_uid_gid"]:
                    extra.append(f"--copy-uid-gid={rec['Config'].get('User') or ''}")
                async with self._helper("put", call.params, rec, view + extra, stdin=True) as proc:
                    if await proc.stdout.readline() != READY:
                        if await self._gone(proc, rec):
                            continue
                        raise await self._failure(proc)
                    feeding = asyncio.ensure_future(_feed(call.upload, proc.stdin))
                    try:
                        await proc.wait()
                    finally:
                        feeding.cancel()
                        await asyncio.gather(feeding, return_exceptions=True)
                    await self._finished(proc)
                    return {}
        raise _unsettled()

    # ------------------------------------------------------- where and how

    def _running(self, rec: dict) -> bool:
        return bool(rec["State"]["Running"]) and rec["State"]["Pid"] > 0

    @contextlib.asynccontextmanager
    async def _view(self, ref: str) -> AsyncIterator[tuple[dict, list[str]]]:
        """The container `ref` names and the helper's arguments that enter its root; a stopped
        container's lock held until the copy ends."""
        rec = self.records.find(ref)
        lock = None
        if not self._running(rec):
            lock = self.records.lock(rec["Id"])
            await lock.acquire()
            try:
                rec = self.records.load(rec["Id"])   # as it is now: removed, or started, meanwhile?
                if not self._running(rec):   # its overlay is mounted for this copy: none may hold it still
                    await self.running_copies.end(rec["Id"], running_copies.STOPPED_WORDS)
            except BaseException:
                lock.release()
                raise
            if self._running(rec):
                lock.release()
                lock = None
        try:
            if lock is None:
                yield rec, self._joined(rec)
            else:   # its volumes mounted as at a start: the copy reaches what is on them (a bind's device...)
                async with self.volume_mounts.copying_from(rec):
                    yield rec, self._mounted(rec)
        finally:
            if lock is not None:
                lock.release()

    def _joined(self, rec: dict) -> list[str]:
        return ["--pid", str(rec["State"]["Pid"]), "--pid-start", str(rec["Dockyard"].get("pid_start") or 0)]

    def _mounted(self, rec: dict) -> list[str]:
        d, lowers = self.snapshots.layers(rec)
        return ["--rootfs", d["rootfs"], "--upper", d["upper"], "--work", d["work"],
                "--lower", ":".join(lowers or [d["empty"]]), "--binds", json.dumps(binds(rec))]

    @contextlib.asynccontextmanager
    async def _helper(self, op: str, params: dict, rec: dict, view: list[str],
                      stdin: bool = False) -> AsyncIterator[asyncio.subprocess.Process]:
        """The helper doing `op`, killed if it still runs when the block ends."""
        # KEY=VALUE throughout: a value may start with "-" (a path, a User) and must stay a value.
        args = [op, f"--path={params['path']}", f"--name={params['id']}", *view]
        if rec["HostConfig"].get("ReadonlyRootfs"):
            args.append("--readonly-rootfs")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *HELPER, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL)
        if "--pid" in view:   # in a copy of the running container's namespace: its next start ends it
            self.running_copies.add(rec["Id"], proc)
        try:
            yield proc
        finally:
            try:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            finally:
                self.running_copies.discard(rec["Id"], proc)

    async def _gone(self, proc: asyncio.subprocess.Process, rec: dict) -> bool:
        """Whether the helper found the container's process gone (then its exit is waited
        for, to be recorded, and the copy tried again)."""
        if await proc.wait() != GONE:
            return False
        await self.lifecycle.until_exited(rec["Id"], EXIT_RECORDED)
        return True

    async def _finished(self, proc: asyncio.subprocess.Process) -> None:
        if await proc.wait() != 0:
            raise await self._failure(proc)

    async def _failure(self, proc: asyncio.subprocess.Process) -> errors.DockyardError:
        """Why the helper failed: ended by the container's start, or what it reported."""
        return self.running_copies.ended_error(proc) or await _failure(proc)


def binds(rec: dict) -> list[dict]:
    """The bind mounts of the container's bundle (bundle_mounts.oci_mounts), parents first: its
    volumes and binds, and its resolv.conf, hostname and hosts files once made. None
    propagates anything (the helper's namespace is its own)."""
    found = [bundle_mounts.point_mount(mp) for mp in rec.get("Mounts") or []
             if mp.get("Type") in ("bind", "volume") and mp.get("Source")]
    found += [{"destination": dest, "type": "bind", "source": rec[key], "options": ["rbind", "rprivate"]}
              for key, dest in (("ResolvConfPath", "/etc/resolv.conf"), ("HostnamePath", "/etc/hostname"),
                                ("HostsPath", "/etc/hosts"))
              if rec.get(key) and os.path.isfile(rec[key])]
    for m in found:
        m["options"] = [o for o in m["options"] if o not in PROPAGATIONS]
    return sorted(found, key=lambda m: len(posixpath.normpath(m["destination"]).split("/")))


async def _feed(upload: AsyncIterator[bytes] | None, stdin: asyncio.StreamWriter) -> None:
    """The caller's tar into the helper; a helper that stopped reading says why by its exit."""
    try:
        if upload is not None:
            async for chunk in upload:
                stdin.write(chunk)
                await stdin.drain()
        stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _stat(line: bytes) -> dict:
    try:
        record = json.loads(line)
        wire.check(wire.PATH_STAT, record, "the copy's stat")
    except (ValueError, errors.BadParameter) as exc:
        raise errors.ServerError(f"the copy's helper said something else than a stat: {exc}") from None
    return record


async def _failure(proc: asyncio.subprocess.Process) -> errors.DockyardError:
    """The typed error the helper reported (its last line on stderr)."""
    text = (await proc.stderr.read()).decode(errors="replace").strip()
    last = text.splitlines()[-1] if text else ""
    try:
        reported = json.loads(last)
    except ValueError:
        reported = None
    if isinstance(reported, dict) and "kind" in reported:
        return errors.from_wire(reported)
    return errors.ServerError(f"the copy failed (status {proc.returncode}): {last}")


def _unsettled() -> errors.DockyardError:
    return errors.Conflict("the container kept starting and stopping during the copy; try again")
