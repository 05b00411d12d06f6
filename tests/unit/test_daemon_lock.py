"""The services' lock: free once every holder is gone, however it went; a child that lets
go of its inherited copy does not hold it."""

from __future__ import annotations

import os
import signal
import time

from services.common import daemon_lock


def holder(exec_root: str, let_go_in_child: bool = False) -> tuple[int, int]:
    """A forked process holding the lock (or one forked from a holder that let go of it):
    its pid, and a pipe that tells when it holds (or let go)."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            daemon_lock.hold(exec_root)
            if let_go_in_child:
                daemon_lock.let_go()
            os.write(ready_w, b"x")
            signal.pause()
        finally:
            os._exit(0)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"x"
    os.close(ready_r)
    return pid


def reap(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_free_when_nobody_holds_it(tmp_path):
    assert daemon_lock.wait_free(str(tmp_path), 0) == []


def test_a_holder_keeps_it_until_it_is_killed(tmp_path):
    pid = holder(str(tmp_path))
    try:
        started = time.monotonic()
        assert daemon_lock.wait_free(str(tmp_path), 0.3) == [pid]
        assert time.monotonic() - started >= 0.3
    finally:
        reap(pid)
    assert daemon_lock.wait_free(str(tmp_path), 0) == []


def test_holders_share_it(tmp_path):
    pids = [holder(str(tmp_path)) for _ in range(2)]
    try:
        assert sorted(daemon_lock.wait_free(str(tmp_path), 0)) == sorted(pids)
        reap(pids.pop())
        assert daemon_lock.wait_free(str(tmp_path), 0) == pids
    finally:
        for pid in pids:
            reap(pid)


def test_a_process_that_let_go_holds_nothing(tmp_path):
    pid = holder(str(tmp_path), let_go_in_child=True)
    try:
        assert daemon_lock.wait_free(str(tmp_path), 0) == []
    finally:
        reap(pid)


def test_a_fork_of_a_holder_that_lets_go_leaves_the_holder_holding(tmp_path):
    """The shim zygote: forked from the supervisor, it lets go of its copy; the supervisor
    still holds the lock, and the zygote does not."""
    ready_r, ready_w = os.pipe()
    parent = os.fork()
    if parent == 0:
        try:
            daemon_lock.hold(str(tmp_path))
            child = os.fork()
            if child == 0:
                daemon_lock.let_go()
                os.write(ready_w, str(os.getpid()).encode().ljust(16))
                signal.pause()
                os._exit(0)
            signal.pause()
        finally:
            os._exit(0)
    os.close(ready_w)
    zygote = int(os.read(ready_r, 16))
    os.close(ready_r)
    try:
        assert daemon_lock.wait_free(str(tmp_path), 0) == [parent]
        reap(parent)
        assert daemon_lock.wait_free(str(tmp_path), 1) == []   # the zygote-like child lives on
        os.kill(zygote, 0)
    finally:
        try:
            os.kill(zygote, signal.SIGKILL)
        except ProcessLookupError:
            pass
