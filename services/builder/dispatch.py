"""A build stage's state, and what each instruction that only configures does to it.

The state is the run config the stage's next container and image get (Docker's container
config, as an image's `config`), the ARGs in scope and the author. `configure` applies
one configuring instruction, with Docker's variable expansion where Docker expands, and
returns the text its history entry names it by (`ENV A=b`). RUN, COPY, ADD and FROM are
the executor's: they make layers or pick images.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field

from services.common import errors

from . import expand, instructions as ins

DEFAULT_SHELL = ["/bin/sh", "-c"]
# Args a build may set without declaring them (moby's builtinAllowedBuildArgs); they stay
# out of the image's history unless declared.
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


@dataclass
class StageState:
    image: str                 # the image the stage is at ("": scratch)
    config: dict               # its run config
    author: str = ""
    escape: str = "\\"
    build_args: dict = field(default_factory=dict)   # the build's --build-arg values (None: unset)
    meta_args: dict = field(default_factory=dict)    # ARGs before the first FROM, with their values
    args: dict = field(default_factory=dict)         # ARGs declared in this stage -> value or None
    cmd_set: bool = False                            # this stage gave a CMD
    used_args: set = field(default_factory=set)      # build args some ARG consumed

    # ------------------------------------------------------------------ env

    def env(self) -> dict[str, str]:
        """The run config's Env as a map, in order."""
        out: dict[str, str] = {}
        for entry in self.config.get("Env") or []:
            name, _, value = entry.partition("=")
            out[name] = value
        return out

    def set_env(self, name: str, value: str) -> None:
        env = self.env()
        env[name] = value
        self.config["Env"] = [f"{k}={v}" for k, v in env.items()]

    def scope(self) -> dict[str, str]:
        """What `$name` means in this stage: its ARGs (and proxy args given), then its ENV,
        which wins over an ARG of the same name."""
        out = {name: value for name, value in self.args.items() if value is not None}
        for name in PROXY_ARGS:
            if self.build_args.get(name) is not None and name not in out:
                out[name] = self.build_args[name]
        out.update(self.env())
        return out

    def expand(self, word: str) -> str:
        return expand.expand(word, self.scope(), self.escape)

    def run_args(self) -> list[str]:
        """The build args a RUN sees and its history names (`|2 a=1 b=2 ...`): the ARGs in
        scope that have a value and that no ENV overrides, then the proxy args given."""
        env = self.env()
        declared = sorted((k, v) for k, v in self.args.items() if v is not None and k not in env)
        proxies = sorted((k, v) for k, v in self.build_args.items()
                         if k in PROXY_ARGS and k not in self.args and v is not None and k not in env)
        return [f"{k}={v}" for k, v in declared] + [f"{k}={v}" for k, v in proxies]

    def history_args(self) -> list[str]:
        env = self.env()
        return [f"{k}={v}" for k, v in sorted(self.args.items()) if v is not None and k not in env]

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def workdir(self) -> str:
        return self.config.get("WorkingDir") or "/"

    def command(self, words: tuple[str, ...], json: bool) -> list[str]:
        """An instruction's command: its exec form as it is, its shell form run by the shell."""
        return list(words) if json else self.shell() + [words[0] if words else ""]


# ------------------------------------------------------------------ configuring


def _nop(text: str) -> str:
    return "#(nop) " + text


def declare_arg(state: StageState, name: str, default: str | None) -> None:
    """ARG: a value from the build's args, else the meta ARG's, else the default."""
    if name in state.build_args:
        state.used_args.add(name)
        value = state.build_args[name]
        if value is None:   # `--build-arg NAME` with no value: the Dockerfile's
            value = default if default is not None else state.meta_args.get(name)
    elif default is not None:
        value = default
    else:
        value = state.meta_args.get(name)
    state.args[name] = value


def _ports(words: list[str]) -> list[str]:
    """EXPOSE's words as Docker's port keys (80 -> 80/tcp; a range is each of its ports)."""
    out = []
    for word in words:
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise errors.BadParameter(f"invalid proto: {proto}")
        start, _, end = port.partition("-")
        try:
            first, last = int(start), int(end or start)
        except ValueError:
            raise errors.BadParameter(f"invalid containerPort: {port}") from None
        if not 0 < first <= last <= 65535:
            raise errors.BadParameter(f"invalid containerPort: {port}")
        out += [f"{n}/{proto}" for n in range(first, last + 1)]
    return out


def _healthcheck(inst: ins.Healthcheck) -> dict:
    if inst.none:
        return {"Test": ["NONE"]}
    check = {"Test": list(inst.test)}
    for key, value in (("Interval", inst.interval), ("Timeout", inst.timeout),
                       ("StartPeriod", inst.start_period), ("StartInterval", inst.start_interval),
                       ("Retries", inst.retries)):
        if value:
            check[key] = value
    return check


