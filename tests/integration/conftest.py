import os

import pytest

from .daemon import Daemon, free_port, new_root, remove_root

if os.geteuid() != 0:
    raise pytest.UsageError("integration tests start a real daemon and must run as root")


@pytest.fixture(scope="session")
def daemon():
    d = Daemon(new_root(), free_port()).start()
    yield d
    d.stop()
    remove_root(d.root)


@pytest.fixture
def fresh_daemon():
    """A daemon of the test's own, for tests that stop or break it."""
    d = Daemon(new_root(), free_port())
    yield d
    try:
        d.stop()
    finally:
        remove_root(d.root)
