"""The wire's methods of what a container's processes are and use (`docker top`, `docker
stats`): the supervisor reads them (the host's ps, the container's cgroup files). Declared
in the one schema's table (schema.METHODS), as every method; kept apart only for the
schema module's length. `wire/__init__` loads it with the schema.

`container.stats` answers one sample: Docker's stats object but precpu_stats and preread,
which the api fills from the sample before (it streams one a second); `running` False
(the container does not run) with the object of zeros dockerd shows then.
"""

from __future__ import annotations

from .schema import ANY, MapOf, Method, Opt, _declare

_declare(Method("container.top", "supervisor", params={"id": str, "ps_args": str},
                reply={"titles": [str], "processes": [[str]]}, timeout=30))
_declare(Method("container.stats", "supervisor", params={"id": str}, reply={"running": bool, "stats": ANY},
                timeout=10))
# GET /system/df's containers and GET /containers/json?size=1's: each one's own layer (its
# overlay's upper dir) in bytes, by id; of the containers `ids` names (all without it).
_declare(Method("container.sizes", "supervisor", params={"ids": Opt([str])}, reply={"sizes": MapOf(int)},
                timeout=None))
