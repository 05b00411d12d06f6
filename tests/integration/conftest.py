import os

import docker
import pytest

from .containers import ensure_busybox
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


@pytest.fixture(scope="module")
def client(daemon):
    """docker-py on the session's daemon, with busybox imported."""
    ensure_busybox(daemon)
    c = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    yield c
    c.close()
