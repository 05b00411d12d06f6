"""Image configs of the wrong JSON types: refused on every way into the store (load, pull,
commit) with the field named and nothing of them left, and never able to break a listing
or a container create once stored, as an older version or a crash may have left one."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
import subprocess
import urllib.request

import pytest

from .containers import create, ensure_busybox, remove
from .images import TarBuilder
from .registries import running_registry
from .test_images_v1 import import_image, messages

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"

# (case, where in the config, the wrong value, what the refusal must say)
BAD = [
    ("config-string", (), "config", "x", "config must be an object"),
    ("env-int", ("config",), "Env", [1], "config.Env must be a list of strings"),
    ("labels-string", ("config",), "Labels", "x", "config.Labels must be an object of strings"),
    ("diff-ids-string", ("rootfs",), "diff_ids", "x", "rootfs.diff_ids"),
    ("history-object", (), "history", {}, "history must be a list of objects"),
]


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def a_layer(case: str) -> bytes:
    """A layer of the case's own, so that no other image shares it."""
    return TarBuilder().file(f"case-{case}", os.urandom(32)).bytes()


def config_for(layer: bytes, where: tuple = (), key: str | None = None, value=None) -> bytes:
    config = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": {"made-by": "test_image_configs"}},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file"}],
    }
    if key is not None:
        target = config
        for step in where:
            target = target[step]
        target[key] = value
    return json.dumps(config).encode()


def save_archive(config: bytes, layer: bytes, tag: str) -> bytes:
    """A `docker save` archive of one image."""
    name = digest(config)[7:] + ".json"
    t = TarBuilder().file(name, config).dir("l1").file("l1/VERSION", b"1.0").file("l1/layer.tar", layer)
    t.file("manifest.json", json.dumps([{"Config": name, "RepoTags": [tag], "Layers": ["l1/layer.tar"]}]).encode())
    return t.bytes()


def stored(daemon) -> dict:
    """What the store holds on disk: blobs, extracted layers, the registry's staging."""
    root = daemon.data_root
    return {sub: sorted(os.listdir(os.path.join(root, sub))) for sub in ("blobs/sha256", "layers", "tmp/registry")}


def assert_listing_works_without(daemon, image_id: str) -> None:
    for path in ("/v1.45/images/json?all=1", "/images/json?all=1"):
        r = daemon.get(path)
        assert r.status == 200, r.body
    ids = [row["Id"] for row in daemon.get("/v1.45/images/json?all=1").json()]
    assert image_id not in ids
    assert daemon.get(f"/v1.45/images/{image_id}/json").status == 404


# ------------------------------------------------------------------ load

@pytest.mark.parametrize("case, where, key, value, field", BAD, ids=[b[0] for b in BAD])
def test_load_of_a_bad_config_is_refused_and_leaves_nothing(daemon, case, where, key, value, field):
    layer = a_layer(case)
    config = config_for(layer, where, key, value)
    before = stored(daemon)
    r = daemon.request("POST", "/v1.45/images/load", body=save_archive(config, layer, f"cfgtest/{case}:1"),
                       headers={"Content-Type": "application/x-tar"})
    assert r.status == 200, r.body   # as dockerd: the refusal is in the message stream
    said = messages(r.body)
    text = said[-1]["errorDetail"]["message"]
    assert said[-1]["error"] == text and not any("stream" in m for m in said), said
    assert text.startswith(f"invalid image config: {field}"), text
    assert stored(daemon) == before
    assert_listing_works_without(daemon, digest(config))
    assert daemon.get(f"/v1.45/images/cfgtest/{case}:1/json").status == 404


def test_docker_load_shows_the_field(daemon, tmp_path):
    layer = a_layer("cli")
    config = config_for(layer, ("config",), "Env", [1])
    path = tmp_path / "bad.tar"
    path.write_bytes(save_archive(config, layer, "cfgtest/cli:1"))
    before = stored(daemon)
    out = subprocess.run(["docker", "load", "-i", str(path)], capture_output=True, timeout=120,
                         env=dict(os.environ, DOCKER_HOST=daemon.unix_url))
    assert out.returncode != 0 and b"config.Env must be a list of strings" in out.stderr, out
    assert stored(daemon) == before
    assert_listing_works_without(daemon, digest(config))


