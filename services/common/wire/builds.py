"""The wire's build methods: the builder's own (build.run, usage, prune, configure) and the two it
asks of others for each step (image.step of the registry service, container.build_step
of the supervisor). Declared in the one schema's table (schema.METHODS), as every method;
kept apart only for the schema module's length. `wire/__init__` loads it with the schema.
"""

from __future__ import annotations

from .images import AUTH, PROGRESS
from .schema import ANY, MapOf, Method, Opt, _declare

# Builds. The builder parses and runs a Dockerfile: its RUN steps are containers of the
# supervisor (container.build_step: created, run, committed and removed in one call, so a
# builder that goes away takes its step's container with it), every other step an image
# the registry service makes (image.step). A build's messages are progress messages, plus
# `error` (and `code`: a RUN's exit code) for a failed build: the end of its stream.
BUILD_CHUNK = {**PROGRESS, "error": Opt(str), "code": Opt(int)}
BUILD_LIMITS = {"memory": int, "memswap": int, "cpushares": int, "cpusetcpus": str, "cpuperiod": int,
                "cpuquota": int, "shmsize": int, "networkmode": str, "extrahosts": [str]}
_declare(Method("build.run", "builder",
                params={"dockerfile": Opt(str), "tags": [str], "quiet": bool, "nocache": bool,
                        "cachefrom": [str], "pull": bool, "rm": bool, "forcerm": bool,
                        "buildargs": MapOf(Opt(str)), "labels": MapOf(str), "target": Opt(str),
                        "platform": Opt(str), "limits": BUILD_LIMITS, "remote": Opt(str),
                        "auth": MapOf(AUTH)},
                chunk=BUILD_CHUNK, upload=True, timeout=None))
# The build cache as `docker system df` shows it (Docker's BuildCache records).
BUILD_CACHE_RECORD = {"id": str, "parent": str, "description": str, "in_use": bool, "size": int,
                      "created": str, "last_used": str, "usage_count": int}
_declare(Method("build.usage", "builder", reply={"records": [BUILD_CACHE_RECORD]}))
_declare(Method("build.prune", "builder",
                params={"all": bool, "until": Opt(float), "keep_storage": int},
                reply={"deleted": [str], "space_reclaimed": int}, timeout=None))
# Dockerfile instructions (`changes`, one a line) applied to a container config outside a
# build: commit's and import's changes (only those that configure; a bad one: BadParameter).
_declare(Method("build.configure", "builder", params={"config": ANY, "changes": [str]}, reply={"config": ANY}))
# One build step as an image on top of `parent` ("": scratch): its layer uploaded as a tar
# when `layer`, or none (an empty layer: a step that only configures).
_declare(Method("image.step", "registry",
                params={"parent": str, "created_by": str, "config": ANY, "container_config": ANY,
                        "layer": bool, "author": str},
                reply={"id": str}, upload=True, timeout=None))   # a big layer takes its time
# A RUN step: a container of `config` made and run to its end, its output streamed as
# labelled raw frames (STDIO), then committed with `commit` if it exited 0. The first
# chunk names the container; the last has its exit code (and the image, if committed).
# Unless `keep`, the container is removed at the end, whatever the end.
_declare(Method("container.build_step", "supervisor",
                params={"config": ANY, "host_config": ANY, "keep": bool,
                        "commit": {"config": ANY, "container_config": ANY, "created_by": str, "author": str}},
                chunk={"container": Opt(str), "fd": Opt(int), "exit_code": Opt(int), "image": Opt(str)},
                timeout=None))
