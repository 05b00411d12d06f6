"""The helper of one copy (docker cp): stat a path of a container, archive it, or extract an
archive into it, from inside the container's root. The supervisor spawns it per request.

    python -m services.shim.archive {stat,get,put} --path PATH --name REF
        (--pid PID --pid-start TICKS | --rootfs DIR --upper DIR --work DIR --lower DIRS
         [--binds JSON] [--readonly-rootfs])
        put: [--volumes JSON] [--no-overwrite-dir-non-dir] [--copy-uid-gid USER]

stat writes the stat as one JSON line; get writes it, then the tar; put writes "ready"
once its destination is checked, then reads the tar on stdin. A refusal is one JSON line {kind, message} on stderr and exit status 1; exit status
75 says the container's process went away before the helper could join it (the supervisor
then takes the container as stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from services.common import errors
from services.kernel.syscalls import SYS

from . import ops, view

GONE = 75
READY = b"ready\n"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m services.shim.archive")
    p.add_argument("op", choices=("stat", "get", "put"))
    p.add_argument("--path", required=True)
    p.add_argument("--name", required=True, help="the container as the client named it")
    p.add_argument("--pid", type=int)
    p.add_argument("--pid-start", type=int, default=0)
    p.add_argument("--rootfs")
    p.add_argument("--upper")
    p.add_argument("--work")
    p.add_argument("--lower", help="layer dirs, top first, joined by ':'")
    p.add_argument("--binds", default="[]", help="the container's bind mounts (OCI mounts, JSON)")
    p.add_argument("--readonly-rootfs", action="store_true")
    p.add_argument("--volumes", default="[]", help="[destination, writable] of each mount (JSON)")
    p.add_argument("--no-overwrite-dir-non-dir", action="store_true")
    p.add_argument("--copy-uid-gid", metavar="USER")
    args = p.parse_args(argv)
    if args.pid is None and not (args.rootfs and args.upper and args.work and args.lower):
        p.error("give --pid, or --rootfs, --upper, --work and --lower")
    return args


def _enter(args: argparse.Namespace) -> None:
    if args.pid is not None:
        view.enter_running(args.pid, args.pid_start)
    else:
        view.enter_stopped(args.rootfs, {"upper": args.upper, "work": args.work, "lower": args.lower},
                           json.loads(args.binds), args.readonly_rootfs)
    view.seal()


def _run(args: argparse.Namespace) -> None:
    out = sys.stdout.buffer
    if args.op == "put":
        volumes = [(dest, bool(rw)) for dest, rw in json.loads(args.volumes)]
        _enter(args)
        dest = ops.extraction_dir(args.path, volumes, args.readonly_rootfs)
        owner = ops.owner_for_copy(args.copy_uid_gid) if args.copy_uid_gid is not None else None
        out.write(READY)   # only now is the tar sent: a refusal above leaves it unread
        out.flush()
        # The tar's modes, not a umask's: a device node or fifo gets its mode from mknod alone
        # (untar makes one by name; the chmod that could fix it needs the /proc this view lacks).
        os.umask(0)
        ops.extract_archive(sys.stdin.buffer, dest, args.no_overwrite_dir_non_dir, owner)
        return
    _enter(args)
    abs_path, st, record = ops.stat_path(args.path)
    out.write(ops.stat_line(record))
    if args.op == "get":
        ops.write_archive(abs_path, st, out)
    out.flush()


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    # A copy whose supervisor is gone has nobody to answer: it ends with it (a stopped
    # container's overlay must not stay mounted in a helper nobody waits for).
    SYS.set_parent_death_signal(signal.SIGKILL)
    try:
        _run(args)
        return 0
    except view.Gone:
        return GONE
    except ops.Missing:
        error: errors.DockyardError = errors.NotFound(
            f"Could not find the file {args.path} in container {args.name}")
    except errors.DockyardError as exc:
        error = exc
    except BrokenPipeError:
        return 1   # the reader went away (a client that gave up): nobody to tell
    except Exception as exc:  # noqa: BLE001 - said to the supervisor, typed, whatever it was
        error = errors.ServerError(f"{type(exc).__name__}: {exc}")
    sys.stderr.write(json.dumps(error.to_wire()) + "\n")
    sys.stderr.flush()
    return 1


if __name__ == "__main__":
    sys.exit(main())