def test_a_good_archive_still_loads_and_import_still_works(daemon):
    layer = a_layer("good")
    config = config_for(layer)
    r = daemon.request("POST", "/v1.45/images/load", body=save_archive(config, layer, "cfgtest/good:1"),
                       headers={"Content-Type": "application/x-tar"})
    assert r.status == 200 and messages(r.body) == [{"stream": "Loaded image: cfgtest/good:1\n"}], r.body
    image = daemon.get("/v1.45/images/cfgtest/good:1/json").json()
    assert image["Id"] == digest(config) and image["Config"]["Labels"] == {"made-by": "test_image_configs"}
    row = next(r for r in daemon.get("/v1.45/images/json").json() if r["Id"] == digest(config))
    assert row["Labels"] == {"made-by": "test_image_configs"}
    imported = import_image(daemon, a_layer("import"), "cfgtest/imported", "1", prefix="/v1.45")
    assert daemon.get(f"/v1.45/images/{imported}/json").status == 200
    for name in ("cfgtest/good:1", "cfgtest/imported:1"):
        assert daemon.request("DELETE", f"/v1.45/images/{name}").status == 200


# ---------------------------------------------------------------- commit

def test_commit_checks_the_config_and_still_works(daemon):
    ensure_busybox(daemon)
    cid = create(daemon, Cmd=["true"])
    try:
        before = stored(daemon)
        for body, field in (({"Env": [1]}, "config.Env must be a list of strings"),
                            ({"Labels": "x"}, "config.Labels must be an object of strings"),
                            ({"Healthcheck": {"Interval": "30s"}},
                             "config.Healthcheck.Interval must be an integer")):
            r = daemon.request("POST", f"/v1.45/commit?container={cid}&repo=cfgtest/committed&tag=bad",
                               body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            assert r.status == 400 and field in r.json()["message"], r.body
        assert stored(daemon) == before
        assert daemon.get("/v1.45/images/cfgtest/committed:bad/json").status == 404
        r = daemon.request("POST", f"/v1.45/commit?container={cid}&repo=cfgtest/committed&tag=good",
                           body=json.dumps({"Env": ["A=1"], "Labels": {"x": "y"}}).encode(),
                           headers={"Content-Type": "application/json"})
        assert r.status == 201, r.body
        image = daemon.get("/v1.45/images/cfgtest/committed:good/json").json()
        assert "A=1" in image["Config"]["Env"] and image["Config"]["Labels"]["x"] == "y"
    finally:
        remove(daemon, cid)
    assert daemon.request("DELETE", "/v1.45/images/cfgtest/committed:good").status == 200


# ------------------------------------------------------------------ pull

def push_raw(host: str, repo: str, tag: str, config: bytes, layer: bytes) -> None:
    """An image pushed by talking to the registry's HTTP API: no check of the config."""
    def blob(data: bytes) -> str:
        resp = urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/",
                                                             method="POST"))
        location = resp.headers["Location"]
        location = location if location.startswith("http") else f"http://{host}{location}"
        location += ("&" if "?" in location else "?") + f"digest={digest(data)}"
        urllib.request.urlopen(urllib.request.Request(location, data=data, method="PUT",
                                                      headers={"Content-Type": "application/octet-stream"}))
        return digest(data)
    gz = gzip.compress(layer, mtime=0)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_V2,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": len(config), "digest": blob(config)},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "size": len(gz), "digest": blob(gz)}]}
    urllib.request.urlopen(urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{tag}", data=json.dumps(manifest).encode(), method="PUT",
        headers={"Content-Type": MANIFEST_V2}))


@pytest.fixture(scope="module")
def registry():
    with running_registry() as host:
        yield host


@pytest.mark.parametrize("case, where, key, value, field", BAD, ids=[b[0] for b in BAD])
def test_pull_of_a_bad_config_is_refused_and_leaves_nothing(daemon, registry, case, where, key, value, field):
    layer = a_layer(f"pull-{case}")
    config = config_for(layer, where, key, value)
    push_raw(registry, f"cfgtest/{case}", "1", config, layer)
    before = stored(daemon)
    r = daemon.request("POST", f"/images/create?fromImage={registry}/cfgtest/{case}&tag=1")
    assert r.status == 200, r.body   # the stream had begun: the error is its last message
    out = messages(r.body)
    assert out[-1].get("error", "").startswith(f"invalid image config: {field}"), out
    assert not any(m.get("status") in ("Downloading", "Pull complete") for m in out), out
    assert stored(daemon) == before
    assert_listing_works_without(daemon, digest(config))


# ---------------------------------------------------- stored before the fix

