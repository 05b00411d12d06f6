"""The shims: spawning one per start, its reports, learning of its container's exit, signals.

A shim is forked from the zygote (services.shim.zygote), or started from scratch when
there is none, and reports on its start channel: first its start (or why it could not),
then that its socket serves, last its container's exit record. A supervisor that did not
start it (it was restarted meanwhile) asks the shim with shim.wait; one that finds no shim
reads the exit.json the shim left, and if there is none either, the shim died: what it ran
is killed and the exit recorded with an error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading

from services.common import container_files, errors, locator, runc, sockets, timefmt, wire
from services.common.config import Settings
from services.kernel.cgroups import Cgroup


log = logging.getLogger("supervisor")

SHIM_START_TIMEOUT = 30


def proc_start(pid: int) -> int:
    """The start time of a process (clock ticks since boot), to tell it from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return -1


def alive(pid: int, start: int) -> bool:
    return pid > 0 and start > 0 and proc_start(pid) == start


class Channel:
    """A shim's start channel, once its start is reported: its socket's serving, then its exit."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.serving: asyncio.Future = asyncio.get_running_loop().create_future()

    async def exit(self) -> dict | None:
        """The exit record, or None if the channel broke first. Tells `serving` on the way."""
        try:
            while True:
                try:
                    message = wire.decode_notice(await self.reader.readline())
                except (OSError, errors.BadParameter):
                    return None
                if "serving" not in message:
                    return message
                if not self.serving.done():
                    self.serving.set_result(None)
        finally:
            self.writer.close()
            if not self.serving.done():
                self.serving.set_result(None)  # it is over: nobody need wait for it to serve


class Zygote:
    """The shim zygote as the supervisor holds it (services.shim.zygote): forked from this
    process before its event loop starts, so that it shares this process's pages."""

    def __init__(self) -> None:
        self.pid = 0
        self.ready_fd = -1

    def fork(self, settings: Settings) -> None:
        """Fork it, now that no thread but the main one runs (the event loop and ZeroMQ
        start theirs); without it, shims start from scratch."""
        if threading.active_count() > 1:
            log.warning("no shim zygote (threads run already): shims start from scratch")
            return
        from services.shim import zygote   # run by the child only (supervisord loaded it)
        try:
            self.pid, self.ready_fd = zygote.fork(settings)
        except OSError as exc:
            log.warning("no shim zygote (%s): shims start from scratch", exc)

    async def ready(self) -> bool:
        """Whether it says it serves (within 20 seconds)."""
        if self.ready_fd < 0:
            return False
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(self.ready_fd, "rb"))
        self.ready_fd = -1
        try:
            line = await asyncio.wait_for(reader.readline(), 20)
        except asyncio.TimeoutError:
            line = b""
        finally:
            transport.close()
        if line.decode(errors="replace").strip() == wire.ZYGOTE_READY:
            self._reap_when_gone(loop)
            return True
        self.alive()   # reaped, if it went
        return False

    def _reap_when_gone(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reap it as soon as it exits (it is this process's child, not asyncio's)."""
        try:
            fd = os.pidfd_open(self.pid)
        except OSError:
            return

        def gone() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self.alive()
        loop.add_reader(fd, gone)

    def alive(self) -> bool:
        """Whether it still runs (one that exited is reaped)."""
        if not self.pid:
            return False
        try:
            gone, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            gone = self.pid
        if gone:
            self.pid = 0
        return not gone


class Shims:
    def __init__(self, settings: Settings, clients, zygote: Zygote | None = None):
        self.settings = settings
        self.clients = clients
        self.zygote = zygote or Zygote()
        self.runtime_file = os.path.join(settings.exec_root, "daemon.json")

    async def start_zygote(self) -> None:
        """Wait for the shim zygote to serve; without it, shims start from scratch."""
        if self.zygote.pid and not await self.zygote.ready():
            log.warning("the shim zygote did not say it was ready: shims start from scratch")

    async def spawn(self, cid: str) -> tuple[dict, Channel | None]:
        """Start the shim of `cid`: its start report, and its channel (None if it did not start)."""
        if self.zygote.alive():
            try:
                reader, writer = await asyncio.open_unix_connection(
                    sockets.socket_path(self.settings.exec_root, sockets.ZYGOTE))
                writer.write(wire.encode_zygote_request(cid))
                await writer.drain()
                return await self._report(reader, writer)
            except (OSError, asyncio.TimeoutError) as exc:
                log.warning("the shim zygote failed (%s); starting the shim from scratch", exc)
        ours, theirs = socket.socketpair()
        with theirs:
            launcher = await asyncio.to_thread(
                subprocess.Popen, [sys.executable, "-m", "services.shim", "--config", self.runtime_file,
                                   "--id", cid],
                stdout=theirs.fileno(), stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        try:
            return await self._report(reader, writer)
        finally:
            await asyncio.to_thread(launcher.wait)  # it forks the shim and leaves at once

    @staticmethod
    async def _report(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[dict, Channel | None]:
        try:
            report = wire.decode_report(await asyncio.wait_for(reader.readline(), SHIM_START_TIMEOUT))
        except (OSError, errors.BadParameter, asyncio.TimeoutError):
            report = {"error": "the shim did not start", "exit_code": 128}
        if "error" in report:
            writer.close()  # it did not start: nothing more will come
            return report, None
        return report, Channel(reader, writer)

    async def exit_of(self, rec: dict, channel: Channel | None) -> dict:
        """The exit record of the container's current start: from its channel when this
        supervisor started it, else (or if that broke) from its shim, its exit.json, or its
        shim's death. Returns when the container has exited."""
        cid, pid = rec["Id"], rec["State"]["Pid"]
        result = await channel.exit() if channel is not None else None
        while result is None:
            try:
                result = await locator.call(self.clients, cid, pid, "shim.wait", timeout=None)
            except errors.Unavailable:
                dock = rec["Dockyard"]
                result = container_files.read_exit(container_files.paths(self.settings.data_root, cid)["exit"])
                if result is None and alive(dock["shim_pid"], dock["shim_start"]):
                    # Alive and not answering: busy, or not serving yet; its exit wakes us.
                    await self.until_gone(dock["shim_pid"], 0.5)
                    continue
                if result is None:
                    result = self.died(rec)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("waiting for %s", cid[:12])
                await asyncio.sleep(0.5)
        return result

    @staticmethod
    async def until_gone(pid: int, timeout: float) -> None:
        """Until the process `pid` ends, or `timeout` passes (whichever is first)."""
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
        try:
            await asyncio.wait_for(gone, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
            os.close(fd)

    async def signal(self, rec: dict, number: int) -> None:
        """Send `number` to the container's process through its shim (gone: nothing to do;
        whoever waits for its exit records it)."""
        try:
            await locator.call(self.clients, rec["Id"], rec["State"]["Pid"], "shim.kill", {"signal": number})
        except (errors.Unavailable, errors.Conflict):
            pass

    def died(self, rec: dict) -> dict:
        """The shim is gone and left no exit record: kill what it ran, say so."""
        dock, state = rec["Dockyard"], rec["State"]
        if alive(state["Pid"], dock["pid_start"]):
            try:
                os.kill(state["Pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            Cgroup(dock["cgroup"]).destroy()
        except OSError as exc:
            log.warning("removing the cgroup of %s: %s", rec["Id"][:12], exc)
        self.unlink_socket(rec["Id"])
        self.forget_runc_state(rec["Id"])
        log.warning("the shim of %s died; its container was killed", rec["Id"][:12])
        return wire.exit_record(255, timefmt.now(), False,
                                "the container's shim died unexpectedly; its process was killed")

    def unlink_socket(self, cid: str) -> None:
        try:
            os.unlink(sockets.socket_path(self.settings.exec_root, sockets.shim_name(cid)))
        except FileNotFoundError:
            pass

    def unlink_socket_after(self, rec: dict) -> None:
        """Unlink a removed container's shim socket once its shim has left (a lingering shim
        still serves late attaches; it unlinks its socket itself, unless it was killed)."""
        dock = rec["Dockyard"]
        if not alive(dock["shim_pid"], dock["shim_start"]):
            self.unlink_socket(rec["Id"])
            return
        try:
            fd = os.pidfd_open(dock["shim_pid"])
        except OSError:
            self.unlink_socket(rec["Id"])
            return
        loop = asyncio.get_running_loop()

        def gone() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self.unlink_socket(rec["Id"])
        loop.add_reader(fd, gone)

    def forget_runc_state(self, cid: str) -> None:
        """What runc kept of a container whose process is gone (its shim, which deletes it
        at the exit, was killed): its state, and its cgroups in every hierarchy."""
        try:
            runc.delete(self.settings.exec_root, cid)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("runc delete %s: %s", cid[:12], exc)

    def sweep_runc_state(self, running: set[str]) -> None:
        """At start: runc's state of every container that does not run."""
        root = runc.state_root(self.settings.exec_root)
        for name in os.listdir(root) if os.path.isdir(root) else []:
            if name not in running:
                self.forget_runc_state(name)

    def sweep_sockets(self) -> None:
        """At start: the sockets of shims that were killed while no supervisor ran (a live
        shim's socket answers; only a dead one's refuses)."""
        directory = os.path.dirname(sockets.socket_path(self.settings.exec_root, "x"))
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            if name.startswith("shim-") and name.endswith(".sock") and _refused(os.path.join(directory, name)):
                os.unlink(os.path.join(directory, name))

    def leaked(self, known: set[str]) -> list[tuple[int, str]]:
        """Shims of this daemon whose container has no record: their pids and containers."""
        out = []
        containers = os.path.join(self.settings.data_root, "containers") + "/"
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                    argv = fh.read().split(b"\0")
                title = argv[0].decode(errors="replace")
                if not title.startswith("dockyard-shim ") or title.split()[1] in known:
                    continue
                # Ours if it holds a file in this data root (its log, its container dir).
                fds = os.listdir(f"/proc/{entry.name}/fd")
                if any(os.readlink(f"/proc/{entry.name}/fd/{fd}").startswith(containers) for fd in fds):
                    out.append((int(entry.name), title.split()[1]))
            except OSError:
                continue
        return out


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
