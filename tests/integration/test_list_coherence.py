"""The lists answered from memory (issue 15) follow every change at once: the supervisor's
container records and their ready rows, the registry's ready image list and the api's copy
of it. Each list is read through each of its paths: unfiltered (the rows kept ready),
filtered, with sizes and v1.0's (from the records), at more than one API version."""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import urllib.parse
import uuid

import pytest

from ..polling import until
from .containers import create, ensure_busybox, start
from .registries import running_registry
from .test_images_v1 import import_image, messages


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    return ensure_busybox(daemon)


def get(daemon, path: str):
    r = daemon.get(path)
    assert r.status == 200, (path, r.status, r.body)
    return r.json()


def labelled(tag: str) -> str:
    return "filters=" + urllib.parse.quote(json.dumps({"label": [f"coh={tag}"]}))


def views(daemon, cid: str, tag: str, everything: bool = True) -> list[dict | None]:
    """The container's row in each list (None where it is not listed): unfiltered and
    filtered at 1.45 and 1.41, with sizes, and v1.0's (short id, from the records)."""
    query = "all=1&" if everything else ""
    out = []
    for path in (f"/v1.45/containers/json?{query}", f"/v1.41/containers/json?{query}",
                 f"/v1.45/containers/json?{query}{labelled(tag)}", f"/v1.45/containers/json?{query}size=1"):
        rows = [row for row in get(daemon, path) if row["Id"] == cid]
        assert len(rows) <= 1
        out.append({k: v for k, v in rows[0].items() if k not in ("SizeRw", "SizeRootFs")} if rows else None)
    legacy = [row for row in get(daemon, f"/containers/json?{query}") if row["Id"] == cid[:12]]
    out.append(legacy[0] if legacy else None)
    return out


def row_of(daemon, cid: str, tag: str, everything: bool = True) -> dict | None:
    """The container's row, the same in every modern list; None if none lists it."""
    *modern, legacy = views(daemon, cid, tag, everything)
    assert all(row == modern[0] for row in modern), modern
    assert (legacy is None) == (modern[0] is None)
    if legacy is not None:
        assert legacy["Image"] == modern[0]["Image"] and legacy["Created"] == modern[0]["Created"]
    return modern[0]


def post(daemon, path: str, body: dict | None = None, status: int = 204) -> bytes:
    r = daemon.request("POST", path, body=json.dumps(body).encode() if body is not None else None,
                       headers={"Content-Type": "application/json"} if body is not None else {})
    assert r.status == status, (path, r.status, r.body)
    return r.body


