"""The farm's network on this machine: a private bridge in the root namespace and, per
host, a network namespace of its own joined to that bridge by a veth, as real hosts on
one LAN would be. Made with iproute2, as an operator would by hand (deploy/FARM.md).

Every name carries a tag of its own (so two farms, or a farm and the test daemons, never
meet), every root-side link is marked with an alias (so what is left is found), and the
farm's addresses come from a /16 that no address of this machine is in.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

from services.kernel import links

IP = shutil.which("ip") or "/usr/sbin/ip"
NETNS_DIR = "/run/netns"   # where `ip netns add` keeps its handles
# The farm's /16 is the first of these that no address of the host is in: apart from the
# test daemons' 10.100-199, Dockyard's defaults (10.213/16, 10.214/15) and Docker's 172.17/16.
CANDIDATE_BLOCKS = [ipaddress.ip_network(f"10.{b}.0.0/16") for b in range(230, 250)]
MAX_HOSTS = 15   # host i's daemon networks are the /20 at 10.b.(16*(i+1)).0


@dataclass
class Lan:
    tag: str
    block: ipaddress.IPv4Network
    count: int
    namespace_inodes: dict[int, int] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"dyf{self.tag}"

    @property
    def mark(self) -> str:
        return f"dockyard-farm:{self.tag}"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        """The LAN: the runner at .1, host i at .(2+i)."""
        return next(self.block.subnets(new_prefix=24))

    @property
    def runner_address(self) -> str:
        return str(self.subnet.network_address + 1)

    def address(self, i: int) -> str:
        return str(self.subnet.network_address + 2 + i)

    def namespace(self, i: int) -> str:
        return f"dyfarm-{self.tag}-{i}"

    def handle(self, i: int) -> str:
        return os.path.join(NETNS_DIR, self.namespace(i))

    def veth(self, i: int) -> str:
        return f"dyf{self.tag}h{i}"

    def daemon_networks(self, i: int) -> tuple[str, str]:
        """Host i's --bip and --default-address-pool: a /20 of the block for it alone, its
        default bridge the first /24, user-defined networks from the upper /21."""
        base = self.block.network_address + (16 * (i + 1) << 8)
        return f"{base + 1}/24", f"base={base + (8 << 8)}/21,size=24"


def ip(*args: str) -> str:
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def free_block() -> ipaddress.IPv4Network:
    used = [ipaddress.ip_network(a, strict=False) for a in links.host_networks()]
    for block in CANDIDATE_BLOCKS:
        if not any(block.overlaps(u) for u in used):
            return block
    raise RuntimeError(f"no free /16 among {CANDIDATE_BLOCKS[0]}..{CANDIDATE_BLOCKS[-1]} for a farm")


def make(count: int) -> Lan:
    """The bridge, and `count` namespaces each joined to it by a veth (its end `eth0`,
    addressed, up, and its loopback up). On a failure, what was made is removed."""
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"a farm on this machine has 1 to {MAX_HOSTS} hosts, not {count}")
    lan = Lan(secrets.token_hex(3), free_block(), count)
    try:
        ip("link", "add", lan.bridge, "type", "bridge")
        ip("link", "set", lan.bridge, "alias", lan.mark)
        ip("addr", "add", f"{lan.runner_address}/{lan.subnet.prefixlen}", "dev", lan.bridge)
        ip("link", "set", lan.bridge, "up")
        for i in range(count):
            ns = lan.namespace(i)
            ip("netns", "add", ns)
            lan.namespace_inodes[i] = os.stat(lan.handle(i)).st_ino
            ip("link", "add", lan.veth(i), "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", lan.veth(i), "alias", lan.mark)
            ip("link", "set", lan.veth(i), "master", lan.bridge)
            ip("link", "set", lan.veth(i), "up")
            ip("-n", ns, "addr", "add", f"{lan.address(i)}/{lan.subnet.prefixlen}", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
    except BaseException:
        remove(lan)
        raise
    return lan


def holders(inode: int) -> list[int]:
    """The processes in the network namespace of this inode (what keeps it alive)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == f"net:[{inode}]":
                found.append(int(pid))
        except OSError:
            pass
    return found


def remove(lan: Lan) -> None:
    """Delete the namespaces (their veths go with them) and the bridge; whatever is
    missing already is fine."""
    for i in range(lan.count):
        if os.path.exists(lan.handle(i)):
            ip("netns", "delete", lan.namespace(i))
    for name in links.owned(lan.mark):
        links.remove(name)


def leftovers(lan: Lan) -> dict[str, object]:
    """What of the LAN is still there after `remove` (empty: nothing): handles, links in
    the root namespace, and processes still in one of its namespaces."""
    left: dict[str, object] = {}
    if handles := [lan.handle(i) for i in range(lan.count) if os.path.exists(lan.handle(i))]:
        left["namespace handles"] = handles
    if stray := links.owned(lan.mark) + [n for n in (lan.bridge,) if links.exists(n)]:
        left["links"] = sorted(set(stray))
    for i, inode in lan.namespace_inodes.items():
        if pids := holders(inode):
            left[f"processes in {lan.namespace(i)}"] = pids
    return left
