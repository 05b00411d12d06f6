"""deploy/install.sh, the README's first command, as a user runs it from a checkout."""

from __future__ import annotations

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_installed_daemon_knows_its_commit(tmp_path):
    # Run from the checkout, as the README says: the build info must land in the installed
    # package, not in the checkout's own services/ that python finds first from there.
    env = dict(os.environ, DOCKYARD_PREFIX=str(tmp_path / "prefix"), DOCKYARD_BIN=str(tmp_path / "bin"))
    out = subprocess.run(["bash", "deploy/install.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    want = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h"], capture_output=True, text=True,
                          check=True).stdout.strip()
    got = subprocess.run([str(tmp_path / "prefix" / "bin" / "python"), "-I", "-c",
                          "from services.common import release; print(release.git_commit())"],
                         cwd="/", capture_output=True, text=True, check=True).stdout.strip()
    assert got == want
    assert os.readlink(tmp_path / "bin" / "dockyardd") == str(tmp_path / "prefix" / "bin" / "dockyardd")
    assert not os.path.exists(os.path.join(ROOT, "services", "_build_info.py"))