def test_a_container_list_right_after_each_change_shows_it(daemon):
    tag = uuid.uuid4().hex[:10]
    cid = create(daemon, "/v1.45", name=f"coh-{tag}", Cmd=["cat"], OpenStdin=True, Labels={"coh": tag})
    try:
        row = row_of(daemon, cid, tag)
        assert (row["Names"], row["State"], row["Status"], row["Labels"]) == ([f"/coh-{tag}"], "created", "Created",
                                                                             {"coh": tag})
        assert row_of(daemon, cid, tag, everything=False) is None   # not running: not in the default list

        post(daemon, f"/v1.45/containers/{cid}/rename?name=coh2-{tag}")
        assert row_of(daemon, cid, tag)["Names"] == [f"/coh2-{tag}"]
        assert get(daemon, f"/v1.45/containers/coh2-{tag}/json")["Id"] == cid

        start(daemon, cid, "/v1.45")
        row = row_of(daemon, cid, tag, everything=False)
        assert row["State"] == "running" and row["Status"].startswith("Up ")
        assert row["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]

        post(daemon, f"/v1.45/containers/{cid}/pause")
        row = row_of(daemon, cid, tag)
        assert row["State"] == "paused" and row["Status"].endswith("(Paused)")
        post(daemon, f"/v1.45/containers/{cid}/unpause")
        assert row_of(daemon, cid, tag)["State"] == "running"

        post(daemon, f"/v1.45/containers/{cid}/update", {"RestartPolicy": {"Name": "on-failure",
                                                                           "MaximumRetryCount": 2}}, status=200)
        host = get(daemon, f"/v1.45/containers/{cid}/json")["HostConfig"]
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        assert row_of(daemon, cid, tag)["State"] == "running"

        post(daemon, f"/v1.45/containers/{cid}/stop?t=1")
        row = row_of(daemon, cid, tag)
        assert row["State"] == "exited" and row["Status"].startswith("Exited (")
        assert row_of(daemon, cid, tag, everything=False) is None
    finally:
        assert daemon.request("DELETE", f"/v1.45/containers/{cid}?force=1").status == 204
    assert row_of(daemon, cid, tag) is None
    r = daemon.get(f"/v1.45/containers/{cid}/json")
    assert r.status == 404


def test_a_container_list_right_after_a_prune_shows_what_went(daemon):
    tag = uuid.uuid4().hex[:10]
    gone = create(daemon, "/v1.45", Cmd=["true"], Labels={"coh": tag})
    kept = create(daemon, "/v1.45", Cmd=["true"], Labels={"coh": tag, "keep": "1"})
    try:
        assert row_of(daemon, gone, tag) is not None
        query = "filters=" + urllib.parse.quote(json.dumps({"label": [f"coh={tag}"], "label!": ["keep=1"]}))
        answer = json.loads(post(daemon, f"/v1.45/containers/prune?{query}", status=200))
        assert answer["ContainersDeleted"] == [gone]
        assert row_of(daemon, gone, tag) is None and row_of(daemon, kept, tag) is not None
    finally:
        for cid in (gone, kept):
            daemon.request("DELETE", f"/v1.45/containers/{cid}?force=1")


def test_the_same_container_list_comes_back_after_a_supervisor_restart(daemon):
    tag = uuid.uuid4().hex[:10]
    made = [create(daemon, "/v1.45", Cmd=["cat"], OpenStdin=True, Labels={"coh": tag}, name=f"coh-run-{tag}"),
            create(daemon, "/v1.45", Cmd=["sh", "-c", "exit 3"], Labels={"coh": tag}),
            create(daemon, "/v1.45", Cmd=["true"], Labels={"coh": tag})]
    try:
        start(daemon, made[0], "/v1.45")
        start(daemon, made[1], "/v1.45")
        assert daemon.request("POST", f"/v1.45/containers/{made[1]}/wait").json()["StatusCode"] == 3

        def rows() -> tuple[list, dict]:
            listed = get(daemon, f"/v1.45/containers/json?all=1&{labelled(tag)}")
            everyone = {row["Id"]: row for row in get(daemon, "/v1.45/containers/json?all=1")}
            return listed, {cid: everyone.get(cid) for cid in made}

        def timeless(row: dict) -> dict:   # "Up 3 seconds" becomes "Up 5 seconds"
            return {**row, "Status": row["Status"].split(" ")[0] + (" (3)" if "(3)" in row["Status"] else "")}
        before, before_all = rows()
        assert [row["Id"] for row in before] == made[::-1]   # newest first
        old = daemon.pid("supervisor")
        daemon.supervisorctl("restart", "supervisor")
        daemon.wait_new_pid("supervisor", old)
        until(lambda: daemon.get("/v1.45/containers/json").status == 200, 30, "the supervisor to answer")
        after, after_all = rows()
        assert [timeless(r) for r in after] == [timeless(r) for r in before]
        assert {c: timeless(r) for c, r in after_all.items()} == {c: timeless(r) for c, r in before_all.items()}
        assert [row["State"] for row in after] == ["created", "exited", "running"]
    finally:
        for cid in made:
            daemon.request("DELETE", f"/v1.45/containers/{cid}?force=1")


def test_a_list_kept_by_the_api_follows_changes_it_did_not_make(daemon):
    """The api answers a list asked again from what it kept while no record changed; an
    exit it did not cause, and a supervisor killed and started again, still show at once."""
    tag = uuid.uuid4().hex[:10]
    cid = create(daemon, "/v1.45", Cmd=["cat"], OpenStdin=True, Labels={"coh": tag})
    other = create(daemon, "/v1.45", Cmd=["cat"], OpenStdin=True, Labels={"coh": tag})
    try:
        start(daemon, cid, "/v1.45")
        start(daemon, other, "/v1.45")
        for _ in range(3):   # asked again and again: kept
            assert row_of(daemon, cid, tag, everything=False)["State"] == "running"
        os.kill(get(daemon, f"/v1.45/containers/{cid}/json")["State"]["Pid"], signal.SIGKILL)
        assert daemon.request("POST", f"/v1.45/containers/{cid}/wait").json()["StatusCode"] == 137
        row = row_of(daemon, cid, tag)
        assert row["State"] == "exited" and row["Status"].startswith("Exited (137) ")
        assert row_of(daemon, cid, tag, everything=False) is None

        assert row_of(daemon, other, tag, everything=False)["State"] == "running"
        old = daemon.pid("supervisor")
        os.kill(old, signal.SIGKILL)
        daemon.wait_new_pid("supervisor", old)
        until(lambda: daemon.get("/v1.45/containers/json").status == 200, 30, "the supervisor to answer")
        assert row_of(daemon, other, tag, everything=False)["State"] == "running"
        post(daemon, f"/v1.45/containers/{other}/kill")
        assert daemon.request("POST", f"/v1.45/containers/{other}/wait").json()["StatusCode"] == 137
        assert row_of(daemon, other, tag)["State"] == "exited"
    finally:
        for made in (cid, other):
            daemon.request("DELETE", f"/v1.45/containers/{made}?force=1")
    assert row_of(daemon, cid, tag) is None and row_of(daemon, other, tag) is None


# ------------------------------------------------------------------ images

@pytest.fixture(scope="module")
def registry():
    with running_registry() as host:
        yield host


def small_image(daemon, repo: str, tag: str) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = f"{repo}:{tag} {uuid.uuid4()}\n".encode()
        info = tarfile.TarInfo("coherence")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    image_id = import_image(daemon, buf.getvalue(), repo, tag)
    return image_id if image_id.startswith("sha256:") else "sha256:" + image_id


def image_views(daemon, image_id: str) -> list[tuple | None]:
    """The image's (RepoTags, RepoDigests) in each list: 1.45, 1.41 (with VirtualSize) and
    all=1; None where it is not listed."""
    out = []
    for path in ("/v1.45/images/json", "/v1.41/images/json", "/v1.45/images/json?all=1"):
        rows = [row for row in get(daemon, path) if row["Id"] == image_id]
        assert len(rows) <= 1
        out.append((sorted(rows[0]["RepoTags"]), sorted(rows[0]["RepoDigests"])) if rows else None)
        if rows and path.startswith("/v1.41"):
            assert rows[0]["VirtualSize"] == rows[0]["Size"]
    return out


def image_row(daemon, image_id: str) -> tuple | None:
    seen = image_views(daemon, image_id)
    assert all(view == seen[0] for view in seen), seen
    return seen[0]


def test_an_image_list_right_after_each_change_shows_it(daemon, registry):
    repo = f"coh-{uuid.uuid4().hex[:8]}"
    image_id = small_image(daemon, repo, "1")
    named = f"{registry}/{repo}"
    try:
        assert image_row(daemon, image_id) == ([f"{repo}:1"], [])
        post(daemon, f"/images/{repo}:1/tag?repo={repo}&tag=2", status=201)
        assert image_row(daemon, image_id) == ([f"{repo}:1", f"{repo}:2"], [])
        r = daemon.request("DELETE", f"/v1.45/images/{repo}:1")
        assert r.status == 200 and r.json() == [{"Untagged": f"{repo}:1"}]
        assert image_row(daemon, image_id) == ([f"{repo}:2"], [])

        post(daemon, f"/images/{repo}:2/tag?repo={named}&tag=1", status=201)
        pushed = messages(daemon.request("POST", f"/images/{named}/push?tag=1").body)
        assert not any("error" in m for m in pushed), pushed
        tags, digests = image_row(daemon, image_id)   # a push records the digest, as dockerd's
        assert tags == [f"{named}:1", f"{repo}:2"] and len(digests) == 1
        assert digests[0].startswith(f"{named}@sha256:")
        for ref in (f"{repo}:2", f"{named}:1"):
            assert daemon.request("DELETE", f"/v1.45/images/{ref}").status == 200
        assert image_row(daemon, image_id) is None

        pulled = messages(daemon.request("POST", f"/images/create?fromImage={named}&tag=1").body)
        assert not any("error" in m for m in pulled), pulled
        assert image_row(daemon, image_id) == ([f"{named}:1"], digests)

        old = daemon.pid("registry")
        daemon.supervisorctl("restart", "registry")
        daemon.wait_new_pid("registry", old)
        until(lambda: daemon.get("/v1.45/images/json").status == 200, 30, "the registry to answer")
        assert image_row(daemon, image_id) == ([f"{named}:1"], digests)
    finally:
        for ref in (f"{repo}:1", f"{repo}:2", f"{named}:1"):
            daemon.request("DELETE", f"/v1.45/images/{ref}")
    assert image_row(daemon, image_id) is None
