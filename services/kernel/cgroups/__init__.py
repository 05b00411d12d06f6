"""A container's cgroup: one interface (`Cgroup`), one module per hierarchy (v1, v2).

`Cgroup(path)` is the implementation for this host: `v2.V2` where the unified
hierarchy is mounted at /sys/fs/cgroup (`is_v2()`, the one place that tells), `v1.V1`
otherwise. Both take a `root` to work below another mount of their hierarchy. What an
OCI linux.resources writes to either is `limits`'; what the host can limit, `features`.
"""

from __future__ import annotations

import os

from . import v1
from .base import ROOT, Cgroup, Stats, is_v2, write
from .features import Features, features
from .limits import shares_to_weight
from .v1 import V1
from .v2 import V2

__all__ = ["ROOT", "Cgroup", "Features", "Stats", "V1", "V2", "features", "is_v2", "prime_migration",
           "shares_to_weight"]


def prime_migration() -> None:
    """Move this process into the cgroup it is in already, to have a container's start wait less.

    After a quiet spell the kernel makes the first migration into a cgroup wait for an RCU
    grace period (10-20 ms here) and lets those soon after it pass at once. Called as a start
    begins, in a thread, the wait runs alongside the shim's own work instead of in front
    of the container's exec. Failing costs nothing, so it is not reported."""
    v2 = is_v2()
    try:
        with open("/proc/self/cgroup") as fh:
            lines = [line.rstrip("\n").split(":", 2) for line in fh]
        for _, controllers, path in lines:
            if (v2 and controllers == "") or (not v2 and controllers in v1.CONTROLLERS):
                base = ROOT if v2 else os.path.join(ROOT, controllers)
                write(os.path.join(base, path.strip("/"), "cgroup.procs"), str(os.getpid()))
                return
    except (OSError, ValueError):
        pass
