"""Debian's docker-registry, started on a loopback port for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

from ..polling import until
from .daemon import free_port


@contextlib.contextmanager
def running_registry(auth: str = "", root: str | None = None):
    """A registry on 127.0.0.1 (its host:port), storing in `root`; `auth` is YAML for its
    `auth:` section (indented two spaces), none for an open one."""
    root = root or tempfile.mkdtemp(prefix="dy-registry-")
    port = free_port()
    config = os.path.join(root, "config.yml")
    with open(config, "w") as fh:
        fh.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                 f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n"
                 + (f"auth:\n{auth}" if auth else ""))
    proc = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    try:
        until(lambda: _answers(f"http://{host}/v2/"), 20, f"the registry on {host} to start", interval=0.1)
        yield host
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def _answers(url: str) -> bool:
    """Whether something answers HTTP at `url` (an OSError, for until: not yet)."""
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        pass  # it answers (401 where it wants auth): it is up
    return True
