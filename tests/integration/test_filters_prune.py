"""Filters of the container and image lists, and the prunes (issue 8), as a user meets them:
the docker CLI first, then docker-py and raw HTTP for the rest."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import uuid

import docker
import pytest

from .containers import ensure_busybox


@pytest.fixture
def cli(daemon, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path))

    def run(*args: str, d=None) -> subprocess.CompletedProcess:
        host = (d or daemon).unix_url
        return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, timeout=120, env=env)
    return run


def lines(out: subprocess.CompletedProcess) -> list[str]:
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.strip()]


def query(filters: dict) -> str:
    return "filters=" + urllib.parse.quote(json.dumps(filters))


def commit(daemon, cid: str, repo: str | None = None, labels: dict | None = None) -> str:
    path = f"/v1.45/commit?container={cid}" + (f"&repo={repo}" if repo else "")
    r = daemon.request("POST", path, body=json.dumps({"Labels": labels or {}}).encode(),
                       headers={"Content-Type": "application/json"})
    assert r.status == 201, r.body
    return r.json()["Id"]


@pytest.fixture
def family(client):
    """Containers of one label, in each state a list tells apart: running, exited 3, exited 0,
    created; and one made from a child image of busybox."""
    tag = uuid.uuid4().hex[:8]
    label = {"dyf": tag}
    made = {
        "run": client.containers.run("busybox", "sleep 300", detach=True, name=f"dyf-run-{tag}", labels=label),
        "exit3": client.containers.run("busybox", "sh -c 'exit 3'", detach=True, name=f"dyf-exit3-{tag}",
                                       labels=label),
        "exit0": client.containers.run("busybox", "true", detach=True, name=f"dyf-exit0-{tag}", labels=label),
        "new": client.containers.create("busybox", "true", name=f"dyf-new-{tag}", labels=label),
    }
    assert made["exit3"].wait()["StatusCode"] == 3
    assert made["exit0"].wait()["StatusCode"] == 0
    base = client.containers.create("busybox", "true")
    child_image = client.images.get(base.commit(repository=f"dyf-child-{tag}", tag="1").id)
    base.remove()
    made["child"] = client.containers.create(child_image.id, "true", name=f"dyf-child-{tag}", labels=label)
    yield tag, made
    for c in made.values():
        c.remove(force=True)
    client.images.remove(child_image.id, force=True)


def test_docker_ps_filters(cli, family):
    tag, made = family
    name = "--format={{.Names}}"
    label = f"label=dyf={tag}"
    # The regression: status=exited lists no running container.
    exited = lines(cli("ps", "--filter", "status=exited", name))
    assert f"dyf-exit3-{tag}" in exited and f"dyf-exit0-{tag}" in exited
    assert f"dyf-run-{tag}" not in exited and f"dyf-new-{tag}" not in exited
    assert sorted(lines(cli("ps", "--filter", "status=exited", "--filter", label, name))) == sorted(
        [f"dyf-exit3-{tag}", f"dyf-exit0-{tag}"])
    assert lines(cli("ps", "--filter", "status=created", "--filter", label, name)) == [
        f"dyf-child-{tag}", f"dyf-new-{tag}"]   # newest first
    assert lines(cli("ps", "--filter", label, name)) == [f"dyf-run-{tag}"]
    assert len(lines(cli("ps", "-a", "--filter", label, name))) == 5
    assert lines(cli("ps", "-a", "--filter", "label=dyf=other", name)) == []
    assert sorted(lines(cli("ps", "-a", "--filter", f"name=dyf-exit.-{tag}", name))) == sorted(
        [f"dyf-exit3-{tag}", f"dyf-exit0-{tag}"])
    assert lines(cli("ps", "-a", "--filter", f"name=^dyf-new-{tag}$", name)) == [f"dyf-new-{tag}"]
    assert lines(cli("ps", "-a", "--filter", "exited=3", "--filter", label, name)) == [f"dyf-exit3-{tag}"]
    assert lines(cli("ps", "-a", "--filter", "exited=0", "--filter", label, name)) == [f"dyf-exit0-{tag}"]
    # ancestor: the image by name, and its descendants.
    assert len(lines(cli("ps", "-a", "--filter", "ancestor=busybox", "--filter", label, name))) == 5
    assert lines(cli("ps", "-a", "--filter", f"ancestor=dyf-child-{tag}:1", name)) == [f"dyf-child-{tag}"]
    assert lines(cli("ps", "-a", "--filter", "ancestor=nosuchimage", name)) == []
    # A bad value is refused, in Docker's words.
    out = cli("ps", "--filter", "status=bogus")
    assert out.returncode != 0
    assert "invalid filter 'status=bogus': invalid value for state (bogus)" in out.stderr
    out = cli("ps", "--filter", "colour=red")
    assert out.returncode != 0 and "invalid filter 'colour'" in out.stderr


def test_container_list_filters_over_http(daemon, client, family):
    tag, made = family
    label = f"dyf={tag}"

    def names(filters: dict, extra: str = "") -> list[str]:
        r = daemon.get(f"/v1.45/containers/json?{query(filters)}{extra}")
        assert r.status == 200, r.body
        return [c["Names"][0].lstrip("/") for c in r.json()]
    by_name = {k: f"dyf-{k}-{tag}" for k in made}
    # Both forms of the parameter.
    assert names({"status": ["exited"], "label": [label]}) == names(
        {"status": {"exited": True}, "label": {label: True}})
    assert set(names({"label": [label]}, "&all=1")) == set(by_name.values())
    # id: a prefix.
    assert names({"id": [made["exit3"].id[:20]]}, "&all=1") == [by_name["exit3"]]
    # before and since: by name or id, newest first.
    assert names({"label": [label], "before": [by_name["exit0"]]}, "&all=1") == [by_name["exit3"], by_name["run"]]
    assert names({"label": [label], "since": [made["new"].id]}, "&all=1") == [by_name["child"]]
    r = daemon.get(f"/v1.45/containers/json?{query({'before': ['nosuchcontainer']})}")
    assert r.status == 404
    assert names({"label": [label], "health": ["none"]}, "&all=1") == names({"label": [label]}, "&all=1")
    assert names({"label": [label], "health": ["healthy"]}, "&all=1") == []
    assert set(names({"label": [label], "network": ["bridge"]}, "&all=1")) == set(by_name.values())
    assert names({"label": [label], "network": ["host"]}, "&all=1") == []
    assert names({"label": [label], "is-task": ["true"]}, "&all=1") == []
    assert len(names({"label": [label], "is-task": ["false"]}, "&all=1")) == 5
    assert names({"label": [label], "publish": ["8080"]}, "&all=1") == []
    assert names({"label": [label], "volume": ["/nowhere"]}, "&all=1") == []
    # all, limit: the newest first; a status filter lists all by itself.
    assert names({"label": [label]}, "&limit=2") == [by_name["child"], by_name["new"]]
    assert names({"label": [label], "status": ["running"]}) == [by_name["run"]]
    # docker-py says it its way.
    assert [c.name for c in client.containers.list(filters={"label": label, "exited": 3}, all=True)] == [
        by_name["exit3"]]
    for bad, message in [
        ("{", "invalid filter"),
        ('{"status":"exited"}', "invalid filter"),
        ('{"nope":["x"]}', "invalid filter 'nope'"),
        ('{"status":["stopped"]}', "invalid filter 'status=stopped'"),
        ('{"exited":["x"]}', "invalid filter 'exited=x'"),
        ('{"health":["ill"]}', "invalid filter 'health=ill'"),
        ('{"is-task":["maybe"]}', "invalid filter 'is-task=[maybe]'"),
        ('{"publish":["80:80"]}', "filter for 'publish' should not contain ':'"),
    ]:
        r = daemon.get(f"/v1.45/containers/json?filters={urllib.parse.quote(bad)}")
        assert r.status == 400, (bad, r.body)
        assert r.json()["message"].startswith(message), r.body


def test_container_volume_filter(client):
    ctr = client.containers.create("busybox", "true", volumes=["dyfvol:/data"])
    try:
        for value in ("dyfvol", "/data"):
            assert [c.id for c in client.containers.list(all=True, filters={"volume": value})] == [ctr.id]
        assert client.containers.list(all=True, filters={"volume": "nosuchvolume"}) == []
    finally:
        ctr.remove(v=True)


def test_docker_images_shows_only_the_references_asked_for(daemon, cli, client):
    tag = uuid.uuid4().hex[:8]
    other = f"dyf-other-{tag}/tool"
    assert cli("tag", "busybox", f"{other}:1").returncode == 0
    assert cli("tag", "busybox", f"busybox:dyf-{tag}").returncode == 0
    try:
        rows = lines(cli("images", "busybox", "--format", "{{.Repository}}:{{.Tag}}"))
        assert "busybox:latest" in rows and f"busybox:dyf-{tag}" in rows
        assert all(row.startswith("busybox:") for row in rows), rows
        assert lines(cli("images", other, "--format", "{{.Repository}}:{{.Tag}}")) == [f"{other}:1"]
        assert lines(cli("images", "busybox:latest", "--format", "{{.Repository}}:{{.Tag}}")) == ["busybox:latest"]
        assert lines(cli("images", f"dyf-other-{tag}/*", "--format", "{{.Repository}}:{{.Tag}}")) == [f"{other}:1"]
        assert lines(cli("images", "--filter", "reference=*/tool:*", "--format", "{{.Repository}}")) == [other]
        # Over HTTP: the row keeps only the tags that match.
        r = daemon.get(f"/v1.45/images/json?{query({'reference': ['busybox']})}")
        assert r.status == 200
        tags = [t for row in r.json() for t in row["RepoTags"]]
        assert "busybox:latest" in tags and f"{other}:1" not in tags
        r = daemon.get(f"/v1.45/images/json?{query({'reference': {'nosuch': True}})}")
        assert r.status == 200 and r.json() == []
        r = daemon.get(f"/v1.45/images/json?{query({'reference': ['[']})}")
        assert r.status == 400 and "syntax error in pattern" in r.json()["message"]
        # docker-py lists by the filter, then inspects each image (all its tags).
        assert [i.id for i in client.images.list(name=other)] == [client.images.get("busybox").id]
        assert client.images.list(name=f"dyf-nosuch-{tag}") == []
    finally:
        cli("rmi", f"{other}:1")
        cli("rmi", f"busybox:dyf-{tag}")


def test_image_list_filters(daemon, client):
    tag = uuid.uuid4().hex[:8]
    ctr = client.containers.create("busybox", "true")
    try:
        older = commit(daemon, ctr.id, f"dyf-old-{tag}", {"dyf": tag, "age": "old"})
        newer = commit(daemon, ctr.id, f"dyf-new-{tag}", {"dyf": tag, "age": "new"})
        dangling = commit(daemon, ctr.id, None, {"dyf": tag, "age": "none"})
    finally:
        ctr.remove()

    def ids(filters: dict) -> list[str]:
        r = daemon.get(f"/v1.45/images/json?{query(filters)}")
        assert r.status == 200, r.body
        return [row["Id"] for row in r.json()]
    assert set(ids({"label": [f"dyf={tag}"]})) == {older, newer, dangling}
    assert ids({"label": [f"dyf={tag}", "age=old"]}) == [older]
    assert ids({"label": [f"dyf={tag}"], "dangling": ["true"]}) == [dangling]
    assert set(ids({"label": [f"dyf={tag}"], "dangling": ["false"]})) == {older, newer}
    assert ids({"label": [f"dyf={tag}"], "before": [f"dyf-new-{tag}"]}) == [older]
    assert set(ids({"label": [f"dyf={tag}"], "since": [f"dyf-old-{tag}"]})) == {newer, dangling}
    assert ids({"label": [f"dyf={tag}"], "until": ["1h"]}) == []
    assert set(ids({"label": [f"dyf={tag}"], "until": ["2100-01-01T00:00:00Z"]})) == {older, newer, dangling}
    for bad, message in [('{"nope":["x"]}', "invalid filter 'nope'"),
                         ('{"dangling":["maybe"]}', "invalid filter 'dangling=[maybe]'"),
                         ('{"until":["later"]}', "invalid value for 'until' filter")]:
        r = daemon.get(f"/v1.45/images/json?filters={urllib.parse.quote(bad)}")
        assert r.status == 400 and r.json()["message"].startswith(message), r.body
    for image in (older, newer, dangling):
        assert daemon.request("DELETE", f"/images/{image}?force=1").status in (200, 204)


# ------------------------------------------------------------------ prune

def test_docker_container_prune_with_filters(daemon, cli, client):
    tag = uuid.uuid4().hex[:8]
    label = {"dyp": tag}
    running = client.containers.run("busybox", "sleep 300", detach=True, labels=label)
    exited = client.containers.run("busybox", "true", detach=True, labels=label)
    created = client.containers.create("busybox", "true", labels=label)
    kept = client.containers.create("busybox", "true", labels={**label, "keep": "1"})
    assert exited.wait()["StatusCode"] == 0
    try:
        # Nothing older than an hour: none goes.
        out = lines(cli("container", "prune", "-f", "--filter", f"label=dyp={tag}", "--filter", "until=1h"))
        assert out == ["Total reclaimed space: 0B"]
        out = cli("container", "prune", "-f", "--filter", f"label=dyp={tag}", "--filter", "label!=keep")
        printed = lines(out)
        assert printed[0] == "Deleted Containers:"
        assert set(printed[1:-1]) == {exited.id, created.id}
        assert printed[-1].startswith("Total reclaimed space:")
        left = {c.id for c in client.containers.list(all=True, filters={"label": f"dyp={tag}"})}
        assert left == {running.id, kept.id}
        # Over HTTP: Docker's shape, null when none went.
        r = daemon.request("POST", f"/v1.45/containers/prune?{query({'label': ['dyp=nosuch']})}")
        assert r.status == 200 and r.json() == {"ContainersDeleted": None, "SpaceReclaimed": 0}
        before_2100 = query({"label": [f"dyp={tag}"], "until": ["2100-01-01"]})
        r = daemon.request("POST", f"/v1.45/containers/prune?{before_2100}")
        assert r.status == 200 and r.json()["ContainersDeleted"] == [kept.id]
        assert isinstance(r.json()["SpaceReclaimed"], int)
        assert {c.id for c in client.containers.list(all=True, filters={"label": f"dyp={tag}"})} == {running.id}
        # docker-py
        assert client.containers.prune(filters={"label": "dyp=nosuch"}) == {
            "ContainersDeleted": None, "SpaceReclaimed": 0}
        for bad, message in [('{"status":["exited"]}', "invalid filter 'status'"),
                             ('{"until":["1h","2h"]}', "more than one until filter specified"),
                             ('{"until":["soon"]}', "failed to parse value as time or duration")]:
            r = daemon.request("POST", f"/v1.45/containers/prune?filters={urllib.parse.quote(bad)}")
            assert r.status == 400 and message in r.json()["message"], r.body
        r = daemon.request("POST", "/v1.24/containers/prune")
        assert r.status == 400
        assert r.json()["message"] == "POST /containers/prune requires minimum API version 1.25"
    finally:
        for c in (running, exited, created, kept):
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_container_prune_keeps_what_runs_and_reads_label_not_as_docker(daemon, client):
    """Docker's prune removes what does not run (created, exited, dead), never a running or
    paused one; `label!=k=v` keeps what has that label with that value only, and several
    `label!` keep only what has all of them (moby's matchLabels)."""
    tag = uuid.uuid4().hex[:8]
    made = []

    def make(labels: dict, run: bool = False):
        ctr = client.containers.run("busybox", "top", detach=True, labels={"dyq": tag, **labels}) if run else \
            client.containers.create("busybox", "true", labels={"dyq": tag, **labels})
        made.append(ctr)
        return ctr
    paused = make({}, run=True)
    paused.pause()
    running = make({}, run=True)
    prod = make({"env": "prod"})
    test = make({"env": "test"})
    both = make({"env": "prod", "tier": "db"})
    plain = make({})
    try:
        def prune(filters: dict) -> set[str]:
            r = daemon.request("POST", f"/v1.45/containers/prune?{query(filters)}")
            assert r.status == 200, r.body
            return set(r.json()["ContainersDeleted"] or [])
        # Not both labels: every one but `both` goes of those that do not run.
        assert prune({"label": [f"dyq={tag}"], "label!": ["env=prod", "tier=db"]}) == {prod.id, test.id, plain.id}
        assert prune({"label": [f"dyq={tag}"], "label!": ["env=prod"]}) == set()
        assert prune({"label": [f"dyq={tag}"], "label!": ["env=test"]}) == {both.id}
        left = {c.id for c in client.containers.list(all=True, filters={"label": f"dyq={tag}"})}
        assert left == {paused.id, running.id}
        paused.unpause()
        running.kill()
        running.wait()
        assert prune({"label": [f"dyq={tag}"]}) == {running.id}
    finally:
        for ctr in made:
            try:
                ctr.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_docker_image_prune_with_filters(daemon, cli, client):
    tag = uuid.uuid4().hex[:8]
    label = {"dyi": tag}
    ctr = client.containers.create("busybox", "true")
    try:
        dangling = commit(daemon, ctr.id, None, label)
        tagged = commit(daemon, ctr.id, f"dyi-tagged-{tag}", label)
        used = commit(daemon, ctr.id, f"dyi-used-{tag}", label)
        other = commit(daemon, ctr.id, None, {"dyi": "other"})
    finally:
        ctr.remove()
    user = client.containers.create(used, "true")
    try:
        # Dangling only, by default.
        printed = lines(cli("image", "prune", "-f", "--filter", f"label=dyi={tag}"))
        assert printed[0] == "Deleted Images:" and f"deleted: {dangling}" in printed
        assert printed[-1].startswith("Total reclaimed space:")
        assert f"deleted: {tagged}" not in printed and f"deleted: {other}" not in printed
        assert client.images.get(tagged) and client.images.get(other)
        # -a: every image no container uses.
        printed = lines(cli("image", "prune", "-a", "-f", "--filter", f"label=dyi={tag}"))
        assert f"untagged: dyi-tagged-{tag}:latest" in printed and f"deleted: {tagged}" in printed
        assert not any(used in line for line in printed)
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(tagged)
        assert client.images.get(used).id == used
        # Over HTTP: Docker's shape, null when none went; label! keeps what has the label.
        r = daemon.request("POST", f"/v1.45/images/prune?{query({'label': ['dyi=nosuch']})}")
        assert r.status == 200 and r.json() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
        r = daemon.request("POST", f"/v1.45/images/prune?{query({'label!': ['dyi'], 'until': ['1h']})}")
        assert r.status == 200 and r.json()["ImagesDeleted"] is None
        r = daemon.request("POST", f"/v1.45/images/prune?{query({'label': ['dyi=other'], 'dangling': ['1']})}")
        assert r.status == 200 and r.json()["ImagesDeleted"] == [{"Deleted": other}]
        assert isinstance(r.json()["SpaceReclaimed"], int)
        assert client.images.prune(filters={"label": "dyi=nosuch"}) == {"ImagesDeleted": None, "SpaceReclaimed": 0}
        for bad, message in [('{"reference":["x"]}', "invalid filter 'reference'"),
                             ('{"dangling":["maybe"]}', "invalid filter 'dangling=[maybe]'"),
                             ('{"until":["later"]}', "invalid value for 'until' filter")]:
            r = daemon.request("POST", f"/v1.45/images/prune?filters={urllib.parse.quote(bad)}")
            assert r.status == 400 and r.json()["message"].startswith(message), r.body
        r = daemon.request("POST", "/v1.24/images/prune")
        assert r.status == 400 and r.json()["message"] == "POST /images/prune requires minimum API version 1.25"
    finally:
        user.remove()
        daemon.request("DELETE", f"/images/{used}?force=1")


def test_unfiltered_prunes_on_a_daemon_of_their_own(fresh_daemon, cli):
    d = fresh_daemon.start()
    ensure_busybox(d)
    c = docker.DockerClient(base_url=d.unix_url, version="1.45")
    busybox = c.images.get("busybox").id
    try:
        running = c.containers.run("busybox", "sleep 300", detach=True)
        stopped = c.containers.run("busybox", "true", detach=True)
        created = c.containers.create("busybox", "true")
        assert stopped.wait()["StatusCode"] == 0
        dangling = commit(d, created.id)
        printed = lines(cli("container", "prune", "-f", d=d))
        assert set(printed[1:-1]) == {stopped.id, created.id}
        assert [x.id for x in c.containers.list(all=True)] == [running.id]
        printed = lines(cli("image", "prune", "-f", d=d))
        assert printed[1:-1] == [f"deleted: {dangling}"]
        assert lines(cli("images", "-q", "--no-trunc", d=d)) == [busybox]
        # Used by the running container: -a keeps it; without the container it goes.
        assert lines(cli("image", "prune", "-a", "-f", d=d)) == ["Total reclaimed space: 0B"]
        running.remove(force=True)
        printed = lines(cli("image", "prune", "-a", "-f", d=d))
        assert printed[1:-1] == ["untagged: busybox:latest", f"deleted: {busybox}"]
        assert printed[-1] != "Total reclaimed space: 0B"
        assert lines(cli("images", "-a", "-q", d=d)) == []
    finally:
        c.close()


def test_an_untagged_parent_goes_with_its_pruned_child(daemon, client):
    tag = uuid.uuid4().hex[:8]
    base = client.containers.create("busybox", "true")
    parent = commit(daemon, base.id, None, {"dyc": tag})
    base.remove()
    mid = client.containers.create(parent, "true")
    child = commit(daemon, mid.id, None, {"dyc": tag})
    mid.remove()
    r = daemon.request("POST", f"/v1.45/images/prune?{query({'label': [f'dyc={tag}']})}")
    assert r.status == 200
    assert r.json()["ImagesDeleted"] == [{"Deleted": child}, {"Deleted": parent}]
    assert daemon.get(f"/v1.45/images/{parent}/json").status == 404
