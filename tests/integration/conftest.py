import os

import pytest

from .daemon import Daemon, discard, free_port, new_root

if os.geteuid() != 0:
    raise pytest.UsageError("integration tests start a real daemon and must run as root")


@pytest.fixture(scope="session")
def daemon():
    d = Daemon(new_root(), free_port()).start()
    yield d
    discard(d)


@pytest.fixture
def fresh_daemon():
    """A daemon of the test's own, for tests that stop or break it."""
    d = Daemon(new_root(), free_port())
    yield d
    discard(d)
