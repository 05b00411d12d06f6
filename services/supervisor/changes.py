"""What a container changed in its filesystem, read from its overlay upper dir."""

from __future__ import annotations

import os
import stat

from services.common import safetar

MODIFIED, ADDED, DELETED = 0, 1, 2


def _in_lowers(lowers_top_first: list[str], parts: list[str]) -> bool:
    """Whether the merged image (its layers) has the path: whiteouts and opaque dirs hide."""
    for layer in lowers_top_first:
        root_fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            try:
                parent = safetar.open_dir(root_fd, parts[:-1], False, "/".join(parts))
            except safetar.LayerError:
                continue
            try:
                try:
                    st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    try:
                        opaque = os.getxattr(parent, safetar.OVERLAY_OPAQUE_XATTR) == b"y"
                    except OSError:
                        opaque = False
                    if opaque:
                        return False
                    continue
                return not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
            finally:
                os.close(parent)
        finally:
            os.close(root_fd)
    return False


def changes(upper: str, lowers_top_first: list[str]) -> list[dict]:
    out = []
    for rel, st in safetar.iter_tree(upper):
        parts = rel.split("/")
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            kind = DELETED
        elif _in_lowers(lowers_top_first, parts):
            kind = MODIFIED
        else:
            kind = ADDED
        out.append({"path": "/" + rel, "kind": kind})
    return out
