"""The services are forked from supervisord, which loaded what they run (services.preload),
the shim zygote from the supervisor and the shims from the zygote (each ahead of its
start), so that they share
the pages of what they loaded; supervisord still supervises each service as a process of
its own. A forked process has its parent's heap: the same addresses, on the same physical
pages but for those either has written since; an exec'd one has a heap of its own."""

from __future__ import annotations

import os
import signal
import struct

from ..polling import until
from .containers import create, ensure_busybox, inspect, remove, start
from .daemon import SERVICES
from .leaks import processes, service_pids, shims_of


PAGE = 4096
PFN_MASK = (1 << 55) - 1


def heap(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/maps") as fh:
        for line in fh:
            if line.rstrip().endswith("[heap]"):
                start, end = line.split()[0].split("-")
                return int(start, 16), int(end, 16)
    raise AssertionError(f"process {pid} has no heap")


def frames(pid: int, start: int, end: int) -> set[int]:
    """The physical pages under [start, end) of `pid` (root reads them from its pagemap)."""
    with open(f"/proc/{pid}/pagemap", "rb") as fh:
        fh.seek(start // PAGE * 8)
        data = fh.read((end - start) // PAGE * 8)
    entries = struct.unpack(f"<{len(data) // 8}Q", data)
    return {e & PFN_MASK for e in entries if e >> 63 and e & PFN_MASK}


def forked_from(child: int, parent: int) -> bool:
    """Whether `child` has `parent`'s heap: at its addresses, sharing physical pages."""
    start, end = heap(parent)
    if heap(child)[0] != start:
        return False
    return bool(frames(child, start, end) & frames(parent, start, end))


def test_services_and_the_zygote_are_forks_of_what_loaded_them(daemon):
    pids = service_pids(daemon)
    assert "zygote" in pids, pids
    for service in SERVICES:
        assert forked_from(pids[service], pids["dockyardd"]), service
    assert forked_from(pids["zygote"], pids["supervisor"])


def test_a_restarted_service_is_forked_again(daemon):
    old = daemon.pid("builder")
    daemon.supervisorctl("restart", "builder")
    new = daemon.wait_new_pid("builder", old)
    assert forked_from(new, daemon.proc.pid)
    until(lambda: daemon.get("/info").status == 200, 20, "/info to answer with the new builder", interval=0.2,
          detail=daemon.log)


def started_shim(daemon, cid: str) -> int:
    """Start container `cid`: its shim's pid, once it runs."""
    start(daemon, cid)
    record = inspect(daemon, cid)
    assert record["State"]["Running"]
    return shims_of(daemon.root)[record["Id"]]


def test_a_shim_is_a_fork_of_the_zygote(daemon):
    ensure_busybox(daemon)
    cid = create(daemon, Cmd=["tail", "-f", "/dev/null"])
    try:
        assert forked_from(started_shim(daemon, cid), service_pids(daemon)["zygote"])
    finally:
        remove(daemon, cid)


def test_a_zygote_that_dies_is_reaped_and_shims_start_from_scratch(fresh_daemon):
    fresh_daemon.start()
    ensure_busybox(fresh_daemon)
    pids = service_pids(fresh_daemon)
    os.kill(pids["zygote"], signal.SIGKILL)
    # Reaped by the supervisor at once: no zombie is left among its children.
    until(lambda: not os.path.exists(f"/proc/{pids['zygote']}"), 10, "the killed zygote to be reaped")
    cid = create(fresh_daemon, Cmd=["tail", "-f", "/dev/null"])
    start(fresh_daemon, cid)
    record = inspect(fresh_daemon, cid)
    assert record["State"]["Running"]
    assert record["Id"] in shims_of(fresh_daemon.root)
    remove(fresh_daemon, cid)


def spares(zygote: int) -> list[int]:
    """The zygote's children waiting to become a shim."""
    found = []
    for p in processes().values():
        if p.ppid == zygote:
            try:
                with open(f"/proc/{p.pid}/cmdline", "rb") as fh:
                    if fh.read().startswith(b"dockyard-shim-spare"):
                        found.append(p.pid)
            except OSError:
                pass
    return found


def one_spare(zygote: int, other_than: int = 0) -> int:
    """The zygote's one spare shim (not `other_than`), once it has forked it."""
    until(lambda: [p for p in spares(zygote) if p != other_than], 10, "the zygote to fork a spare shim")
    found = spares(zygote)
    assert len(found) == 1, found
    return found[0]


def test_a_start_takes_the_spare_shim_forked_ahead_and_the_zygote_forks_the_next(daemon):
    ensure_busybox(daemon)
    zygote = service_pids(daemon)["zygote"]
    spare = one_spare(zygote)
    assert forked_from(spare, zygote)
    cid = create(daemon, Cmd=["tail", "-f", "/dev/null"])
    try:
        assert started_shim(daemon, cid) == spare   # the spare became its shim
        one_spare(zygote, other_than=spare)
    finally:
        remove(daemon, cid)


def test_a_start_whose_spare_was_killed_forks_its_shim_then(daemon):
    ensure_busybox(daemon)
    zygote = service_pids(daemon)["zygote"]
    spare = one_spare(zygote)
    os.kill(spare, signal.SIGKILL)
    until(lambda: not os.path.exists(f"/proc/{spare}"), 10, "the killed spare to be reaped")
    cid = create(daemon, Cmd=["tail", "-f", "/dev/null"])
    try:
        shim = started_shim(daemon, cid)
        assert shim != spare and forked_from(shim, zygote)
        one_spare(zygote, other_than=spare)
    finally:
        remove(daemon, cid)


def test_the_spare_shim_goes_with_the_zygote(fresh_daemon):
    fresh_daemon.start()
    zygote = service_pids(fresh_daemon)["zygote"]
    spare = one_spare(zygote)
    os.kill(zygote, signal.SIGKILL)
    until(lambda: not os.path.exists(f"/proc/{spare}"), 10, "the spare shim to die with its zygote")
