"""Dockerfile instructions applied to an image's config outside a build: the `changes` of
`docker commit -c` and `docker import -c` (moby's BuildFromConfig), served to the
supervisor (commit) and the registry service (import) as build.configure.

The changes are parsed as one Dockerfile, one instruction a line, by the builder's own
parser; only the instructions that configure are allowed (Docker's validCommitCommands);
each is checked and applied as a build applies it, variables expanded from the config's
environment. A refused one is a BadParameter with Docker's words.
"""

from __future__ import annotations

import copy

from services.common import errors, wire

from . import dispatch, instructions, parser

ALLOWED = frozenset(("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal",
                     "user", "volume", "workdir"))


def apply(config: dict, changes: list[str]) -> dict:
    """`config` (a container config, as an image's `config`) with `changes` applied."""
    if not changes:
        return config
    parsed = parser.parse("\n".join(changes), any_keyword=True)
    if not parsed.nodes:
        raise errors.BadParameter("file with no instructions")
    commands = []
    for node in parsed.nodes:
        if node.keyword not in ALLOWED:
            written = (node.original.split() or [node.keyword])[0]   # Docker names it as written
            raise errors.BadParameter(f"{written} is not a valid change command")
        commands.append(instructions.from_node(node))
    state = dispatch.StageState(image=str(config.get("Image") or ""), config=copy.deepcopy(config),
                                escape=parsed.escape)
    for command in commands:
        dispatch.configure(state, command)
    return state.config


async def configure(call: wire.Call) -> dict:
    config = call.params["config"]
    if not isinstance(config, dict):
        raise errors.BadParameter("the config to change must be a JSON object")
    return {"config": apply(config, call.params["changes"])}
