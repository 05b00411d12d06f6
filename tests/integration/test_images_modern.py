"""The image endpoints through docker-py and the docker CLI, on /v1.45/ paths."""

from __future__ import annotations

import io
import os
import subprocess

import docker
import pytest

from .images import TarBuilder, busybox_rootfs, compress
from .test_images_v1 import import_image, messages


@pytest.fixture(scope="module")
def client(daemon):
    c = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    yield c
    c.close()


@pytest.fixture(scope="module")
def base(daemon):
    return "sha256:" + import_image(daemon, compress(busybox_rootfs(), "gzip"), "pybox", "1")


def test_list_get_tag_remove(client, base):
    assert base in [i.id for i in client.images.list()]
    image = client.images.get("pybox:1")
    assert image.id == base and image.tags == ["pybox:1"]
    assert image.attrs["RootFS"]["Type"] == "layers" and image.attrs["Size"] > 1_000_000
    assert image.tag("pybox", "2") is True
    assert sorted(client.images.get(base).tags) == ["pybox:1", "pybox:2"]
    assert [i.id for i in client.images.list(name="pybox")] == [base]
    assert client.images.list(name="nosuchrepo") == []
    client.images.remove("pybox:2")
    assert client.images.get(base).tags == ["pybox:1"]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("pybox:2")


def test_modern_shapes(daemon, base):
    rows = daemon.get("/v1.45/images/json").json()
    row = next(r for r in rows if r["Id"] == base)
    assert row["RepoTags"] == ["pybox:1"] and row["RepoDigests"] == [] and row["ParentId"] == ""
    assert "VirtualSize" not in row
    assert "VirtualSize" in next(r for r in daemon.get("/v1.41/images/json").json() if r["Id"] == base)
    history = daemon.get("/v1.45/images/pybox:1/history").json()
    assert history[0]["Id"] == base and history[0]["Comment"] == "Imported from -"
    assert history[0]["Tags"] == ["pybox:1"]
    # A tag always moves on modern paths (the force flag went away in API 1.25).
    other = "sha256:" + import_image(daemon, TarBuilder().file("x", b"1").bytes())
    assert daemon.request("POST", f"/v1.45/images/{other}/tag?repo=movable&tag=t").status == 201
    assert daemon.request("POST", f"/v1.45/images/{base}/tag?repo=movable&tag=t").status == 201
    r = daemon.request("DELETE", "/v1.45/images/movable:t")
    assert r.status == 200 and r.json() == [{"Untagged": "movable:t"}]
    r = daemon.request("DELETE", f"/v1.45/images/{other}")
    assert r.status == 200 and r.json() == [{"Deleted": other}]
    r = daemon.request("DELETE", "/v1.45/images/nosuch")
    assert r.status == 404 and r.json()["message"] == "No such image: nosuch"


def test_save_and_load(client, base):
    data = b"".join(client.images.get("pybox:1").save(named=True))
    client.images.remove("pybox:1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(base)
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [base]
    assert client.images.get("pybox:1").id == base


def load_error(daemon, body: bytes) -> str:
    """The error a refused load reports: as dockerd's, a 200 whose JSON message stream ends
    in it (errorDetail and error), and nothing said to be loaded."""
    r = daemon.request("POST", "/v1.45/images/load", body=body)
    assert r.status == 200 and r.headers["Content-Type"] == "application/json", (r.status, r.body)
    said = messages(r.body)
    assert said and not any("stream" in m for m in said), said
    assert said[-1]["errorDetail"]["message"] == said[-1]["error"], said
    return said[-1]["error"]


def test_load_refuses_bad_archives(daemon, base):
    evil = TarBuilder().file("manifest.json", b'[{"Config":"../../etc/passwd","Layers":[]}]').bytes()
    assert "outside" in load_error(daemon, evil)
    evil = TarBuilder().file("../../x.json", b"{}").file("manifest.json", b"[]").bytes()
    assert load_error(daemon, evil)
    assert load_error(daemon, b"not a tar at all" * 64)
    # The v1.0 paths (which have no load in their spec) keep answering an error status.
    r = daemon.request("POST", "/images/load", body=b"not a tar at all" * 64)
    assert r.status == 400 and r.json()["message"], r.body
    # A layer whose content does not match the config's diff id.
    good = b"".join(docker.DockerClient(base_url=daemon.unix_url).images.get(base).save())
    import tarfile
    src = tarfile.open(fileobj=io.BytesIO(good))
    out = TarBuilder()
    for m in src.getmembers():
        if m.isdir():
            out.dir(m.name)
        elif m.name.endswith("layer.tar"):
            out.file(m.name, TarBuilder().file("swapped", b"not the real layer").bytes())
        else:
            out.file(m.name, src.extractfile(m).read())
    assert "digest" in load_error(daemon, out.bytes())


def test_docker_py_load_of_what_is_not_an_image_raises_image_load_error(client):
    with pytest.raises(docker.errors.ImageLoadError) as exc:
        client.images.load(b"abc")
    assert str(exc.value)


def test_get_many_and_unknown(daemon, base):
    r = daemon.get("/v1.45/images/get?names=pybox:1")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
    import tarfile
    names = tarfile.open(fileobj=io.BytesIO(r.body)).getnames()
    assert "manifest.json" in names and f"{base[7:]}.json" in names
    assert daemon.get("/v1.45/images/get?names=nosuch").status == 404
    assert daemon.get("/v1.45/images/nosuch/get").status == 404


def docker_cli(daemon, *args, input=None):
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url)
    return subprocess.run(["docker", *args], capture_output=True, timeout=120, env=env, input=input)


def test_docker_cli_images(daemon, base, tmp_path):
    out = docker_cli(daemon, "images")
    assert out.returncode == 0, out.stderr
    assert b"pybox" in out.stdout
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(busybox_rootfs())
    out = docker_cli(daemon, "import", str(tarball), "cli-imported:v1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip().startswith("sha256:")
    out = docker_cli(daemon, "save", "-o", str(tmp_path / "s.tar"), "cli-imported:v1")
    assert out.returncode == 0, out.stderr
    assert docker_cli(daemon, "rmi", "cli-imported:v1").returncode == 0
    out = docker_cli(daemon, "load", "-i", str(tmp_path / "s.tar"))
    assert out.returncode == 0 and b"Loaded image: cli-imported:v1" in out.stdout, out.stderr
    out = docker_cli(daemon, "history", "cli-imported:v1")
    assert out.returncode == 0 and b"Imported from -" in out.stdout
    out = docker_cli(daemon, "rmi", "nosuch:tag")
    assert out.returncode != 0 and b"No such image" in out.stderr
