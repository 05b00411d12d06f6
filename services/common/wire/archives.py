"""The wire's copy methods (docker cp): the supervisor serves them, a helper it spawns per
copy enters the container's root (services.shim.archive). Declared in the one schema's
table (schema.METHODS), as every method; kept apart only for the schema module's length.
`wire/__init__` loads it with the schema.

`container.archive_stat` answers Docker's stat of a path (HEAD); `container.archive_get`
streams that stat as its first chunk ({"stat": ...}), then the tar as labelled raw frames
({}, bytes) (GET); `container.archive_put` takes the tar as its upload and extracts it into
the directory `path` names (PUT).
"""

from __future__ import annotations

from .schema import Method, Opt, _declare

# Docker's container.PathStat (the X-Docker-Container-Path-Stat header, before its JSON and
# base64): mode is Go's os.FileMode, mtime RFC 3339 with nanoseconds, linkTarget the path a
# symlink leads to inside the container ("" for anything else).
PATH_STAT = {"name": str, "size": int, "mode": int, "mtime": str, "linkTarget": str}
_WHERE = {"id": str, "path": str}

_declare(Method("container.archive_stat", "supervisor", params=_WHERE, reply={"stat": PATH_STAT},
                timeout=60))
_declare(Method("container.archive_get", "supervisor", params=_WHERE, chunk={"stat": Opt(PATH_STAT)}))
_declare(Method("container.archive_put", "supervisor",
                params={**_WHERE, "no_overwrite_dir_non_dir": bool, "copy_uid_gid": bool},
                upload=True, timeout=None))
