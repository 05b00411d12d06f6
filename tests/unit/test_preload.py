"""services.preload: which commands supervisord runs in its forked child rather than
exec'ing, and that such a child becomes the service as `python -m` would make it (its
argv, environment, signal dispositions, exit handlers and exit status)."""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import textwrap

import pytest

from services import preload

# A stand-in for a service's __main__: it records what the process looks like to it.
FAKE_MAIN = textwrap.dedent('''
    import atexit, json, os, signal, sys

    def main():
        out = os.environ["FAKE_OUT"]
        atexit.register(lambda: open(out + ".atexit", "w").close())
        facts = {
            "argv": sys.argv,
            "env": {k: os.environ.get(k) for k in ("FAKE_ONLY_HERE", "FAKE_DROPPED")},
            "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
            "sigchld_default": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
            "sigint_python": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        }
        with open(out, "w") as fh:
            json.dump(facts, fh)
        how = os.environ.get("FAKE_END", "return")
        if how == "exit":
            sys.exit(3)
        if how == "raise":
            raise RuntimeError("the fake service failed")
''')


@pytest.fixture
def fake_service(tmp_path):
    package = tmp_path / "fakesvc"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(FAKE_MAIN)
    return tmp_path


def _run_forked(root, out, end: str) -> tuple[int, str]:
    """Fork, and in the child become the fake service as supervisord's child would: its
    exit status and what it wrote to stderr."""
    err = out.with_suffix(".stderr")
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(err, os.O_WRONLY | os.O_CREAT)
            os.dup2(fd, 2)
            sys.path.insert(0, str(root))
            # What supervisord had: handlers of its own, an exit handler, a variable the
            # program's environment does not have.
            signal.signal(signal.SIGTERM, lambda *_: None)
            signal.signal(signal.SIGCHLD, lambda *_: None)
            atexit.register(lambda: open(str(out) + ".parent-atexit", "w").close())
            env = {k: v for k, v in os.environ.items()}
            env.update(FAKE_OUT=str(out), FAKE_ONLY_HERE="yes", FAKE_END=end)
            os.environ["FAKE_DROPPED"] = "supervisord's"
            preload.run("fakesvc", ["--config", "/x/daemon.json"], env)
        finally:
            os._exit(99)   # never reached: run() does not return
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err.read_text()


def test_a_service_command_is_run_in_the_fork():
    assert preload.module_of(sys.executable, [sys.executable, "-m", "services.api", "--config", "x"]) == "services.api"
    assert preload.module_of(sys.executable, [sys.executable, "-m", "services.registry"]) == "services.registry"


@pytest.mark.parametrize("filename, argv", [
    ("/bin/sh", ["/bin/sh", "-m", "services.api"]),                     # another program
    (sys.executable, [sys.executable, "-m", "services.shim"]),          # not a service
    (sys.executable, [sys.executable, "-m", "services.api.app"]),
    (sys.executable, [sys.executable, "services/api/__main__.py"]),     # not -m
    (sys.executable, [sys.executable]),
])
def test_any_other_command_is_exec_d(filename, argv):
    assert preload.module_of(filename, argv) is None


def test_the_child_becomes_the_service_as_python_m_would(fake_service, tmp_path):
    out = tmp_path / "facts.json"
    code, err = _run_forked(fake_service, out, "return")
    assert code == 0, err
    facts = json.loads(out.read_text())
    assert facts["argv"] == [str(fake_service / "fakesvc" / "__main__.py"), "--config", "/x/daemon.json"]
    assert facts["env"] == {"FAKE_ONLY_HERE": "yes", "FAKE_DROPPED": None}
    assert facts["sigterm_default"] and facts["sigchld_default"] and facts["sigint_python"]
    assert os.path.exists(str(out) + ".atexit")                  # its own exit handlers run
    assert not os.path.exists(str(out) + ".parent-atexit")       # its parent's do not


def test_the_child_leaves_with_the_status_the_service_gave(fake_service, tmp_path):
    code, err = _run_forked(fake_service, tmp_path / "exit.json", "exit")
    assert code == 3, err
    code, err = _run_forked(fake_service, tmp_path / "raise.json", "raise")
    assert code == 1 and "the fake service failed" in err
    code, err = _run_forked(tmp_path / "nowhere", tmp_path / "missing.json", "return")
    assert code == 1 and "fakesvc" in err   # a service that cannot be loaded fails in its own process


def test_what_supervisord_loads_includes_every_service_and_the_shim():
    for name in ("api", "supervisor", "builder", "registry"):
        assert f"services.{name}.__main__" in preload.MODULES
    assert preload.MODULES[:2] == ("services.shim.zygote", "services.shim.shim")
