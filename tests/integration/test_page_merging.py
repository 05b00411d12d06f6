"""Same-page merging (services.kernel.page_merging): dockyardd turns the kernel's ksmd
on, and the memory its forked services and shims copy is marked mergeable; a
container's processes, exec'd, are not."""

from __future__ import annotations

from services.kernel import page_merging
from services.kernel.page_merging import KSM_RUN

from ..polling import until
from .containers import create, ensure_busybox, inspect, remove, start
from .daemon import SERVICES
from .leaks import service_pids, shims_of


def mapping_flags(pid: int) -> list[tuple[str, str, set[str]]]:
    """Each mapping's address range, name and VmFlags, in order."""
    found, head = [], None
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            fields = line.split()
            if fields[0] == "VmFlags:":
                found.append((head[0], head[5] if len(head) > 5 else "", set(fields[1:])))
            elif not fields[0].endswith(":"):
                head = fields
    return found


def heap_mergeable(pid: int) -> bool:
    """Whether the heap it was forked with is marked (what it grew by since is a mapping
    of its own, unmarked)."""
    return "mg" in next(flags for _, name, flags in mapping_flags(pid) if name == "[heap]")


def ksm_run() -> str:
    with open(KSM_RUN) as fh:
        return fh.read().strip()


def test_ksmd_runs_and_the_services_and_shims_memory_is_mergeable(daemon):
    assert ksm_run() == "1"
    pids = service_pids(daemon)
    for name in ("dockyardd", *SERVICES, "zygote"):
        assert heap_mergeable(pids[name]), name
    ensure_busybox(daemon)
    cid = create(daemon, Cmd=["tail", "-f", "/dev/null"])
    try:
        start(daemon, cid)
        record = inspect(daemon, cid)
        shim = shims_of(daemon.root)[record["Id"]]
        assert heap_mergeable(shim)
        # Every mapping it was forked with that may be marked is: those the zygote made
        # since supervisord marked its own too (the zygote's that the shim still has).
        with open(f"/proc/{shim}/maps") as fh:
            mergeable = {f"{a:x}-{b:x}" for a, b in page_merging.mergeable_ranges(fh.read())}
        zygote = {addresses for addresses, _, _ in mapping_flags(service_pids(daemon)["zygote"])}
        inherited = [(addresses, flags) for addresses, _, flags in mapping_flags(shim)
                     if addresses in mergeable and addresses in zygote]
        assert len(inherited) >= 10, inherited
        assert [a for a, flags in inherited if "mg" not in flags] == []
        # The container's process was exec'd: a new address space, nothing of it marked.
        container = mapping_flags(record["State"]["Pid"])
        assert not [name for _, name, f in container if "mg" in f], container
    finally:
        remove(daemon, cid)


def test_memory_merge_false_leaves_ksmd_as_the_host_has_it(fresh_daemon, tmp_path):
    before = ksm_run()
    config = tmp_path / "dockyard.yaml"
    config.write_text("memory-merge: false\n")
    fresh_daemon.extra_args += ["--config-file", str(config)]
    with open(KSM_RUN, "w") as fh:
        fh.write("0")
    try:
        fresh_daemon.start()
        until(lambda: "zygote" in service_pids(fresh_daemon), 20, "the zygote to start")
        assert ksm_run() == "0"
        # Marked all the same: harmless while ksmd is stopped, merged if the host runs it.
        assert heap_mergeable(service_pids(fresh_daemon)["zygote"])
    finally:
        with open(KSM_RUN, "w") as fh:
            fh.write(before)
