"""The built-in runtime: start the process of an OCI bundle in new namespaces on an overlay rootfs.

`start()` runs in the shim. It forks the container's init once, into the pid namespace
the bundle asks for (pid 1 of a new one); the init joins the cgroup and makes the other
namespaces itself (a fork of the shim, a large Python process, costs milliseconds: one,
not two). The init makes its mounts in
its own mount namespace (so nothing leaks onto the host and nothing needs unmounting),
pivots into the rootfs, takes its hostname, user and working directory, and execs.
Anything that fails before the exec is written to a close-on-exec pipe the shim reads.

    base      StartError, Stdio, the error report
    spawn     start(): the init's fork into its pid namespace, its cgroup and namespaces
    init      the init, from its fork to its exec
    rootfs    the mount sequence, up to pivot_root and the masked paths
    user      Docker's User and the working directory, read in the container's files
    terminal  the pty made in the container's devpts

Every kernel call goes through services.kernel (a `Syscalls` each step is given).
"""

from .base import StartError, Stdio
from .spawn import start

__all__ = ["StartError", "Stdio", "start"]
