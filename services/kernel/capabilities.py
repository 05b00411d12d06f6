"""Linux capabilities: their names and numbers, and narrowing a process to a set of them."""

from __future__ import annotations

from .syscalls import SYS, Syscalls

CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4


def numbers(names) -> set[int]:
    """The numbers of the capabilities named (names this kernel table lacks are left out)."""
    return {CAPABILITIES[name] for name in names if name in CAPABILITIES}


def held() -> set[str]:
    """The capabilities this process holds (its permitted set): "all" of them, for a
    privileged container, are these (a host may withhold some even from root)."""
    with open("/proc/self/status") as fh:
        mask = next(int(line.split()[1], 16) for line in fh if line.startswith("CapPrm:"))
    return {name for name, number in CAPABILITIES.items() if mask >> number & 1}


def last_capability() -> int:
    """The highest capability number the running kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        return int(fh.read())


def limit(keep: set[int], kernel: Syscalls = SYS) -> None:
    """Drop every capability not in `keep` from the bounding set; empty inheritable and ambient.

    A process of uid 0 gets its bounding set as its capabilities at exec; any other uid
    gets none, as in Docker.
    """
    for cap in range(last_capability() + 1):
        if cap not in keep:
            kernel.prctl(PR_CAPBSET_DROP, cap)
    try:
        kernel.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass  # a kernel without ambient capabilities
    effective, permitted, _ = kernel.capget()
    kernel.capset(effective, permitted, 0)
