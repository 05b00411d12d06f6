"""The wire's image methods: the registry service owns the image store's writes (pulls,
pushes, imports, loads, tags, removals) and answers its reads. Declared in the one
schema's table (schema.METHODS), as every method; kept apart only for the schema
module's length. `wire/__init__` loads it with the schema, before the build methods,
which carry its progress messages.
"""

from __future__ import annotations

from .schema import ANY, MapOf, Method, Opt, _declare

# An image as the registry service answers it.
IMAGE = {
    "id": str,
    "parent": str,
    "created": str,
    "size": int,
    "refs": [str],
    "digests": [str],
    "config": ANY,                  # the image config JSON, as stored
    "last_tag_time": Opt(str),
}
# A row of the image list: an image without its config, but for its labels.
IMAGE_ROW = {k: v for k, v in IMAGE.items() if k != "config"} | {"labels": ANY}
HISTORY_ENTRY = {"id": str, "created": str, "created_by": str, "size": int,
                 "comment": str, "tags": [str]}
# One progress message; the api turns it into Docker's JSON message.
PROGRESS = {
    "status": Opt(str),
    "id": Opt(str),
    "current": Opt(int),
    "total": Opt(int),
    "stream": Opt(str),
    "image": Opt(str),              # the image the operation made or loaded
}
AUTH = {"username": str, "password": str, "token": str}
_IMPORT = {"repo": Opt(str), "tag": Opt(str), "message": Opt(str), "changes": [str],
           "force_tag": bool, "source": str}

# `stamp`: the store's state the rows show; a caller that keeps its copy of a list asks
# `unless` it is still that state, and gets no rows then (services/registry/image_list.py).
_declare(Method("image.list", "registry", params={"all": bool, "unless": Opt(str)},
                reply={"images": Opt([IMAGE_ROW]), "stamp": Opt(str)}))
_declare(Method("image.inspect", "registry", params={"name": str}, reply=IMAGE))
# What the store's layers take on disk, each counted once (system df's LayersSize), and of
# each image the size of its layers other images share (its SharedSize).
_declare(Method("image.usage", "registry", reply={"layers_size": int, "shared": MapOf(int)}))
_declare(Method("image.history", "registry", params={"name": str},
                reply={"entries": [HISTORY_ENTRY]}))
_declare(Method("image.tag", "registry",
                params={"name": str, "repo": str, "tag": Opt(str), "force": bool},
                reply={"ref": str}))
_declare(Method("image.remove", "registry", params={"name": str, "force": bool, "prune": bool},
                reply={"untagged": [str], "deleted": [str]}))
# Docker's image prune: dangling images (untagged, no children), or with `dangling` False
# every image no container uses; `until` (unix seconds: the api parses Docker's forms) and
# `label`/`label_not` (Docker's `label!`) narrow it. Each item is an untag or a deletion.
_declare(Method("image.prune", "registry",
                params={"dangling": bool, "until": Opt(float), "label": [str], "label_not": [str]},
                reply={"removed": [{"untagged": Opt(str), "deleted": Opt(str)}], "space_reclaimed": int},
                timeout=None))
_declare(Method("image.import", "registry", params=_IMPORT, chunk=PROGRESS, upload=True))
_declare(Method("image.import_url", "registry", params={**_IMPORT, "url": str}, chunk=PROGRESS))
_declare(Method("image.insert", "registry", params={"name": str, "url": str, "path": str},
                chunk=PROGRESS))
_declare(Method("image.save", "registry", params={"names": [str]}, chunk=bytes))
_declare(Method("auth.login", "registry",
                params={"username": str, "password": str, "email": str, "serveraddress": str},
                reply={"status": str}, timeout=30))
_declare(Method("image.search", "registry", params={"term": str, "limit": int, "auth": Opt(AUTH)},
                reply={"results": [{"name": str, "description": str, "star_count": int,
                                    "is_official": bool, "is_automated": bool}]}, timeout=30))
_declare(Method("auth.get", "registry", reply={"username": str, "email": str}))
_declare(Method("image.pull", "registry", params={"image": str, "auth": Opt(AUTH)}, chunk=PROGRESS))
_declare(Method("image.push", "registry", params={"name": str, "tag": Opt(str), "auth": Opt(AUTH)},
                chunk=PROGRESS))
_declare(Method("image.load", "registry", params={"quiet": bool}, chunk=PROGRESS, upload=True))
