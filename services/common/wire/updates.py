"""The wire's method of a container's update (`docker update`): its resource limits and
restart policy changed while it exists. Declared in the one schema's table
(schema.METHODS), as every method; kept apart only for the schema module's length.
`wire/__init__` loads it with the schema.

`update` is the body of POST /containers/{id}/update as the client sent it (Docker's
Resources and RestartPolicy; the api has dropped what the request's API version lacks),
checked by the supervisor; the reply carries Docker's warnings.
"""

from __future__ import annotations

from .schema import ANY, Method, _declare

_declare(Method("container.update", "supervisor", params={"id": str, "update": ANY}, reply={"warnings": [str]}))
