"""shim.exec, shim.exec_state, shim.exec_wait, shim.exec_resize: processes exec'd in the
running container.

The shim owns them (DESIGN.md, the process table): it starts one in the container's cgroup
and namespaces (`enter.spawn`, or `runc exec --detach`), streams its output to the caller
as labelled frames, feeds it the caller's upload as stdin, reaps it with its other
children and keeps its end for `shim.exec_state`. A caller that goes away leaves the
process running: its output is read on to nowhere and its end still recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import stat
from dataclasses import dataclass, field

from services.common import errors, pathwalk, sockets, wire
from services.kernel import capabilities
from services.kernel.syscalls import SYS

from .runtime import StartError, Stdio, enter, user
from .runtime import runc as runc_runtime

# After the process exits, how long what it left in the background may hold its output open.
DRAIN_AFTER_EXIT = 1.0
# Moby's api writes a start failure on the stream's stdout (router/container/exec.go).
ERROR_FD = 1


@dataclass
class Session:
    """One exec this shim started."""
    exec_id: str
    tty: bool
    pid: int = 0
    master: int = -1                      # the pty's master, while it is open
    # A resize that came before runc sent the master (a client older than API 1.42 sends
    # no ConsoleSize, and resizes right after the start): as dockerd, it waits for it.
    size: list[int] | None = None
    exit_code: int | None = None
    listening: bool = True                # a caller still takes its output
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(64))
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Future | None = None    # its life (output, exit), kept from collection

    async def emit(self, item) -> None:
        if self.listening:
            await self.queue.put(item)

    def forget_caller(self) -> None:
        """The caller went away: what comes is dropped (a put waiting for room is let go)."""
        self.listening = False
        while not self.queue.empty():
            self.queue.get_nowait()


def exit_code(status: int) -> int:
    """A wait status as a shell says it (killed by signal n: 128+n)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def start_failure(message: str) -> bytes:
    """What Docker's client shows of an exec that could not start."""
    if not message.startswith("exec failed:"):
        message = f"exec failed: unable to start container process: {message}"
    return f"OCI runtime exec failed: {message}: unknown\r\n".encode()


def merged_env(base: list[str], *more: list[str]) -> list[str]:
    """Environment lists merged by name, a later one winning (in the earlier's place)."""
    out: dict[str, str] = {}
    for env in (base, *more):
        for entry in env:
            out[entry.split("=", 1)[0]] = entry
    return list(out.values())


def exec_spec(config: dict, exec_config: dict, held: set[str] | None = None) -> dict:
    """A copy of the bundle's config with its process made the exec's: its args, env, cwd,
    user, terminal; all the capabilities this host grants and no seccomp if Privileged."""
    spec = json.loads(json.dumps(config))
    process = spec["process"]
    process["args"] = list(exec_config["Cmd"])
    term = ["TERM=xterm"] if exec_config["Tty"] else []
    process["env"] = merged_env(process.get("env") or [], term, exec_config.get("Env") or [])
    process["terminal"] = bool(exec_config["Tty"])
    if exec_config.get("WorkingDir"):
        process["cwd"] = exec_config["WorkingDir"]
    if exec_config.get("User"):
        name, _, group = exec_config["User"].partition(":")
        process["user"] = {"uid": int(name) if name.isdigit() else 0, "gid": int(group) if group.isdigit() else 0}
        spec.setdefault("annotations", {})[wire.ANNOTATION_USER] = exec_config["User"]
    if exec_config.get("Privileged"):
        caps = sorted(held if held is not None else capabilities.held())
        process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps,
                                   "inheritable": [], "ambient": []}
        spec["linux"].pop("seccomp", None)
    return spec


