"""services.kernel.netns on the real kernel: a named network namespace made, entered, removed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from services.kernel import netns


def mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == path for line in fh)


def test_create_enter_remove(tmp_path):
    directory = str(tmp_path / "netns")
    handle = netns.create(directory, "one")
    try:
        assert handle == os.path.join(directory, "one") and mounted(handle)
        assert os.stat(handle).st_ino != os.stat("/proc/self/ns/net").st_ino
        # Entered as `ip netns exec` would: only its own loopback link is there.
        assert netns.run_in(handle, socket.if_nameindex) == [(1, "lo")]
        assert len(socket.if_nameindex()) >= 1 and os.stat("/proc/thread-self/ns/net").st_ino == \
            os.stat("/proc/self/ns/net").st_ino   # the caller's thread never left the host's
        # A process that enters it (setns) sees the same; the namespace outlives it.
        code = f"from services.kernel import netns; import socket; netns.enter({handle!r}); print(socket.if_nameindex())"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == "[(1, 'lo')]", out.stderr
        with pytest.raises(FileExistsError):
            netns.create(directory, "one")
        assert mounted(handle)
    finally:
        netns.remove(handle)
    assert not mounted(handle) and not os.path.exists(handle)
    netns.remove(handle)   # gone already: nothing to do


def test_names_that_are_not_one_file_are_refused(tmp_path):
    for name in ("", ".", "..", "a/b"):
        with pytest.raises(ValueError):
            netns.create(str(tmp_path), name)
