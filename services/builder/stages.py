"""Which stages a build runs, and the ARGs before the first FROM: the classic builder's
rules, as pure functions of the parsed Dockerfile."""

from __future__ import annotations

from services.common import errors

from . import expand, instructions as ins


def index_of(df: ins.Dockerfile, name: str) -> int | None:
    """The stage a FROM or --from names: by its name (any case), or by its index."""
    for stage in df.stages:
        if stage.name is not None and stage.name == name.lower():
            return stage.index
    if name.isdigit() and int(name) < len(df.stages):
        return int(name)
    return None


def meta_args(df: ins.Dockerfile, build_args: dict) -> tuple[dict, set]:
    """The ARGs before the first FROM with their values (a build arg's, else the default,
    expanded with the ARGs before it), and the build args they used."""
    values: dict[str, str | None] = {}
    used: set[str] = set()
    for arg in df.meta_args:
        for name, default in arg.args:
            scope = {k: v for k, v in values.items() if v is not None}
            fallback = expand.expand(default, scope, df.escape) if default is not None else None
            if name in build_args:
                used.add(name)
                values[name] = build_args[name] if build_args[name] is not None else fallback
            else:
                values[name] = fallback
    return values, used


def needed(df: ins.Dockerfile, target: str | None, expand_meta) -> list[ins.Stage]:
    """The target stage (the last, by default) and those it builds on or copies from, in
    Dockerfile order: the others are not built."""
    last = df.stages[-1]
    if target:
        index = index_of(df, target)
        if index is None or target.isdigit():
            raise errors.BadParameter(f"failed to reach build target {target} in Dockerfile")
        last = df.stages[index]
    wanted, todo = set(), [last.index]
    while todo:
        index = todo.pop()
        if index in wanted:
            continue
        wanted.add(index)
        stage = df.stages[index]
        names = [expand_meta(stage.base.image)]
        names += [c.from_ for c in stage.commands if isinstance(c, ins.Copy) and c.from_]
        for name in names:
            dep = index_of(df, name)
            if dep is not None and dep < index:
                todo.append(dep)
    return [s for s in df.stages if s.index in wanted]
