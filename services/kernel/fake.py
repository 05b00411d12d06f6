"""A recording stand-in for the syscall layer, for unit tests: it records calls instead of making them.

`RecordingSyscalls` has every method of `Syscalls` (made from its signatures, so a
method added there is recorded here without being made for real). Each call appends a
`Call(name, args)` to `.calls`, its arguments bound to the real signature (defaults
filled in). `fail(name, error, when)` makes the next matching call raise instead.

It pretends just enough for a step's later file work to go on with real files in a
temporary directory: `make_node` leaves an empty regular file where the node would be,
which `lstat` reports as the device it stands for; `pivot_root` remembers the new root,
and `lstat` of an absolute path looks there afterwards; a mount target of the form
/proc/self/fd/N (a bind's source too) is recorded as the path that fd names.
"""

from __future__ import annotations

import inspect
import os
import stat
from typing import Any, Callable, NamedTuple

from .syscalls import Syscalls


class Call(NamedTuple):
    name: str
    args: tuple


class RecordingSyscalls(Syscalls):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.root = "/"   # what "/" is after a pretended pivot_root
        self.results: dict[str, Any] = {"capget": (0, 0, 0), "bpf": 0, "unlock_pty": 0}
        self._failures: list[tuple[str, BaseException, Callable[..., bool] | None]] = []
        self._nodes: dict[tuple[int, int], tuple[int, int]] = {}  # placeholder -> (mode, rdev)

    def fail(self, name: str, error: BaseException | None = None,
             when: Callable[..., bool] | None = None) -> None:
        """Make the next call of `name` (whose arguments satisfy `when`, if given) raise
        `error` (OSError EPERM by default) instead of being recorded as made."""
        self._failures.append((name, error or PermissionError(1, f"{name}: Operation not permitted"), when))

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def _record(self, name: str, args: tuple) -> Any:
        for n, (fname, error, when) in enumerate(self._failures):
            if fname == name and (when is None or when(*args)):
                del self._failures[n]
                raise error
        self.calls.append(Call(name, args))
        return self.results.get(name)

    # What it pretends, beyond recording.

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        if target.startswith("/proc/self/fd/"):
            target = os.readlink(target)
        if source is not None and source.startswith("/proc/self/fd/"):
            source = os.readlink(source)
        self._record("mount", (source, target, fstype, flags, data))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", (os.path.realpath(new_root), put_old))
        self.root = os.path.realpath(new_root)

    def make_node(self, name: str, mode: int, device: int, *, dir_fd: int) -> None:
        self._record("make_node", (name, mode, device))
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600, dir_fd=dir_fd))
        os.chmod(name, mode & 0o7777, dir_fd=dir_fd)
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        self._nodes[(st.st_dev, st.st_ino)] = (mode, device)

    def lstat(self, path: str) -> os.stat_result:
        real = os.path.join(self.root, path.lstrip("/")) if os.path.isabs(path) else path
        st = os.lstat(real)
        node = self._nodes.get((st.st_dev, st.st_ino))
        if node is None or not stat.S_ISREG(st.st_mode):
            return st
        fields = list(st)[:10]
        fields[0] = node[0]
        return os.stat_result(fields, {"st_rdev": node[1]})


def _recorder(name: str, signature: inspect.Signature) -> Callable[..., Any]:
    def method(self: RecordingSyscalls, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return self._record(name, tuple(bound.arguments.values())[1:])
    method.__name__ = name
    method.__doc__ = f"Record {name}{signature} instead of making it."
    return method


for _name, _function in inspect.getmembers(Syscalls, inspect.isfunction):
    if not _name.startswith("_") and _name not in RecordingSyscalls.__dict__:
        setattr(RecordingSyscalls, _name, _recorder(_name, inspect.signature(_function)))
