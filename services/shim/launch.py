"""The shim's first moments: start the container with as little loaded as possible.

`python -m services.shim --config DAEMON_JSON --id ID` runs this. The first process
forks the shim proper into a new session and exits; the shim makes the container's
stdio and cgroup, starts its process with the built-in runtime, writes its start report
to its inherited stdout (one JSON line: wire.STARTED, or wire.START_FAILED). Only then
does it load the event loop and the wire's transport (services.shim.shim), so a
container's start does not wait for them. The same channel later carries a second
line, the exit record (wire.EXIT), and closes: whoever started the container learns of
its exit without connecting to the shim (`shim.wait` is for those who did not start it).
The schema (services.common.wire.schema) declares both lines and the annotations read here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys

import setproctitle

from services.common import container_files
from services.common.config import Settings
from services.common.wire import schema
from services.kernel.syscalls import SYS

from . import runtime
from .container import Container

log = logging.getLogger("shim")


class _ShimFormatter(logging.Formatter):
    """A shim's log line: its pid and its container's short id."""

    container = ""

    def format(self, record: logging.LogRecord) -> str:
        record.container = self.container
        return super().format(record)


_formatter: _ShimFormatter | None = None


def prepare_logging() -> None:
    """Log to stderr (which `become` points at the container's shim.log) at INFO. The
    zygote does it once for every shim it forks: a shim that set up logging itself would
    copy half a megabyte of the zygote's pages."""
    global _formatter
    _formatter = _ShimFormatter("%(asctime)s dockyard-shim[%(process)d] %(container)s %(levelname)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter)
    logging.basicConfig(handlers=[handler], level=logging.INFO, force=True)


def name_log_lines(container_id: str) -> None:
    """This shim's log lines name its container (logging set up, if the zygote did not)."""
    if _formatter is None:
        prepare_logging()
    _formatter.container = container_id[:12]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.shim")
    parser.add_argument("--config", required=True)
    parser.add_argument("--id", required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_runtime_file(args.config)
    run(settings, args.id, os.fdopen(os.dup(1), "wb"))


def run(settings: Settings, container_id: str, report) -> None:
    """Fork the shim of `container_id` into a session of its own and leave (the caller,
    the supervisor, reaps this process at once; the shim lives on)."""
    if os.fork() != 0:
        report.close()
        os._exit(0)
    become(settings, container_id, report)


def become(settings: Settings, container_id: str, report) -> None:
    """Become the shim of `container_id`, in a session of its own; report its start to
    `report` (a binary file: the start channel). Never returns."""
    os.setsid()
    setproctitle.setproctitle(f"dockyard-shim {container_id}")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    files = container_files.paths(settings.data_root, container_id)
    diag = os.open(files["shim_log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(diag, 1)
    os.dup2(diag, 2)
    os.close(devnull)
    os.close(diag)
    name_log_lines(container_id)
    SYS.set_child_subreaper()
    with open(files["config"]) as fh:
        config = json.load(fh)
    shim = Container(settings, container_id, config)
    try:
        shim.start()
    except runtime.StartError as exc:
        report.write(schema.encode_report({"error": str(exc), "exit_code": exc.exit_code}))
        report.close()
        shim.clean_up()
        os._exit(0)
    except Exception as exc:
        log.exception("start failed")
        report.write(schema.encode_report({"error": f"starting the container failed: {exc}", "exit_code": 128}))
        report.close()
        shim.clean_up()
        os._exit(0)
    report.write(schema.encode_report({"pid": shim.pid, "started_at": shim.started_at, "shim_pid": os.getpid()}))
    report.flush()
    from .shim import Shim  # the event loop and the wire, now that the container runs
    Shim(shim, report).serve()
    os._exit(0)
