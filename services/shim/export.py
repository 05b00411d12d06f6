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
from services.kernel.syscalls import CLONE_NEWNS, MNT_DETACH, MS_PRIVATE, MS_RDONLY, MS_REC, SYS


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--upper", required=True)
    p.add_argument("--lower", required=True, help="layer dirs, top first, joined by ':'")
    args = p.parse_args()
    SYS.unshare(CLONE_NEWNS)
    SYS.mount(None, "/", None, MS_REC | MS_PRIVATE)
    target = tempfile.mkdtemp(prefix="dockyard-export-")
    try:
        # Without an upperdir the overlay is read-only: the upper dir is only another layer.
        SYS.mount("overlay", target, "overlay", MS_RDONLY,
                  f"lowerdir={args.upper}:{args.lower}")
        safetar.write_tree(target, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    finally:
        try:
            SYS.umount2(target, MNT_DETACH)
        except OSError:
            pass
        os.rmdir(target)


if __name__ == "__main__":
    main()