def container_pty(container_pid: int, kernel=SYS) -> tuple[int, int]:
    """A pty made in the container's own devpts (master, slave), as runc makes an exec's:
    inside, its slave is /dev/pts/N. Reached through /proc/<pid>/root without following a
    symlink of the container's; the host's pty (os.openpty) if it has no devpts of its own."""
    root = os.open(f"/proc/{container_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            pts = pathwalk.open_dir(root, ["dev", "pts"], False, "/dev/pts")
        except pathwalk.LayerError:
            return os.openpty()
    finally:
        os.close(root)
    try:
        flags = os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            master = os.open("ptmx", flags, dir_fd=pts)
        except FileNotFoundError:
            return os.openpty()
        try:
            if not stat.S_ISCHR(os.fstat(master).st_mode):
                raise StartError("the container's /dev/pts/ptmx is not a device", 126)
            slave = os.open(str(kernel.unlock_pty(master)), flags, dir_fd=pts)
        except BaseException:
            os.close(master)
            raise
        return master, slave
    finally:
        os.close(pts)


def set_size(fd: int, size: list[int] | None, kernel=SYS) -> bool:
    """Size the terminal of `fd` from Docker's ConsoleSize [height, width], if given and sane."""
    if not size or len(size) != 2 or size[0] <= 0 or size[1] <= 0:
        return False
    kernel.set_window_size(fd, size[0], size[1])
    return True


# How long a resize waits for its exec's run to reach this shim, as dockerd's waits for the
# exec to start: a client resizes right after it asked for the start, and may come first.
RESIZE_WAIT = 10.0


class Execs:
    """The shim's exec sessions, by exec id."""

    def __init__(self, shim):
        self.shim = shim
        self.sessions: dict[str, Session] = {}
        self.added = asyncio.Event()   # set (and replaced) at each new session: what `wait` waits for

    async def _arrival(self, exec_id: str) -> bool:
        """Until the exec's run has reached this shim (True: the api starts it after the
        supervisor marked it started), or the container has exited first (False)."""
        while exec_id not in self.sessions:
            if self.shim.exit is not None:
                return False
            waiters = [asyncio.ensure_future(self.added.wait()), asyncio.ensure_future(self.shim.exited.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        return True

    async def wait(self, exec_id: str) -> dict:
        """The exec's state once it has ended (shim.exec_wait); its run is waited for too,
        unless the container exits first (then it is unknown)."""
        if await self._arrival(exec_id):
            await self.sessions[exec_id].done.wait()
        return self.state(exec_id)

    def state(self, exec_id: str) -> dict:
        s = self.sessions.get(exec_id)
        if s is None:
            return {"known": False, "running": False, "pid": 0, "exit_code": None}
        return {"known": True, "running": s.exit_code is None, "pid": s.pid, "exit_code": s.exit_code}

    async def resize(self, exec_id: str, height: int, width: int, timeout: float = RESIZE_WAIT) -> None:
        if exec_id not in self.sessions:
            try:
                await asyncio.wait_for(self._arrival(exec_id), timeout)
            except asyncio.TimeoutError:
                pass
        s = self.sessions.get(exec_id)
        if s is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        if s.master >= 0:
            set_size(s.master, [height, width])
        elif s.tty:
            s.size = [height, width]

    async def run(self, exec_id: str, config: dict, detach: bool, upload):
        """The chunks of shim.exec: {"pid"}, output frames, {"exit_code"} (detached: the first)."""
        shim = self.shim
        if shim.exit is not None:
            raise errors.Conflict(f"container {shim.id[:12]} is not running")
        if exec_id in self.sessions:
            raise errors.Conflict(f"exec {exec_id} has been started already")
        if not config["Cmd"]:
            raise errors.BadParameter("No exec command specified")
        tty = bool(config["Tty"]) and not detach
        s = self.sessions[exec_id] = Session(exec_id, tty)
        added, self.added = self.added, asyncio.Event()
        added.set()
        ours: list[int] = []     # the parent's ends, read (outputs) or written (stdin)
        theirs: list[int] = []   # the child's ends, closed here once it has them
        stdin_w = -1
        try:
            if detach:
                null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
                theirs.append(null)
                stdio, outputs = Stdio(-1, null, null, False), []
            elif tty and shim.runc:
                stdio, outputs = Stdio(-1, -1, -1, True), []   # runc makes the pty: its master below
            elif tty:
                master, slave = container_pty(shim.pid)
                theirs.append(slave)
                set_size(master, config.get("ConsoleSize"))
                s.master = master
                stdio, outputs = Stdio(slave, slave, slave, True), [(master, 0)]
                if config["AttachStdin"]:
                    stdin_w = os.dup(master)
            else:
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                ours += [out_r, err_r]
                theirs += [out_w, err_w]
                stdin = -1
                if config["AttachStdin"]:
                    stdin, stdin_w = os.pipe()
                    theirs.append(stdin)
                stdio, outputs = Stdio(stdin, out_w, err_w, False), [(out_r, 1), (err_r, 2)]
            s.pid, master = await self._spawn(exec_id, config, stdio)
            if master >= 0:   # runc's pty
                s.master = master
                set_size(master, s.size or config.get("ConsoleSize"))
                outputs = [(master, 0)]
                if config["AttachStdin"]:
                    stdin_w = os.dup(master)
        except (StartError, OSError) as exc:
            for fd in ours + theirs + ([s.master, stdin_w] if s.master >= 0 else [stdin_w]):
                if fd >= 0:
                    os.close(fd)
            s.master = -1
            s.exit_code = getattr(exc, "exit_code", 127) if isinstance(exc, StartError) else 126
            s.done.set()
            yield {"pid": 0}
            yield {"fd": 0 if tty else ERROR_FD}, start_failure(str(exc))
            yield {"exit_code": s.exit_code}
            return
        for fd in theirs:
            os.close(fd)
        exited = shim.reaped.wait(s.pid)
        s.task = asyncio.ensure_future(self._live(s, exited, outputs))
        if detach:
            s.forget_caller()
            yield {"pid": s.pid}
            return
        feeder = None
        if upload is not None:
            feeder = asyncio.ensure_future(self._feed(upload, stdin_w))
        elif stdin_w >= 0:
            os.close(stdin_w)   # nothing to feed it: its end at once
        try:
            yield {"pid": s.pid}
            while True:
                item = await s.queue.get()
                if item is None:
                    break
                yield item
            yield {"exit_code": s.exit_code}
        finally:
            s.forget_caller()
            if feeder is not None:
                feeder.cancel()

    async def _spawn(self, exec_id: str, config: dict, stdio: Stdio) -> tuple[int, int]:
        """Start the exec's process; its pid, and its terminal's master when runc made it (else -1)."""
        shim = self.shim
        spec = exec_spec(shim.config, config)
        if not shim.runc:
            return enter.spawn(shim.pid, spec, spec["process"]["args"], stdio, shim.cgroup), -1
        from . import probes
        process = spec["process"]
        rootfs = os.path.join(shim.bundle, spec["root"]["path"])
        uid, gid, groups, home = user.resolve(process, spec.get("annotations") or {}, root=rootfs)
        process["user"] = {"uid": uid, "gid": gid, "additionalGids": groups}
        if not any(e.startswith("HOME=") for e in process["env"]):
            process["env"].append(f"HOME={home}")
        name = f"exec-{exec_id[:12]}"
        if not stdio.tty:
            pid = await probes.spawn_runc(shim, process["args"], (stdio.stdin, stdio.stdout, stdio.stderr), name,
                                          process)
            return pid, -1
        size = config.get("ConsoleSize")
        if size and len(size) == 2 and size[0] > 0 and size[1] > 0:
            process["consoleSize"] = {"height": size[0], "width": size[1]}   # set before it runs
        path = sockets.socket_path(shim.settings.exec_root, sockets.exec_console_name(exec_id))
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            with runc_runtime.console_socket(path) as listener:
                pid = await probes.spawn_runc(shim, process["args"], (-1, null, null), name, process, path)
                try:
                    # runc has exited: it sent the master before it did.
                    return pid, runc_runtime.receive_master(listener, timeout=0)
                except StartError:
                    shim.reaped.unwanted_child(pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    raise
        finally:
            os.close(null)

    async def _live(self, s: Session, exited: asyncio.Future, outputs: list[tuple[int, int]]) -> None:
        """Its output to the caller (or nowhere) until it exits and that is drained (or a
        second more has passed); then its end, recorded."""
        pumps = [asyncio.ensure_future(self._pump(s, fd, label)) for fd, label in outputs]
        try:
            s.exit_code = exit_code(await exited)
            if pumps:
                _, pending = await asyncio.wait(pumps, timeout=DRAIN_AFTER_EXIT)
                for pump in pending:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for fd, _ in outputs:
                os.close(fd)
            s.master = -1
            s.done.set()
            if s.listening:
                await s.queue.put(None)   # its caller's going empties the queue: never stuck

    async def _pump(self, s: Session, fd: int, label: int) -> None:
        loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
                try:
                    await ready
                finally:
                    loop.remove_reader(fd)
                continue
            except OSError as exc:
                if exc.errno != errno.EIO:   # EIO: the pty's slave side is closed
                    raise
                return
            if not data:
                return
            await s.emit(({"fd": label}, data))

    async def _feed(self, upload, fd: int) -> None:
        """The upload to the process's stdin (fd -1: read and dropped); at its end `fd` is
        closed: a pipe's end (EOF), or a dup of the pty's master (which stays open)."""
        loop = asyncio.get_running_loop()
        if fd >= 0:
            os.set_blocking(fd, False)
        try:
            async for data in upload:
                if fd < 0:
                    continue
                view = memoryview(data)
                while view:
                    try:
                        view = view[os.write(fd, view):]
                    except BlockingIOError:
                        ready = loop.create_future()
                        loop.add_writer(fd, lambda: ready.done() or ready.set_result(None))
                        try:
                            await ready
                        finally:
                            loop.remove_writer(fd)
        except OSError:
            pass
        finally:
            if fd >= 0:
                os.close(fd)
