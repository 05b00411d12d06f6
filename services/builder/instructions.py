"""Typed Dockerfile instructions and build stages from parser nodes, checked the way Docker's
classic builder checks them (allowed flags, argument counts, durations).

Words are left unexpanded: the executor expands them with the environment of the moment.
"""

from __future__ import annotations

import re

from services.builder import gocompat as go
from services.builder import parser
from services.builder.instruction_types import (  # noqa: F401 (the public types live there)
    From, Run, Cmd, Entrypoint, Shell, Env, Label, Maintainer, Expose, Arg, Copy, Add, Workdir,
    User, Volume, StopSignal, Healthcheck, OnBuild, Instruction, Stage, Dockerfile,
)
from services.builder.parser import Node
from services.common import errors

# Docker 26 parses these RUN flags but its classic builder refuses them when the step runs.
_BUILDKIT_ONLY = "the --{} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ " \
                 "to learn how to build images with BuildKit enabled"
_STAGE_NAME = re.compile(r"[a-z][a-z0-9._-]*")


class _Fail(Exception):
    """A check's complaint; from_node adds the line."""


def parse_dockerfile(text: str | bytes) -> Dockerfile:
    """The whole Dockerfile: global ARGs, then stages, each from its FROM to the next."""
    parsed = parser.parse(text)
    if not parsed.nodes:
        raise errors.BadParameter("file with no instructions")
    meta_args: list[Arg] = []
    stages: list[Stage] = []
    for node in parsed.nodes:
        inst = from_node(node)
        if isinstance(inst, From):
            if inst.name is not None and any(s.name == inst.name for s in stages):
                raise parser.error_at(node.line, f"{inst.name} stage name already used")
            stages.append(Stage(len(stages), inst.name, inst, []))
        elif stages:
            stages[-1].commands.append(inst)
        elif isinstance(inst, Arg):
            meta_args.append(inst)  # ARGs before the first FROM are the global (meta) args
        else:
            raise parser.error_at(node.line, "no build stage in current context")
    return Dockerfile(meta_args, stages, parsed.escape, parsed.warnings, parsed.directives)


def from_node(node: Node) -> Instruction:
    """One typed instruction (FROM included); BadParameter naming the node's line if invalid."""
    build = _BUILDERS.get(node.keyword)
    try:
        if build is None:
            written = (node.original.split() or [node.keyword])[0]  # Docker names it as written
            hint = go.suggest(written, parser.INSTRUCTIONS, case_sensitive=False)
            raise _Fail(f"unknown instruction: {written}" + (f" (did you mean {hint}?)" if hint else ""))
        return build(node)
    except _Fail as exc:
        raise parser.error_at(node.line, str(exc)) from None


def _flags(node: Node, spec: dict[str, str]) -> dict:
    """Docker's BFlags: each flag declared as "bool", "string" or "strings" (repeatable)."""
    values: dict = {}
    for word in node.flags:
        if word == "--":
            break
        if not word.startswith("--"):
            raise _Fail(f"arg should start with -- : {word}")
        written, eq, value = word.partition("=")
        name = written[2:]
        kind = spec.get(name)
        if kind is None:
            hint = go.suggest(name, spec, case_sensitive=True)
            raise _Fail(f"unknown flag: {written}" + (f" (did you mean {hint}?)" if hint else ""))
        if name in values and kind != "strings":
            raise _Fail(f"duplicate flag specified: {written}")
        if kind == "bool":
            if eq and value == "":
                raise _Fail(f"missing a value on flag: {written}")
            if value.lower() not in ("true", "false", ""):
                raise _Fail(f"expecting boolean value for flag {written}, not: {value}")
            values[name] = value.lower() != "false"
        elif not eq:
            raise _Fail(f"missing a value on flag: {written}")
        elif kind == "string":
            values[name] = value
        else:
            values.setdefault(name, []).append(value)
    return values


def _none_if_empty(value: str | None) -> str | None:
    return value or None  # Docker treats `--flag=` like an absent flag


def _at_least_one(node: Node, name: str) -> None:
    if not node.args:
        raise _Fail(f"{name} requires at least one argument")


def _exactly_one(node: Node, name: str) -> str:
    if len(node.args) != 1:
        raise _Fail(f"{name} requires exactly one argument")
    _flags(node, {})
    return node.args[0]


def _command(node: Node) -> tuple[str, ...]:
    if node.json or not node.args:
        return node.args
    return (" ".join(node.args),)


def _pairs(node: Node, name: str) -> tuple[tuple[str, str], ...]:
    _flags(node, {})
    _at_least_one(node, name)
    if len(node.args) % 2:
        raise _Fail(f"Bad input to {name}, too many arguments")
    pairs = tuple(zip(node.args[0::2], node.args[1::2]))
    if any(key == "" for key, _ in pairs):
        raise _Fail(f"{name} names can not be blank")
    return pairs


def _from(node: Node) -> From:
    args, name = node.args, None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            raise _Fail(f"invalid name for build stage: {go.quote(args[2])}, "
                        "name can't start with a number or contain symbols")
    elif len(args) != 1:
        raise _Fail("FROM requires either one or three arguments")
    flags = _flags(node, {"platform": "string"})
    return From(args[0], name, _none_if_empty(flags.get("platform")), node.line, node.original)


def _run(node: Node) -> Run:
    used = _flags(node, {"mount": "strings", "network": "string", "security": "string"})
    if used:
        raise _Fail(_BUILDKIT_ONLY.format(next(iter(used))))
    return Run(_command(node), node.json, node.line, node.original)


def _cmd(node: Node) -> Cmd:
    _flags(node, {})
    return Cmd(_command(node), node.json, node.line, node.original)


