"""The supervisor service: containers, networks, volumes, and the shims that run them.
This module only composes its rooms."""

from __future__ import annotations

import functools

from services.common import layout, records_stamp, service, wire
from services.common.config import Settings
from services.common.store import Store

from .adopt import adopt
from .archives import Archives
from .build_steps import BuildSteps
from .commit import Snapshots
from .control import Control
from .create import Creator
from .events import Events, install as install_events
from .exec_watch import ExecWatch
from .execs import Execs
from .health import Health
from .info import Info
from .lifecycle import Lifecycle
from .listing import Listing
from .logs import Logs
from .mounts import Mounts
from .networks.bridge import Bridges
from .networks.room import NetworksRoom
from .networks.store import Networks
from .records import Records
from .shims import Shims, Zygote
from .update import Updates
from .usage import Usage
from .volume_mounts import VolumeMounts
from .volume_store import VolumeStore, references
from .volumes import VolumesRoom
from .disk_usage import DiskUsage


async def setup(settings: Settings, server: wire.ServiceServer, clients: wire.Clients,
                zygote: Zygote | None = None) -> None:
    store = Store(settings.data_root, "supervisor")  # read only: the registry service writes it
    events = Events(settings.data_root)   # the event journal, first: every room records into it
    install_events(events)
    records = Records(store.conn, records_stamp.Writer(settings.exec_root))
    events.containers = records   # event.record gives a container's event its labels, name, image
    shims = Shims(settings, clients, zygote)
    volumes = VolumeStore(store.conn, settings.data_root, layout.staging_dir(settings.data_root, "supervisor"))
    volumes.reconcile(set(references(records.all())))
    mounts = Mounts(volumes, records)
    networks = Networks(store.conn)
    networks.ensure_predefined(settings)
    bridges = Bridges(settings, records, networks)
    lifecycle = Lifecycle(settings, records, shims, mounts, store, bridges)
    creator = Creator(settings, records, mounts, store, networks)
    snapshots = Snapshots(settings, records, store, clients)
    build_steps = BuildSteps(records, creator, lifecycle, snapshots, clients)
    health = Health(records, clients)
    lifecycle.started_hooks.append(health.watch)
    execs = Execs(records, clients)
    exec_watch = ExecWatch(execs, clients)   # each started exec to its end: exec_die as it ends
    rooms = [creator, lifecycle, Listing(settings, records, store, lifecycle), Logs(settings, records), snapshots,
             Info(settings, store.conn), build_steps, health, NetworksRoom(settings, records, networks, bridges),
             execs]
    rooms.append(Usage(records))   # docker top, docker stats
    rooms.append(Control(records, bridges))
    volume_mounts = VolumeMounts(volumes, records)   # a volume's tmpfs, bind... while containers use it
    rooms.append(Archives(settings, records, snapshots, lifecycle, volume_mounts))   # docker cp
    rooms.append(Updates(records))   # docker update
    rooms.append(VolumesRoom(records, volumes))
    rooms.append(events)   # docker events
    rooms.append(DiskUsage(settings, records, volumes))   # GET /system/df
    lifecycle.starting_hooks.append(volume_mounts.at_start)
    lifecycle.started_hooks.append(volume_mounts.started)
    lifecycle.stopped_hooks.append(volume_mounts.release)
    for room in rooms:
        for name, handler in room.handlers().items():
            server.handle(name)(handler)
    await bridges.restore()   # before adoption: an exit found then gives back its addresses
    await adopt(settings, records, shims, lifecycle)
    exec_watch.adopt()   # the execs started before this supervisor, watched again
    await volume_mounts.sweep()   # what no container that runs uses (its last one exited while none looked)
    await build_steps.sweep()
    await shims.start_zygote()


def main() -> None:
    # The shim zygote is forked first, while this process has no thread (the event loop and
    # ZeroMQ start theirs): it and its shims share the pages of what this process loaded.
    zygote = Zygote()
    service.run("supervisor", functools.partial(setup, zygote=zygote), before_loop=zygote.fork)


if __name__ == "__main__":
    main()
