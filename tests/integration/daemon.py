"""A real dockyardd started for tests, and raw HTTP to it over its unix socket or TCP."""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field

from services.kernel import links

from ..polling import until
from . import leaks

from services.common.sockets import SERVICES, WIRE_SERVICES  # noqa: F401 (the tests take them from here)

BIN = os.path.dirname(sys.executable)
DOCKYARDD = os.environ.get("DOCKYARDD", os.path.join(BIN, "dockyardd"))
SUPERVISORCTL = os.path.join(BIN, "supervisorctl")
CGROUP_ROOT = "/sys/fs/cgroup"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Daemon:
    root: str
    port: int
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    _network_block: ipaddress.IPv4Network | None = None

    @property
    def sock(self) -> str:
        return os.path.join(self.root, "docker.sock")

    @property
    def data_root(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def exec_root(self) -> str:
        # Deliberately long (over 70 bytes), as a CI runner's may be: every socket under it
        # must still fit the kernel's 107 bytes.
        return os.path.join(self.root, "exec-root-deliberately-long-for-the-108-byte-socket-limit")

    @property
    def conf(self) -> str:
        return os.path.join(self.exec_root, "supervisord.conf")

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, "dockyardd.log")

    @property
    def cgroup_parent(self) -> str:
        """Its own, so that what one daemon leaves is never blamed on another."""
        return "dockyard-test-" + os.path.basename(self.root)

    def cgroup_dirs(self) -> list[str]:
        """The directories of its cgroup parent that exist, one per hierarchy."""
        if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
            bases = [CGROUP_ROOT]
        else:
            bases = [e.path for e in os.scandir(CGROUP_ROOT) if e.is_dir() and not e.is_symlink()]
        return [os.path.join(b, self.cgroup_parent) for b in sorted(bases)
                if os.path.isdir(os.path.join(b, self.cgroup_parent))]

    @property
    def unix_url(self) -> str:
        return f"unix://{self.sock}"

    @property
    def bridge(self) -> str:
        """Its default bridge's link name (and its firewall table's): its own, as is
        everything else of its networks, so that daemons side by side never meet."""
        return "dyt" + hashlib.sha256(self.root.encode()).hexdigest()[:8]

    def network_block(self) -> ipaddress.IPv4Network:
        """A /16 of its own for its bridges: chosen once (from its root, then the first that
        no address of the host is in), kept across its restarts."""
        if self._network_block is None:
            used = [ipaddress.ip_network(a, strict=False) for a in links.host_networks()]
            start = int(hashlib.sha256(self.root.encode()).hexdigest(), 16) % 100
            for step in range(100):
                block = ipaddress.ip_network(f"10.{100 + (start + step) % 100}.0.0/16")
                if not any(block.overlaps(u) for u in used):
                    self._network_block = block
                    break
            else:
                raise RuntimeError("no free 10.100-199.0.0/16 for a test daemon's networks")
        return self._network_block

    def args(self) -> list[str]:
        block = self.network_block()
        return [DOCKYARDD, "-H", self.unix_url, "-H", f"tcp://127.0.0.1:{self.port}",
                "--data-root", self.data_root, "--exec-root", self.exec_root,
                "--cgroup-parent", self.cgroup_parent, "--bridge", self.bridge,
                "--bip", f"{block.network_address + 1}/24", "--default-address-pool", f"base={block},size=24",
                *self.extra_args]

    def start(self, timeout: float = 30) -> "Daemon":
        log = open(self.log_path, "ab")
        # A pipe, not the file itself: supervisord's copies of the services' output are lost
        # when its stdout is a regular file.
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        threading.Thread(target=_copy, args=(self.proc.stdout, log), daemon=True).start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited with {self.proc.returncode}:\n{self.log()}")
            return self.get("/_ping", timeout=2).status == 200 and self.get("/info", timeout=5).status == 200
        until(ready, timeout, "dockyardd to answer /_ping and /info", interval=0.1, detail=self.log)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as fh:
                return fh.read()[-8000:]
        except OSError:
            return ""

    # -- requests

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 30) -> Reply:
        conn = UnixHTTPConnection(self.sock, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Reply(r.status, r.headers, r.read())
        finally:
            conn.close()

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def tcp_request(self, method: str, path: str, context: ssl.SSLContext | None = None,
                    timeout: float = 30) -> Reply:
        if context is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        else:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=context)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return Reply(r.status, r.headers, r.read())
        finally:
            conn.close()

    # -- services

    def supervisorctl(self, *args: str, check: bool = True) -> str:
        out = subprocess.run([SUPERVISORCTL, "-c", self.conf, *args], capture_output=True,
                             text=True, timeout=60)
        if check and out.returncode not in (0, 3):  # 3: some program not running (status)
            raise RuntimeError(f"supervisorctl {' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout

    def pid(self, service: str) -> int:
        return int(self.supervisorctl("pid", service).strip())

    def wait_new_pid(self, service: str, old: int, timeout: float = 30) -> int:
        def new_pid() -> int | None:
            try:
                pid = self.pid(service)
            except (RuntimeError, ValueError):
                return None
            return pid if pid not in (0, old) else None
        return until(new_pid, timeout, f"{service} to be restarted (pid {old} replaced)", interval=0.2,
                     detail=self.log)


def _copy(src, dst) -> None:
    for chunk in iter(lambda: src.read1(65536), b""):
        dst.write(chunk)
        dst.flush()
    dst.close()


def new_root() -> str:
    # Short: unix socket paths are limited to 107 bytes.
    return tempfile.mkdtemp(prefix="dy-", dir="/tmp")


def remove_root(root: str) -> None:
    shutil.rmtree(root, ignore_errors=True)


def discard(daemon: Daemon) -> None:
    """Stop a test's daemon and take away what it leaves by design: containers outlive
    their daemon, so kill their processes (their shims then exit) and remove their cgroups.
    Then fail, loudly, if a shim of its root lives on or its root stays mounted."""
    try:
        try:
            daemon.stop()
        finally:
            for base in daemon.cgroup_dirs():
                until(lambda b=base: _emptied(b), 10, f"the cgroups under {base} to be emptied and removed")
        leaks.check_discarded(daemon)
    finally:
        remove_root(daemon.root)


def _emptied(base: str) -> bool:
    """Kill the processes of every cgroup below `base` and remove them, deepest first, then
    `base` itself (dockyardd makes it and leaves it, as dockerd); True once it is gone."""
    for path, _, _ in os.walk(base, topdown=False):
        with open(os.path.join(path, "cgroup.procs")) as fh:
            pids = fh.read().split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.rmdir(path)
        except OSError:
            pass  # busy until its processes are gone, or its children
    return not os.path.exists(base)
