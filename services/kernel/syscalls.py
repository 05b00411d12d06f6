"""Every raw system call and ioctl the project makes, behind one object a test can swap.

`SYS` is the one instance the code uses; `services.kernel.fake.RecordingSyscalls` is
the test double that records each call instead of making it. A step that the kernel
must do for it calls a method of the `Syscalls` it was given (or of `SYS`), never
ctypes or an ioctl itself. Plain file work (open, mkdir, chmod of one's own files)
stays with Python's os module, outside this object.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import socket
import struct
import termios


def _load_libc() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc: ask (slowly) where the C library is
        from ctypes import util
        return ctypes.CDLL(util.find_library("c"), use_errno=True)


_libc = _load_libc()
_libc.syscall.restype = ctypes.c_long
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# An OCI linux.namespaces type -> its clone flag.
NAMESPACE_FLAGS = {
    "mount": CLONE_NEWNS, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC,
    "pid": CLONE_NEWPID, "network": CLONE_NEWNET, "cgroup": CLONE_NEWCGROUP,
}

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_STRICTATIME = 1 << 24
MS_SYNCHRONOUS, MS_MANDLOCK, MS_DIRSYNC = 0x10, 0x40, 0x80
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 1 << 21
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
MADV_MERGEABLE = 12

# Numbers of the calls libc has no wrapper for (or not in every libc).
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SYS_BPF = {"x86_64": 321, "aarch64": 280}
SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}
SYS_OPEN_TREE = {"x86_64": 428, "aarch64": 428}
SYS_MOVE_MOUNT = {"x86_64": 429, "aarch64": 429}
OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH, MOVE_MOUNT_T_SYMLINKS = 0x1, 0x4, 0x10
UMOUNT_NOFOLLOW = 0x8
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _machine_number(table: dict[str, int]) -> int:
    return table.get(os.uname().machine, table["x86_64"])


class Syscalls:
    """The kernel as the project calls it. Each method makes one call (or a short fixed
    run of them) and raises OSError, naming what failed, when the kernel refuses."""

    # Namespaces and mounts.

    def unshare(self, flags: int) -> None:
        _check(_libc.unshare(ctypes.c_int(flags)), "unshare")

    def setns(self, fd: int, nstype: int = 0) -> None:
        _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        _check(_libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            ctypes.c_ulong(flags),
            data.encode() if data is not None else None,
        ), f"mount {fstype or ''} {source or ''} on {target}")

    def umount2(self, target: str, flags: int = 0) -> None:
        _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")

    def mount_setattr(self, path: str, attr_set: int, recursive: bool = True) -> None:
        """Set the MOUNT_ATTR_* `attr_set` on the mount at `path` (and, `recursive`, on
        every mount below it), in one call that changes all of them or none."""
        attr = struct.pack("QQQQ", attr_set, 0, 0, 0)   # struct mount_attr (MOUNT_ATTR_SIZE_VER0)
        _check(_libc.syscall(ctypes.c_long(_machine_number(SYS_MOUNT_SETATTR)), ctypes.c_int(-100),
                             path.encode(), ctypes.c_uint(AT_RECURSIVE if recursive else 0),
                             ctypes.c_char_p(attr), ctypes.c_size_t(len(attr))), f"mount_setattr {path}")

    def open_tree(self, path: str, recursive: bool = True) -> int:
        """An fd of a detached copy of the mount tree at `path` (in this mount namespace), to
        attach elsewhere with move_mount; closing it unmounts the copy if it was not attached."""
        flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
        return _check(_libc.syscall(ctypes.c_long(_machine_number(SYS_OPEN_TREE)), ctypes.c_int(-100),
                                    path.encode(), ctypes.c_uint(flags)), f"open_tree {path}")

    def move_mount(self, tree_fd: int, target: str) -> None:
        """Attach the detached mount tree `tree_fd` (open_tree's) at `target` (a symlink in it,
        such as /proc/self/fd/N, followed)."""
        _check(_libc.syscall(ctypes.c_long(_machine_number(SYS_MOVE_MOUNT)), ctypes.c_int(tree_fd), b"",
                             ctypes.c_int(-100), target.encode(),
                             ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS)),
               f"move_mount onto {target}")

    def setrlimit(self, kind: int, soft: int, hard: int) -> None:
        """This process's `kind` (resource.RLIMIT_*) limits; raising the hard one takes CAP_SYS_RESOURCE."""
        resource.setrlimit(kind, (soft, hard))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        _check(_libc.syscall(ctypes.c_long(_machine_number(SYS_PIVOT_ROOT)), new_root.encode(),
                             put_old.encode()), "pivot_root")

    def sethostname(self, name: str) -> None:
        socket.sethostname(name)

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        _check(_libc.setdomainname(raw, ctypes.c_size_t(len(raw))), "setdomainname")

    # Files that only a privileged process may make, and lookups inside a new root.

    def make_node(self, name: str, mode: int, device: int, *, dir_fd: int) -> None:
        """mknod `name` (a device: `mode` holds its type) with exactly `mode`'s permission
        bits, not the umask's; FileExistsError if something is there."""
        os.mknod(name, mode, device, dir_fd=dir_fd)
        os.chmod(name, mode & 0o7777, dir_fd=dir_fd)

    def chown(self, name: str, uid: int, gid: int, *, dir_fd: int) -> None:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)

    def lstat(self, path: str) -> os.stat_result:
        """lstat, for a step that looks at its own root after pivot_root (the fake answers
        it from the root it pretends to have pivoted into)."""
        return os.lstat(path)

    # The process: its memory, prctl and its uses.

    def madvise(self, address: int, length: int, advice: int) -> None:
        _check(_libc.madvise(address, length, advice), "madvise")

    def prctl(self, option: int, arg: int = 0) -> None:
        _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                           ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")

    def set_child_subreaper(self) -> None:
        self.prctl(PR_SET_CHILD_SUBREAPER, 1)

    def set_parent_death_signal(self, sig: int) -> None:
        self.prctl(PR_SET_PDEATHSIG, sig)

    def set_no_new_privs(self) -> None:
        self.prctl(PR_SET_NO_NEW_PRIVS, 1)

    def set_oom_score_adj(self, score: int) -> None:
        """How readily the OOM killer picks this process (-1000..1000), and the children it
        forks after; lowering it takes CAP_SYS_RESOURCE."""
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write(str(score))

    def capget(self) -> tuple[int, int, int]:
        """This thread's (effective, permitted, inheritable) capability sets, as bit masks."""
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        _check(_libc.capget(ctypes.byref(header), data), "capget")
        effective, permitted, inheritable = ((getattr(data[1], f) << 32) | getattr(data[0], f)
                                             for f in ("effective", "permitted", "inheritable"))
        return effective, permitted, inheritable

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for half, shift in ((data[0], 0), (data[1], 32)):
            half.effective = (effective >> shift) & 0xFFFFFFFF
            half.permitted = (permitted >> shift) & 0xFFFFFFFF
            half.inheritable = (inheritable >> shift) & 0xFFFFFFFF
        _check(_libc.capset(ctypes.byref(header), data), "capset")

    def install_seccomp(self, program: bytes) -> None:
        """Load a seccomp BPF program (struct sock_filter array) for this thread and its
        children. Without no_new_privs the caller needs CAP_SYS_ADMIN, so it goes before
        dropping to a user."""
        buf = ctypes.create_string_buffer(program, len(program))
        prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
        _check(_libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                           ctypes.cast(ctypes.byref(prog), ctypes.c_void_p), ctypes.c_ulong(0),
                           ctypes.c_ulong(0)), "seccomp")

    def bpf(self, cmd: int, attr: bytes, what: str = "bpf") -> int:
        """The bpf(2) command `cmd` with the union bpf_attr `attr`; its result (an fd for a load)."""
        buf = ctypes.create_string_buffer(attr, len(attr))
        return _check(_libc.syscall(ctypes.c_long(_machine_number(SYS_BPF)), ctypes.c_long(cmd), buf,
                                    ctypes.c_long(len(attr))), what)

    # ioctls: terminals and the loopback link.

    def unlock_pty(self, master: int) -> int:
        """Unlock the pty of `master` (an open /dev/ptmx); the number of its /dev/pts node."""
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        return struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]

    def set_controlling_terminal(self, fd: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)

    def set_window_size(self, fd: int, rows: int, columns: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def link_up(self, name: str) -> None:
        """Bring the network link `name` of this network namespace up (lo, in a new one)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifr = struct.pack("16sH14s", name.encode(), 0, b"")
            flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, ifr)[:18])[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", name.encode(), flags | IFF_UP, b""))


SYS = Syscalls()