def configure(state: StageState, inst) -> str:
    """Apply a configuring instruction to the stage's config; the text its history shows."""
    config = state.config
    if isinstance(inst, ins.Env):
        parts = []
        for name, value in inst.pairs:
            name, value = state.expand(name), state.expand(value)
            if not name:
                raise errors.BadParameter(f"ENV names can not be blank (line {inst.line})")
            state.set_env(name, value)
            parts.append(f"{name}={value}")
        return "ENV " + " ".join(parts)
    if isinstance(inst, ins.Label):
        labels = dict(config.get("Labels") or {})
        parts = []
        for name, value in inst.pairs:
            name, value = state.expand(name), state.expand(value)
            if not name:
                raise errors.BadParameter(f"LABEL names can not be blank (line {inst.line})")
            labels[name] = value
            parts.append(f"{name}={value}")
        config["Labels"] = labels
        return "LABEL " + " ".join(parts)
    if isinstance(inst, ins.Maintainer):
        state.author = inst.name
        return "MAINTAINER " + inst.name
    if isinstance(inst, ins.Expose):
        ports = _ports([w for word in inst.ports for w in expand.expand_words(word, state.scope(), state.escape)])
        exposed = dict(config.get("ExposedPorts") or {})
        exposed.update({p: {} for p in ports})
        config["ExposedPorts"] = exposed
        return "EXPOSE " + " ".join(sorted(exposed))
    if isinstance(inst, ins.User):
        config["User"] = state.expand(inst.user)
        return "USER " + config["User"]
    if isinstance(inst, ins.Volume):
        volumes = dict(config.get("Volumes") or {})
        paths = [state.expand(p) for p in inst.paths]
        for path in paths:
            if not path.strip():
                raise errors.BadParameter("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
        return "VOLUME " + str(paths).replace("'", '"')
    if isinstance(inst, ins.StopSignal):
        config["StopSignal"] = state.expand(inst.signal)
        return "STOPSIGNAL " + config["StopSignal"]
    if isinstance(inst, ins.Healthcheck):
        config["Healthcheck"] = _healthcheck(inst)
        return "HEALTHCHECK " + ("NONE" if inst.none else f"&{{{config['Healthcheck']['Test']}}}")
    if isinstance(inst, ins.OnBuild):
        config["OnBuild"] = list(config.get("OnBuild") or []) + [inst.expression]
        return "ONBUILD " + inst.expression
    if isinstance(inst, ins.Cmd):
        config["Cmd"] = state.command(inst.command, inst.json)
        state.cmd_set = True
        return "CMD " + _quoted(config["Cmd"])
    if isinstance(inst, ins.Entrypoint):
        config["Entrypoint"] = state.command(inst.command, inst.json) if inst.command != ("",) or inst.json else None
        if not state.cmd_set:
            config["Cmd"] = None   # as Docker: an ENTRYPOINT resets a CMD the stage did not give
        return "ENTRYPOINT " + _quoted(config["Entrypoint"] or [])
    if isinstance(inst, ins.Shell):
        config["Shell"] = list(inst.command)
        return "SHELL " + _quoted(config["Shell"])
    if isinstance(inst, ins.Workdir):
        path = state.expand(inst.path)
        config["WorkingDir"] = posixpath.normpath(posixpath.join(state.workdir(), path))
        return "WORKDIR " + config["WorkingDir"]
    raise errors.ServerError(f"{type(inst).__name__} does not configure")


def build_label(state: StageState, name: str, value: str) -> str:
    """A label the build's `labels` parameter gives: set as it is (never expanded), as the
    LABEL step Docker adds for it; that step's text."""
    state.config["Labels"] = {**(state.config.get("Labels") or {}), name: value}
    return f"LABEL {name}={value}"


def _quoted(words: list[str]) -> str:
    return "[" + " ".join(f'"{w}"' for w in words) + "]"


def nop_cmd(state: StageState, text: str) -> list[str]:
    """The container config's Cmd of a step that runs nothing, as Docker's builder writes
    it: the stage's shell, then `#(nop) ` and the instruction as two words, or as one for
    COPY, ADD and WORKDIR (their older form, kept by Docker). Joined, it is the history's
    CreatedBy: `/bin/sh -c #(nop)  ENV A=1`, `/bin/sh -c #(nop) WORKDIR /app`."""
    if text.startswith(("COPY ", "ADD ", "WORKDIR ")):
        return state.shell() + [_nop(text)]
    return state.shell() + [_nop(""), text]


def step_config(state: StageState, cmd: list[str]) -> dict:
    """The container config a step is known by (its cache key, its image's container_config)."""
    out = copy.deepcopy(state.config)
    out["Cmd"] = cmd
    return out
