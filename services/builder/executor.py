"""Running a parsed Dockerfile: its stages in order, each step an image, with Docker's output.

A step that only configures becomes an image with an empty layer (image.step); COPY and
ADD a layer this writes from the context or another image (image.step with its tar);
RUN a container of the supervisor's, committed there (container.build_step). Every step
probes the build cache first. Only the target stage and the stages it needs are built.
Output is Docker's classic builder's, as progress chunks (`stream`), a failing RUN's
`error` with its `code`, and at the end the image (`image`, the api's `aux` record).
"""

from __future__ import annotations

import copy
import os
from typing import AsyncIterator

from services.common import errors, release, wire
from services.common.store import Store, image_config, reference, short, to_its_end

from . import cache, copying, dispatch, expand, instructions as ins, parser, remote, stages, trees
from .cache import Cache
from .dispatch import StageState
from .layers import workdir_layer


class Build:
    def __init__(self, params: dict, dockerfile: ins.Dockerfile, context_root: str, stage: str,
                 store: Store, clients: wire.Clients, build_cache: Cache):
        self.p = params
        self.df = dockerfile
        self.context = trees.DirTree(context_root)
        self.stage_dir = stage
        self.store = store
        self.clients = clients
        self.cache = build_cache
        self.only = build_cache.sources(self._cache_from()) if params["cachefrom"] else None
        self.results: dict[int, str] = {}     # stage index -> its image
        self.meta_args: dict[str, str | None] = {}   # ARGs before the first FROM
        self.used_args: set[str] = set()             # build args an ARG took
        self.step = 0
        self.total = 0
        self._files = 0

    # ---------------------------------------------------------------- output

    def say(self, text: str) -> dict:
        """A line of output; none when the build is quiet (the caller drops empty chunks)."""
        return {} if self.p["quiet"] else {"stream": text}

    # ---------------------------------------------------------------- stages

    def _stage_index(self, name: str) -> int | None:
        return stages.index_of(self.df, name)

    def _meta_expand(self, word: str) -> str:
        scope = {k: v for k, v in self.meta_args.items() if v is not None}
        return expand.expand(word, scope, self.df.escape)

    async def run(self) -> AsyncIterator[dict]:
        self.meta_args, self.used_args = stages.meta_args(self.df, self.p["buildargs"])
        tags = [reference.parse(t).with_default_tag() for t in self.p["tags"]]
        self._check_platform(self.p.get("platform"))
        for warning in self.df.warnings:
            yield self.say(f"[WARNING]: {warning}\n")
        if self.df.warnings:
            yield self.say("[WARNING]: Empty continuation lines will become errors in a future release.\n")
        needed = stages.needed(self.df, self.p.get("target"), self._meta_expand)
        # As Docker: each of the build's labels is one more LABEL step of the target stage.
        self.total = sum(1 + len(s.commands) for s in needed) + len(self.p["labels"])
        state = None
        for stage in needed:
            state = StageState(image="", config={}, escape=self.df.escape, build_args=self.p["buildargs"],
                               meta_args=self.meta_args)
            async for chunk in self._from(stage, state):
                yield chunk
                if chunk.get("error"):
                    return   # an ONBUILD trigger failed
            for command in stage.commands:
                async for chunk in self._step(state, command, command.original):
                    yield chunk
                    if chunk.get("error"):
                        return
            self.results[stage.index] = state.image
            self.used_args |= state.used_args
        for name in sorted(self.p["labels"]):
            text = dispatch.build_label(state, name, self.p["labels"][name])
            self.step += 1
            yield self.say(f"Step {self.step}/{self.total} : {text}\n")
            async for chunk in self._commit(state, text, None):
                yield chunk
        final = state.image
        if not final:
            raise errors.BadParameter("the build made no image: its stage is FROM scratch with nothing in it")
        unused = sorted(set(self.p["buildargs"]) - self.used_args - set(dispatch.PROXY_ARGS))
        if unused:
            yield self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        yield {"image": final}
        if self.p["quiet"]:
            yield {"stream": final + "\n"}
        else:
            yield {"stream": f"Successfully built {short(final)}\n"}
        for ref in tags:
            await self.clients.call("image.tag", {"name": final, "repo": ref.repository, "tag": ref.tag,
                                                  "force": True})
            yield self.say(f"Successfully tagged {ref}\n")

    # ---------------------------------------------------------------- FROM

    def _check_platform(self, platform: str | None) -> None:
        if not platform:
            return
        os_name, _, arch = platform.lower().partition("/")
        arch = arch.partition("/")[0]
        if os_name != "linux" or (arch and arch != release.go_arch()):
            raise errors.BadParameter(f"platform {platform} is not supported: this daemon builds "
                                      f"linux/{release.go_arch()} images")

    async def _from(self, stage: ins.Stage, state: StageState) -> AsyncIterator[dict]:
        self.step += 1
        yield self.say(f"Step {self.step}/{self.total} : {stage.base.original}\n")
        name = self._meta_expand(stage.base.image)
        if not name:
            raise errors.BadParameter(f"base name ({stage.base.image}) should not be blank")
        if stage.base.platform:
            self._check_platform(self._meta_expand(stage.base.platform))
        index = self._stage_index(name)
        if index is not None and index < stage.index:
            image = self.results[index]
        elif name.lower() == "scratch":
            image = ""
        else:
            image = ""
            async for chunk in self._image(name):
                if "image" in chunk:
                    image = chunk["image"]
                else:
                    yield chunk
        state.image = image
        config = image_config.run_config(self.store.config(image), name) if image else {}
        state.config = {**image_config.empty_container_config(), **copy.deepcopy(config)}
        if image:
            yield self.say(f" ---> {short(image)}\n")
        triggers = state.config.get("OnBuild") or []
        if triggers:
            state.config["OnBuild"] = []
            yield self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                node = parser.parse_line(text)   # as Docker: a trigger is read with the default escape
                trigger = ins.from_node(node)
                if isinstance(trigger, (ins.From, ins.OnBuild)):
                    raise errors.BadParameter(f"{node.keyword.upper()} is not allowed as an ONBUILD trigger")
                async for chunk in self._step(state, trigger, text, count=False):
                    yield chunk
                    if chunk.get("error"):
                        return

    async def _image(self, name: str) -> AsyncIterator[dict]:
        """The image `name` names, pulled if it is not here (or the build says pull)."""
        image = None
        if not self.p["pull"]:
            try:
                image = self.store.resolve(name)
            except errors.NotFound:
                pass
        if image is None:
            ref = reference.parse(name)
            stream = await self.clients.stream("image.pull", {"image": name, "auth": self._auth(ref.domain)})
            try:
                async for chunk in stream:
                    if not self.p["quiet"]:
                        yield {k: v for k, v in chunk.items() if k != "image"}
            finally:
                await stream.aclose()
            image = self.store.resolve(name)
        yield {"image": image}

    def _auth(self, domain: str) -> dict | None:
        for server, auth in self.p["auth"].items():
            host = server.split("://", 1)[-1].split("/", 1)[0]
            if host == domain or (domain == reference.DEFAULT_DOMAIN and host.endswith("docker.io")):
                return auth
        return None

    def _cache_from(self) -> list[str]:
        out = []
        for name in self.p["cachefrom"]:
            try:
                out.append(self.store.resolve(name))
            except errors.DockyardError:
                pass   # as Docker: a cache source that is not here is no source
        return out

    # ---------------------------------------------------------------- steps

    async def _step(self, state: StageState, inst, text: str, count: bool = True) -> AsyncIterator[dict]:
        if count:
            self.step += 1
            yield self.say(f"Step {self.step}/{self.total} : {text}\n")
        if isinstance(inst, ins.Run):
            steps = self._run(state, inst)
        elif isinstance(inst, (ins.Copy, ins.Add)):
            steps = self._copy(state, inst)
        elif isinstance(inst, ins.Arg):
            for name, default in inst.args:
                dispatch.declare_arg(state, name, state.expand(default) if default is not None else None)
            # Named as written, never with a value given by --build-arg (it may be a secret).
            words = [f"{name}={default}" if default is not None else name for name, default in inst.args]
            steps = self._commit(state, "ARG " + " ".join(words), None)
        elif isinstance(inst, ins.From):
            raise errors.BadParameter(f"FROM is not allowed here (line {inst.line})")
        else:
            steps = self._configure(state, inst)
        async for chunk in steps:
            yield chunk

    async def _configure(self, state: StageState, inst) -> AsyncIterator[dict]:
        text = dispatch.configure(state, inst)
        layer = None
        if isinstance(inst, ins.Workdir):
            layer = await to_its_end(workdir_layer, self._tree(state.image), state.workdir(),
                                            self._new_file())
        async for chunk in self._commit(state, text, layer):
            yield chunk

    def _new_file(self) -> str:
        self._files += 1
        return os.path.join(self.stage_dir, f"layer-{self._files}.tar")

    def _probe(self, state: StageState, container_config: dict) -> tuple[str, str | None]:
        """The step's digest, and the image the cache has for it (None: a miss, or nocache)."""
        digest = cache.key(container_config)
        return digest, None if self.p["nocache"] else self.cache.probe(state.image, digest, self.only)

    def _used_cache(self, state: StageState, hit: str) -> list[dict]:
        state.image = hit
        return [self.say(" ---> Using cache\n"), self.say(f" ---> {short(hit)}\n")]

    async def _make(self, state: StageState, text: str, container_config: dict, digest: str,
                    layer: str | None) -> dict:
        """The step's image, made by the registry service (with the layer tar at `layer`, or
        an empty layer), recorded in the cache; the line that names it."""
        async def upload():
            if layer is not None:
                with open(layer, "rb") as fh:
                    while data := fh.read(1 << 20):
                        yield data
        try:
            result = await self.clients.call("image.step", {
                "parent": state.image, "created_by": " ".join(container_config["Cmd"]),
                "config": state.config, "container_config": container_config, "layer": layer is not None,
                "author": state.author}, upload=upload())
        finally:
            if layer is not None:
                os.unlink(layer)
        self.cache.record(state.image, digest, result["id"], text)
        state.image = result["id"]
        return self.say(f" ---> {short(state.image)}\n")

    async def _commit(self, state: StageState, text: str, layer: str | None) -> AsyncIterator[dict]:
        """A step that runs nothing: its image from the cache, or made."""
        container_config = dispatch.step_config(state, dispatch.nop_cmd(state, text))
        digest, hit = self._probe(state, container_config)
        if hit is not None:
            if layer is not None:
                os.unlink(layer)
            for chunk in self._used_cache(state, hit):
                yield chunk
            return
        yield await self._make(state, text, container_config, digest, layer)

    def _tree(self, image: str) -> trees.LayeredTree:
        rows = self.store.chain(image) if image else []
        return trees.LayeredTree([self.store.layer_path(r["chain_id"]) for r in reversed(rows)])

    async def _copy(self, state: StageState, inst) -> AsyncIterator[dict]:
        kind = "ADD" if isinstance(inst, ins.Add) else "COPY"
        sources = [state.expand(s) for s in inst.sources]
        dest = state.expand(inst.dest)
        image_tree = self._tree(state.image)
        owner = trees.lookup_user(image_tree, state.expand(inst.chown)) if inst.chown else None
        chmod = state.expand(inst.chmod) if inst.chmod else None
        src, in_context, add = self.context, True, kind == "ADD"
        from_ = getattr(inst, "from_", None)
        if from_:
            src, in_context = await self._from_tree(state.expand(from_)), False
        urls = [s for s in sources if remote.is_url(s)]
        if add and urls:
            if len(urls) != len(sources):
                raise errors.BadParameter(f"ADD of URLs and local files at once is not supported (line {inst.line})")
            fetched = os.path.join(self.stage_dir, f"url-{self._files}")
            self._files += 1
            sources = [await remote.download_into(url, fetched) for url in urls]
            src, in_context, add = trees.DirTree(fetched), False, False
        try:
            plan = await to_its_end(
                copying.plan_copy, sources, dest, src=src, image=image_tree, workdir=state.workdir(),
                owner=owner, chmod=chmod, add=add, src_is_context=in_context)
        except errors.BadParameter as exc:
            raise errors.BadParameter(f"{kind} failed: {exc.message}") from None
        text = f"{kind} {plan.checksum} in {dest} "
        container_config = dispatch.step_config(state, dispatch.nop_cmd(state, text))
        digest, hit = self._probe(state, container_config)
        if hit is not None:
            for chunk in self._used_cache(state, hit):
                yield chunk
            return
        path = self._new_file()

        def write() -> None:
            with open(path, "wb") as fh:
                plan.write(fh)
        await to_its_end(write)
        yield await self._make(state, text, container_config, digest, path)

    async def _from_tree(self, name: str) -> trees.LayeredTree:
        index = self._stage_index(name)
        if index is not None:
            if index not in self.results:
                raise errors.BadParameter(f"COPY --from={name}: the stage is not built before this one")
            return self._tree(self.results[index])
        image = None
        async for chunk in self._image(name):
            if "image" in chunk:
                image = chunk["image"]
        return self._tree(image)

    # ---------------------------------------------------------------- RUN

    async def _run(self, state: StageState, inst: ins.Run) -> AsyncIterator[dict]:
        cmd = state.command(inst.command, inst.json)
        history = state.history_args()
        saved = ([f"|{len(history)}", *history] if history else []) + cmd
        container_config = dispatch.step_config(state, saved)
        digest, hit = self._probe(state, container_config)
        if hit is not None:
            for chunk in self._used_cache(state, hit):
                yield chunk
            return
        if not state.image:
            raise errors.BadParameter(f"RUN on an empty stage (FROM scratch): there is no {cmd[0]} to run "
                                      f"(line {inst.line})")
        run_config = copy.deepcopy(state.config)
        run_config.update({"Image": state.image, "Cmd": cmd, "Entrypoint": [],
                           "Env": list(state.config.get("Env") or []) + state.run_args(),
                           "Tty": False, "OpenStdin": False, "AttachStdin": False,
                           "Healthcheck": {"Test": ["NONE"]},   # as Docker: a step is never probed
                           "AttachStdout": True, "AttachStderr": True})
        keep = not self.p["rm"] and not self.p["forcerm"]
        stream = await self.clients.stream("container.build_step", {
            "config": run_config, "host_config": self._host_config(), "keep": keep,
            "commit": {"config": state.config, "container_config": container_config,
                       "created_by": " ".join(saved), "author": state.author}})
        end = None
        container = ""
        try:
            async for chunk in stream:
                meta, data = chunk if isinstance(chunk, tuple) else (chunk, None)
                if meta.get("container"):
                    container = meta["container"]
                    yield self.say(f" ---> Running in {container[:12]}\n")
                elif data is not None:
                    text = data.decode("utf-8", "replace")
                    # As Docker's builder: what a step writes to stderr shows in red.
                    yield self.say(f"\x1b[91m{text}\x1b[0m" if meta.get("fd") == 2 else text)
                elif meta.get("exit_code") is not None:
                    end = meta
        finally:
            await stream.aclose()
        if end is None:
            raise errors.ServerError("the RUN step ended without its exit code")
        if end["exit_code"] != 0:
            message = f"The command '{' '.join(cmd)}' returned a non-zero code: {end['exit_code']}"
            yield {"error": message, "code": end["exit_code"]}
            return
        if not keep:
            yield self.say(f"Removing intermediate container {container[:12]}\n")
        self.cache.record(state.image, digest, end["image"], " ".join(saved))
        state.image = end["image"]
        yield self.say(f" ---> {short(state.image)}\n")

    def _host_config(self) -> dict:
        limits = self.p["limits"]
        return {"Memory": limits["memory"], "MemorySwap": limits["memswap"], "CpuShares": limits["cpushares"],
                "CpusetCpus": limits["cpusetcpus"], "CpuPeriod": limits["cpuperiod"],
                "CpuQuota": limits["cpuquota"], "ShmSize": limits["shmsize"],
                "NetworkMode": limits["networkmode"] or "default", "ExtraHosts": limits["extrahosts"] or None}
