"""A farm of Dockyard hosts on this machine, for tests/integration/test_farm.py and
bench/farm.py: each host a network namespace of its own (farm_net) with its own dockyardd
(data root, exec root, cgroup parent, bridge and address pools) listening on its LAN
address with TLS, certificates made by deploy/certs.sh, busybox imported; and a run of
the farm suite (tests/farm_suite) spread over the hosts with pytest-xdist.

The daemon runs in its namespace's network only (nsenter --net): it shares the host's
mount namespace, so its mounts stay visible to the leak checks, as on a real host.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

import docker

from services.kernel import netns

from ..polling import until
from . import farm_net, leaks
from .containers import ensure_busybox
from .daemon import DOCKYARDD, Daemon, _emptied, new_root, remove_root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CERTS_SH = os.path.join(REPO, "deploy", "certs.sh")
SUITE = os.path.join(REPO, "tests", "farm_suite")
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
PORT = 2376   # dockerd's port for TLS
# What a runner's own environment must not lend the suite: its Docker endpoint, and CA
# bundles that requests would take over the farm's CA.
FOREIGN_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT",
               "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "DOCKYARD_FARM")


@dataclass
class FarmHost(Daemon):
    name: str = ""
    netns_handle: str = ""
    address: str = ""
    bip: str = ""
    pool: str = ""
    tls_dir: str = ""   # ca.pem, server-cert.pem, server-key.pem (deploy/certs.sh server)

    @property
    def url(self) -> str:
        return f"tcp://{self.address}:{PORT}"

    def args(self) -> list[str]:
        # The unix socket is the harness's own way in (set-up, teardown); clients use TLS.
        return [NSENTER, f"--net={self.netns_handle}", DOCKYARDD,
                "-H", self.unix_url, "-H", self.url,
                "--tlsverify", "--tlscacert", os.path.join(self.tls_dir, "ca.pem"),
                "--tlscert", os.path.join(self.tls_dir, "server-cert.pem"),
                "--tlskey", os.path.join(self.tls_dir, "server-key.pem"),
                "--data-root", self.data_root, "--exec-root", self.exec_root,
                "--cgroup-parent", self.cgroup_parent, "--bridge", self.bridge,
                "--bip", self.bip, "--default-address-pool", self.pool, *self.extra_args]


@dataclass
class Farm:
    lan: farm_net.Lan
    work: str
    hosts: list[FarmHost] = field(default_factory=list)

    @property
    def client_certs(self) -> str:
        """DOCKER_CERT_PATH for the farm's clients: ca.pem, cert.pem, key.pem."""
        return os.path.join(self.work, "certs", "client")

    def env(self, count: int | None = None) -> dict[str, str]:
        """The environment of a suite run spread over the first `count` hosts."""
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        env["DOCKYARD_FARM"] = ",".join(h.url for h in self.hosts[:count])
        env["DOCKER_CERT_PATH"] = self.client_certs
        env["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        return env

    def client(self, host: FarmHost) -> docker.DockerClient:
        """docker-py on the host over TLS, as a farm's user reaches it."""
        c = self.client_certs
        tls = docker.tls.TLSConfig(client_cert=(f"{c}/cert.pem", f"{c}/key.pem"), ca_cert=f"{c}/ca.pem",
                                   verify=True)
        client = docker.DockerClient(base_url=f"https://{host.address}:{PORT}", tls=tls, version="1.45")
        client.api.trust_env = False   # or requests takes REQUESTS_CA_BUNDLE over the farm's CA
        return client

    def containers(self, host: FarmHost) -> list[str]:
        """The names of every container the host has, asked over TLS."""
        with contextlib.closing(self.client(host)) as client:
            return [c.name for c in client.containers.list(all=True)]


def _certs(work: str, lan: farm_net.Lan, count: int) -> None:
    certs = os.path.join(work, "certs")
    run = lambda *args: subprocess.run(["bash", CERTS_SH, "-d", certs, *args], check=True,  # noqa: E731
                                       capture_output=True, timeout=60)
    run("ca")
    for i in range(count):
        run("server", f"host{i}", lan.address(i))
    run("client")


def stand_up(count: int) -> Farm:
    """`count` hosts, each answering over TLS with busybox:latest imported. On a failure,
    what was made is torn down."""
    lan = farm_net.make(count)
    farm = Farm(lan, tempfile.mkdtemp(prefix="dyfarm-", dir="/tmp"))
    try:
        _certs(farm.work, lan, count)
        for i in range(count):
            bip, pool = lan.daemon_networks(i)
            farm.hosts.append(FarmHost(new_root(), PORT, name=f"host{i}", netns_handle=lan.handle(i),
                                       address=lan.address(i), bip=bip, pool=pool,
                                       tls_dir=os.path.join(farm.work, "certs", "hosts", f"host{i}")))
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda h: ensure_busybox(h.start(timeout=60)), farm.hosts))
    except BaseException:
        tear_down(farm, check=False)
        raise
    return farm


