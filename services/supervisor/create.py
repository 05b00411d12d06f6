"""container.create: a new container's record and its files, made whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile

from services.common import container_files, errors, layout, wire
from services.common.config import Settings
from services.common.store import Store

from . import bundle, names, spec
from .networks import files, modes, ports
from .networks.store import Networks
from .events import container_event
from .mounts import Mounts
from .records import Records


class Creator:
    def __init__(self, settings: Settings, records: Records, mounts: Mounts, store: Store, networks: Networks):
        self.settings = settings
        self.networks = networks
        self.records = records
        self.mounts = mounts
        self.store = store
        self.staging = layout.staging_dir(settings.data_root, "supervisor")

    def handlers(self) -> dict:
        return {"container.create": self.create}

    def _name(self, given: str | None) -> str:
        if not given:
            return names.generate(lambda n: self.records.name_owner(n) is not None)
        name = names.check(given)
        other = self.records.name_owner(name)
        if other:
            raise names.in_use(name, other)
        return name

    async def create(self, call: wire.Call) -> dict:
        p = call.params
        warnings: list[str] = []
        cid = self.make(p["config"], p["host_config"], p.get("networking_config"), p.get("name"), warnings=warnings)
        return {"id": cid, "warnings": warnings}

    def make(self, config: dict | None, host: dict | None, networking: dict | None, name: str | None,
             build_step: bool = False, warnings: list[str] | None = None) -> str:
        """A new container's id, its record and files made; a build's RUN step says so. What
        Docker warns of is added to `warnings`."""
        spec.check(config or {}, host, networking)
        config, host = config or {}, host or {}
        for entry in host.get("ExtraHosts") or []:
            files.extra_host(entry)   # refused before anything is made
        modes.check(host.get("NetworkMode") or "default")
        image_name = config.get("Image")
        if not image_name:
            raise errors.BadParameter("Config.Image is required")
        image_id = self.store.resolve(image_name)
        name = self._name(name)
        cid = self.records.new_id()
        d = container_files.paths(self.settings.data_root, cid)
        image = self.store.config(image_id).get("config") or {}
        # The image's VOLUMEs are anonymous volumes, but not in a build's RUN step (its changes
        # there are the step's result).
        mounts, anonymous = self.mounts.for_create(config, host, None if build_step else image.get("Volumes"))
        made = spec.Made(id=cid, name=name, image_id=image_id, image=image,
                         paths=d, mounts=mounts, anonymous_volumes=anonymous,
                         warnings=warnings if warnings is not None else [],
                         cgroup_parent=self.settings.cgroup_parent, default_runtime=self.settings.runtime,
                         default_log={"Type": self.settings.log_driver, "Config": self.settings.log_opts})
        try:
            rec = spec.record(made, config, host)
            rec["NetworkSettings"] = modes.settings_at_create(host, networking, self.networks.find)
            ports.wanted(rec["Config"], rec["HostConfig"])   # a bad binding refused now, not at start
        except BaseException:
            self.mounts.remove_anonymous({"Dockyard": {"anonymous_volumes": anonymous}})
            raise
        # Made in staging, renamed into place, then recorded: a crash leaves nothing half-made.
        # Its OCI bundle's config.json is written at each start, from the record as it is then.
        stage = tempfile.mkdtemp(dir=self.staging)
        try:
            staged = {k: v.replace(d["dir"], stage) for k, v in d.items()}
            bundle.make_dirs(staged)
            files.write_all(staged, rec)
            os.rename(stage, d["dir"])
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        if build_step:
            rec["Dockyard"]["build_step"] = True
        self.records.insert(rec)
        container_event(rec, "create")
        return cid
