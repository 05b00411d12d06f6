"""An aiodocker session on Dockyard, as an asyncio test harness holds one: create and
start a container, read its logs (followed and not), exec in it, list with filters, follow
the events that see it start, list images, and delete it."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiodocker
import pytest

from .containers import ensure_busybox

SCRIPT = "echo hello from aiodocker; echo to stderr >&2; exec tail -f /dev/null"


async def next_event(subscriber, wanted, timeout: float = 30) -> dict:
    """The first event `wanted(event)` takes, of those the subscriber is given."""
    async def first() -> dict:
        while True:
            event = await subscriber.get()
            assert event is not None, "the events stream ended"
            if wanted(event):
                return event
    return await asyncio.wait_for(first(), timeout)


async def followed(container, *lines: str, timeout: float = 30) -> list[str]:
    """What a followed log gives until every one of `lines` came."""
    got: list[str] = []

    async def read() -> None:
        async for line in container.log(stdout=True, stderr=True, follow=True):
            got.append(line)
            if all(x in got for x in lines):
                return
    await asyncio.wait_for(read(), timeout)
    return got


async def exec_output(container, cmd: list[str]) -> tuple[dict[int, bytes], int]:
    """An exec run to its end: what it wrote, by stream (1 stdout, 2 stderr), and its exit code."""
    ex = await container.exec(cmd)
    out: dict[int, bytes] = {1: b"", 2: b""}
    async with ex.start(detach=False) as stream:
        while (msg := await asyncio.wait_for(stream.read_out(), 30)) is not None:
            out[msg.stream] += msg.data
    return out, (await ex.inspect())["ExitCode"]


async def session(url: str, name: str, mark: str) -> None:
    async with aiodocker.Docker(url=url) as docker:
        assert (await docker.version())["ApiVersion"] == "1.45"
        since = f"{time.time():.9f}"   # from here on: no event is missed while the stream connects
        subscriber = docker.events.subscribe(since=since, filters={"label": [mark], "type": ["container"]})
        container = None
        try:
            container = await docker.containers.create(
                config={"Image": "busybox:latest", "Cmd": ["sh", "-c", SCRIPT], "Labels": {mark: "1"}}, name=name)
            await container.start()
            created = await next_event(subscriber, lambda e: e["Action"] == "create")
            started = await next_event(subscriber, lambda e: e["Action"] == "start")
            assert created["Actor"]["ID"] == started["Actor"]["ID"] == container.id
            assert started["Actor"]["Attributes"]["name"] == name and started["Type"] == "container"

            # Logs: followed until both lines came, then each stream alone.
            got = await followed(container, "hello from aiodocker\n", "to stderr\n")
            assert sorted(got) == ["hello from aiodocker\n", "to stderr\n"], got
            assert await container.log(stdout=True) == ["hello from aiodocker\n"]
            assert await container.log(stderr=True) == ["to stderr\n"]

            # Exec: both streams apart, and its exit code.
            out, code = await exec_output(container, ["sh", "-c", "echo out $((6*7)); echo err >&2; exit 3"])
            assert (out, code) == ({1: b"out 42\n", 2: b"err\n"}, 3)
            shown = await container.show()
            assert shown["State"]["Running"] and shown["Name"] == f"/{name}"

            # Lists with filters.
            listed = await docker.containers.list(filters={"label": [f"{mark}=1"], "status": ["running"]})
            assert [c.id for c in listed] == [container.id]
            assert await docker.containers.list(all=True, filters={"label": [f"{mark}=2"]}) == []
            listed = await docker.containers.list(all=True, filters={"name": [name]})
            assert [c.id for c in listed] == [container.id]

            images = await docker.images.list(filters={"reference": ["busybox"]})
            assert any("busybox:latest" in (i.get("RepoTags") or []) for i in images), images
            assert shown["Image"] in {i["Id"] for i in images}
            assert (await docker.images.inspect("busybox:latest"))["Id"] == shown["Image"]

            # Delete: gone from the daemon, and the events say so.
            await container.delete(force=True)
            removed, container = container, None
            await next_event(subscriber, lambda e: e["Action"] == "destroy" and e["Actor"]["ID"] == removed.id)
            with pytest.raises(aiodocker.DockerError) as err:
                await docker.containers.get(removed.id)
            assert err.value.status == 404
        finally:
            if container is not None:
                await container.delete(force=True)
            await docker.events.stop()


def test_an_aiodocker_session(daemon):
    ensure_busybox(daemon)
    tag = uuid.uuid4().hex[:8]
    asyncio.run(asyncio.wait_for(session(daemon.unix_url, f"aio-{tag}", f"dy.aio.{tag}"), 120))
