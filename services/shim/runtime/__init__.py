"""The built-in runtime: start the process of an OCI bundle in new namespaces on an overlay rootfs.

`start()` runs in the shim. It forks an intermediate that joins the cgroup and unshares
the namespaces, then forks the container's init (pid 1 of the new pid namespace) and
exits; the shim, a child subreaper, inherits the init. The init makes its mounts in
its own mount namespace (so nothing leaks onto the host and nothing needs unmounting),
pivots into the rootfs, takes its hostname, user and working directory, and execs.
Anything that fails before the exec is written to a close-on-exec pipe the shim reads.

    base      StartError, Stdio, the error report
    spawn     start(): the intermediate (cgroup, namespaces) and the init's fork
    init      the init, from its fork to its exec
    rootfs    the mount sequence, up to pivot_root and the masked paths
    user      Docker's User and the working directory, read in the container's files
    terminal  the pty made in the container's devpts

Every kernel call goes through services.kernel (a `Syscalls` each step is given).
"""

from .base import StartError, Stdio
from .spawn import start

__all__ = ["StartError", "Stdio", "start"]
