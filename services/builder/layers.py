"""Layers the builder writes itself beyond COPY and ADD: WORKDIR's directory."""

from __future__ import annotations

import stat
import tarfile
import time

from services.common import errors

from .trees import LayeredTree


def workdir_layer(image: LayeredTree, path: str, out_path: str) -> str | None:
    """A layer (written to `out_path`) that makes WORKDIR's directory where the image lacks
    it, as Docker's builder does (root-owned, 0755); None when it is there already. The
    directories above it that exist go in with their own metadata, so overlayfs shows
    them unchanged."""
    resolved = image.resolve(path)
    parts = [p for p in resolved.split("/") if p]
    entries = []
    missing = False
    now = int(time.time())
    for i in range(len(parts)):
        rel = "/".join(parts[: i + 1])
        st = None if missing else image.lstat(rel)
        info = tarfile.TarInfo(rel)
        info.type = tarfile.DIRTYPE
        if st is None:
            missing = True
            info.mode, info.uid, info.gid, info.mtime = 0o755, 0, 0, now
        elif not stat.S_ISDIR(st.st_mode):
            raise errors.BadParameter(f"WORKDIR {path}: /{rel} is not a directory")
        else:
            info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
        entries.append(info)
    if not missing:
        return None
    with open(out_path, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info in entries:
            tf.addfile(info)
    return out_path
