"""Networking that outlives failures, on the started daemon: published ports and DNS going
on while the api and the supervisor are killed and dockyardd restarts; nothing left of
removed containers and networks; a crash's leftovers swept at the supervisor's start.
Traffic goes only to 127.0.0.1 and to containers' addresses on the daemon's own bridges.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import uuid

from pyroute2 import IPRoute

from services.kernel import firewall, links, netns

from ..polling import until
from .networking import (  # noqa: F401 (fixtures among them)
    Made, docker_client, endpoint, first_address, free_port, handles, http_get, made, mark, standin,
    unique, veth,
)



# ------------------------------------------------------------------ durable


class Poller:
    """GETs 127.0.0.1:port over and over in a thread; the failures it saw."""

    def __init__(self, port: int, body: str):
        self.port, self.body = port, body
        self.failures: list[str] = []
        self.answers = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self) -> None:
        while not self.stopped.wait(0.02):
            try:
                got = http_get("127.0.0.1", self.port, timeout=3)
                if got == self.body:
                    self.answers += 1
                else:
                    self.failures.append(repr(got))
            except (OSError, http.client.HTTPException, AssertionError) as exc:
                self.failures.append(repr(exc))

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


def answers(daemon) -> bool:
    return daemon.get("/v1.45/containers/json", timeout=5).status == 200


# (busybox 1.35's wget -T crashes: busybox timeout bounds it instead.)
PROBER = ["sh", "-c", "while true; do if timeout 3 wget -qO- http://web/ >/dev/null 2>&1; then echo ok; "
                      "else echo FAIL; fi; usleep 100000; done"]


def test_ports_and_names_answer_through_kills_and_a_dockyardd_restart(fresh_daemon, standin):
    d = fresh_daemon.start()
    client = docker_client(d)
    m = Made(client, standin.servers)
    port = free_port()
    try:
        net = m.network()
        web = m.httpd("durable", net.name, name="web", ports={"80/tcp": ("127.0.0.1", port)})
        address, pid = first_address(web), web.attrs["State"]["Pid"]
        prober = m.start(PROBER, network=net.name)

        def logged() -> list[str]:
            """What it logged, read from its log file: the api is away at times."""
            with open(os.path.join(d.data_root, "containers", prober.id, f"{prober.id}-json.log")) as fh:
                return [json.loads(line)["log"].strip() for line in fh]

        until(lambda: "ok" in logged(), 20, "the prober to reach web by name")
        poller = Poller(port, "durable\n")
        try:
            for service in ("api", "supervisor"):
                old = d.pid(service)
                os.kill(old, signal.SIGKILL)
                seen = poller.answers
                until(lambda: poller.answers > seen + 5, 20, f"the port to answer with {service} killed")
                d.wait_new_pid(service, old)
                until(lambda: answers(d), 30, f"{service} to answer again")
            # A new client finds it by name with the supervisor and the api new.
            assert m.run(["wget", "-qO-", "http://web/"], network=net.name) == (0, "durable\n")

            # dockyardd stopped and started: the container ran on.
            oks = logged().count("ok")
            assert d.stop() == 0
            seen = poller.answers
            until(lambda: poller.answers > seen + 5, 20, "the port to answer with dockyardd stopped")
            until(lambda: logged().count("ok") > oks, 20, "the prober to go on with dockyardd stopped")
            d.start()
            web.reload()
            assert web.attrs["State"]["Running"] and web.attrs["State"]["Pid"] == pid
            assert first_address(web) == address
            assert web.attrs["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
            assert http_get(address) == "durable\n"
            seen = poller.answers
            until(lambda: poller.answers > seen + 5, 20, "the port to answer after dockyardd's start")
        finally:
            poller.stop()
        assert not poller.failures, poller.failures[:10]
        assert "FAIL" not in logged(), logged()

        # A new container gets an address of its own, and finds web by name.
        prober.reload()
        newcomer = m.start(["sleep", "60"], network=net.name)
        assert first_address(newcomer) not in (address, first_address(prober))
        assert m.run(["wget", "-qO-", "http://web/"], network=net.name) == (0, "durable\n")
        # And on the default bridge, too.
        default = m.start(["sleep", "60"])
        other = m.start(["sleep", "60"])
        assert first_address(default) != first_address(other)
    finally:
        if d.proc.poll() is None:   # else discarding the daemon takes its containers away
            m.cleanup()
        client.close()


# ------------------------------------------------------------------ clean


def test_removing_containers_and_networks_leaves_nothing(client, daemon, made):
    port = free_port()
    net = made.network()
    bridge = "dy-" + net.id[:12]
    assert links.exists(bridge) and bridge in links.owned(mark(daemon))
    web = made.httpd("leak", net.name, ports={"80/tcp": ("127.0.0.1", port)})
    peer = made.start(["sleep", "60"], network=net.name, name=unique("peer"))
    plain = made.start(["sleep", "60"])
    ours = [web, peer, plain]
    veths = {veth(endpoint(c)) for c in ours}
    assert all(links.exists(v) for v in veths)
    unmarked = veths - set(links.owned(mark(daemon)))
    assert {c.id[:12] for c in ours} <= handles(daemon)
    names_json = os.path.join(daemon.data_root, "containers", web.id, "names.json")
    assert peer.name in open(names_json).read()

    # A removed container's name goes from the others' names.
    peer.remove(force=True)
    until(lambda: peer.name not in open(names_json).read(), 10, "the removed peer's name to leave web's names")
    code, out = made.run(["nslookup", peer.name], network=net.name)
    assert code != 0, out

    web.remove(force=True)
    plain.remove(force=True)
    net.remove()
    until(lambda: not any(links.exists(link) for link in veths | {bridge}), 10, "the veths and the bridge to go",
          detail=lambda: str(links.owned(mark(daemon))))
    assert not links.exists(bridge) and not any(links.exists(v) for v in veths)
    assert not {c.id[:12] for c in ours} & handles(daemon)
    table = firewall.listing(daemon.bridge)
    assert "dnat to" not in table and bridge not in table, table
    # Of the daemon's links, only its networks' bridges (its default one at least) and its
    # running containers' veths are left; of its handles, only its running containers'.
    running = client.containers.list()
    kept = {net.attrs["Options"].get("com.docker.network.bridge.name") or "dy-" + net.id[:12]
            for net in client.networks.list(filters={"driver": "bridge"})}
    kept |= {veth(ep) for c in running for ep in c.attrs["NetworkSettings"]["Networks"].values()
             if ep.get("EndpointID")}
    assert daemon.bridge in kept and set(links.owned(mark(daemon))) <= kept, links.owned(mark(daemon))
    assert handles(daemon) <= {c.id[:12] for c in running}
    # (Last: what the check above sees rests on every veth being marked as the daemon's.)
    assert not unmarked, f"veths without the mark {mark(daemon)}: {sorted(unmarked)}"


# ------------------------------------------------------------------ crash leftovers


def test_the_supervisors_start_sweeps_what_a_crash_left(fresh_daemon, standin):
    d = fresh_daemon.start()
    client = docker_client(d)
    m = Made(client, standin.servers)
    stray = "dyv" + uuid.uuid4().hex[:11]
    try:
        web = m.httpd("kept")
        kept = veth(endpoint(web))
        # What a crash in the middle of a start leaves: a veth marked as this daemon's, a
        # namespace handle, a published port's rule.
        with IPRoute() as ipr:
            ipr.link("add", ifname=stray, kind="veth", peer=stray + "p")
            ipr.link("set", index=ipr.link_lookup(ifname=stray)[0], ifalias=mark(d))
        handle = netns.create(os.path.join(d.exec_root, "netns"), "deadbeef0000")
        stray_port = free_port()
        subprocess.run([firewall.NFT, "add", "rule", "ip", d.bridge, "ports", "tcp", "dport", str(stray_port),
                        "dnat", "to", f"{first_address(web)}:80"], check=True, capture_output=True)
        assert stray in links.owned(mark(d)) and f"dport {stray_port} " in firewall.listing(d.bridge)

        old = d.pid("supervisor")
        os.kill(old, signal.SIGKILL)
        d.wait_new_pid("supervisor", old)
        until(lambda: answers(d), 30, "the supervisor to answer again")
        until(lambda: not links.exists(stray), 10, "the stray veth to be removed")
        assert not links.exists(stray + "p")
        assert not os.path.exists(handle)
        assert f"dport {stray_port} " not in firewall.listing(d.bridge)
        # The running container's veth, handle and traffic are kept.
        assert links.exists(kept)
        assert web.id[:12] in handles(d)
        assert http_get(first_address(web)) == "kept\n"
        assert kept in links.owned(mark(d)), "the container's veth lacks the daemon's mark"
    finally:
        m.cleanup()
        client.close()
        links.remove(stray)
        netns.remove(os.path.join(d.exec_root, "netns", "deadbeef0000"))
