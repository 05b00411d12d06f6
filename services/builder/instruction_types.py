"""The typed Dockerfile instructions, build stages and parsed Dockerfile that instructions.py
builds from parser nodes (import them from there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class From:
    image: str
    name: str | None       # lower case, as Docker compares stage names
    platform: str | None
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Run:
    command: tuple[str, ...]   # exec form: argv; shell form: one string
    json: bool
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Cmd:
    command: tuple[str, ...]
    json: bool
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Entrypoint:
    command: tuple[str, ...]
    json: bool
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Shell:
    command: tuple[str, ...]
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Env:
    pairs: tuple[tuple[str, str], ...]
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Label:
    pairs: tuple[tuple[str, str], ...]
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Maintainer:
    name: str
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Expose:
    ports: tuple[str, ...]     # sorted as written, as Docker sorts them before expansion
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Arg:
    args: tuple[tuple[str, str | None], ...]
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    dest: str
    from_: str | None
    chown: str | None
    chmod: str | None          # Docker 26's classic builder refuses it when the step runs
    link: bool = False         # accepted and ignored by the classic builder
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Add:
    sources: tuple[str, ...]
    dest: str
    chown: str | None
    chmod: str | None
    link: bool = False
    keep_git_dir: bool = False  # accepted and ignored by the classic builder, like checksum
    checksum: str | None = None
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Workdir:
    path: str
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class User:
    user: str
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Volume:
    paths: tuple[str, ...]
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class StopSignal:
    signal: str
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class Healthcheck:
    none: bool
    test: tuple[str, ...]      # ("CMD", argv...) or ("CMD-SHELL", "string"); () for NONE
    interval: int = 0          # nanoseconds; 0 inherits
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0
    line: int = 0
    original: str = ""


@dataclass(frozen=True)
class OnBuild:
    expression: str            # the trigger as written, e.g. "RUN echo hi"
    line: int = 0
    original: str = ""


Instruction = Union[From, Run, Cmd, Entrypoint, Shell, Env, Label, Maintainer, Expose, Arg, Copy,
                    Add, Workdir, User, Volume, StopSignal, Healthcheck, OnBuild]


@dataclass
class Stage:
    index: int
    name: str | None
    base: From
    commands: list = field(default_factory=list)


@dataclass
class Dockerfile:
    meta_args: list[Arg]
    stages: list[Stage]
    escape: str
    warnings: tuple = ()
    directives: dict = field(default_factory=dict)
