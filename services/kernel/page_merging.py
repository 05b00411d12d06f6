"""Same-page merging (the kernel's KSM) for Dockyard's own processes: pages that forked
Python processes copied but hold alike are kept once.

Every service, the shim zygote and each shim is a fork of supervisord (services.preload),
sharing what it loaded. CPython writes to the objects it touches (reference counts, the
adaptive interpreter's counters), so each process soon holds its own copies of the pages
those objects lie in: a running shim copies about 5.7 MiB of the zygote's 45, and
twenty shims that did the same work hold twenty copies that are alike, byte for byte, or
nearly. With the process's writable private mappings marked mergeable (madvise
MADV_MERGEABLE), the kernel's ksmd finds such pages and keeps one copy of each, copied
again only when one process writes to it. Marked where the copies are made: in
supervisord once it has loaded what the services run, and in the zygote before each
shim it forks (a child inherits the marks of the mappings it is forked with; what it maps
later is not marked). exec starts a new address space, so a container's processes are
never marked: no container's page is ever merged with anything, and none can learn, by
timing its writes, what another process's pages hold.

ksmd merges nothing until it runs: dockyardd turns it on (/sys/kernel/mm/ksm/run = 1),
as it turns on ip_forward, unless the memory-merge setting is false. It scans only
mappings marked mergeable, at the rate its own settings give (pages_to_scan every
sleep_millisecs), which this module leaves alone: with the kernel's defaults, twenty
shims' pages are merged within two or three minutes, for about 2% of one core while
they run (bench/README.md).
"""

from __future__ import annotations

from .syscalls import MADV_MERGEABLE, SYS

KSM_RUN = "/sys/kernel/mm/ksm/run"

# Special mappings: the kernel's own (vdso, vvar, vsyscall) are refused, and a stack
# changes too often for its pages to stay merged.
_UNMARKED = ("[stack", "[vdso]", "[vvar", "[vsyscall]", "[uprobes]")


def mergeable_ranges(maps: str) -> list[tuple[int, int]]:
    """The [start, end) address ranges of /proc/<pid>/maps text that may be marked: the
    private writable mappings (anonymous memory, the heap, and the data of the interpreter
    and its libraries, once copied), not the special ones."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5 or len(fields[1]) != 4:
            continue
        perms, name = fields[1], (fields[5].strip() if len(fields) == 6 else "")
        if perms[1] != "w" or perms[3] != "p" or name.startswith(_UNMARKED):
            continue
        start, _, end = fields[0].partition("-")
        ranges.append((int(start, 16), int(end, 16)))
    return ranges


def mark_mergeable() -> int:
    """Mark this process's private writable mappings mergeable: how many bytes were.
    A mapping the kernel will not mark (one gone since maps was read, or a kernel built
    without KSM) is left as it is: merging saves memory, nothing depends on it."""
    try:
        with open("/proc/self/maps") as fh:
            maps = fh.read()
    except OSError:
        return 0
    marked = 0
    for start, end in mergeable_ranges(maps):
        try:
            SYS.madvise(start, end - start, MADV_MERGEABLE)
        except OSError:
            continue
        marked += end - start
    return marked


def turn_on(run_file: str = KSM_RUN) -> str | None:
    """Start the kernel's ksmd if it is stopped (run 0): None once it runs, or why it does
    not. Its other mode is left as it is (2: someone unmerged every page on purpose)."""
    try:
        with open(run_file) as fh:
            state = fh.read().strip()
        if state == "0":
            with open(run_file, "w") as fh:
                fh.write("1")
            return None
    except OSError as exc:   # no KSM in this kernel, or a read-only /sys (in a container)
        return f"cannot turn on same-page merging: {exc.strerror or exc}"
    return None if state == "1" else f"same-page merging left in mode {state} ({run_file})"
