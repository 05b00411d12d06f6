"""Debian's docker-registry, started on a loopback port for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

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
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (401 where it wants auth): it is up
            except OSError:
                assert time.monotonic() < deadline, "the registry did not start"
                time.sleep(0.1)
        yield host
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
