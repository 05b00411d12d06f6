"""Services forked from supervisord rather than exec'd: the pages of what they run are
loaded once, and the pages they copy alike are merged (services.kernel.page_merging).

Each service is a Python process of its own, and most of what one holds is the modules
it loaded. dockyardd's supervisord (services.supervision) loads what the services, the
shim zygote and the shims run (MODULES) before it starts its programs, and when it
spawns a program whose command is `<this python> -m services.<service> ...` its forked
child runs that service instead of exec'ing a new interpreter. Pages a child does not
write stay shared with supervisord and with its siblings (the supervisor forks the shim
zygote the same way, and the zygote its shims: services.shim.zygote).

Nothing else about supervision changes: supervisord forks each service, knows its pid,
restarts it when it exits or is killed (a restart is a new fork of the same parent),
stops it with its stopsignal, and its command in supervisord.conf is still what would
start it from scratch (a plain supervisord runs the same file). One difference: a
restarted service runs the code supervisord loaded, so new code on disk takes a restart
of dockyardd, not of one service.

The child is made to look like a freshly exec'd `python -m`: the program's environment
and argv, the default signal dispositions, unbuffered standard streams, no exit handlers
of its parent's, then the module's main(); when it returns, threads and exit handlers
are finished as the interpreter's own exit would, and the process leaves with the exit
status the module gave. The objects inherited from supervisord are frozen out of the
collector (gc.freeze) in both, so that neither one's collections copy the pages they
share.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import io
import os
import signal
import sys
import threading
import traceback

import setproctitle

from services.common.sockets import SERVICES
from services.kernel import page_merging

# What the services, the shim zygote and the shims run: loaded once, in supervisord. A
# module only one of them uses costs no more here than in that process (its pages are
# counted once either way), and a child that imports nothing copies far fewer of the
# pages it shares (a builder that imported its own modules after the fork held 8 MiB of
# its own, one that found them loaded 4 MiB). The shim's first, so that what a shim
# touches lies together (it copies every page it writes to).
MODULES = ("services.shim.zygote", "services.shim.shim") + tuple(
    f"services.{name}.__main__" for name in SERVICES)

# The signals supervisord handles itself; a child starts with the defaults back.
PARENT_SIGNALS = (signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR2)


def load() -> None:
    """Load what the services run (in supervisord, before it forks any of them), then take
    it out of the collector's sight. A module that fails to load is left to the service
    that needs it (it fails there, where supervisord reports and retries it)."""
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:
            print(f"dockyardd: not preloading {name}: {exc}", file=sys.stderr, flush=True)
    gc.collect()
    gc.freeze()
    # The services copy what they write of it: copies alike are merged (ksmd), the marks
    # inherited by every fork to come.
    page_merging.mark_mergeable()


def module_of(filename: str, argv: list[str]) -> str | None:
    """The service module a program's command runs, if it is `<this python> -m
    services.<service> ...`; None for any other command (exec'd as usual)."""
    if len(argv) < 3 or argv[1] != "-m" or argv[2] not in {f"services.{s}" for s in SERVICES}:
        return None
    try:
        if not os.path.samefile(filename, sys.executable):
            return None
    except OSError:
        return None
    return argv[2]


def run(module: str, args: list[str], env: dict[str, str]) -> None:
    """Become `python -m module *args` with environment `env`, in supervisord's child
    (its stdio and working directory already the program's); never returns."""
    gc.freeze()   # before anything is collected: what supervisord left is shared, not ours
    code = 1
    try:
        _reset(env)
        main = importlib.import_module(f"{module}.__main__")
        sys.argv = [main.__file__, *args]   # as `-m` sets it
        code = _main(main)
    except BaseException:   # the child must never go back into supervisord's loop
        traceback.print_exc()
    finally:
        os._exit(code)


def _reset(env: dict[str, str]) -> None:
    # setproctitle finds the memory of the process's title once, from the environment it
    # started with: before that environment changes, or the service could not be named.
    setproctitle.getproctitle()
    atexit._clear()   # supervisord's and its modules': not this process's to run
    for sig in PARENT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # as a new interpreter has it
    # Only what differs is changed (the program's few variables): rewriting the whole
    # environment would copy a megabyte of supervisord's pages.
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    # PYTHONUNBUFFERED, which an exec'd service gets from its environment.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True,
                                  errors="backslashreplace")
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))


def _main(main) -> int:
    """Run a package's __main__ module as `-m` would and finish as the interpreter does:
    its exit status. The module is loaded already (MODULES): its main() is what running the
    file as __main__ calls, so that is called (running it again would only define it anew)."""
    try:
        main.main()
        code = 0
    except SystemExit as exc:
        code = _status(exc.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    threading._shutdown()   # non-daemon threads joined, as at the interpreter's exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return code


def _status(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
