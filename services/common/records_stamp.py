"""The container records' stamp: a counter in a file of the exec root that the supervisor
moves at every change of a container record, and the api reads without a call.

The api keeps the container lists it answered (services.api.container_list) with the
stamp it read before asking; while the stamp reads the same, no record changed, and a
list asked again is answered from what it kept. The supervisor moves the counter when it
changes a record in memory, before it answers anyone or emits an event, so a client that
saw a change (a create answered, a wait returned) never gets a list from before it.

Only the supervisor writes the file, through a shared mapping of its 8 bytes; readers map
it read-only. A supervisor starts the counter at a random value, so that no count of an
earlier one (whose lists a reader may keep) can come back. A read torn by a concurrent
write is harmless: it either equals the old value, as a read made before the write would,
or differs, and the reader asks the supervisor.
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct

FILE = "records.stamp"
_COUNTER = struct.Struct("=Q")
_WRAP = 1 << 64


def path(exec_root: str) -> str:
    return os.path.join(exec_root, FILE)


def _mapping(file: str, writable: bool) -> mmap.mmap:
    fd = os.open(file, (os.O_RDWR | os.O_CREAT) if writable else os.O_RDONLY, 0o600)
    try:
        if writable and os.fstat(fd).st_size < _COUNTER.size:
            os.ftruncate(fd, _COUNTER.size)
        return mmap.mmap(fd, _COUNTER.size, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
    finally:
        os.close(fd)


class Writer:
    """The supervisor's end: `moved` after every change of a record."""

    def __init__(self, exec_root: str):
        # The same file (never unlinked) across restarts: a reader's mapping stays valid.
        self._map = _mapping(path(exec_root), writable=True)
        self._value = secrets.randbits(64)
        _COUNTER.pack_into(self._map, 0, self._value)

    def moved(self) -> None:
        self._value = (self._value + 1) % _WRAP
        _COUNTER.pack_into(self._map, 0, self._value)


class Reader:
    """The api's end: `read` is the stamp now, or None when there is none to trust (no
    supervisor made the file yet)."""

    def __init__(self, exec_root: str):
        self._path = path(exec_root)
        self._map: mmap.mmap | None = None
        self._inode = -1

    def read(self) -> int | None:
        try:
            inode = os.stat(self._path).st_ino
        except OSError:
            return None
        if inode != self._inode:   # made (or made again, by hand) since the last read
            if self._map is not None:
                self._map.close()
                self._map = None
            try:
                self._map = _mapping(self._path, writable=False)
            except (OSError, ValueError):   # (ValueError: shorter than a counter, not yet sized)
                return None
            self._inode = inode
        return _COUNTER.unpack_from(self._map, 0)[0]