def _host_leftovers(host: FarmHost) -> dict[str, object]:
    """What a host whose containers were all removed still holds of them."""
    left: dict[str, object] = {}
    if shims := leaks.shims_of(host.root):
        left["shims"] = shims
    for base in host.cgroup_dirs():
        if cgroups := [e.name for e in os.scandir(base) if e.is_dir()]:
            left[f"cgroups in {base}"] = cgroups
    if mounts := leaks.host_mounts(host):
        left["mounts"] = mounts
    handles = os.path.join(host.exec_root, "netns")
    if os.path.isdir(handles) and (names := os.listdir(handles)):
        left["container network namespace handles"] = names
    return left


def _remove_containers(host: FarmHost) -> dict[str, object]:
    """Remove the running host's containers through its API; what it still held of
    them once they were gone (empty: nothing)."""
    r = host.get("/v1.45/containers/json?all=1")
    assert r.status == 200, r.body
    for c in r.json():
        host.request("DELETE", f"/v1.45/containers/{c['Id']}?force=1&v=1")
    try:
        until(lambda: not _host_leftovers(host), 30, f"{host.name} to hold nothing of its removed containers",
              interval=0.1)
    except AssertionError:
        return _host_leftovers(host)
    return {}


def _clear_host(host: FarmHost) -> dict[str, object]:
    """Remove the host's containers (if it runs), stop it and take away whatever is left
    (a failed run's leftovers must not outlive it); what should have gone by itself."""
    left: dict[str, object] = {}
    try:
        if host.proc is not None and host.proc.poll() is None:
            left.update(_remove_containers(host))
    except (OSError, AssertionError) as exc:
        left["removing its containers"] = repr(exc)
    finally:
        try:
            host.stop()
        except subprocess.TimeoutExpired:
            left["stopping"] = "dockyardd did not stop on SIGTERM in 30s (killed)"
        for base in host.cgroup_dirs():
            until(lambda b=base: _emptied(b), 10, f"the cgroups under {base} to be emptied and removed")
        until(lambda: not leaks.shims_of(host.root), 30, f"the shims of {host.name} to exit", interval=0.1)
        handles = os.path.join(host.exec_root, "netns")
        for name in os.listdir(handles) if os.path.isdir(handles) else []:
            netns.remove(os.path.join(handles, name))
    if mounts := leaks.host_mounts(host):
        left["mounts after it stopped"] = mounts
    return left


def tear_down(farm: Farm, check: bool = True) -> None:
    """Remove every host's containers, stop the daemons, delete the namespaces, veths and
    bridge, and the hosts' roots. Everything is taken away whatever happens; then, with
    `check`, fail saying what was still there (a mount, a cgroup, a shim, a link, a
    process in a host's namespace) that should have gone with the containers."""
    left: dict[str, object] = {}
    try:
        for host in farm.hosts:
            try:
                if host_left := _clear_host(host):
                    left[host.name] = host_left
            except Exception as exc:  # noqa: BLE001 - the other hosts are still cleared; said below
                left[host.name] = f"teardown failed: {exc!r}"
            finally:
                remove_root(host.root)
    finally:
        farm_net.remove(farm.lan)
        shutil.rmtree(farm.work, ignore_errors=True)
    try:
        until(lambda: not farm_net.leftovers(farm.lan), 10, "the farm's network to be gone", interval=0.1)
    except AssertionError:
        left["network"] = farm_net.leftovers(farm.lan)
    if check and left:
        raise AssertionError(f"the farm left: {left}")


@contextlib.contextmanager
def farm(count: int):
    f = stand_up(count)
    try:
        yield f
    finally:
        tear_down(f)


# ------------------------------------------------------------------ the suite


@dataclass
class SuiteRun:
    returncode: int
    seconds: float
    outcomes: dict[str, str]    # test id -> passed, failed, error or skipped
    hosts: dict[str, str]       # test id -> the DOCKER_HOST it ran against
    output: str


def run_suite(env: dict[str, str], workers: int, timeout: float = 600) -> SuiteRun:
    """The farm suite run by pytest with `workers` xdist workers in `env`; its wall time
    and each test's outcome (from its JUnit report)."""
    with tempfile.TemporaryDirectory(prefix="dyfarm-run-") as tmp:
        report = os.path.join(tmp, "junit.xml")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers),
               f"--junitxml={report}", "-o", "junit_family=xunit1", SUITE]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=SUITE, env=env, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - start
        outcomes, hosts = _read_report(report) if os.path.exists(report) else ({}, {})
    return SuiteRun(done.returncode, seconds, outcomes, hosts, done.stdout + done.stderr)


def _read_report(path: str) -> tuple[dict[str, str], dict[str, str]]:
    outcomes, hosts = {}, {}
    for case in ElementTree.parse(path).iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            if case.find(kind) is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
        outcomes[test] = outcome
        for prop in case.iter("property"):
            if prop.get("name") == "docker_host":
                hosts[test] = prop.get("value")
    return outcomes, hosts
