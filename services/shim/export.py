"""Write a container's whole filesystem as a tar to stdout, from a private read-only overlay.

    python -m services.shim.export --upper DIR --lower DIR[:DIR...]

The overlay is mounted in a mount namespace of this process only, so it disappears
with it, whatever happens.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from services.common import safetar

from . import syscalls


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--upper", required=True)
    p.add_argument("--lower", required=True, help="layer dirs, top first, joined by ':'")
    args = p.parse_args()
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    target = tempfile.mkdtemp(prefix="dockyard-export-")
    try:
        # Without an upperdir the overlay is read-only: the upper dir is only another layer.
        syscalls.mount("overlay", target, "overlay", syscalls.MS_RDONLY,
                       f"lowerdir={args.upper}:{args.lower}")
        safetar.write_tree(target, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    finally:
        try:
            syscalls.umount2(target, syscalls.MNT_DETACH)
        except OSError:
            pass
        os.rmdir(target)


if __name__ == "__main__":
    main()
