import os

import docker
import pytest

from . import leaks
from .containers import ensure_busybox
from .daemon import Daemon, discard, free_port, new_root

if os.geteuid() != 0:
    raise pytest.UsageError("integration tests start a real daemon and must run as root")


@pytest.fixture(scope="session")
def daemon():
    """The session's daemon. At its teardown, after every test, it must hold nothing of
    removed containers (leaks.py): a leak fails the session as an error at teardown."""
    d = Daemon(new_root(), free_port())
    try:
        d.start()
        at_start = leaks.service_fds(d)
        try:
            leaks.warm_up(d)
            failed = None
        except Exception as exc:  # noqa: BLE001 - said at teardown: the tests still run and say what is broken
            failed = exc
        warm = leaks.service_fds(d)
        yield d
        if failed is not None:
            raise AssertionError(f"the warm-up failed, so the leak check has no baseline: {failed!r}") from failed
        leaks.check_session(d, at_start, warm)
    finally:
        discard(d)


@pytest.fixture
def fresh_daemon():
    """A daemon of the test's own, for tests that stop or break it. Its discard checks
    that no shim of it lives on and nothing of its root stays mounted."""
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
