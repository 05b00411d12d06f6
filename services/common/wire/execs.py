"""The wire's exec methods: the supervisor keeps exec sessions (DESIGN.md: their records),
the container's shim runs them (it owns exec'd processes). Declared in the one schema's
table (schema.METHODS), as every method; kept apart only for the schema module's length.
`wire/__init__` loads it with the schema.

An exec's life: `exec.create` records it; `exec.start` checks the container runs and
marks it started (once), answering what the api needs to run it; the api then streams
`shim.exec` to the container's shim (stdin up, output down, its exit code last), or, with
Detach, takes its first chunk only. The supervisor learns a started exec's end from the
shim as it happens (`shim.exec_wait`); `exec.inspect` asks the shim how a started exec is
doing (`shim.exec_state`) until it ended, and keeps its end.
"""

from __future__ import annotations

from .schema import SHIM, Method, Opt, _declare

# POST /containers/{id}/exec's body, as Docker names its fields (ExecConfig), completed.
EXEC_CONFIG = {
    "Cmd": [str], "Env": [str], "WorkingDir": str, "User": str, "Privileged": bool, "Tty": bool,
    "AttachStdin": bool, "AttachStdout": bool, "AttachStderr": bool, "DetachKeys": str,
    "ConsoleSize": Opt([int]),   # [height, width]
}
# GET /exec/{id}/json, as Docker shapes it.
EXEC = {
    "ID": str, "Running": bool, "ExitCode": Opt(int), "Pid": int, "CanRemove": bool, "ContainerID": str,
    "DetachKeys": str, "OpenStdin": bool, "OpenStdout": bool, "OpenStderr": bool,
    "ProcessConfig": {"tty": bool, "entrypoint": str, "arguments": [str], "privileged": bool, "user": str},
}

_declare(Method("exec.create", "supervisor", params={"container": str, "config": EXEC_CONFIG},
                reply={"id": str}))
# Marks it started (Conflict if it was, or if its container does not run); what to run where.
_declare(Method("exec.start", "supervisor", params={"id": str},
                reply={"container": str, "pid": int, "config": EXEC_CONFIG}))
_declare(Method("exec.inspect", "supervisor", params={"id": str}, reply=EXEC))

# The shim's side. `pid` is the container's (the start it means, as every shim method).
# The chunks: first {"pid": the exec's pid}; then its output as labelled raw frames
# ({"fd": 1 or 2; 0 with a tty}); last {"exit_code": ...}. Detached: the first chunk only,
# and the shim keeps the process (and its end, for exec_state).
_declare(Method("shim.exec", SHIM,
                params={"pid": int, "exec_id": str, "config": EXEC_CONFIG, "detach": bool},
                chunk={"fd": Opt(int), "pid": Opt(int), "exit_code": Opt(int)}, upload=True))
_declare(Method("shim.exec_state", SHIM, params={"pid": int, "exec_id": str},
                reply={"known": bool, "running": bool, "pid": int, "exit_code": Opt(int)}))
_declare(Method("shim.exec_resize", SHIM, params={"pid": int, "exec_id": str, "height": int, "width": int}))
# The exec's state once it has ended (as exec_state): the supervisor's watch of it, so its end
# (and exec_die) is known as it happens. It waits for the exec's run to reach the shim first,
# unless the container exits before (then it answers known: false).
_declare(Method("shim.exec_wait", SHIM, params={"pid": int, "exec_id": str},
                reply={"known": bool, "running": bool, "pid": int, "exit_code": Opt(int)}, timeout=None, waits=True))