def store_raw(daemon, name: str, base_id: str, config: dict) -> str:
    """Write an image record into the daemon's database as an older version (or a crash)
    might have left it: its layers those of `base_id`, its config unchecked."""
    data = json.dumps(config).encode()
    image_id = digest(data)
    with open(os.path.join(daemon.data_root, "blobs", "sha256", image_id[7:]), "wb") as fh:
        fh.write(data)
    conn = sqlite3.connect(os.path.join(daemon.data_root, "dockyard.db"), timeout=10)
    try:
        with conn:
            ref = conn.execute("SELECT ref FROM refs WHERE image_id=?", (base_id,)).fetchone()[0]
            conn.execute("INSERT INTO images(id, parent, created, size, config) VALUES(?,?,?,?,?)",
                         (image_id, None, "2024-01-01T00:00:00Z", 0, data))
            conn.execute("INSERT INTO image_layers(image_id, position, chain_id) "
                         "SELECT ?, position, chain_id FROM image_layers WHERE image_id=?", (image_id, base_id))
            conn.execute("INSERT INTO refs(ref, image_id, tagged) VALUES(?,?,?)",
                         (ref.replace("busybox", name), image_id, "2024-01-01T00:00:00Z"))
    finally:
        conn.close()
    return image_id


def test_a_bad_record_already_stored_breaks_no_listing_and_no_create(fresh_daemon):
    d = fresh_daemon.start()
    ensure_busybox(d)
    base_id = "sha256:" + d.get("/images/busybox/json").json()["id"]
    base = json.loads(d.get("/v1.45/images/busybox/json").body)
    good = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Labels": {"a": "b"}},
            "rootfs": {"type": "layers", "diff_ids": base["RootFS"]["Layers"]}}
    bad = {
        "badconfig": ({**good, "config": "x"}, "config must be an object"),
        "badenv": ({**good, "config": {"Cmd": ["sh"], "Env": [1], "Labels": {"a": "b"}}},
                   "config.Env must be a list of strings"),
        "badlabels": ({**good, "config": {"Cmd": ["sh"], "Labels": "x"}},
                      "config.Labels must be an object of strings"),
        "badhistory": ({**good, "history": {}, "created": 5, "rootfs": {"type": "layers", "diff_ids": "x"}}, None),
    }
    ids = {name: store_raw(d, name, base_id, config) for name, (config, _) in bad.items()}

    for path in ("/v1.45/images/json", "/v1.45/images/json?all=1", "/images/json", "/images/json?all=1",
                 "/v1.41/images/json?filters=" + urllib.request.quote('{"label":["a"]}')):
        r = d.get(path)
        assert r.status == 200, (path, r.body)
    rows = {row["Id"]: row for row in d.get("/v1.45/images/json").json()}
    assert set(ids.values()) | {base_id} <= set(rows)
    assert rows[ids["badconfig"]]["Labels"] == {} and rows[ids["badlabels"]]["Labels"] == {}
    assert rows[ids["badenv"]]["Labels"] == {"a": "b"}
    out = subprocess.run(["docker", "images"], capture_output=True, timeout=60,
                         env=dict(os.environ, DOCKER_HOST=d.unix_url))
    assert out.returncode == 0 and b"badconfig" in out.stdout, out

    for name, image_id in ids.items():
        for path in (f"/v1.45/images/{name}/json", f"/images/{name}/json", f"/v1.45/images/{name}/history",
                     f"/images/{name}/history", f"/v1.41/images/{name}/json"):
            r = d.get(path)
            assert r.status == 200, (path, r.body)
    inspect = d.get("/v1.45/images/badhistory/json").json()
    assert inspect["Created"] == "2024-01-01T00:00:00Z" and inspect["RootFS"]["Layers"] == []
    assert d.get("/v1.45/images/badconfig/json").json()["Config"] is None

    for name, (config, field) in bad.items():
        body = json.dumps({"Image": name, "Cmd": ["true"]}).encode()
        r = d.request("POST", "/v1.45/containers/create", body=body, headers={"Content-Type": "application/json"})
        if field is None:   # what create reads is sound: the rest does not stop a container
            assert r.status == 201, r.body
            remove(d, r.json()["Id"])
            continue
        assert r.status == 400, (name, r.body)
        assert r.json()["message"] == f"image {ids[name][7:19]} has an invalid config: {field}"
    # The image can still be removed, and the listing goes on without it.
    for name in bad:
        assert d.request("DELETE", f"/v1.45/images/{name}").status == 200
    assert set(ids.values()).isdisjoint(row["Id"] for row in d.get("/v1.45/images/json?all=1").json())