def _entrypoint(node: Node) -> Entrypoint:
    _flags(node, {})
    return Entrypoint(_command(node), node.json, node.line, node.original)


def _shell(node: Node) -> Shell:
    _flags(node, {})
    _at_least_one(node, "SHELL")
    if not node.json:
        raise _Fail("SHELL requires the arguments to be in JSON form")
    return Shell(node.args, node.line, node.original)


def _env(node: Node) -> Env:
    return Env(_pairs(node, "ENV"), node.line, node.original)


def _label(node: Node) -> Label:
    return Label(_pairs(node, "LABEL"), node.line, node.original)


def _maintainer(node: Node) -> Maintainer:
    return Maintainer(_exactly_one(node, "MAINTAINER"), node.line, node.original)


def _expose(node: Node) -> Expose:
    _at_least_one(node, "EXPOSE")
    _flags(node, {})
    return Expose(tuple(sorted(node.args)), node.line, node.original)


def _arg(node: Node) -> Arg:
    # Docker never checks ARG's flags (nor STOPSIGNAL's); they are ignored alike here.
    _at_least_one(node, "ARG")
    pairs = []
    for word in node.args:
        name, eq, default = word.partition("=")
        if eq and name == "":
            raise _Fail("ARG names can not be blank")
        pairs.append((name, default if eq else None))
    return Arg(tuple(pairs), node.line, node.original)


def _copy(node: Node) -> Copy:
    if len(node.args) < 2:
        raise _Fail("COPY requires at least two arguments, but only one was provided. "
                    "Destination could not be determined")
    flags = _flags(node, {"chown": "string", "from": "string", "chmod": "string", "link": "bool"})
    return Copy(node.args[:-1], node.args[-1], _none_if_empty(flags.get("from")),
                _none_if_empty(flags.get("chown")), _none_if_empty(flags.get("chmod")),
                flags.get("link", False), node.line, node.original)


def _add(node: Node) -> Add:
    if len(node.args) < 2:
        raise _Fail("ADD requires at least two arguments, but only one was provided. "
                    "Destination could not be determined")
    flags = _flags(node, {"chown": "string", "chmod": "string", "link": "bool",
                          "keep-git-dir": "bool", "checksum": "string"})
    return Add(node.args[:-1], node.args[-1], _none_if_empty(flags.get("chown")),
               _none_if_empty(flags.get("chmod")), flags.get("link", False),
               flags.get("keep-git-dir", False), _none_if_empty(flags.get("checksum")),
               node.line, node.original)


def _workdir(node: Node) -> Workdir:
    return Workdir(_exactly_one(node, "WORKDIR"), node.line, node.original)


def _user(node: Node) -> User:
    return User(_exactly_one(node, "USER"), node.line, node.original)


def _volume(node: Node) -> Volume:
    _at_least_one(node, "VOLUME")
    _flags(node, {})
    paths = tuple(go.trim_space(p) for p in node.args)
    if any(p == "" for p in paths):
        raise _Fail("VOLUME specified can not be an empty string")
    return Volume(paths, node.line, node.original)


def _stopsignal(node: Node) -> StopSignal:
    if len(node.args) != 1:
        raise _Fail("STOPSIGNAL requires exactly one argument")
    return StopSignal(node.args[0], node.line, node.original)


def _interval(flags: dict, name: str) -> int:
    text = flags.get(name, "")
    if text == "":
        return 0
    try:
        value = go.parse_duration(text)
    except ValueError as exc:
        raise _Fail(str(exc)) from None
    if value != 0 and value < 1_000_000:
        raise _Fail(f"Interval {go.quote(name)} cannot be less than 1ms")
    return value


def _healthcheck(node: Node) -> Healthcheck:
    _at_least_one(node, "HEALTHCHECK")
    kind, rest = node.args[0].upper(), node.args[1:]
    if kind == "NONE":
        # Docker reads no flags for NONE, so any given are ignored.
        if rest:
            raise _Fail("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(True, (), line=node.line, original=node.original)
    flags = _flags(node, {"interval": "string", "timeout": "string", "start-period": "string",
                          "start-interval": "string", "retries": "string"})
    if kind != "CMD":
        raise _Fail(f"Unknown type {go.quote(kind)} in HEALTHCHECK (try CMD)")
    if not rest:
        raise _Fail("Missing command after HEALTHCHECK CMD")
    test = ("CMD", *rest) if node.json else ("CMD-SHELL", " ".join(rest))
    durations = [_interval(flags, n) for n in ("interval", "timeout", "start-period", "start-interval")]
    retries = 0
    if flags.get("retries", "") != "":
        try:
            retries = go.parse_int32(flags["retries"])
        except ValueError as exc:
            raise _Fail(str(exc)) from None
        if retries < 0:
            raise _Fail(f"--retries cannot be negative ({retries})")
    return Healthcheck(False, test, *durations, retries, node.line, node.original)


def _onbuild(node: Node) -> OnBuild:
    _at_least_one(node, "ONBUILD")
    _flags(node, {})
    trigger = node.sub.keyword if node.sub else (node.args[0].split() or [""])[0]
    trigger = trigger.upper()
    if trigger == "ONBUILD":
        raise _Fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("FROM", "MAINTAINER"):
        raise _Fail(f"{trigger} isn't allowed as an ONBUILD trigger")
    return OnBuild(node.args[0], node.line, node.original)


_BUILDERS = {
    "from": _from, "run": _run, "cmd": _cmd, "entrypoint": _entrypoint, "shell": _shell,
    "env": _env, "label": _label, "maintainer": _maintainer, "expose": _expose, "arg": _arg,
    "copy": _copy, "add": _add, "workdir": _workdir, "user": _user, "volume": _volume,
    "stopsignal": _stopsignal, "healthcheck": _healthcheck, "onbuild": _onbuild,
}
